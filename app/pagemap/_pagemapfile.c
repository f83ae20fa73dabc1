/* _pagemapfile: PAGEMAP_SCAN's answers computed from /proc/PID/pagemap entries,
 * for kernels without the ioctl (before 6.7).
 *
 * One function, scan(), with the contract of _pagemap.scan(): packed 24-byte
 * page_region records, a walk_end that is a correct resume point, the number of
 * pages reported. What the pagemap entries cannot tell (which pages a mapping
 * covers, which mappings the kernel skips, async write-protection) comes from the
 * Python side as packed per-mapping records; this module only reads and
 * classifies. Errors leave only as OSError with errno; argument errors as
 * TypeError/ValueError.
 *
 * The categories follow fs/proc/task_mmu.c (pagemap_page_category,
 * pagemap_thp_category, pagemap_hugetlb_category, pagemap_scan_pte_hole) as the
 * running kernel reports them; tests/pagemap/test_pagemapfile_backend.py compares
 * every answer with the real ioctl.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "pagemap_abi.h"

#define RECORD_SIZE ((Py_ssize_t)sizeof(struct page_region))

/* /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PFN_MASK       ((1ULL << 55) - 1)
#define PM_SOFT_DIRTY     (1ULL << 55)
#define PM_MMAP_EXCLUSIVE (1ULL << 56)
#define PM_UFFD_WP        (1ULL << 57)
#define PM_GUARD          (1ULL << 58)
#define PM_FILE           (1ULL << 61)
#define PM_SWAP           (1ULL << 62)
#define PM_PRESENT        (1ULL << 63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)
#define KPF_THP           (1ULL << 22)

/* vma_info.flags: what the Python side learnt from /proc/PID/smaps. */
#define VMA_SKIP    (1ULL << 0) /* VM_PFNMAP: the kernel's walk skips it */
#define VMA_HUGETLB (1ULL << 1)
#define VMA_ANON    (1ULL << 2) /* private anonymous: a present FILE entry is the huge zero page */
#define VMA_THP     (1ULL << 3) /* smaps counts PMD-mapped huge pages in it */

/* One mapping: [start, end), the categories every page of it has
 * (PAGE_IS_WPALLOWED), and VMA_* flags. */
struct vma_info {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
    uint64_t flags;
};

_Static_assert(sizeof(struct vma_info) == 32, "vma records are four u64");

/* Entries read per pread: 512 KiB of entries, 256 MiB of address space. */
#define WINDOW_ENTRIES (1 << 16)

typedef struct {
    /* input */
    int fd;
    int kpageflags_fd;
    unsigned page_shift;
    uint64_t page_size;
    uint64_t block_size; /* what one page table maps (a PMD): page_size / 8 entries */
    uint64_t block_entries;
    uint64_t zero_pfn;
    uint64_t inverted, mask, anyof, return_mask, max_pages;
    Py_ssize_t vec_len;
    /* the window of entries read so far: addresses [win_start, win_end) */
    uint64_t *win;
    uint64_t win_start, win_end;
    uint64_t *kpf; /* block_entries words of /proc/kpageflags */
    /* output */
    struct page_region *vec;
    Py_ssize_t count;
    uint64_t pages;
    int stopped; /* the walk stopped early, at walk_end */
    uint64_t walk_end;
    /* a pread failed with errno, or a signal handler raised (-1) */
    int error;
    PyThreadState *thread;
} walker;

/* What a page's categories depend on beyond its own entry: its mapping and the
 * block (the range of one page table) it lies in. */
typedef struct {
    const struct vma_info *vma;
    const uint64_t *entries; /* the block's entries, block_entries of them */
    int table;               /* a page table exists there */
    int thp;                 /* a PMD maps a transparent huge page there */
} block_info;

/* pread the whole of [offset, offset + len), retrying EINTR as long as no signal
 * handler raises; past the end of the address space the file ends: zeros.
 * Called without the GIL; takes it back only to run signal handlers. */
static int
read_fully(walker *w, int fd, void *buf, size_t len, off_t offset)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, offset);
        if (n < 0) {
            int err = errno;
            if (err != EINTR) {
                w->error = err;
                return -1;
            }
            PyEval_RestoreThread(w->thread);
            int raised = PyErr_CheckSignals();
            w->thread = PyEval_SaveThread();
            if (raised) {
                w->error = -1;
                return -1;
            }
            continue;
        }
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

