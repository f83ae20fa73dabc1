/* _pagemap: the system calls of pmscan, ioctl(PAGEMAP_SCAN) and ioctl(PROCMAP_QUERY), and
 * the module, whose byte-level loops over records live in _encode.c and _counts.c
 * (_pagemap.h lists the files).
 *
 * Every function takes file descriptors, integers and bytes and returns raw values
 * (bytes of packed 24-byte page_region records, tuples of ints). Errors from the
 * kernel leave only as OSError with errno; argument errors as TypeError/ValueError.
 * Names, meaning and policy live in the Python package above this module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "_pagemap.h"

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg is 96 bytes in the kernel ABI");

/* ---------------------------------------------------------------- the kernel call */

/* One ioctl(PAGEMAP_SCAN) of arg, records into arg->vec: scan() makes one, count_scan() one
 * after another, each resuming where the last one says. Called without the GIL (it touches
 * no Python object). Returns the number of records, or -1 with errno set (EINTR too: the
 * caller decides whether to retry). On success *pages is the number of pages the records
 * cover, and arg->walk_end the point to resume at, corrected here: the kernel's value is
 * wrong in both directions (kernel-notes 2). It is written only on an early stop, and a
 * stop of the internal bounce buffer leaves a stale value behind when the rest of the walk
 * then completes; and when the buffer fills at the end of the range it can be short by a
 * PMD or two, where resuming would return the same regions again. */
static long
scan_step(int fd, struct pm_scan_arg *arg, unsigned shift, unsigned long long *pages)
{
    arg->walk_end = 0;
    long n = ioctl(fd, PAGEMAP_SCAN, arg);
    if (n < 0) {
        return -1;
    }
    const struct page_region *vec = (const struct page_region *)(uintptr_t)arg->vec;
    unsigned long long counted = 0;
    for (long i = 0; i < n; i++) {
        counted += (vec[i].end - vec[i].start) >> shift;
    }
    *pages = counted;

    const unsigned long long kernel_end = arg->walk_end;
    const unsigned long long last_end = n > 0 ? vec[n - 1].end : arg->start;
    if ((unsigned long long)n < arg->vec_len && (arg->max_pages == 0 || counted < arg->max_pages)) {
        /* Neither the buffer nor max_pages stopped the walk. A value below the last record
         * is a stale leftover: the walk completed. A value at or beyond it is a genuine
         * early stop (a partial hugetlb page under WP_MATCHING, kernel-notes 8): resume
         * there. */
        if (kernel_end == 0 || kernel_end >= arg->end || kernel_end < last_end) {
            arg->walk_end = arg->end;
        }
    } else {
        /* Stopped by vec_len or max_pages: never resume before the end of the last record. */
        unsigned long long resume = kernel_end > last_end ? kernel_end : last_end;
        arg->walk_end = resume > arg->end ? arg->end : resume;
    }
    return n;
}

/* log2 of the page size: a record's pages are its length >> page_shift() (a power of two). */
static unsigned
page_shift(void)
{
    return (unsigned)__builtin_ctzll((unsigned long long)sysconf(_SC_PAGESIZE));
}

/* ---------------------------------------------------------------- scan */

PyDoc_STRVAR(scan_doc,
"scan(fd, start, end, *, flags=0, category_inverted=0, category_mask=0,\n"
"     category_anyof_mask=0, return_mask=0, max_pages=0, vec_len)\n"
"--\n\n"
"One ioctl(PAGEMAP_SCAN) on the open /proc/PID/pagemap fd over [start, end).\n\n"
"Returns (records, walk_end, pages): the packed page_region records (24 bytes\n"
"each), a walk_end that is a correct resume point, and the number of pages the\n"
"records cover. walk_end == end means nothing of the range is left to walk.\n"
"vec_len (> 0) bounds the number of records. Raises OSError on failure.");

