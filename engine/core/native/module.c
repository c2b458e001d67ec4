/* The CPython glue of the lane loops: one extension module per build, taking numpy's arrays
 * through the buffer protocol (no numpy headers). The build names the module (PTF_MODULE:
 * _native, _native_checked, or a plug-in's) and its strategies (PTF_STRATEGIES: a list of
 * STRATEGY(name), one per rules file compiled with this one; setup.py globs them).
 *
 *   run(name, ops, slots, times, timed, lengths, lp, ints, sums)
 *       run every lane with strategy ``name``'s loop (its rules file's name, e.g. "s390_v64");
 *       fills ints and sums; releases the GIL while the lanes run. Returns None, or, in the
 *       checked build, (lane, event, rule) for the first broken invariant.
 *   STRATEGIES    the rules files compiled in
 *   CHECKED       1 in the checked build (-DPTFARM_CHECKS)
 *   SOURCE_HASH   what the build was made from (setup.py's source_hash; "" for a plug-in)
 *   LANE_PARAMS   the LaneParams fields, in the order of a row of ``lp``
 *   INTS, SUMS    the columns of ``ints`` and ``sums``
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "layout.h"

#ifndef PTF_MODULE
#error "the build names the module: -DPTF_MODULE=_native"
#endif
#ifndef PTF_STRATEGIES
#error "the build lists the strategies: -DPTF_STRATEGIES='STRATEGY(a) STRATEGY(b)'"
#endif
#ifdef PTFARM_CHECKS
#define PTF_CHECKED 1
#else
#define PTF_CHECKED 0
#endif
#ifndef PTF_SOURCE_HASH
#define PTF_SOURCE_HASH "" /* a plug-in's module: its name holds the hash */
#endif
#define PTF_STR(x) #x
#define PTF_NAME(x) PTF_STR(x)
#define PTF_INIT(m) PTF_PASTE(PyInit_, m)

typedef int(*entry_fn) PTF_ENTRY_PARAMS;

#define STRATEGY(s) int PTF_ENTRY(s) PTF_ENTRY_PARAMS;
PTF_STRATEGIES
#undef STRATEGY

static const struct {
    const char *core;
    entry_fn run;
} ENTRIES[] = {
#define STRATEGY(s) {#s, PTF_ENTRY(s)},
    PTF_STRATEGIES
#undef STRATEGY
};
#define N_ENTRIES (sizeof(ENTRIES) / sizeof(ENTRIES[0]))

static const char *LANE_PARAMS[] = LANE_PARAM_NAMES;
_Static_assert(sizeof(LANE_PARAMS) / sizeof(LANE_PARAMS[0]) == LP_COUNT,
               "a name for every LaneParams field");