/* Make the entries of addr's block available: read whole blocks from there on,
 * up to limit (rounded up to a block), at most WINDOW_ENTRIES. Whole blocks
 * because a page's categories depend on its neighbours in the same page table. */
static int
fill_window(walker *w, uint64_t addr, uint64_t limit)
{
    uint64_t first = addr & ~(w->block_size - 1);
    uint64_t last = (limit + w->block_size - 1) & ~(w->block_size - 1);
    uint64_t most = (uint64_t)WINDOW_ENTRIES << w->page_shift;
    if (last <= first || last - first > most) {
        last = first + most;
    }
    size_t entries = (size_t)((last - first) >> w->page_shift);
    if (read_fully(w, w->fd, w->win, entries * sizeof(uint64_t),
                   (off_t)((first >> w->page_shift) * sizeof(uint64_t))) < 0) {
        return -1;
    }
    w->win_start = first;
    w->win_end = last;
    return 0;
}

/* pagemap shows no difference between a page table full of empty entries and no
 * page table at all, but PAGEMAP_SCAN does: an empty entry in a page table reports
 * WRITTEN, a hole above the page tables only the mapping's categories. A page table
 * holding anything (present, swapped, marker) surely exists; one that is empty is
 * taken for absent (the kernel frees those on MADV_DONTNEED of a whole block since
 * 6.14; one emptied otherwise is the known limit of this emulation). */
static int
block_has_table(const walker *w, const uint64_t *e)
{
    for (uint64_t i = 0; i < w->block_entries; i++) {
        if (e[i]) {
            return 1;
        }
    }
    return 0;
}

/* Whether a PMD maps a transparent huge page over the block at addr: all of it
 * present with the same flags, on contiguous frames from an aligned one that
 * /proc/kpageflags calls the head of a THP with the rest its tails (the exclusive
 * bit is per page even then). A THP the kernel split into page-table mappings
 * without changing a flag looks the same: the other known limit. */
static int
block_is_thp(walker *w, uint64_t addr, const block_info *b)
{
    const uint64_t uniform = ~(PM_PFN_MASK | PM_MMAP_EXCLUSIVE);
    const uint64_t *e = b->entries;
    if (w->kpageflags_fd < 0 || !(b->vma->flags & VMA_THP) || addr < b->vma->start ||
        addr + w->block_size > b->vma->end) {
        return 0;
    }
    uint64_t pfn = e[0] & PM_PFN_MASK;
    if (!(e[0] & PM_PRESENT) || pfn == 0 || pfn % w->block_entries != 0) {
        return 0;
    }
    for (uint64_t i = 1; i < w->block_entries; i++) {
        if ((e[i] & uniform) != (e[0] & uniform) || (e[i] & PM_PFN_MASK) != pfn + i) {
            return 0;
        }
    }
    if (read_fully(w, w->kpageflags_fd, w->kpf, w->block_entries * sizeof(uint64_t),
                   (off_t)(pfn * sizeof(uint64_t))) < 0) {
        return -1;
    }
    if ((w->kpf[0] & (KPF_THP | KPF_COMPOUND_HEAD)) != (KPF_THP | KPF_COMPOUND_HEAD)) {
        return 0;
    }
    for (uint64_t i = 1; i < w->block_entries; i++) {
        if (!(w->kpf[i] & KPF_COMPOUND_TAIL)) {
            return 0;
        }
    }
    return 1;
}

/* The categories of a page whose entry is e (without its mapping's own): the
 * kernel's pagemap_page_category, pagemap_thp_category, pagemap_hugetlb_category
 * and pagemap_scan_pte_hole, read back from the entry. */
