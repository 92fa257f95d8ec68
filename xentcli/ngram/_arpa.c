/* _arpa: the ARPA writer's and reader's inner loops for xentcli.ngram.arpa, which falls back on its own
 * Python code when this module is not built (or XENT_KERNEL=numpy).
 *
 * Plain CPython C API + the buffer protocol: no NumPy headers.  Both functions give exactly what the
 * Python code gives:
 *   - lines(): every number as Python's repr() (PyOS_double_to_string, 'r' mode, the ".0" added), "0"
 *     for either zero; the words are bytes throughout, so a vocabulary that is not UTF-8 is written as
 *     the Python path's surrogateescape round trip writes it.
 *   - parse(): every number as Python's float() of its field: a field of at most 15 significant digits
 *     and a decimal exponent within ±22 is m / 10^k or m * 10^k with m and 10^k exact doubles, one
 *     correctly rounded operation (Clinger's fast path); any other goes to PyOS_string_to_double,
 *     float()'s own parser.  Anything the fast layout does not cover (see parse()) returns None, and the
 *     Python line reader then reads the file and names the line at fault.
 * The GIL is held throughout: both call the Python allocator, and the callers have no threads to share.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ---- */

typedef struct {
    char *data;
    size_t len, cap;
} Out;

static int out_reserve(Out *o, size_t more) {
    if (o->len + more <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + more) cap *= 2;
    char *p = PyMem_Realloc(o->data, cap);
    if (!p) { PyErr_NoMemory(); return -1; }
    o->data = p;
    o->cap = cap;
    return 0;
}

static int out_put(Out *o, const char *s, size_t n) {
    if (out_reserve(o, n) < 0) return -1;
    memcpy(o->data + o->len, s, n);
    o->len += n;
    return 0;
}

/* The texts of recent numbers by their bits: a model's back-offs take a few thousand values, its
 * log-probabilities repeat too, and repr's shortest-digit search is most of the writer's time. */
#define CACHE_BITS 16
static struct {
    uint64_t bits;
    char len; /* 0: empty */
    char text[31];
} cache[1 << CACHE_BITS];

static int out_number(Out *o, double x) {
    if (x == 0) return out_put(o, "0", 1);
    uint64_t bits;
    memcpy(&bits, &x, 8);
    size_t at = (size_t)((bits * 0x9E3779B97F4A7C15ull) >> (64 - CACHE_BITS));
    if (cache[at].len && cache[at].bits == bits) return out_put(o, cache[at].text, (size_t)cache[at].len);
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!s) return -1;
    size_t n = strlen(s);
    if (n < sizeof cache[at].text) {
        cache[at].bits = bits;
        cache[at].len = (char)n;
        memcpy(cache[at].text, s, n);
    }
    int rc = out_put(o, s, n);
    PyMem_Free(s);
    return rc;
}

/* A 1-D C-contiguous buffer of `count` items of `size` bytes (NULL for None when `optional`). */
static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t size, Py_ssize_t count, int writable,
                     const char *what) {
    view->obj = NULL;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->itemsize != size || (count >= 0 && view->len != size * count)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes", what, count, size);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void release(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
}

/* ---- writer ---- */

PyDoc_STRVAR(lines_doc,
"lines(logprob, backoff, words, vocab, prefix, below, keep) -> (bytes, list | None)\n\n"
"One block of one order's ARPA lines.  logprob, backoff: float64 (backoff None on the highest order; a NaN\n"
"log-probability leaves its n-gram out); words: int32 last-word ids into vocab (list of bytes); prefix:\n"
"int64 indices into below (list of bytes: the (n-1)-grams' texts), None for the unigrams.  With keep,\n"
"also the list of every n-gram's text (written or not), for the next order's prefixes.");

