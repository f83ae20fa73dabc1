/* _encode.c: packed page_region records as JSON text, for the NDJSON and JSON answers of
 * /scan (part of the _pagemap extension; _pagemap.h lists its files).
 *
 * The text is written in C because it is the hot loop of a large answer: two decimal
 * numbers and a list of names per record, hundreds of thousands of records per scan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "_pagemap.h"

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of v at p; returns the end. This loop is the NDJSON hot path (two numbers
 * of up to 15 digits per record): four digits per 64-bit division, then two table lookups of
 * 32-bit halves (the 64-bit division, a 128-bit multiply, is the costly step). */
static char *
put_u64(char *p, unsigned long long v)
{
    char tmp[20];
    char *t = tmp + sizeof(tmp);
    while (v >= 10000) {
        unsigned quad = (unsigned)(v % 10000);
        v /= 10000;
        t -= 4;
        memcpy(t, DIGIT_PAIRS + (quad / 100) * 2, 2);
        memcpy(t + 2, DIGIT_PAIRS + (quad % 100) * 2, 2);
    }
    unsigned rest = (unsigned)v; /* below 10000: one to four digits */
    if (rest >= 100) {
        t -= 2;
        memcpy(t, DIGIT_PAIRS + (rest % 100) * 2, 2);
        rest /= 100;
    }
    if (rest >= 10) {
        t -= 2;
        memcpy(t, DIGIT_PAIRS + rest * 2, 2);
    } else {
        *--t = (char)('0' + rest);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

static const unsigned long long POWERS_OF_TEN[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

/* How many decimal digits put_u64 writes for v: log10 from the bit length, then one compare. */
static inline Py_ssize_t
count_digits(unsigned long long v)
{
    if (v == 0) {
        return 1;
    }
    unsigned guess = ((unsigned)(64 - __builtin_clzll(v)) * 1233) >> 12;
    return (Py_ssize_t)(guess - (v < POWERS_OF_TEN[guess]) + 1);
}

const char pagemap_encode_regions__doc__[] = PyDoc_STR(
"encode_regions(records, names, separator, /)\n"
"--\n\n"
"JSON objects {\"start\":S,\"end\":E,\"categories\":NAMES} for packed records,\n"
"each followed by separator (b\"\\n\" for NDJSON, b\",\" inside a JSON array).\n"
"names[c] is the JSON text for a categories value c; a value with no entry\n"
"raises ValueError. records and separator must be bytes (TypeError for a\n"
"bytearray, memoryview or other buffer): they are read again without the GIL.");

#define MAX_NAMES 4096

PyObject *
pagemap_encode_regions(PyObject *Py_UNUSED(module), PyObject *args)
{
    /* bytes only, never a buffer: the records are checked and measured with the GIL held,
     * then read again without it, and only an immutable object guarantees that the second
     * reading sees what the first checked (a bytearray or a memoryview of one could change
     * under another thread meanwhile and make the text overrun the bytes sized for it). */
    PyObject *records, *names, *separator;
    if (!PyArg_ParseTuple(args, "SO!S:encode_regions", &records, &PyTuple_Type, &names,
                          &separator)) {
        return NULL;
    }
    PyObject *result = NULL;
    const char **name_text = NULL;
    Py_ssize_t *name_len = NULL;
    Py_ssize_t n_names = PyTuple_GET_SIZE(names);

    if (PyBytes_GET_SIZE(records) % RECORD_SIZE != 0) {
        PyErr_SetString(PyExc_ValueError, "records must be a multiple of 24 bytes");
        goto done;
    }
    if (n_names > MAX_NAMES) {
        PyErr_SetString(PyExc_ValueError, "too many names");
        goto done;
    }
    name_text = PyMem_Malloc(sizeof(*name_text) * (size_t)(n_names + 1));
    name_len = PyMem_Malloc(sizeof(*name_len) * (size_t)(n_names + 1));
    if (name_text == NULL || name_len == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_names; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "names must be a tuple of bytes");
            goto done;
        }
        /* The tuple holds the bytes alive while the GIL is released below. */
        name_text[i] = PyBytes_AS_STRING(name);
        name_len[i] = PyBytes_GET_SIZE(name);
    }

    static const char head[] = "{\"start\":";
    static const char mid[] = ",\"end\":";
    static const char tail[] = ",\"categories\":";
    const Py_ssize_t fixed = (Py_ssize_t)(sizeof(head) + sizeof(mid) + sizeof(tail)) - 3 + 1 +
                             PyBytes_GET_SIZE(separator);
    const Py_ssize_t count = PyBytes_GET_SIZE(records) / RECORD_SIZE;
    const struct page_region *rec = (const struct page_region *)PyBytes_AS_STRING(records);
    /* The exact size first: a bytes object sized for the worst case and shrunk afterwards
     * came from fresh pages every time (glibc maps a large block anew when it is larger than
     * the last one freed, and the shrunk one always was smaller), and faulting them in cost
     * more than writing the text. */
    Py_ssize_t size = 0;
    Py_ssize_t bad = -1; /* the first record with no name, if any */
    int overflow = 0;
    /* Only the contents of bytes objects are read here and below (immutable, and held
     * alive by the arguments), never a Python object: both loops run without the GIL, so
     * that a scan thread's next kernel call, or the event loop, runs meanwhile. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        if (rec[i].categories >= (unsigned long long)n_names) {
            bad = i;
            break;
        }
        Py_ssize_t length = fixed + count_digits(rec[i].start) + count_digits(rec[i].end) +
                            name_len[(Py_ssize_t)rec[i].categories];
        if (size > PY_SSIZE_T_MAX - length) {
            overflow = 1;
            break;
        }
        size += length;
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "no name for categories value %llu", rec[bad].categories);
        goto done;
    }
    if (overflow) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL) {
        goto done;
    }
    char *const out = PyBytes_AS_STRING(result);
    char *p = out;
    const char *sep = PyBytes_AS_STRING(separator);
    const Py_ssize_t sep_len = PyBytes_GET_SIZE(separator);
    /* Encoding megabytes takes milliseconds: without the GIL (see above). */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t c = (Py_ssize_t)rec[i].categories;
        memcpy(p, head, sizeof(head) - 1);
        p = put_u64(p + sizeof(head) - 1, rec[i].start);
        memcpy(p, mid, sizeof(mid) - 1);
        p = put_u64(p + sizeof(mid) - 1, rec[i].end);
        memcpy(p, tail, sizeof(tail) - 1);
        p += sizeof(tail) - 1;
        memcpy(p, name_text[c], (size_t)name_len[c]);
        p += name_len[c];
        *p++ = '}';
        memcpy(p, sep, (size_t)sep_len);
        p += sep_len;
    }
    Py_END_ALLOW_THREADS
    assert(p - out == size);
done:
    PyMem_Free(name_text);
    PyMem_Free(name_len);
    return result;
}