static inline uint64_t
page_categories(const walker *w, const block_info *b, uint64_t e)
{
    uint64_t c = e & PM_SOFT_DIRTY ? PAGE_IS_SOFT_DIRTY : 0;
    uint64_t vma_flags = b->vma->flags;

    if (e & PM_PRESENT) {
        c |= PAGE_IS_PRESENT;
        if (!(e & PM_UFFD_WP)) {
            c |= PAGE_IS_WRITTEN;
        }
        if (vma_flags & VMA_HUGETLB) {
            c |= PAGE_IS_HUGE | (e & PM_FILE ? PAGE_IS_FILE : 0);
        } else if ((vma_flags & VMA_ANON) && (e & PM_FILE)) {
            /* pagemap calls the huge zero page a file page; PAGEMAP_SCAN calls it
             * a zero page mapped by a PMD. */
            c |= PAGE_IS_HUGE | PAGE_IS_PFNZERO;
        } else {
            if (e & PM_FILE) {
                c |= PAGE_IS_FILE;
            }
            if (w->zero_pfn && (e & PM_PFN_MASK) == w->zero_pfn) {
                c |= PAGE_IS_PFNZERO;
            }
            if (b->thp) {
                c |= PAGE_IS_HUGE;
            }
        }
    } else if (e & PM_SWAP) {
        /* Swap entries, and the PTE markers of guard regions and of uffd-wp on
         * never-populated pages: the kernel calls them all SWAPPED. */
        c |= PAGE_IS_SWAPPED;
        if (!(e & PM_UFFD_WP)) {
            c |= PAGE_IS_WRITTEN;
        }
        if (e & PM_GUARD) {
            c |= PAGE_IS_GUARD;
        }
        if (e & PM_FILE) {
            c |= PAGE_IS_FILE;
        }
        if (vma_flags & VMA_HUGETLB) {
            c |= PAGE_IS_HUGE;
        }
    } else if (vma_flags & VMA_HUGETLB) {
        /* pagemap shows a hugetlb uffd-wp marker as the uffd-wp bit alone. */
        c |= PAGE_IS_HUGE | (e & PM_UFFD_WP ? PAGE_IS_SWAPPED : 0);
    } else if (b->table) {
        c |= PAGE_IS_WRITTEN;
    }
    return c;
}

/* Report the matching pages [addr, end), all of the same categories; 0 when the
 * vector or max_pages stops the walk at the first of them that does not fit
 * (the kernel's pagemap_scan_output and pagemap_scan_push_range). */
static int
report(walker *w, uint64_t addr, uint64_t end, uint64_t categories)
{
    uint64_t n = (end - addr) >> w->page_shift;
    if (w->max_pages && w->pages + n > w->max_pages) {
        n = w->max_pages - w->pages;
    }
    categories &= w->return_mask;
    if (n > 0) {
        struct page_region *last = w->count ? &w->vec[w->count - 1] : NULL;
        if (!last || last->end != addr || last->categories != categories) {
            if (w->count == w->vec_len) {
                n = 0;
            } else {
                last = &w->vec[w->count++];
                last->start = addr;
                last->categories = categories;
            }
        }
        if (n > 0) {
            last->end = addr + (n << w->page_shift);
            w->pages += n;
        }
    }
    if (addr + (n << w->page_shift) < end) {
        w->stopped = 1;
        w->walk_end = addr + (n << w->page_shift);
        return 0;
    }
    return 1;
}

/* How far the window may reach from mapping i on: over the following mappings as
 * long as they are no farther than a block apart, so that neighbours sharing a
 * page table are read once and gaps between mappings are not read at all. */
static uint64_t
window_limit(const walker *w, const struct vma_info *vmas, Py_ssize_t n, Py_ssize_t i,
             uint64_t end)
{
    uint64_t limit = vmas[i].end;
    for (Py_ssize_t j = i + 1; j < n && vmas[j].start <= limit + w->block_size; j++) {
        limit = vmas[j].end;
    }
    return limit < end ? limit : end;
}

static inline int
interesting(const walker *w, uint64_t categories)
{
    uint64_t x = categories ^ w->inverted;
    return (x & w->mask) == w->mask && (!w->anyof || (x & w->anyof));
}

/* The pages [addr, stop) of mapping v, all in one block. */
static int
walk_block(walker *w, const struct vma_info *v, uint64_t addr, uint64_t stop)
{
    uint64_t block = addr & ~(w->block_size - 1);
    block_info b = {
        .vma = v,
        .entries = &w->win[(block - w->win_start) >> w->page_shift],
    };
    b.table = block_has_table(w, b.entries);
    if (!b.table) {
        /* Nothing there at all (the common case of a large sparse range): one run. */
        uint64_t c = v->categories | page_categories(w, &b, 0);
        return !interesting(w, c) || report(w, addr, stop, c) ? 0 : 1;
    }
    b.thp = block_is_thp(w, block, &b);
    if (b.thp < 0) {
        return -1;
    }
    const uint64_t *e = &w->win[(addr - w->win_start) >> w->page_shift];
    for (; addr < stop; addr += w->page_size, e++) {
        uint64_t c = v->categories | page_categories(w, &b, *e);
        if (interesting(w, c) && !report(w, addr, addr + w->page_size, c)) {
            return 1;
        }
    }
    return 0;
}