static PyObject *lines(PyObject *self, PyObject *args) {
    PyObject *lp_obj, *bo_obj, *w_obj, *vocab, *pre_obj, *below;
    int keep;
    if (!PyArg_ParseTuple(args, "OOOO!OOp", &lp_obj, &bo_obj, &w_obj, &PyList_Type, &vocab, &pre_obj, &below,
                          &keep))
        return NULL;
    Py_buffer views[4] = {{0}};
    Out out = {0};
    PyObject *texts = NULL, *result = NULL;
    int has_prefix = pre_obj != Py_None, has_backoff = bo_obj != Py_None;
    if (has_prefix && !PyList_Check(below)) {
        PyErr_SetString(PyExc_TypeError, "below must be a list of bytes");
        return NULL;
    }
    if (get_array(lp_obj, &views[0], 8, -1, 0, "logprob") < 0) goto done;
    Py_ssize_t m = views[0].len / 8;
    if (get_array(w_obj, &views[1], 4, m, 0, "words") < 0) goto done;
    if (has_backoff && get_array(bo_obj, &views[2], 8, m, 0, "backoff") < 0) goto done;
    if (has_prefix && get_array(pre_obj, &views[3], 8, m, 0, "prefix") < 0) goto done;
    const double *lp = views[0].buf, *bo = views[2].buf;
    const int32_t *w = views[1].buf;
    const int64_t *pre = views[3].buf;
    Py_ssize_t nv = PyList_GET_SIZE(vocab), nb = has_prefix ? PyList_GET_SIZE(below) : 0;
    if (keep && !(texts = PyList_New(m))) goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (w[i] < 0 || w[i] >= nv || (has_prefix && (pre[i] < 0 || pre[i] >= nb))) {
            PyErr_SetString(PyExc_IndexError, "a word or prefix index out of range");
            goto done;
        }
        PyObject *word = PyList_GET_ITEM(vocab, w[i]), *head = has_prefix ? PyList_GET_ITEM(below, pre[i]) : NULL;
        if (!PyBytes_Check(word) || (head && !PyBytes_Check(head))) {
            PyErr_SetString(PyExc_TypeError, "vocab and below must hold bytes");
            goto done;
        }
        Py_ssize_t hn = head ? PyBytes_GET_SIZE(head) : 0, wn = PyBytes_GET_SIZE(word);
        if (keep) {
            PyObject *t;
            if (!head) {
                t = word;
                Py_INCREF(t);
            } else {
                if (!(t = PyBytes_FromStringAndSize(NULL, hn + 1 + wn))) goto done;
                char *s = PyBytes_AS_STRING(t);
                memcpy(s, PyBytes_AS_STRING(head), hn);
                s[hn] = ' ';
                memcpy(s + hn + 1, PyBytes_AS_STRING(word), wn);
            }
            PyList_SET_ITEM(texts, i, t);
        }
        if (lp[i] != lp[i]) continue;
        if (out_number(&out, lp[i]) < 0 || out_put(&out, "\t", 1) < 0) goto done;
        if (head && (out_put(&out, PyBytes_AS_STRING(head), hn) < 0 || out_put(&out, " ", 1) < 0)) goto done;
        if (out_put(&out, PyBytes_AS_STRING(word), wn) < 0) goto done;
        if (has_backoff && (out_put(&out, "\t", 1) < 0 || out_number(&out, bo[i]) < 0)) goto done;
        if (out_put(&out, "\n", 1) < 0) goto done;
    }
    PyObject *text = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
    if (text) result = Py_BuildValue("(NO)", text, keep ? texts : Py_None);
done:
    Py_XDECREF(texts);
    PyMem_Free(out.data);
    release(views, 4);
    return result;
}

