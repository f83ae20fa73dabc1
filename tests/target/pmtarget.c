/* pmtarget: a long-lived process whose memory layout the test suite sets up.
 *
 * One command per line on stdin, exactly one line of JSON on stdout per
 * command: {"ok": true, ...} or {"ok": false, "error": "...", "errno": N}.
 * On start it prints {"ok": true, "pid": N, "page_size": P}.  Named areas live
 * in a small table; FIRST/COUNT/STEP arguments count pages of an area.
 *
 * The "scan" command is the ground truth the service is compared with: the
 * target's own single ioctl(PAGEMAP_SCAN) on /proc/self/pagemap, made with
 * exactly the arguments given.  The full protocol is in tests/support/target.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../app/pagemap/pagemap_abi.h"

/* linux-libc-dev may predate these. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

#define MAX_AREAS 64
#define MAX_WORDS 16
#define HUGE_2M (2UL << 20)

struct area {
    char name[32];
    char *start;
    size_t len;
    int uffd; /* -1 unless registered with "uffd_wp" */
};

static struct area areas[MAX_AREAS];
static size_t page_size;

/* ---- replies ---------------------------------------------------------- */

static void put_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* Reply {"ok": true<fields>}; fields is a printf format starting with ", ". */
static int reply_ok(const char *fields, ...)
{
    va_list ap;

    fputs("{\"ok\": true", stdout);
    va_start(ap, fields);
    vprintf(fields, ap);
    va_end(ap);
    fputs("}\n", stdout);
    fflush(stdout);
    return 0;
}

static int reply_error(int err, const char *what)
{
    fputs("{\"ok\": false, \"error\": ", stdout);
    put_json_string(what);
    printf(", \"errno\": %d}\n", err);
    fflush(stdout);
    return -1;
}

/* Reply with errno after a failed system call. */
static int reply_errno(const char *call)
{
    char msg[128];
    int err = errno;

    snprintf(msg, sizeof(msg), "%s: %s", call, strerror(err));
    return reply_error(err, msg);
}

static int reply_area(const struct area *a)
{
    return reply_ok(", \"name\": \"%s\", \"start\": %lu, \"end\": %lu", a->name,
                    (unsigned long)a->start, (unsigned long)(a->start + a->len));
}

/* ---- arguments -------------------------------------------------------- */

/* Decimal or 0x-hex, the whole word; no octal surprises from a leading 0. */
static int parse_u64(const char *word, __u64 *out)
{
    int base = 10;
    char *end;

    if (word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
        base = 16;
        word += 2;
    }
    if (!*word || *word == '-' || *word == '+')
        return -1;
    errno = 0;
    *out = strtoull(word, &end, base);
    return (errno || *end) ? -1 : 0;
}

static int parse_prot(const char *word, int *prot)
{
    *prot = PROT_NONE;
    if (strcmp(word, "none") == 0)
        return 0;
    for (; *word; word++) {
        switch (*word) {
        case 'r': *prot |= PROT_READ; break;
        case 'w': *prot |= PROT_WRITE; break;
        case 'x': *prot |= PROT_EXEC; break;
        default: return -1;
        }
    }
    return 0;
}

/* ---- the area table --------------------------------------------------- */

/* Map LEN bytes at an ALIGN-aligned address with a PROT_NONE fence page on
 * each side.  The fences keep an area from merging with its neighbours into one
 * VMA, so /proc/PID/smaps describes each area on its own. */
