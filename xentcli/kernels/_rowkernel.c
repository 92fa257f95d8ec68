/* _rowkernel: fused per-row float64 kernels (cross-entropy, log-sum-exp, softmax, compare) for xent.
 *
 * Plain CPython C API + the buffer protocol: no NumPy headers at build time, no runtime dependency.
 * Inputs are 2-D C-contiguous buffers of float32 ('f'), float64 ('d') or float16 ('e'); outputs are
 * caller-allocated float64 / int64 buffers.  The GIL is
 * released around every row loop, so Python threads over row blocks run in parallel.
 *
 * Numerics (mirroring xentcli.core.softmax / cross_entropy, the NumPy reference):
 *   m = row max (0 if not finite), s = Σ exp(z - m) in float64 with a hand-written vector exp,
 *   log_sum = log1p(t), t = Σ_{j != a} exp(z_j - m) with a the first argmax (the exact 1 of the max is
 *   never added, so t keeps its digits): the reference's log1p form, used on every row.  The reference
 *   takes log(s) for s >= 1 + 2^-6, which pays the rounding of s = 1 + t (up to ~1e-14 relative just
 *   above that threshold, where log s ~ 0.0155); log1p(t) does not, and for s >= 2 the two are equally exact.
 *   CE = 0 - ((z_k - m) - log_sum), NaN if log_sum is not finite.
 *
 * Compiler flags (setup.py): -O3 -ffp-contract=off, and nothing from -ffast-math.
 *   - No -ffast-math / -fassociative-math / -funsafe-math-optimizations: reassociation may fold the
 *     exact 1 of the maximum back into t (or reorder (z_k - m) - log_sum), which is what breaks the
 *     log1p form (CE of 1e-15 rows off by 100%); -ffinite-math-only would drop the -inf/NaN handling.
 *   - -ffp-contract=off: no implicit a*b+c -> fma anywhere, so the scalar code rounds exactly as the
 *     NumPy reference does.  FMAs are used only where written (VFMA: the exp's range reduction and
 *     polynomial, the φ series), on the AVX2 and AVX-512 builds; the generic build rounds twice there.
 *     Both are within ~1 ulp per exp term; nothing depends on which.
 * Dispatch: three builds of the same source (_rowkernel_body.h), generic (baseline: SSE2 on x86-64,
 * whatever the target has elsewhere), AVX2+FMA and AVX-512F, through #pragma GCC target; the best one
 * __builtin_cpu_supports allows is chosen at import; set_isa() changes it (xentcli.kernels does, for
 * XENT_KERNEL_ISA).  GCC or clang (tested: GCC 12, clang 14); not MSVC (setup.py makes the extension optional).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define XK_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

/* exp(r) on |r| <= 0.3467: gen_coeffs.py (mpmath chebyfit, degree 11). */
#define EXP_C0 0x1.0000000000000p+0
#define EXP_C1 0x1.0000000000000p+0
#define EXP_C2 0x1.0000000000011p-1
#define EXP_C3 0x1.555555555555ap-3
#define EXP_C4 0x1.555555554f083p-5
#define EXP_C5 0x1.111111110f20ep-7
#define EXP_C6 0x1.6c16c1880b86fp-10
#define EXP_C7 0x1.a01a01b14d19ep-13
#define EXP_C8 0x1.a0199182a8573p-16
#define EXP_C9 0x1.71ddf55adb046p-19
#define EXP_C10 0x1.28b42c37558acp-22
#define EXP_C11 0x1.af634ca3cb41fp-26

/* Rows whose values all lie within NARROW of their max take the exp without clamp and subnormal scaling. */
#define NARROW 700.0

enum { DT_F32 = 1, DT_F64 = 2, DT_F16 = 3 };

/* float16 bits -> float32 (exact). */
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) bits = sign;
    else { /* subnormal half: a normal float */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}
static void widen16(const uint16_t *src, Py_ssize_t n, float *dst) {
    for (Py_ssize_t j = 0; j < n; j++) dst[j] = half_to_float(src[j]);
}

typedef struct {
    const char *name;
    void (*exp)(const double *, double *, Py_ssize_t);
    void (*exp_neg)(const double *, double *, Py_ssize_t);
    void (*exp_narrow)(const double *, double *, Py_ssize_t);
    void (*ce)(const void *, int, Py_ssize_t, Py_ssize_t, const int64_t *, double, double *, float *);
    void (*lse)(const void *, int, Py_ssize_t, Py_ssize_t, double, double *, float *);
    void (*entropy)(const void *, int, Py_ssize_t, Py_ssize_t, double, double *, float *);
    void (*softmax)(const void *, int, Py_ssize_t, Py_ssize_t, double *, int, double, float *);
    void (*compare)(const void *, const void *, int, Py_ssize_t, Py_ssize_t, const int64_t *, Py_ssize_t, int, double *,
                    int64_t *, int64_t *, void *);
} kernels_t;