/* ---- reader ---- */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* float() of the field [s, e), which ends before a byte <= 32; 0 when it is not a number. */
static int number(const char *s, const char *e, double *x) {
    const char *p = s;
    int negative = 0;
    if (p < e && (*p == '-' || *p == '+')) negative = *p++ == '-';
    uint64_t m = 0;
    int digits = 0, scale = 0, any = 0;
    for (; p < e && *p >= '0' && *p <= '9'; p++, any = 1) {
        if (m || *p != '0') {
            if (++digits > 15) goto slow;
            m = m * 10 + (uint64_t)(*p - '0');
        }
    }
    if (p < e && *p == '.') {
        for (p++; p < e && *p >= '0' && *p <= '9'; p++, any = 1) {
            scale--;
            if (m || *p != '0') {
                if (++digits > 15) goto slow;
                m = m * 10 + (uint64_t)(*p - '0');
            }
        }
    }
    if (!any) goto slow;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0, ex = 0, edigits = 0;
        if (p < e && (*p == '-' || *p == '+')) eneg = *p++ == '-';
        for (; p < e && *p >= '0' && *p <= '9'; p++, edigits++) {
            if (ex > 1000) goto slow;
            ex = ex * 10 + (*p - '0');
        }
        if (!edigits) goto slow;
        scale += eneg ? -ex : ex;
    }
    if (p != e) goto slow;
    double v = (double)m;
    if (m == 0) v = 0.0;
    else if (scale < 0 && scale >= -22) v /= POW10[-scale];
    else if (scale > 0 && scale <= 22) v *= POW10[scale];
    else if (scale) goto slow;
    *x = negative ? -v : v;
    return 1;
slow:;
    /* the field is followed by a tab, space or newline, where float()'s parser stops */
    char *end;
    *x = PyOS_string_to_double(s, &end, NULL);
    if (*x == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return end == e;
}

typedef struct {
    const char *word;
    Py_ssize_t len;
    int32_t id;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
} Table;