static void *map_fenced(size_t len, size_t align, int flags, int fd)
{
    size_t span = len + 2 * page_size + (align - page_size);
    char *base, *start, *p;

    base = mmap(NULL, span, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return MAP_FAILED;
    start = (char *)(((uintptr_t)base + page_size + align - 1) & ~(align - 1));
    p = mmap(start, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        munmap(base, span);
        errno = err;
        return MAP_FAILED;
    }
    if (start - page_size > base)
        munmap(base, (size_t)(start - page_size - base));
    if (start + len + page_size < base + span)
        munmap(start + len + page_size, (size_t)(base + span - (start + len + page_size)));
    return start;
}

static int unmap_fenced(void *start, size_t len)
{
    return munmap((char *)start - page_size, len + 2 * page_size);
}

static struct area *find_area(const char *name)
{
    for (size_t i = 0; i < MAX_AREAS; i++)
        if (areas[i].start && strcmp(areas[i].name, name) == 0)
            return &areas[i];
    return NULL;
}

/* Record a new mapping, or unmap it and fail if the name cannot be used. */
static int add_area(const char *name, void *start, size_t len)
{
    struct area *slot = NULL;

    if (strlen(name) >= sizeof(slot->name) || find_area(name)) {
        unmap_fenced(start, len);
        return reply_error(EEXIST, "name too long or already in use");
    }
    for (size_t i = 0; i < MAX_AREAS && !slot; i++)
        if (!areas[i].start)
            slot = &areas[i];
    if (!slot) {
        unmap_fenced(start, len);
        return reply_error(ENOSPC, "area table full");
    }
    snprintf(slot->name, sizeof(slot->name), "%s", name);
    slot->start = start;
    slot->len = len;
    slot->uffd = -1;
    return reply_area(slot);
}

/* Resolve "NAME FIRST COUNT [STEP]" to an area and a checked page range. */
static struct area *page_range(int argc, char **argv, int allow_step,
                               __u64 *first, __u64 *count, __u64 *step)
{
    struct area *a;
    int max_argc = allow_step ? 5 : 4;

    *step = 1;
    if (argc < 4 || argc > max_argc || parse_u64(argv[2], first) ||
        parse_u64(argv[3], count) || (argc == 5 && parse_u64(argv[4], step))) {
        reply_error(EINVAL, "usage: NAME FIRST COUNT [STEP]");
        return NULL;
    }
    a = find_area(argv[1]);
    if (!a) {
        reply_error(ENOENT, "no such area");
        return NULL;
    }
    if (*step == 0 || (*count && *first + (*count - 1) * *step >= a->len / page_size)) {
        reply_error(ERANGE, "pages outside the area");
        return NULL;
    }
    return a;
}

/* ---- commands that create areas --------------------------------------- */

static int cmd_anon(int argc, char **argv, int flags, size_t unit)
{
    __u64 n;
    size_t len;
    void *p;

    if (argc != 3 || parse_u64(argv[2], &n) || n == 0)
        return reply_error(EINVAL, "usage: anon NAME PAGES | reserve NAME BYTES");
    len = (n * unit + page_size - 1) & ~(page_size - 1);
    p = map_fenced(len, page_size, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1);
    if (p == MAP_FAILED)
        return reply_errno("mmap");
    return add_area(argv[1], p, len);
}

static int cmd_file(int argc, char **argv)
{
    __u64 pages;
    struct stat st;
    int fd, shared;
    void *p;

    if (argc != 5 || parse_u64(argv[3], &pages) || pages == 0 ||
        (strcmp(argv[4], "shared") && strcmp(argv[4], "private")))
        return reply_error(EINVAL, "usage: file NAME PATH PAGES shared|private");
    shared = strcmp(argv[4], "shared") == 0;
    fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return reply_errno("open");
    if (fstat(fd, &st) || ((__u64)st.st_size < pages * page_size &&
                           ftruncate(fd, (off_t)(pages * page_size)))) {
        reply_errno("fstat/ftruncate");
        close(fd);
        return -1;
    }
    p = map_fenced(pages * page_size, page_size, shared ? MAP_SHARED : MAP_PRIVATE, fd);
    close(fd);
    if (p == MAP_FAILED)
        return reply_errno("mmap");
    return add_area(argv[1], p, pages * page_size);
}

static void touch(char *start, size_t len, size_t stride)
{
    for (size_t off = 0; off < len; off += stride)
        start[off] = 1;
}

static int cmd_thp(int argc, char **argv)
{
    __u64 mib;
    size_t len;
    char *p;

    if (argc != 3 || parse_u64(argv[2], &mib) || mib == 0 || mib % 2)
        return reply_error(EINVAL, "usage: thp NAME MIB (MIB a multiple of 2)");
    len = mib << 20;
    p = map_fenced(len, HUGE_2M, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    if (p == MAP_FAILED)
        return reply_errno("mmap");
    if (madvise(p, len, MADV_HUGEPAGE)) {
        reply_errno("madvise(MADV_HUGEPAGE)");
        unmap_fenced(p, len);
        return -1;
    }
    touch(p, len, page_size);
    return add_area(argv[1], p, len);
}

static int cmd_hugetlb(int argc, char **argv)
{
    __u64 n;
    char *p;

    if (argc != 3 || parse_u64(argv[2], &n) || n == 0)
        return reply_error(EINVAL, "usage: hugetlb NAME NPAGES");
    p = map_fenced(n * HUGE_2M, HUGE_2M, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
    if (p == MAP_FAILED)
        return reply_errno("mmap(MAP_HUGETLB)");
    touch(p, n * HUGE_2M, HUGE_2M);
    return add_area(argv[1], p, n * HUGE_2M);
}

/* ---- commands on pages of an area ------------------------------------- */

static int cmd_access(int argc, char **argv, int write)
{
    __u64 first, count, step;
    volatile char *p;
    struct area *a = page_range(argc, argv, 1, &first, &count, &step);

    if (!a)
        return -1;
    for (__u64 i = 0; i < count; i++) {
        p = a->start + (first + i * step) * page_size;
        if (write)
            *p = 1;
        else
            (void)*p;
    }
    return reply_ok("");
}

/* Write one byte of COUNT distinct pages of an area, chosen by SEED (a partial
 * Fisher-Yates shuffle driven by xorshift64), and reply with their indexes: the
 * ground truth of a write-watch is what the writer says it wrote. */
static int cmd_scatter(int argc, char **argv)
{
    __u64 count, seed, n;
    size_t *order;
    struct area *a;

    if (argc != 4 || parse_u64(argv[2], &count) || parse_u64(argv[3], &seed))
        return reply_error(EINVAL, "usage: scatter NAME COUNT SEED");
    a = find_area(argv[1]);
    if (!a)
        return reply_error(ENOENT, "no such area");
    n = a->len / page_size;
    if (count > n)
        return reply_error(ERANGE, "more pages than the area has");
    order = malloc(n * sizeof(*order));
    if (!order)
        return reply_error(ENOMEM, "cannot allocate the page order");
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    seed = seed ? seed : 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < count; i++) {
        size_t j, t;

        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        j = i + (size_t)(seed % (n - i));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
        *(volatile char *)(a->start + order[i] * page_size) = 1;
    }
    fputs("{\"ok\": true, \"pages\": [", stdout);
    for (size_t i = 0; i < count; i++)
        printf("%s%zu", i ? ", " : "", order[i]);
    fputs("]}\n", stdout);
    fflush(stdout);
    free(order);
    return 0;
}

static int cmd_madvise(int argc, char **argv, int advice, const char *what)
{
    __u64 first, count, step;
    struct area *a = page_range(argc, argv, 0, &first, &count, &step);

    if (!a)
        return -1;
    if (madvise(a->start + first * page_size, count * page_size, advice))
        return reply_errno(what);
    return reply_ok("");
}

static int cmd_mprotect(int argc, char **argv)
{
    __u64 first, count, step;
    struct area *a;
    int prot;

    if (argc != 5 || parse_prot(argv[4], &prot))
        return reply_error(EINVAL, "usage: mprotect NAME FIRST COUNT r|rw|rwx|none");
    a = page_range(4, argv, 0, &first, &count, &step);
    if (!a)
        return -1;
    if (mprotect(a->start + first * page_size, count * page_size, prot))
        return reply_errno("mprotect");
    return reply_ok("");
}

static int cmd_unmap(int argc, char **argv)
{
    struct area *a;

    if (argc != 2)
        return reply_error(EINVAL, "usage: unmap NAME");
    a = find_area(argv[1]);
    if (!a)
        return reply_error(ENOENT, "no such area");
    if (unmap_fenced(a->start, a->len))
        return reply_errno("munmap");
    if (a->uffd >= 0)
        close(a->uffd);
    memset(a, 0, sizeof(*a));
    return reply_ok("");
}

/* Register with userfaultfd in asynchronous write-protect mode and protect it
 * all: from now on the kernel tracks writes itself (PAGE_IS_WRITTEN) and no
 * fault is ever delivered to us. */
static int cmd_uffd_wp(int argc, char **argv)
{
    struct uffdio_api api = {
        .api = UFFD_API,
        .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
    };
    struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_WP};
    struct uffdio_writeprotect wp = {.mode = UFFDIO_WRITEPROTECT_MODE_WP};
    struct area *a;
    int fd;

    if (argc != 2)
        return reply_error(EINVAL, "usage: uffd_wp NAME");
    a = find_area(argv[1]);
    if (!a)
        return reply_error(ENOENT, "no such area");
    if (a->uffd >= 0)
        return reply_error(EBUSY, "area already registered");
    /* User-mode faults only: all we need, and allowed without privilege. */
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0)
        return reply_errno("userfaultfd");
    reg.range.start = wp.range.start = (uintptr_t)a->start;
    reg.range.len = wp.range.len = a->len;
    if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg) ||
        ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
        reply_errno("userfaultfd ioctl");
        close(fd);
        return -1;
    }
    a->uffd = fd;
    return reply_ok("");
}