/* ---- generic build: the compiler's baseline ISA, no FMA ---- */
#define ISA_SUF _generic
#define ISA_NAME "generic"
#define W 2  /* 16-byte vectors: SSE2 on x86-64, NEON on arm64 (GCC 12 ICEs on 32-byte ones without AVX) */
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMAX(c, x) NM(blend)((x) < (c), (c), (x))  /* c if x < c, else x (NaN stays) */
#include "_rowkernel_body.h"  /* it undefines the parameters above */

#ifdef XK_X86
/* A region of functions compiled for an instruction set the baseline lacks: GCC's target pragma, or
 * clang's attribute pragma (clang ignores the GCC one). */
#ifdef __clang__
#define TARGET_PUSH(isa) _Pragma(STR(clang attribute push(__attribute__((target(isa))), apply_to = function)))
#define TARGET_POP _Pragma("clang attribute pop")
#else
#define TARGET_PUSH(isa) _Pragma("GCC push_options") _Pragma(STR(GCC target(isa)))
#define TARGET_POP _Pragma("GCC pop_options")
#endif

/* ---- AVX2 + FMA ---- */
TARGET_PUSH("avx2,fma,f16c")
#define ISA_SUF _avx2
#define ISA_NAME "avx2"
#define W 4
#define VFMA(a, b, c) ((VD)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#define VMAX(c, x) ((VD)_mm256_max_pd((__m256d)(c), (__m256d)(x)))  /* x when x is NaN */
#define LOAD_F32(p) ((VD)_mm256_cvtps_pd(_mm_loadu_ps(p)))  /* GCC 12 splits __builtin_convertvector here */
#define HAVE_F16C 1
#include "_rowkernel_body.h"  /* it undefines the parameters above */
TARGET_POP

/* ---- AVX-512F ---- */
TARGET_PUSH("avx512f,avx2,fma,f16c")
#define ISA_SUF _avx512
#define ISA_NAME "avx512"
#define W 8
#define VFMA(a, b, c) ((VD)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
#define VMAX(c, x) ((VD)_mm512_max_pd((__m512d)(c), (__m512d)(x)))  /* x when x is NaN */
#define LOAD_F32(p) ((VD)_mm512_cvtps_pd(_mm256_loadu_ps(p)))
#define HAVE_F16C 1
#include "_rowkernel_body.h"  /* it undefines the parameters above */
TARGET_POP
#endif

static const kernels_t *all_kernels[3];
static int n_kernels = 0;   /* usable on this CPU, best last */
static const kernels_t *K;  /* in use */

#ifdef XK_X86
/* F16C by CPUID (leaf 1, ECX bit 29): clang's __builtin_cpu_supports does not know it.  The AVX2 check
 * before it covers the OS's saving of the vector registers. */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

static void init_dispatch(void) {
    n_kernels = 0;  /* a second initialisation of the module (an embedder's new interpreter) starts over */
    all_kernels[n_kernels++] = &kernels_generic;
#ifdef XK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) {
        all_kernels[n_kernels++] = &kernels_avx2;
        if (__builtin_cpu_supports("avx512f")) all_kernels[n_kernels++] = &kernels_avx512;
    }
#endif
    K = all_kernels[n_kernels - 1];
}

/* ---- buffers ---- */

static int dtype_of(const Py_buffer *b) {
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if (f[1]) return 0;
    switch (*f) {
        case 'f': return b->itemsize == 4 ? DT_F32 : 0;
        case 'd': return b->itemsize == 8 ? DT_F64 : 0;
        case 'e': return b->itemsize == 2 ? DT_F16 : 0;
        default: return 0;
    }
}

/* A C-contiguous buffer of ndim dimensions; for kind 'z' (logits) a float dtype, 'd' float64, 'q' int64. */
static int get_buf(PyObject *o, Py_buffer *b, int ndim, char kind, int writable, const char *what) {
    if (PyObject_GetBuffer(o, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (b->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimension(s), got %d", what, ndim, b->ndim);
        goto fail;
    }
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    int ok = kind == 'z' ? dtype_of(b) != 0
           : kind == 'd' ? (*f == 'd' && !f[1] && b->itemsize == 8)
                         : ((*f == 'q' || *f == 'l') && !f[1] && b->itemsize == 8);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: unsupported format '%s' (itemsize %zd)", what, b->format ? b->format : "B",
                     b->itemsize);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(b);
    return -1;
}

static int check_targets(const int64_t *k, Py_ssize_t n, Py_ssize_t V) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (k[i] < 0 || k[i] >= V) {
            PyErr_Format(PyExc_IndexError, "target %lld of row %zd is out of range for %zd classes", (long long)k[i], i, V);
            return -1;
        }
    return 0;
}