static PyObject *
pagemap_scan(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {
        "fd", "start", "end", "flags", "category_inverted", "category_mask",
        "category_anyof_mask", "return_mask", "max_pages", "vec_len", NULL,
    };
    int fd;
    unsigned long long start, end, flags = 0, inverted = 0, mask = 0, anyof = 0;
    unsigned long long return_mask = 0, max_pages = 0;
    Py_ssize_t vec_len = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iKK|$KKKKKKn:scan", keywords, &fd, &start,
                                     &end, &flags, &inverted, &mask, &anyof, &return_mask,
                                     &max_pages, &vec_len)) {
        return NULL;
    }
    if (vec_len <= 0 || vec_len > PY_SSIZE_T_MAX / RECORD_SIZE) {
        /* Always give the kernel a buffer: vec_len == 0 with WP_MATCHING
         * crashed kernels before 6.17 (kernel-notes 10). */
        PyErr_SetString(PyExc_ValueError, "vec_len must be a positive number of records");
        return NULL;
    }

    PyObject *records = PyBytes_FromStringAndSize(NULL, vec_len * RECORD_SIZE);
    if (records == NULL) {
        return NULL;
    }
    struct page_region *vec = (struct page_region *)PyBytes_AS_STRING(records);
    struct pm_scan_arg arg = {
        .size = sizeof(arg),
        .flags = flags,
        .start = start,
        .end = end,
        .vec = (uintptr_t)vec,
        .vec_len = (unsigned long long)vec_len,
        .max_pages = max_pages,
        .category_inverted = inverted,
        .category_mask = mask,
        .category_anyof_mask = anyof,
        .return_mask = return_mask,
    };

    const unsigned shift = page_shift();
    unsigned long long pages = 0;
    long ret;
    int err, async_err = 0;
    /* The walk takes the target's mmap lock and may run for milliseconds on a large
     * range: let other threads (other scans, the event loop) run. The records object
     * is not yet visible to any other thread. errno is kept at once: freeing the
     * records below may change it. */
    do {
        Py_BEGIN_ALLOW_THREADS
        ret = scan_step(fd, &arg, shift, &pages);
        err = ret < 0 ? errno : 0;
        Py_END_ALLOW_THREADS
    } while (err == EINTR && !(async_err = PyErr_CheckSignals()));
    if (ret < 0) {
        Py_DECREF(records);
        if (async_err) {
            return NULL;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }

    if (_PyBytes_Resize(&records, ret * RECORD_SIZE) < 0) {
        return NULL;
    }
    return Py_BuildValue("(NKK)", records, (unsigned long long)arg.walk_end, pages);
}

/* ---------------------------------------------------------------- vma_at */

PyDoc_STRVAR(vma_at_doc,
"vma_at(maps_fd, address, /)\n"
"--\n\n"
"(start, end) of the mapping covering address or the next one above it, from\n"
"ioctl(PROCMAP_QUERY) on an open /proc/PID/maps (Linux 6.11+); None when there\n"
"is none. Raises OSError (ENOTTY on older kernels).");