static int cmd_clear_soft_dirty(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return reply_errno("open clear_refs");
    if (write(fd, "4", 1) != 1) {
        reply_errno("write clear_refs");
        close(fd);
        return -1;
    }
    close(fd);
    return reply_ok("");
}

/* ---- the ground truth: one PAGEMAP_SCAN of our own memory ------------- */

/* argv: START END FLAGS INVERTED MASK ANYOF RETURN MAX_PAGES VEC_LEN */
static int do_scan(char **argv, const char *out_path)
{
    struct pm_scan_arg arg = {.size = sizeof(arg)};
    __u64 *fields[] = {&arg.start, &arg.end, &arg.flags,
                          &arg.category_inverted, &arg.category_mask,
                          &arg.category_anyof_mask, &arg.return_mask,
                          &arg.max_pages, &arg.vec_len};
    struct page_region *vec = NULL;
    long ret;
    int fd;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (parse_u64(argv[i], fields[i]))
            return reply_error(EINVAL, "scan arguments must be numbers");
    if (arg.vec_len) {
        vec = calloc(arg.vec_len, sizeof(*vec));
        if (!vec)
            return reply_error(ENOMEM, "cannot allocate the region buffer");
        arg.vec = (uintptr_t)vec;
    }
    fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(vec);
        return reply_errno("open pagemap");
    }
    ret = ioctl(fd, PAGEMAP_SCAN, &arg);
    close(fd);
    if (ret < 0) {
        reply_errno("ioctl(PAGEMAP_SCAN)");
    } else if (out_path) {
        FILE *out = fopen(out_path, "we");
        size_t n = (size_t)ret;

        if (!out || fwrite(vec, sizeof(*vec), n, out) != n || fclose(out)) {
            reply_errno("write regions");
        } else {
            reply_ok(", \"ret\": %ld, \"walk_end\": %llu", ret,
                     (unsigned long long)arg.walk_end);
        }
    } else {
        printf("{\"ok\": true, \"ret\": %ld, \"walk_end\": %llu, \"regions\": [",
               ret, (unsigned long long)arg.walk_end);
        for (long i = 0; i < ret; i++)
            printf("%s[%llu, %llu, %llu]", i ? ", " : "",
                   (unsigned long long)vec[i].start,
                   (unsigned long long)vec[i].end,
                   (unsigned long long)vec[i].categories);
        fputs("]}\n", stdout);
        fflush(stdout);
    }
    free(vec);
    return ret < 0 ? -1 : 0;
}

