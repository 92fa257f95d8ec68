/* compare_stats, the Python entry point of compare's per-token statistics (_rowkernel_compare.h): included by
 * _rowkernel.c after its buffer helpers. */

/* compare_stats(base, test, targets_or_None, top_k, need, out, top1, redo) -> None
 * base, test: (N, V) of one dtype; out: (XK_NSTATS, N) float64, its rows the statistics in the order of the
 * XK_* enum (only those of the need bits and, with targets, the target ones are meaningful; others may be
 * written with placeholder values); top1: (2, N) int64;
 * redo: (N,) int64, 1 for the rows left to the caller (nothing of theirs written). */
static PyObject *py_compare_stats(PyObject *self, PyObject *args) {
    PyObject *bo, *to, *ko, *oo, *t1o, *ro;
    Py_ssize_t top_k;
    int need, have_k;
    Py_buffer b, t, k, o, t1, rd;
    if (!PyArg_ParseTuple(args, "OOOniOOO:compare_stats", &bo, &to, &ko, &top_k, &need, &oo, &t1o, &ro)) return NULL;
    have_k = ko != Py_None;
    if (get_buf(bo, &b, 2, 'z', 0, "base") < 0) return NULL;
    if (get_buf(to, &t, 2, 'z', 0, "test") < 0) { PyBuffer_Release(&b); return NULL; }
    if (have_k && get_buf(ko, &k, 1, 'q', 0, "targets") < 0) goto f2;
    if (get_buf(oo, &o, 2, 'd', 1, "out") < 0) goto f3;
    if (get_buf(t1o, &t1, 2, 'q', 1, "top1") < 0) goto f4;
    if (get_buf(ro, &rd, 1, 'q', 1, "redo") < 0) goto f5;
    {
        const Py_ssize_t N = b.shape[0], V = b.shape[1], kk = top_k < V ? top_k : V;
        const int dt = dtype_of(&b);
        void *scratch = NULL;
        if (t.shape[0] != N || t.shape[1] != V || dtype_of(&t) != dt)
            PyErr_SetString(PyExc_ValueError, "base and test must have the same shape and dtype");
        else if (V < 1) PyErr_SetString(PyExc_ValueError, "logits need at least one class");
        else if (top_k < 1) PyErr_SetString(PyExc_ValueError, "top_k must be >= 1");
        else if (o.shape[0] != XK_NSTATS || o.shape[1] != N || t1.shape[0] != 2 || t1.shape[1] != N || rd.shape[0] != N ||
                 (have_k && k.shape[0] != N))
            PyErr_Format(PyExc_ValueError, "out must be (%d, N), top1 (2, N), redo and targets (N,)", XK_NSTATS);
        else if (have_k && check_targets((const int64_t *)k.buf, N, V) < 0) { /* error set */ }
        else if (!(scratch = PyMem_RawMalloc(V * (2 * sizeof(double) + 2 * sizeof(float)) + 2 * kk * (sizeof(double) + sizeof(int64_t)))))
            PyErr_NoMemory();
        else {
            const kernels_t *kern = K;  /* read under the GIL: set_isa may change K */
            Py_BEGIN_ALLOW_THREADS
            kern->compare(b.buf, t.buf, dt, N, V, have_k ? (const int64_t *)k.buf : NULL, kk, need, (double *)o.buf,
                          (int64_t *)t1.buf, (int64_t *)rd.buf, scratch);
            Py_END_ALLOW_THREADS
        }
        PyMem_RawFree(scratch);
    }
    PyBuffer_Release(&rd);
f5: PyBuffer_Release(&t1);
f4: PyBuffer_Release(&o);
f3:
    if (have_k) PyBuffer_Release(&k);
f2:
    PyBuffer_Release(&b); PyBuffer_Release(&t);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

/* COMPARE_ROWS (the names of out's rows, in order) and COMPARE_NEED (group name -> need bit) on the module. */
static int add_compare_names(PyObject *m) {
    PyObject *rows = PyTuple_New(XK_NSTATS), *need = PyDict_New();
    if (!rows || !need) goto fail;
    for (int i = 0; i < XK_NSTATS; i++) {
        PyObject *name = PyUnicode_FromString(XK_ROW_NAMES[i]);
        if (!name) goto fail;
        PyTuple_SET_ITEM(rows, i, name);
    }
    for (size_t i = 0; i < sizeof(XK_NEED_NAMES) / sizeof(XK_NEED_NAMES[0]); i++) {
        PyObject *bit = PyLong_FromLong(XK_NEED_NAMES[i].bit);
        if (!bit || PyDict_SetItemString(need, XK_NEED_NAMES[i].group, bit) < 0) { Py_XDECREF(bit); goto fail; }
        Py_DECREF(bit);
    }
    if (PyModule_AddObject(m, "COMPARE_ROWS", rows) < 0) goto fail;
    rows = NULL;  /* the module holds it now */
    if (PyModule_AddObject(m, "COMPARE_NEED", need) < 0) goto fail;
    return 0;
fail:
    Py_XDECREF(rows);
    Py_XDECREF(need);
    return -1;
}