static PyObject *
pagemap_vma_at(PyObject *Py_UNUSED(module), PyObject *args)
{
    int fd;
    unsigned long long address;
    if (!PyArg_ParseTuple(args, "iK:vma_at", &fd, &address)) {
        return NULL;
    }
    struct procmap_query query = {
        .size = sizeof(query),
        .query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
        .query_addr = address,
    };
    int ret, err, async_err = 0;
    /* PROCMAP_QUERY takes the target's mmap lock (or its VMA lock): it may wait for a
     * writer in the target, so other threads run meanwhile. */
    do {
        Py_BEGIN_ALLOW_THREADS
        ret = ioctl(fd, PROCMAP_QUERY, &query);
        err = ret < 0 ? errno : 0;
        Py_END_ALLOW_THREADS
    } while (err == EINTR && !(async_err = PyErr_CheckSignals()));
    if (ret < 0) {
        if (async_err) {
            return NULL;
        }
        if (err == ENOENT) {
            Py_RETURN_NONE;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(KK)", (unsigned long long)query.vma_start, (unsigned long long)query.vma_end);
}

/* ---------------------------------------------------------------- the holds of a target's lock
 *
 * Each PAGEMAP_SCAN holds the target's mmap lock for reading while it walks, and on a kernel
 * that does not preempt system calls (preempt=none, this project's VMs) the walk gives up its
 * CPU at the end of every page-table page (cond_resched) when the scheduler asks: inside the
 * hold. The thread then keeps the lock while it waits for a CPU, and every writer of the
 * target (mmap, munmap, mprotect) waits as long: a tick (4 ms at HZ=250) or more on a busy
 * machine, whatever the span of a call. A call that starts while a writer holds the lock
 * sleeps in the lock's queue, and the writer's release grants it the lock as it wakes it: it
 * holds the lock before it has a CPU. (bench/lock_holds.py shows both: issue 22.)
 *
 * So when the thread may run SCHED_FIFO (CAP_SYS_NICE, or an RLIMIT_RTPRIO of 1 or more), each
 * kernel call runs SCHED_FIFO priority 1 (not inherited by a child) and the thread returns to
 * its own policy and nice value right after: real-time only while it may hold the lock, so no
 * normal task takes its CPU inside a hold and a lock granted in the queue gets a CPU at once; a
 * hold lasts the walk of one span. Back in its own policy it yields: time spent real-time is not
 * charged to the fair scheduler's account, and without a yield the calls of one count ran back to
 * back ahead of every normal task of that CPU (one waited 24 ms, the whole count of an 8 GiB
 * process; with the yield 2-5 ms, as with no reader on this VM). Three system calls a kernel
 * call: the count of a dense 2 GiB process took 5.8-6.0 ms against 5.7-5.8 without them.
 * Refused once (EPERM: no right to it, or a seccomp filter), it is not tried again in the
 * process, and the calls run as before: nothing a normal thread can do keeps its CPU inside a
 * hold (a pause, a yield or a shorter slice between calls were measured: none bounds the
 * wait). A thread that already runs another policy (chrt) is left as it is. */

/* 1 until a switch to SCHED_FIFO is refused, then 0 for good. */
static int holds_may_realtime = 1;

/* The policy (with its SCHED_RESET_ON_FORK bit) to return to after each call, or -1 when the
 * calls are to run as they are: the thread runs another policy than SCHED_OTHER or
 * SCHED_BATCH, or a switch was refused before. */
static int
holds_policy(void)
{
    if (!__atomic_load_n(&holds_may_realtime, __ATOMIC_RELAXED)) {
        return -1;
    }
    const int policy = sched_getscheduler(0);
    const int base = policy & ~SCHED_RESET_ON_FORK;
    return policy >= 0 && (base == SCHED_OTHER || base == SCHED_BATCH) ? policy : -1;
}

/* Switch the calling thread to SCHED_FIFO 1; 1 if it now runs so. */
static int
holds_realtime(void)
{
    const struct sched_param param = {.sched_priority = 1};
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0) {
        return 1;
    }
    __atomic_store_n(&holds_may_realtime, 0, __ATOMIC_RELAXED);
    return 0;
}

/* Back to the thread's own policy (its nice value is kept: a real-time policy leaves it), and
 * let the normal tasks of this CPU have it. */
static void
holds_normal(int policy)
{
    const struct sched_param param = {.sched_priority = 0};
    (void)sched_setscheduler(0, policy, &param);
    (void)sched_yield();
}

/* ---------------------------------------------------------------- count_scan
 *
 * The page counts of a whole range, looping the ioctl in C: for the exporter, which counts
 * every process of a node on every collection and needs neither the records nor a Python
 * object per kernel call.
 */

PyDoc_STRVAR(count_scan_doc,
"count_scan(fd, start, end, *, return_mask, category_anyof_mask=0, max_pages=0,\n"
"           vec_len=512, deadline=0.0, realtime=True)\n"
"--\n\n"
"Page counts of [start, end) of the open /proc/PID/pagemap fd: ioctl(PAGEMAP_SCAN)\n"
"again and again with one fixed buffer of vec_len records, each call resuming at the\n"
"corrected walk_end of the last (kernel-notes 1-2), the GIL released throughout.\n\n"
"max_pages (0: no bound) bounds the pages each call reports: without a category\n"
"filter, the address range (within mappings) each call walks under the target's mmap\n"
"lock. deadline (time.monotonic(); 0: none): no call starts after it.\n\n"
"With realtime, a SCHED_OTHER or SCHED_BATCH thread that may run SCHED_FIFO\n"
"(CAP_SYS_NICE or RLIMIT_RTPRIO) makes each call at SCHED_FIFO 1, and is back to\n"
"its own policy and nice value after each, and yields its CPU: real-time only\n"
"while it may hold the lock. Without, the calls run in the thread's own policy\n"
"(for a walk too short for the three system calls of the switch to pay).\n\n"
"Returns (walk_end, row): row is (pages, pages_with_bit_0, ..., pages_with_bit_15),\n"
"as count_pages gives for the records of the same range; walk_end == end when the\n"
"range was walked to its end, less when the deadline stopped it (or a walk that made\n"
"no progress). Raises OSError on failure.");

/* No category bit is this high: return_mask was not given. */
#define NO_RETURN_MASK (~0ULL)

static PyObject *
pagemap_count_scan(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {
        "fd", "start", "end", "return_mask", "category_anyof_mask", "max_pages", "vec_len",
        "deadline", "realtime", NULL,
    };
    int fd;
    unsigned long long start, end, return_mask = NO_RETURN_MASK, anyof = 0, max_pages = 0;
    Py_ssize_t vec_len = 512;
    double deadline = 0.0;
    int realtime_calls = 1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iKK|$KKKndp:count_scan", keywords, &fd, &start,
                                     &end, &return_mask, &anyof, &max_pages, &vec_len, &deadline,
                                     &realtime_calls)) {
        return NULL;
    }
    if (return_mask == NO_RETURN_MASK) {
        PyErr_SetString(PyExc_TypeError, "count_scan() needs the keyword argument return_mask");
        return NULL;
    }
    if (vec_len <= 0 || vec_len > (1 << 20)) {
        PyErr_SetString(PyExc_ValueError, "vec_len must be between 1 and 1048576 records");
        return NULL;
    }
    if (end < start) {
        PyErr_SetString(PyExc_ValueError, "end must not be below start");
        return NULL;
    }
    struct page_region *vec = PyMem_Malloc(sizeof(*vec) * (size_t)vec_len);
    if (vec == NULL) {
        return PyErr_NoMemory();
    }
    const unsigned shift = page_shift();
    unsigned long long row[ROW_LENGTH] = {0};
    unsigned long long position = start;
    int failed_errno = 0;

    int policy = realtime_calls ? holds_policy() : -1;

    /* Released once for the whole loop, not per call: taking the GIL back after every
     * call can wait for another thread's switch interval. Nothing below touches a
     * Python object; vec is ours alone. */
    Py_BEGIN_ALLOW_THREADS
    while (position < end) {
        if (deadline > 0.0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((double)now.tv_sec + (double)now.tv_nsec / 1e9 > deadline) {
                break;
            }
        }
        struct pm_scan_arg arg = {
            .size = sizeof(arg),
            .start = position,
            .end = end,
            .vec = (uintptr_t)vec,
            .vec_len = (unsigned long long)vec_len,
            .max_pages = max_pages,
            .category_anyof_mask = anyof,
            .return_mask = return_mask,
        };
        unsigned long long pages;
        long ret;
        const int realtime = policy >= 0 && holds_realtime();
        if (!realtime) {
            policy = -1;
        }
        do {
            ret = scan_step(fd, &arg, shift, &pages);
        } while (ret < 0 && errno == EINTR);
        if (realtime) {
            const int saved = errno;
            holds_normal(policy);
            errno = saved;
        }
        if (ret < 0) {
            failed_errno = errno;
            break;
        }
        for (long i = 0; i < ret; i++) {
            add_counts(row, vec[i].categories, (vec[i].end - vec[i].start) >> shift);
        }
        if (arg.walk_end <= position && ret == 0) {
            break; /* no progress: the walk ends here (kernel-notes 8) */
        }
        position = arg.walk_end;
    }
    Py_END_ALLOW_THREADS

    PyMem_Free(vec);
    if (failed_errno != 0) {
        errno = failed_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (PyErr_CheckSignals()) {
        return NULL;
    }
    PyObject *counts = row_to_tuple(row);
    if (counts == NULL) {
        return NULL;
    }
    return Py_BuildValue("(KN)", position, counts);
}