/* ---- background writer ------------------------------------------------ */

static void *spin_main(void *scratch)
{
    for (volatile char *p = scratch;; p[0]++)
        ;
    return NULL;
}

static int cmd_spin(void)
{
    static char scratch[64];
    pthread_t thread;
    int err = pthread_create(&thread, NULL, spin_main, scratch);

    if (err)
        return reply_error(err, "pthread_create");
    pthread_detach(thread);
    return reply_ok("");
}

/* ---- stall probe ------------------------------------------------------ */

/* A thread that maps and unmaps one page in a loop and times each pair:
 * mmap and munmap take the mmap lock for writing, so a pair waits for as long
 * as a reader (smaps_rollup, PAGEMAP_SCAN) holds it.  The worst pair is the
 * worst stall a reader caused the process (plus the scheduler's own delays,
 * which a run without readers shows).  It pauses between pairs so as not to
 * take a whole CPU, and runs SCHED_FIFO (priority 2) where allowed (root), so
 * that on a busy machine it waits for the lock rather than for a CPU. */

#define STALL_PAUSE_NS 100000L

static struct {
    pthread_mutex_t lock;
    pthread_t thread;
    int running, stop;
    unsigned long count, over_1ms, over_10ms;
    __u64 max_ns, total_ns;
} stall = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __u64 now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void *stall_main(void *unused)
{
    const struct timespec pause = {0, STALL_PAUSE_NS};

    (void)unused;
    for (;;) {
        __u64 start = now_ns(), took;
        void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p != MAP_FAILED)
            munmap(p, page_size);
        took = now_ns() - start;
        pthread_mutex_lock(&stall.lock);
        stall.count++;
        stall.total_ns += took;
        if (took > stall.max_ns)
            stall.max_ns = took;
        stall.over_1ms += took > 1000000ULL;
        stall.over_10ms += took > 10000000ULL;
        if (stall.stop) {
            pthread_mutex_unlock(&stall.lock);
            return NULL;
        }
        pthread_mutex_unlock(&stall.lock);
        nanosleep(&pause, NULL);
    }
}

