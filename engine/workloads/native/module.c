/* The CPython glue of the workload generators (extension engine.workloads._generators, built by
 * setup.py), taking numpy's arrays through the buffer protocol (no numpy headers). Each
 * function fills ``ops`` ((lanes, ticks) int8) and ``slots`` ((lanes, ticks) int32), one lane
 * per seed of ``seeds`` ((lanes,) uint64), with the GIL released:
 *
 *   churn(seeds, ops, slots, n_slots, target, region_slots, fill, lifetime, immediate_frees,
 *         defer_rate, refault_after)
 *   sparse(seeds, ops, slots, n_slots, m, immediate_frees)
 *   fork_exit(seeds, ops, slots, n_slots, mm_slots, region_slots)
 *   repeat_mm(seed, ops, slots, mm, shuffle)   one lane: (ticks,) rows, mm (n,) int32
 *   SOURCE_HASH   what the build was made from (setup.py's source_hash of this folder)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "generators.h"

#ifndef PTF_SOURCE_HASH
#error "the build says what it is made from: -DPTF_SOURCE_HASH='\"<sha256>\"'"
#endif

/* One argument's buffer: C-contiguous, ``ndim`` dimensions of integers of ``size`` bytes,
 * signed or not. */
static int get(PyObject *obj, Py_buffer *view, const char *name, Py_ssize_t size, int ndim,
               int is_signed, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return -1;
    const char *fmt = view->format ? view->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@')
        fmt++;
    int ok = fmt[0] != '\0' && fmt[1] == '\0' && strchr(is_signed ? "bhilq" : "BHILQ", *fmt);
    if (view->itemsize != size || !ok || view->ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %d-d array of %sint%d, got "
                     "format %s, itemsize %zd, %d-d", name, ndim, is_signed ? "" : "u",
                     (int)(8 * size), view->format ? view->format : "B", view->itemsize,
                     view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release(Py_buffer *v, int n) {
    for (int i = 0; i < n; i++)
        PyBuffer_Release(&v[i]);
}

/* The buffers of (seeds, ops, slots) of a call over many lanes, their shapes checked. */
static int get_lanes(PyObject *const obj[3], Py_buffer v[3]) {
    if (get(obj[0], &v[0], "seeds", 8, 1, 0, 0) != 0)
        return -1;
    if (get(obj[1], &v[1], "ops", 1, 2, 1, 1) != 0) {
        release(v, 1);
        return -1;
    }
    if (get(obj[2], &v[2], "slots", 4, 2, 1, 1) != 0) {
        release(v, 2);
        return -1;
    }
    if (v[1].shape[0] != v[0].shape[0] || v[2].shape[0] != v[0].shape[0]
        || v[2].shape[1] != v[1].shape[1]) {
        PyErr_SetString(PyExc_ValueError, "generator: ops and slots must be (lanes, ticks), one "
                        "lane per seed");
        release(v, 3);
        return -1;
    }
    return 0;
}

/* None, or MemoryError when the generator ran out of memory; releases the buffers. */
static PyObject *done(int code, Py_buffer *v, int n) {
    release(v, n);
    if (code != 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *churn(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[3];
    long long n_slots, target;
    double region_mean, fill, lifetime, p_free, defer_rate, refault_after;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOOLLdddddd:churn", &obj[0], &obj[1], &obj[2], &n_slots,
                          &target, &region_mean, &fill, &lifetime, &p_free, &defer_rate,
                          &refault_after))
        return NULL;
    if (n_slots < 1 || n_slots > INT32_MAX)
        return PyErr_Format(PyExc_ValueError, "churn: n_slots %lld is not in [1, 2^31)",
                            n_slots);
    if (get_lanes(obj, v) != 0)
        return NULL;
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = ptf_churn(v[0].shape[0], v[1].shape[1], v[0].buf, v[1].buf, v[2].buf, n_slots,
                     target, region_mean, fill, lifetime, p_free, defer_rate, refault_after);
    Py_END_ALLOW_THREADS
    return done(code, v, 3);
}

static PyObject *sparse(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[3];
    long long n_slots, m;
    double p_free;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOOLLd:sparse", &obj[0], &obj[1], &obj[2], &n_slots, &m,
                          &p_free))
        return NULL;
    if (m < 1 || 2 * m > n_slots || n_slots > INT32_MAX)
        return PyErr_Format(PyExc_ValueError, "sparse: m %lld is not in [1, n_slots / 2] "
                            "(n_slots %lld < 2^31)", m, n_slots);
    if (get_lanes(obj, v) != 0)
        return NULL;
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = ptf_sparse(v[0].shape[0], v[1].shape[1], v[0].buf, v[1].buf, v[2].buf, n_slots, m,
                      p_free);
    Py_END_ALLOW_THREADS
    return done(code, v, 3);
}