/* ---- Python functions ---- */

/* A temperature the kernels take: finite and > 0 (the Python side checks it first; this keeps the module safe). */
static int check_temperature(double T) {
    if (!(T > 0.0) || !isfinite(T)) {
        PyErr_SetString(PyExc_ValueError, "temperature must be finite and > 0");
        return -1;
    }
    return 0;
}

static PyObject *py_exp(PyObject *self, PyObject *args) {
    PyObject *xo, *yo; Py_buffer x, y; int neg = 0;
    if (!PyArg_ParseTuple(args, "OO|i", &xo, &yo, &neg)) return NULL;
    if (get_buf(xo, &x, 1, 'd', 0, "x") < 0) return NULL;
    if (get_buf(yo, &y, 1, 'd', 1, "out") < 0) { PyBuffer_Release(&x); return NULL; }
    if (x.shape[0] != y.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "x and out differ in length");
    } else {
        const kernels_t *k = K;  /* read under the GIL: set_isa may change K */
        Py_BEGIN_ALLOW_THREADS
        (neg == 2 ? k->exp_narrow : neg ? k->exp_neg : k->exp)((const double *)x.buf, (double *)y.buf, x.shape[0]);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x); PyBuffer_Release(&y);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_ce_rows(PyObject *self, PyObject *args) {
    PyObject *zo, *ko, *oo; Py_buffer z, k, o; double T = 1.0;
    if (!PyArg_ParseTuple(args, "OOO|d:ce_rows", &zo, &ko, &oo, &T) || check_temperature(T) < 0) return NULL;
    if (get_buf(zo, &z, 2, 'z', 0, "logits") < 0) return NULL;
    if (get_buf(ko, &k, 1, 'q', 0, "targets") < 0) { PyBuffer_Release(&z); return NULL; }
    if (get_buf(oo, &o, 1, 'd', 1, "out") < 0) { PyBuffer_Release(&z); PyBuffer_Release(&k); return NULL; }
    Py_ssize_t N = z.shape[0], V = z.shape[1];
    int dt = dtype_of(&z);
    float *scratch = NULL;
    if (k.shape[0] != N || o.shape[0] != N) PyErr_SetString(PyExc_ValueError, "targets and out must have one entry per row");
    else if (V < 1) PyErr_SetString(PyExc_ValueError, "logits need at least one class");
    else if (check_targets((const int64_t *)k.buf, N, V) == 0) {
        if (dt == DT_F16 && !(scratch = PyMem_RawMalloc(V * sizeof(float)))) PyErr_NoMemory();
        else {
            void (*ce)(const void *, int, Py_ssize_t, Py_ssize_t, const int64_t *, double, double *, float *) = K->ce;
            Py_BEGIN_ALLOW_THREADS
            ce(z.buf, dt, N, V, (const int64_t *)k.buf, T, (double *)o.buf, scratch);
            Py_END_ALLOW_THREADS
        }
    }
    PyMem_RawFree(scratch);
    PyBuffer_Release(&z); PyBuffer_Release(&k); PyBuffer_Release(&o);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

typedef void (*row_values_fn)(const void *, int, Py_ssize_t, Py_ssize_t, double, double *, float *);

/* One float64 value per row: (*fn)(logits, T, out) for the kernels_t member fn points to. */
static PyObject *row_values(PyObject *args, row_values_fn const *fn, const char *signature) {
    PyObject *zo, *oo; Py_buffer z, o; double T = 1.0;
    if (!PyArg_ParseTuple(args, signature, &zo, &oo, &T) || check_temperature(T) < 0) return NULL;
    if (get_buf(zo, &z, 2, 'z', 0, "logits") < 0) return NULL;
    if (get_buf(oo, &o, 1, 'd', 1, "out") < 0) { PyBuffer_Release(&z); return NULL; }
    Py_ssize_t N = z.shape[0], V = z.shape[1];
    int dt = dtype_of(&z);
    float *scratch = NULL;
    if (o.shape[0] != N) PyErr_SetString(PyExc_ValueError, "out must have one entry per row");
    else if (V < 1) PyErr_SetString(PyExc_ValueError, "logits need at least one class");
    else if (dt == DT_F16 && !(scratch = PyMem_RawMalloc(V * sizeof(float)))) PyErr_NoMemory();
    else {
        row_values_fn f = *fn;
        Py_BEGIN_ALLOW_THREADS
        f(z.buf, dt, N, V, T, (double *)o.buf, scratch);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(scratch);
    PyBuffer_Release(&z); PyBuffer_Release(&o);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_lse_rows(PyObject *self, PyObject *args) { return row_values(args, &K->lse, "OO|d:logsumexp_rows"); }
static PyObject *py_entropy_rows(PyObject *self, PyObject *args) { return row_values(args, &K->entropy, "OO|d:entropy_rows"); }

static PyObject *py_softmax_rows(PyObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"logits", "out", "log", "temperature", NULL};
    PyObject *zo, *oo; Py_buffer z, o; int log_ = 0; double T = 1.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|pd", names, &zo, &oo, &log_, &T) || check_temperature(T) < 0)
        return NULL;
    if (get_buf(zo, &z, 2, 'z', 0, "logits") < 0) return NULL;
    if (get_buf(oo, &o, 2, 'd', 1, "out") < 0) { PyBuffer_Release(&z); return NULL; }
    Py_ssize_t N = z.shape[0], V = z.shape[1];
    int dt = dtype_of(&z);
    float *scratch = NULL;
    if (o.shape[0] != N || o.shape[1] != V) PyErr_SetString(PyExc_ValueError, "out must have the shape of logits");
    else if (V < 1) PyErr_SetString(PyExc_ValueError, "logits need at least one class");
    else if (dt == DT_F16 && !(scratch = PyMem_RawMalloc(V * sizeof(float)))) PyErr_NoMemory();
    else {
        const kernels_t *k = K;  /* read under the GIL: set_isa may change K */
        Py_BEGIN_ALLOW_THREADS
        k->softmax(z.buf, dt, N, V, (double *)o.buf, log_, T, scratch);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(scratch);
    PyBuffer_Release(&z); PyBuffer_Release(&o);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

#include "_rowkernel_compare_py.h"

static PyObject *py_isa(PyObject *self, PyObject *noargs) { return PyUnicode_FromString(K->name); }

static PyObject *py_isas(PyObject *self, PyObject *noargs) {
    PyObject *t = PyTuple_New(n_kernels);
    if (!t) return NULL;
    for (int i = 0; i < n_kernels; i++) {
        PyObject *s = PyUnicode_FromString(all_kernels[i]->name);
        if (!s) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static PyObject *py_set_isa(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    for (int i = 0; i < n_kernels; i++)
        if (!strcmp(all_kernels[i]->name, name)) {
            const char *old = K->name;
            K = all_kernels[i];
            return PyUnicode_FromString(old);
        }
    PyErr_Format(PyExc_ValueError, "ISA %s is not available on this CPU", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"exp", py_exp, METH_VARARGS, "exp(x, out, variant=0): the kernel's float64 exp, elementwise (1-D float64); variant 1: the x <= 0 one the row loops use, 2: the one for -NARROW <= x <= 0."},
    {"ce_rows", py_ce_rows, METH_VARARGS, "ce_rows(logits, targets, out, temperature=1): per-row cross-entropy of softmax(logits / T) (nats)."},
    {"logsumexp_rows", py_lse_rows, METH_VARARGS, "logsumexp_rows(logits, out, temperature=1): per-row log-sum-exp of logits / T."},
    {"entropy_rows", py_entropy_rows, METH_VARARGS, "entropy_rows(logits, out, temperature=1): per-row entropy of softmax(logits / T) (nats)."},
    {"softmax_rows", (PyCFunction)(void (*)(void))py_softmax_rows, METH_VARARGS | METH_KEYWORDS,
     "softmax_rows(logits, out, log=False, temperature=1): softmax or log-softmax of every row of logits / T into out."},
    {"compare_stats", py_compare_stats, METH_VARARGS,
     "compare_stats(base, test, targets_or_None, top_k, need, out, top1, redo): compare's per-token statistics."},
    {"isa", py_isa, METH_NOARGS, "The instruction set of the kernels in use."},
    {"isas", py_isas, METH_NOARGS, "The instruction sets usable on this CPU, best last."},
    {"set_isa", py_set_isa, METH_VARARGS, "set_isa(name) -> previous name."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "xentcli.kernels._rowkernel", "Fused per-row float64 kernels for xent.", -1, methods};

PyMODINIT_FUNC PyInit__rowkernel(void) {
    init_dispatch();
    PyObject *m = PyModule_Create(&moduledef);
    if (m && add_compare_names(m) < 0) Py_CLEAR(m);
    return m;
}
