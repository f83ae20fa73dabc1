/* _counts.c: the page counts of packed page_region records, per category bit, for the
 * summaries (count_pages) and for count_scan's loop (part of the _pagemap extension;
 * _pagemap.h lists its files).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_pagemap.h"

const char pagemap_count_pages__doc__[] = PyDoc_STR(
"count_pages(records, page_size, bounds=None)\n"
"--\n\n"
"Page counts of packed records without a Python object per record.\n\n"
"Without bounds: a tuple (pages, pages_with_bit_0, ..., pages_with_bit_15).\n"
"With bounds (packed u64 pairs [start, end), sorted, non-overlapping): a list\n"
"with one such tuple per pair, counting only the pages inside that pair; a\n"
"record spanning two pairs is split between them.");

PyObject *
row_to_tuple(const unsigned long long *row)
{
    PyObject *t = PyTuple_New(ROW_LENGTH);
    if (t == NULL) {
        return NULL;
    }
    for (int i = 0; i < ROW_LENGTH; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(row[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

PyObject *
pagemap_count_pages(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"records", "page_size", "bounds", NULL};
    Py_buffer records, bounds = {0};
    unsigned long long page_size;
    PyObject *result = NULL;
    unsigned long long *rows = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*K|z*:count_pages", keywords, &records,
                                     &page_size, &bounds)) {
        return NULL;
    }
    if (records.len % RECORD_SIZE != 0 || page_size == 0 || bounds.len % 16 != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "records must be 24-byte records, bounds 16-byte pairs, page_size > 0");
        goto done;
    }
    const struct page_region *rec = records.buf;
    Py_ssize_t count = records.len / RECORD_SIZE;

    if (bounds.buf == NULL) {
        unsigned long long row[ROW_LENGTH] = {0};
        for (Py_ssize_t i = 0; i < count; i++) {
            add_counts(row, rec[i].categories, (rec[i].end - rec[i].start) / page_size);
        }
        result = row_to_tuple(row);
        goto done;
    }

    const unsigned long long *pair = bounds.buf;
    Py_ssize_t n_pairs = bounds.len / 16;
    rows = PyMem_Calloc((size_t)n_pairs ? (size_t)n_pairs : 1, sizeof(unsigned long long) * ROW_LENGTH);
    if (rows == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* Both sequences are sorted by address: walk them together. */
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < count && j < n_pairs; i++) {
        unsigned long long s = rec[i].start, e = rec[i].end;
        while (j < n_pairs && pair[2 * j + 1] <= s) {
            j++;
        }
        for (Py_ssize_t k = j; k < n_pairs && pair[2 * k] < e; k++) {
            unsigned long long lo = s > pair[2 * k] ? s : pair[2 * k];
            unsigned long long hi = e < pair[2 * k + 1] ? e : pair[2 * k + 1];
            if (hi > lo) {
                add_counts(&rows[k * ROW_LENGTH], rec[i].categories, (hi - lo) / page_size);
            }
        }
    }
    result = PyList_New(n_pairs);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_pairs; k++) {
        PyObject *t = row_to_tuple(&rows[k * ROW_LENGTH]);
        if (t == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, k, t);
    }
done:
    PyMem_Free(rows);
    PyBuffer_Release(&records);
    if (bounds.buf != NULL) {
        PyBuffer_Release(&bounds);
    }
    return result;
}