/* Reply with the pairs timed since the last "stall stats" (or start), and reset. */
static int stall_stats(void)
{
    unsigned long count, over_1ms, over_10ms;
    __u64 max_ns, total_ns;

    pthread_mutex_lock(&stall.lock);
    count = stall.count;
    over_1ms = stall.over_1ms;
    over_10ms = stall.over_10ms;
    max_ns = stall.max_ns;
    total_ns = stall.total_ns;
    stall.count = stall.over_1ms = stall.over_10ms = 0;
    stall.max_ns = stall.total_ns = 0;
    pthread_mutex_unlock(&stall.lock);
    return reply_ok(", \"count\": %lu, \"max_ns\": %llu, \"total_ns\": %llu, "
                    "\"over_1ms\": %lu, \"over_10ms\": %lu",
                    count, (unsigned long long)max_ns, (unsigned long long)total_ns, over_1ms,
                    over_10ms);
}

static int cmd_stall(int argc, char **argv)
{
    int err;

    if (argc != 2)
        return reply_error(EINVAL, "usage: stall start|stats|stop");
    if (!strcmp(argv[1], "start")) {
        if (stall.running)
            return reply_error(EBUSY, "the stall probe runs already");
        stall.stop = 0;
        stall.count = stall.over_1ms = stall.over_10ms = 0;
        stall.max_ns = stall.total_ns = 0;
        pthread_attr_t attr;
        struct sched_param param = {.sched_priority = 2};
        int realtime = 1;

        pthread_attr_init(&attr);
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &param);
        err = pthread_create(&stall.thread, &attr, stall_main, NULL);
        pthread_attr_destroy(&attr);
        if (err == EPERM) {
            realtime = 0;
            err = pthread_create(&stall.thread, NULL, stall_main, NULL);
        }
        if (err)
            return reply_error(err, "pthread_create");
        stall.running = 1;
        return reply_ok(", \"realtime\": %s", realtime ? "true" : "false");
    }
    if (!strcmp(argv[1], "stats"))
        return stall_stats();
    if (!strcmp(argv[1], "stop")) {
        if (!stall.running)
            return reply_error(ESRCH, "the stall probe does not run");
        pthread_mutex_lock(&stall.lock);
        stall.stop = 1;
        pthread_mutex_unlock(&stall.lock);
        pthread_join(stall.thread, NULL);
        stall.running = 0;
        return stall_stats();
    }
    return reply_error(EINVAL, "usage: stall start|stats|stop");
}