static PyObject *fork_exit(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[3];
    long long n_slots;
    double mm_mean, region_mean;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOOLdd:fork_exit", &obj[0], &obj[1], &obj[2], &n_slots,
                          &mm_mean, &region_mean))
        return NULL;
    if (n_slots < 1 || n_slots > INT32_MAX)
        return PyErr_Format(PyExc_ValueError, "fork_exit: n_slots %lld is not in [1, 2^31)",
                            n_slots);
    if (get_lanes(obj, v) != 0)
        return NULL;
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = ptf_fork_exit(v[0].shape[0], v[1].shape[1], v[0].buf, v[1].buf, v[2].buf, n_slots,
                         mm_mean, region_mean);
    Py_END_ALLOW_THREADS
    return done(code, v, 3);
}

static PyObject *repeat_mm(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long seed;
    PyObject *obj[3];
    int shuffle;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "KOOOp:repeat_mm", &seed, &obj[0], &obj[1], &obj[2], &shuffle))
        return NULL;
    if (get(obj[0], &v[0], "ops", 1, 1, 1, 1) != 0)
        return NULL;
    if (get(obj[1], &v[1], "slots", 4, 1, 1, 1) != 0) {
        release(v, 1);
        return NULL;
    }
    if (get(obj[2], &v[2], "mm", 4, 1, 1, 0) != 0) {
        release(v, 2);
        return NULL;
    }
    if (v[1].shape[0] != v[0].shape[0]) {
        PyErr_SetString(PyExc_ValueError, "repeat_mm: ops and slots must be one lane's rows");
        release(v, 3);
        return NULL;
    }
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = ptf_repeat_mm(v[0].shape[0], seed, v[0].buf, v[1].buf, v[2].buf, v[2].shape[0],
                         shuffle);
    Py_END_ALLOW_THREADS
    return done(code, v, 3);
}

static PyMethodDef METHODS[] = {
    {"churn", churn, METH_VARARGS,
     "churn(seeds, ops, slots, n_slots, target, region_slots, fill, lifetime, immediate_frees, "
     "defer_rate, refault_after): the churn (khugepaged) lanes of seeds into ops and slots."},
    {"sparse", sparse, METH_VARARGS,
     "sparse(seeds, ops, slots, n_slots, m, immediate_frees): the sparse lanes of seeds, m "
     "slots per set (1 <= m <= n_slots / 2)."},
    {"fork_exit", fork_exit, METH_VARARGS,
     "fork_exit(seeds, ops, slots, n_slots, mm_slots, region_slots): the fork-exit lanes of "
     "seeds."},
    {"repeat_mm", repeat_mm, METH_VARARGS,
     "repeat_mm(seed, ops, slots, mm, shuffle): one lane faulting mm (shuffled per mm if "
     "shuffle), then exiting, to the end of its rows."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_generators",
    "Workload generators (sources: engine/workloads/native/).", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__generators(void) {
    PyObject *m = PyModule_Create(&MODULE);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_HASH", PTF_SOURCE_HASH) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