/* One argument's buffer: C-contiguous, integer items of ``size`` bytes, ``ndim`` dimensions. */
static int get(PyObject *obj, Py_buffer *view, const char *name, Py_ssize_t size, int ndim,
               int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return -1;
    const char *fmt = view->format ? view->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@')
        fmt++;
    int is_signed_int = fmt[1] == '\0' && strchr("bhilq", *fmt) != NULL;
    if (view->itemsize != size || !is_signed_int || view->ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %d-d array of int%d, got "
                     "format %s, itemsize %zd, %d-d", name, ndim, (int)(8 * size),
                     view->format ? view->format : "B", view->itemsize, view->ndim);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static PyObject *run(PyObject *self, PyObject *args) {
    (void)self;
    const char *core;
    PyObject *obj[8];
    if (!PyArg_ParseTuple(args, "sOOOOOOOO:run", &core, &obj[0], &obj[1], &obj[2], &obj[3],
                          &obj[4], &obj[5], &obj[6], &obj[7]))
        return NULL;
    entry_fn entry = NULL;
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strcmp(ENTRIES[i].core, core) == 0)
            entry = ENTRIES[i].run;
    if (entry == NULL)
        return PyErr_Format(PyExc_LookupError, "no lane loop for strategy rules %s in %s", core,
                            PTF_NAME(PTF_MODULE));

    static const char *names[8] = {"ops", "slots", "times", "timed", "lengths", "lp", "ints",
                                   "sums"};
    static const Py_ssize_t sizes[8] = {1, 4, 8, 1, 8, 8, 8, 8};
    static const int ndims[8] = {2, 2, 2, 1, 1, 2, 2, 2};
    Py_buffer v[8];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 8; got++)
        if (get(obj[got], &v[got], names[got], sizes[got], ndims[got], got >= 6) != 0)
            goto done;

    Py_ssize_t lanes = v[0].shape[0], t_max = v[0].shape[1], t_cols = v[2].shape[1];
    const int8_t *timed = v[3].buf;
    const int64_t *lengths = v[4].buf;
    int shapes_ok = v[1].shape[0] == lanes && v[1].shape[1] == t_max && v[2].shape[0] == lanes
                    && v[3].shape[0] == lanes && v[4].shape[0] == lanes
                    && v[5].shape[0] == lanes && v[5].shape[1] == LP_COUNT
                    && v[6].shape[0] == lanes && v[6].shape[1] == O_COUNT
                    && v[7].shape[0] == lanes && v[7].shape[1] == S_COUNT;
    for (Py_ssize_t i = 0; shapes_ok && i < lanes; i++)
        shapes_ok = 0 <= lengths[i] && lengths[i] <= t_max
                    && (timed[i] == 0 || lengths[i] <= t_cols);
    if (!shapes_ok) {
        PyErr_SetString(PyExc_ValueError, "lane loop: array shapes do not fit together "
                        "(lanes, events, a timed lane's times, lp, ints, sums)");
        goto done;
    }

    int64_t bad[2] = {-1, -1};
    const char *why = NULL;
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = entry(lanes, t_max, t_cols, v[0].buf, v[1].buf, v[2].buf, timed, lengths, v[5].buf,
                 v[6].buf, v[7].buf, bad, &why);
    Py_END_ALLOW_THREADS
    if (code == PTF_NO_MEMORY) {
        PyErr_Format(PyExc_MemoryError, "lane loop: out of memory in lane %lld",
                     (long long)bad[0]);
    } else if (code == PTF_INVARIANT) {
        result = Py_BuildValue("(LLs)", (long long)bad[0], (long long)bad[1], why);
    } else if (code != PTF_OK) {
        PyErr_Format(PyExc_ValueError, "lane loop: lane %lld, event %lld is not a valid "
                     "event (an op out of range, a slot outside [0, n_slots), or a free of an "
                     "unmapped slot)", (long long)bad[0], (long long)bad[1]);
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef METHODS[] = {
    {"run", run, METH_VARARGS,
     "run(name, ops, slots, times, timed, lengths, lp, ints, sums): run every lane with the loop "
     "of strategy rules ``name`` (the GIL released), filling ints and sums; None, or (lane, "
     "event, rule) for a broken invariant (checked build)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, PTF_NAME(PTF_MODULE),
    "Lane loops of strategies (sources: engine/core/native/ and the rules files).", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PTF_INIT(PTF_MODULE)(void) {
    PyObject *m = PyModule_Create(&MODULE);
    if (m == NULL)
        return NULL;
    PyObject *cores = PyTuple_New(N_ENTRIES);
    PyObject *fields = PyTuple_New(LP_COUNT);
    if (cores == NULL || fields == NULL)
        goto fail;
    for (size_t i = 0; i < N_ENTRIES; i++)
        PyTuple_SET_ITEM(cores, i, PyUnicode_FromString(ENTRIES[i].core));
    for (int i = 0; i < LP_COUNT; i++)
        PyTuple_SET_ITEM(fields, i, PyUnicode_FromString(LANE_PARAMS[i]));
    if (PyModule_AddObject(m, "STRATEGIES", cores) != 0)
        goto fail;
    cores = NULL;
    if (PyModule_AddObject(m, "LANE_PARAMS", fields) != 0)
        goto fail;
    fields = NULL;
    if (PyModule_AddIntConstant(m, "INTS", O_COUNT) != 0
        || PyModule_AddIntConstant(m, "CHECKED", PTF_CHECKED) != 0
        || PyModule_AddStringConstant(m, "SOURCE_HASH", PTF_SOURCE_HASH) != 0
        || PyModule_AddIntConstant(m, "SUMS", S_COUNT) != 0)
        goto fail;
    return m;
fail:
    Py_XDECREF(cores);
    Py_XDECREF(fields);
    Py_DECREF(m);
    return NULL;
}