/* ---- main loop -------------------------------------------------------- */

static int dispatch(int argc, char **argv)
{
    const char *c = argv[0];

    if (!strcmp(c, "anon"))
        return cmd_anon(argc, argv, 0, page_size);
    if (!strcmp(c, "reserve"))
        return cmd_anon(argc, argv, MAP_NORESERVE, 1);
    if (!strcmp(c, "file"))
        return cmd_file(argc, argv);
    if (!strcmp(c, "thp"))
        return cmd_thp(argc, argv);
    if (!strcmp(c, "hugetlb"))
        return cmd_hugetlb(argc, argv);
    if (!strcmp(c, "write") || !strcmp(c, "read"))
        return cmd_access(argc, argv, c[0] == 'w');
    if (!strcmp(c, "scatter"))
        return cmd_scatter(argc, argv);
    if (!strcmp(c, "guard"))
        return cmd_madvise(argc, argv, MADV_GUARD_INSTALL, "madvise(MADV_GUARD_INSTALL)");
    if (!strcmp(c, "pageout"))
        return cmd_madvise(argc, argv, MADV_PAGEOUT, "madvise(MADV_PAGEOUT)");
    if (!strcmp(c, "dontneed"))
        return cmd_madvise(argc, argv, MADV_DONTNEED, "madvise(MADV_DONTNEED)");
    if (!strcmp(c, "mprotect"))
        return cmd_mprotect(argc, argv);
    if (!strcmp(c, "unmap"))
        return cmd_unmap(argc, argv);
    if (!strcmp(c, "uffd_wp"))
        return cmd_uffd_wp(argc, argv);
    if (!strcmp(c, "clear_soft_dirty") && argc == 1)
        return cmd_clear_soft_dirty();
    if (!strcmp(c, "scan") && argc == 10)
        return do_scan(argv + 1, NULL);
    if (!strcmp(c, "scan_to") && argc == 11)
        return do_scan(argv + 2, argv[1]);
    if (!strcmp(c, "spin") && argc == 1)
        return cmd_spin();
    if (!strcmp(c, "stall"))
        return cmd_stall(argc, argv);
    if (!strcmp(c, "exit") && argc == 2)
        exit(atoi(argv[1]));
    return reply_error(EINVAL, "unknown command or wrong number of arguments");
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;

    page_size = (size_t)sysconf(_SC_PAGESIZE);
    reply_ok(", \"pid\": %d, \"page_size\": %zu", (int)getpid(), page_size);
    while (getline(&line, &cap, stdin) > 0) {
        char *argv[MAX_WORDS + 1], *save = NULL;
        int argc = 0;

        for (char *w = strtok_r(line, " \t\r\n", &save); w;
             w = strtok_r(NULL, " \t\r\n", &save)) {
            if (argc == MAX_WORDS + 1)
                break;
            argv[argc++] = w;
        }
        if (argc == 0)
            reply_error(EINVAL, "empty command");
        else if (argc > MAX_WORDS)
            reply_error(E2BIG, "too many words");
        else
            dispatch(argc, argv);
    }
    free(line);
    return 0;
}
