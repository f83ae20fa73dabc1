"""PAGEMAP_SCAN emulated from /proc/PID/pagemap (``_pagemapfile.c``)."""

VMA_RECORD_SIZE: int
VMA_SKIP: int
VMA_HUGETLB: int
VMA_ANON: int
VMA_THP: int

def scan(
    fd: int,
    vmas: bytes,
    start: int,
    end: int,
    *,
    category_inverted: int = 0,
    category_mask: int = 0,
    category_anyof_mask: int = 0,
    return_mask: int = 0,
    max_pages: int = 0,
    vec_len: int,
    check_wpasync: bool = False,
    zero_pfn: int = 0,
    kpageflags_fd: int = -1,
) -> tuple[bytes, int, int]: ...