/* ---------------------------------------------------------------- module */

static PyMethodDef pagemap_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))pagemap_scan, METH_VARARGS | METH_KEYWORDS, scan_doc},
    {"vma_at", pagemap_vma_at, METH_VARARGS, vma_at_doc},
    PAGEMAP_ENCODE_REGIONS_METHODDEF
    PAGEMAP_COUNT_PAGES_METHODDEF
    {"count_scan", (PyCFunction)(void (*)(void))pagemap_count_scan, METH_VARARGS | METH_KEYWORDS,
     count_scan_doc},
    {NULL, NULL, 0, NULL},
};

/* The kernel ABI's values, exported so that the Python names (Category, ScanFlag) are
 * tested against the header this module was built with. */
#define ABI_CONSTANT(name) {#name, (long)(name)}

static const struct {
    const char *name;
    long value;
} abi_constants[] = {
    ABI_CONSTANT(PAGE_IS_WPALLOWED),
    ABI_CONSTANT(PAGE_IS_WRITTEN),
    ABI_CONSTANT(PAGE_IS_FILE),
    ABI_CONSTANT(PAGE_IS_PRESENT),
    ABI_CONSTANT(PAGE_IS_SWAPPED),
    ABI_CONSTANT(PAGE_IS_PFNZERO),
    ABI_CONSTANT(PAGE_IS_HUGE),
    ABI_CONSTANT(PAGE_IS_SOFT_DIRTY),
    ABI_CONSTANT(PAGE_IS_GUARD),
    ABI_CONSTANT(PM_SCAN_WP_MATCHING),
    ABI_CONSTANT(PM_SCAN_CHECK_WPASYNC),
    ABI_CONSTANT(PAGEMAP_SCAN),
    {"RECORD_SIZE", (long)RECORD_SIZE},
    {"CATEGORY_BITS", CATEGORY_BITS},
};

static int
pagemap_exec(PyObject *module)
{
    for (size_t i = 0; i < sizeof(abi_constants) / sizeof(abi_constants[0]); i++) {
        if (PyModule_AddIntConstant(module, abi_constants[i].name, abi_constants[i].value) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyModuleDef_Slot pagemap_slots[] = {
    {Py_mod_exec, pagemap_exec},
#if PY_VERSION_HEX >= 0x030D0000
    /* No state of its own and no Python object shared between calls: safe without the
     * GIL on free-threaded builds (3.13+). */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef pagemap_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pagemap",
    .m_doc = "ioctl(PAGEMAP_SCAN) and the byte-level loops over its records.",
    .m_size = 0,
    .m_methods = pagemap_methods,
    .m_slots = pagemap_slots,
};

PyMODINIT_FUNC
PyInit__pagemap(void)
{
    return PyModuleDef_Init(&pagemap_module);
}
