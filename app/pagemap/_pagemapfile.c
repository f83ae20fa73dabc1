/* _pagemapfile: PAGEMAP_SCAN's answers computed from /proc/PID/pagemap (issue 5).
 * Placeholder module so the build has both extensions; the emulation lands here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef pagemapfile_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pagemapfile",
    .m_doc = "PAGEMAP_SCAN emulated from /proc/PID/pagemap.",
    .m_size = 0,
};

PyMODINIT_FUNC
PyInit__pagemapfile(void)
{
    return PyModuleDef_Init(&pagemapfile_module);
}