/* The walk, without the GIL: 0 when done or stopped early, -1 with w->error set. */
static int
walk(walker *w, const struct vma_info *vmas, Py_ssize_t n, uint64_t start, uint64_t end,
     int check_wpasync)
{
    for (Py_ssize_t i = 0; i < n && vmas[i].start < end; i++) {
        const struct vma_info *v = &vmas[i];
        if (v->end <= start) {
            continue;
        }
        if (check_wpasync && !(v->categories & PAGE_IS_WPALLOWED)) {
            /* pagemap_scan_test_walk: the whole call fails, before this mapping's
             * pages and even for a mapping the walk would skip. */
            w->error = EPERM;
            return -1;
        }
        if (v->flags & VMA_SKIP) {
            continue;
        }
        uint64_t addr = v->start > start ? v->start : start;
        uint64_t stop = v->end < end ? v->end : end;
        while (addr < stop) {
            if (addr < w->win_start || addr >= w->win_end) {
                if (fill_window(w, addr, window_limit(w, vmas, n, i, end)) < 0) {
                    return -1;
                }
            }
            uint64_t block_end = (addr & ~(w->block_size - 1)) + w->block_size;
            uint64_t upto = block_end < stop ? block_end : stop;
            int ret = walk_block(w, v, addr, upto);
            if (ret != 0) {
                return ret < 0 ? -1 : 0;
            }
            addr = upto;
        }
    }
    return 0;
}

PyDoc_STRVAR(scan_doc,
"scan(fd, vmas, start, end, *, category_inverted=0, category_mask=0,\n"
"     category_anyof_mask=0, return_mask=0, max_pages=0, vec_len,\n"
"     check_wpasync=False, zero_pfn=0, kpageflags_fd=-1)\n"
"--\n\n"
"What one ioctl(PAGEMAP_SCAN) without PM_SCAN_WP_MATCHING would return for\n"
"[start, end), computed from the open /proc/PID/pagemap fd.\n\n"
"vmas: the process's mappings as bytes (TypeError for any other buffer: they\n"
"are read again without the GIL) of packed little-endian u64 quadruples\n"
"(start, end, categories, flags), sorted; categories are those every page of\n"
"the mapping has (PAGE_IS_WPALLOWED), flags the VMA_* constants. Pages outside\n"
"them are never reported.\n"
"zero_pfn: the frame of the zero page (0: unknown, PFNZERO only for the huge\n"
"zero page). kpageflags_fd: /proc/kpageflags open, or -1 (then no page of a\n"
"transparent huge page is HUGE). check_wpasync: fail with EPERM on a mapping\n"
"without PAGE_IS_WPALLOWED, as PM_SCAN_CHECK_WPASYNC does.\n\n"
"Returns (records, walk_end, pages) as _pagemap.scan does: packed page_region\n"
"records (24 bytes each, at most vec_len > 0), a walk_end that is a correct\n"
"resume point (== end when the range is done), the pages they cover.\n"
"Raises OSError on failure.");