static inline uint64_t hash(const char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ull;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* The slot of the word [s, s+n): its own, or the empty one where it would go. */
static inline Slot *slot(const Table *t, const char *s, Py_ssize_t n) {
    for (size_t i = hash(s, n) & t->mask;; i = (i + 1) & t->mask) {
        Slot *x = &t->slots[i];
        if (!x->word || (x->len == n && !memcmp(x->word, s, (size_t)n))) return x;
    }
}

/* The fields of one line from p: the number before a tab. NULL unless a non-empty field ends at a tab
 * with no other byte <= 32 in it. */
static inline const char *field_to(const char *p, const char *end, char stop) {
    const char *q = p;
    while (q < end && (unsigned char)*q > 32) q++;
    if (q == p || q >= end || *q != stop) return NULL;
    return q;
}

/* One section [p, end): the lines, each `prob\tw1 w2 … wn[\tbackoff]\n`.  -1 to give up, -2 on error. */
static int section(const char *p, const char *end, int n, int with_backoff, Py_ssize_t count, Table *t,
                   int32_t *rows, double *probs, double *backoffs, PyObject *words) {
    Py_ssize_t k = 0;
    for (; p < end; k++) {
        if (k == count) return -1;
        const char *q = field_to(p, end, '\t');
        if (!q || !number(p, q, &probs[k]) || probs[k] != probs[k] || probs[k] > 0) return -1;
        p = q + 1;
        for (int j = 0; j < n; j++) {
            q = field_to(p, end, j < n - 1 ? ' ' : (with_backoff ? '\t' : '\n'));
            if (!q) return -1;
            Slot *s = slot(t, p, q - p);
            if (n == 1) {
                if (s->word) return -1; /* listed twice */
                s->word = p;
                s->len = q - p;
                s->id = (int32_t)k;
                PyObject *w = PyBytes_FromStringAndSize(p, q - p);
                if (!w) return -2;
                PyList_SET_ITEM(words, k, w);
            } else if (!s->word) {
                return -1;
            }
            rows[k * n + j] = s->id;
            p = q + 1;
        }
        if (with_backoff) {
            q = field_to(p, end, '\n');
            if (!q || !number(p, q, &backoffs[k]) || backoffs[k] != backoffs[k]) return -1;
            p = q + 1;
        } else {
            backoffs[k] = 0.0;
        }
    }
    return k == count ? 0 : -1;
}

PyDoc_STRVAR(parse_doc,
"parse(data, starts, ends, rows, probs, backoffs) -> list[bytes] | None\n\n"
"Every section of an ARPA file as lmplz and xent write it: section n is data[starts[n-1]:ends[n-1]], each\n"
"line (newline included) prob<TAB>w1 w2 ... wn<TAB>backoff, no back-off on the highest order, single\n"
"spaces, no field empty, no other byte <= 32.  Fills rows[n-1] (int32, count x n, word ids in unigram order),\n"
"probs[n-1] and backoffs[n-1] (float64, count; 0 where there is none), count given by probs[n-1]'s size,\n"
"and returns the unigrams' words.  None if the file breaks that layout anywhere, holds a word not among\n"
"the unigrams, a unigram twice, a NaN, a positive log-probability, a field float() would refuse, or\n"
"another number of lines than the counts.");

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *data, *starts, *ends, *rows_l, *probs_l, *backoffs_l;
    if (!PyArg_ParseTuple(args, "SO!O!O!O!O!", &data, &PyList_Type, &starts, &PyList_Type, &ends, &PyList_Type,
                          &rows_l, &PyList_Type, &probs_l, &PyList_Type, &backoffs_l))
        return NULL;
    Py_ssize_t order = PyList_GET_SIZE(starts);
    if (order < 1 || PyList_GET_SIZE(ends) != order || PyList_GET_SIZE(rows_l) != order ||
        PyList_GET_SIZE(probs_l) != order || PyList_GET_SIZE(backoffs_l) != order) {
        PyErr_SetString(PyExc_ValueError, "starts, ends, rows, probs and backoffs must have one item an order");
        return NULL;
    }
    const char *text = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    Table t = {0};
    PyObject *words = NULL, *result = NULL;
    for (Py_ssize_t n = 1; n <= order; n++) {
        Py_buffer views[3] = {{0}};
        int rc = -2;
        Py_ssize_t a = PyLong_AsSsize_t(PyList_GET_ITEM(starts, n - 1));
        Py_ssize_t b = PyLong_AsSsize_t(PyList_GET_ITEM(ends, n - 1));
        if (PyErr_Occurred()) goto section_done;
        if (a < 0 || b < a || b > size) {
            PyErr_SetString(PyExc_ValueError, "a section's bounds lie outside the data");
            goto section_done;
        }
        if (get_array(PyList_GET_ITEM(probs_l, n - 1), &views[0], 8, -1, 1, "probs") < 0) goto section_done;
        Py_ssize_t count = views[0].len / 8;
        if (get_array(PyList_GET_ITEM(backoffs_l, n - 1), &views[1], 8, count, 1, "backoffs") < 0 ||
            get_array(PyList_GET_ITEM(rows_l, n - 1), &views[2], 4, count * n, 1, "rows") < 0)
            goto section_done;
        if (n == 1) {
            size_t cap = 16;
            while (cap < (size_t)count * 2) cap *= 2;
            if (!(t.slots = PyMem_Calloc(cap, sizeof(Slot)))) {
                PyErr_NoMemory();
                goto section_done;
            }
            t.mask = cap - 1;
            if (!(words = PyList_New(count))) goto section_done;
        }
        rc = section(text + a, text + b, (int)n, n < order, count, &t, views[2].buf, views[0].buf, views[1].buf,
                     words);
    section_done:
        release(views, 3);
        if (rc == -1 && !PyErr_Occurred()) {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        if (rc != 0) goto done;
    }
    result = words;
    words = NULL;
done:
    Py_XDECREF(words);
    PyMem_Free(t.slots);
    return result;
}

static PyMethodDef methods[] = {
    {"lines", lines, METH_VARARGS, lines_doc},
    {"parse", parse, METH_VARARGS, parse_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arpa", "The ARPA writer's and reader's inner loops.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__arpa(void) { return PyModule_Create(&module); }
