/* What the source files of the _pagemap extension share, and nothing outside it uses.
 *
 *   _pagemap.c  the system calls (scan, count_scan, vma_at) and the module: its one
 *               method table, its constants, its multi-phase initialisation
 *   _encode.c   the JSON text of records (encode_regions)
 *   _counts.c   the page counts of records (count_pages, and the row count_scan fills)
 *
 * Each function defined outside _pagemap.c is declared here with its docstring and its
 * entry of the method table, as Argument Clinic's METHODDEF macros are in CPython's
 * modules. Include after Python.h.
 */
#ifndef PMSCAN_PAGEMAP_H
#define PMSCAN_PAGEMAP_H

#include "pagemap_abi.h"

#define RECORD_SIZE ((Py_ssize_t)sizeof(struct page_region))
#define CATEGORY_BITS 16

_Static_assert(sizeof(struct page_region) == 24, "page_region is 24 bytes in the kernel ABI");

/* Shared between the files of the extension, not exported from its shared object. */
#define PMSCAN_INTERNAL __attribute__((visibility("hidden")))

/* ---------------------------------------------------------------- _encode.c */

PMSCAN_INTERNAL extern const char pagemap_encode_regions__doc__[];
PMSCAN_INTERNAL PyObject *pagemap_encode_regions(PyObject *module, PyObject *args);

#define PAGEMAP_ENCODE_REGIONS_METHODDEF \
    {"encode_regions", pagemap_encode_regions, METH_VARARGS, pagemap_encode_regions__doc__},

/* ---------------------------------------------------------------- _counts.c */

PMSCAN_INTERNAL extern const char pagemap_count_pages__doc__[];
PMSCAN_INTERNAL PyObject *pagemap_count_pages(PyObject *module, PyObject *args, PyObject *kwargs);

#define PAGEMAP_COUNT_PAGES_METHODDEF                                                       \
    {"count_pages", (PyCFunction)(void (*)(void))pagemap_count_pages,                       \
     METH_VARARGS | METH_KEYWORDS, pagemap_count_pages__doc__},

/* A row of page counts: (pages, pages_with_bit_0, ..., pages_with_bit_15). */
#define ROW_LENGTH (1 + CATEGORY_BITS)

/* Add pages of the given categories to row. Inline: count_scan calls it for every record. */
static inline void
add_counts(unsigned long long *row, unsigned long long categories, unsigned long long pages)
{
    row[0] += pages;
    for (int b = 0; b < CATEGORY_BITS; b++) {
        if (categories & (1ULL << b)) {
            row[1 + b] += pages;
        }
    }
}

/* The row as a tuple of ROW_LENGTH ints (a new reference), or NULL with an exception set. */
PMSCAN_INTERNAL PyObject *row_to_tuple(const unsigned long long *row);

#endif /* PMSCAN_PAGEMAP_H */