static PyObject *
pagemapfile_scan(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {
        "fd", "vmas", "start", "end", "category_inverted", "category_mask",
        "category_anyof_mask", "return_mask", "max_pages", "vec_len", "check_wpasync",
        "zero_pfn", "kpageflags_fd", NULL,
    };
    int fd, check_wpasync = 0, kpageflags_fd = -1;
    /* bytes only, never a buffer: the mappings are checked with the GIL held and walked
     * without it; only an immutable object guarantees that the walk sees what was checked. */
    PyObject *vmas;
    unsigned long long start, end, inverted = 0, mask = 0, anyof = 0, return_mask = 0;
    unsigned long long max_pages = 0, zero_pfn = 0;
    Py_ssize_t vec_len = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iSKK|$KKKKKnpKi:scan", keywords, &fd,
                                     &vmas, &start, &end, &inverted, &mask, &anyof,
                                     &return_mask, &max_pages, &vec_len, &check_wpasync,
                                     &zero_pfn, &kpageflags_fd)) {
        return NULL;
    }
    PyObject *records = NULL, *result = NULL;
    const uint64_t page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    unsigned long long walk_to;
    int ret;
    walker w = {
        .fd = fd,
        .kpageflags_fd = kpageflags_fd,
        .page_size = page_size,
        .page_shift = (unsigned)__builtin_ctzll(page_size),
        .zero_pfn = zero_pfn,
        .inverted = inverted,
        .mask = mask,
        .anyof = anyof,
        .return_mask = return_mask,
        .max_pages = max_pages,
        .vec_len = vec_len,
    };
    /* A page table holds page_size / 8 entries: 512 on x86-64, a 2 MiB block. */
    w.block_entries = w.page_size / sizeof(uint64_t);
    w.block_size = w.block_entries * w.page_size;

    const struct vma_info *v = (const struct vma_info *)PyBytes_AS_STRING(vmas);
    Py_ssize_t n = PyBytes_GET_SIZE(vmas) / (Py_ssize_t)sizeof(struct vma_info);
    if (vec_len <= 0 || vec_len > PY_SSIZE_T_MAX / RECORD_SIZE) {
        PyErr_SetString(PyExc_ValueError, "vec_len must be a positive number of records");
        goto done;
    }
    if (PyBytes_GET_SIZE(vmas) % (Py_ssize_t)sizeof(struct vma_info) != 0) {
        PyErr_SetString(PyExc_ValueError, "vmas must be 32-byte records");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i].start >= v[i].end || (v[i].start | v[i].end) % w.page_size != 0 ||
            (i > 0 && v[i].start < v[i - 1].end)) {
            PyErr_SetString(PyExc_ValueError,
                            "vmas must be sorted, non-overlapping, page-aligned ranges");
            goto done;
        }
    }
    /* The kernel's own argument checks (pagemap_scan_get_args). */
    if (start % w.page_size != 0) {
        errno = EINVAL;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    if (end < start) {
        errno = EFAULT;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    /* The walk covers the last partial page, as the kernel's does; walk_end == end
     * (as given) says the range is done, as in _pagemap.scan. */
    walk_to = (end + page_size - 1) & ~(page_size - 1);

    records = PyBytes_FromStringAndSize(NULL, vec_len * RECORD_SIZE);
    w.win = PyMem_Malloc(WINDOW_ENTRIES * sizeof(uint64_t));
    w.kpf = PyMem_Malloc(w.block_entries * sizeof(uint64_t));
    if (records == NULL || w.win == NULL || w.kpf == NULL) {
        if (records != NULL) {
            PyErr_NoMemory();
        }
        Py_CLEAR(records);
        goto done;
    }
    w.vec = (struct page_region *)PyBytes_AS_STRING(records);

    /* The walk reads the target's page tables through the kernel for milliseconds
     * on a large range: let other threads run. Only memory of this call and the
     * immutable vmas are touched. */
    w.thread = PyEval_SaveThread();
    ret = walk(&w, v, n, start, walk_to, check_wpasync);
    PyEval_RestoreThread(w.thread);

    if (ret < 0) {
        Py_CLEAR(records);
        if (w.error > 0) {
            errno = w.error;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        goto done;
    }
    if (_PyBytes_Resize(&records, w.count * RECORD_SIZE) < 0) {
        goto done;
    }
    /* Stopped at the first matching page that did not fit (the kernel's walk_end
     * then), else the whole range is walked. */
    result = Py_BuildValue("(NKK)", records, (unsigned long long)(w.stopped ? w.walk_end : end),
                           (unsigned long long)w.pages);
    records = NULL;
done:
    PyMem_Free(w.win);
    PyMem_Free(w.kpf);
    Py_XDECREF(records);
    return result;
}

static PyMethodDef pagemapfile_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))pagemapfile_scan, METH_VARARGS | METH_KEYWORDS,
     scan_doc},
    {NULL, NULL, 0, NULL},
};

static int
pagemapfile_exec(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "VMA_RECORD_SIZE", (long)sizeof(struct vma_info)) < 0 ||
        PyModule_AddIntConstant(module, "VMA_SKIP", (long)VMA_SKIP) < 0 ||
        PyModule_AddIntConstant(module, "VMA_HUGETLB", (long)VMA_HUGETLB) < 0 ||
        PyModule_AddIntConstant(module, "VMA_ANON", (long)VMA_ANON) < 0 ||
        PyModule_AddIntConstant(module, "VMA_THP", (long)VMA_THP) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot pagemapfile_slots[] = {
    {Py_mod_exec, pagemapfile_exec},
#if PY_VERSION_HEX >= 0x030D0000
    /* No state of its own and no Python object shared between calls: safe without the
     * GIL on free-threaded builds (3.13+). */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef pagemapfile_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pagemapfile",
    .m_doc = "PAGEMAP_SCAN emulated from /proc/PID/pagemap.",
    .m_size = 0,
    .m_methods = pagemapfile_methods,
    .m_slots = pagemapfile_slots,
};

PyMODINIT_FUNC
PyInit__pagemapfile(void)
{
    return PyModuleDef_Init(&pagemapfile_module);
}
