/* The PAGEMAP_SCAN ABI (Linux 6.7+, include/uapi/linux/fs.h).
 *
 * The build machine's headers may predate it (linux-libc-dev 6.1 does), so the
 * definitions are repeated here, each guarded so that a newer header wins.
 */
#ifndef PMSCAN_PAGEMAP_ABI_H
#define PMSCAN_PAGEMAP_ABI_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED   (1UL << 0)
#define PAGE_IS_WRITTEN     (1UL << 1)
#define PAGE_IS_FILE        (1UL << 2)
#define PAGE_IS_PRESENT     (1UL << 3)
#define PAGE_IS_SWAPPED     (1UL << 4)
#define PAGE_IS_PFNZERO     (1UL << 5)
#define PAGE_IS_HUGE        (1UL << 6)
#define PAGE_IS_SOFT_DIRTY  (1UL << 7)

struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1UL << 8)
#endif

/* PROCMAP_QUERY (Linux 6.11+): one VMA of /proc/PID/maps by address, without
 * generating and parsing the text of every line. */
#ifndef PROCMAP_QUERY
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

struct procmap_query {
    __u64 size;
    __u64 query_flags;
    __u64 query_addr;
    __u64 vma_start;
    __u64 vma_end;
    __u64 vma_flags;
    __u64 vma_page_size;
    __u64 vma_offset;
    __u64 inode;
    __u32 dev_major;
    __u32 dev_minor;
    __u32 vma_name_size;
    __u32 build_id_size;
    __u64 vma_name_addr;
    __u64 build_id_addr;
};

#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#endif /* PROCMAP_QUERY */

#endif /* PMSCAN_PAGEMAP_ABI_H */
