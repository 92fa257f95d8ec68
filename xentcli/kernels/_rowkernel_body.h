/* One instruction-set build of the row kernels: included by _rowkernel.c once per ISA, with
 *   ISA_SUF  suffix of every name (_generic, _avx2, _avx512), ISA_NAME its name ("generic", ...)
 *   W        doubles per vector
 *   VFMA(a, b, c)  a*b + c: a fused multiply-add where the ISA has one, else two roundings
 * (and optionally LOAD_F32, HAVE_F16C), all undefined at its end, and around the #include
 * `#pragma GCC target(...)` for the ISA.
 *
 * The arithmetic is GCC vector extensions (vector_size), so the same source compiles to SSE2,
 * AVX2 or AVX-512; nothing here depends on the compiler reassociating anything: every sum is
 * written out with its own W-lane accumulators, which is what vectorises it.
 */

#define NM(name) CAT(name, ISA_SUF)
#define VD NM(vd_)
#define VI NM(vi_)
#define VU NM(vu_)
#define VF NM(vf_)
#define VFU NM(vfu_)
#define VDU NM(vdu_)

typedef double VD __attribute__((vector_size(W * 8)));
typedef long long VI __attribute__((vector_size(W * 8)));
typedef unsigned long long VU __attribute__((vector_size(W * 8)));
typedef float VF __attribute__((vector_size(W * 4)));
typedef VF VFU __attribute__((aligned(4), may_alias));
typedef VD VDU __attribute__((aligned(8), may_alias));

static inline VD NM(splat)(double a) { VD v = {0}; return v + a; }
static inline VD NM(blend)(VI m, VD a, VD b) { return (VD)(((VI)a & m) | ((VI)b & ~m)); }
static inline double NM(hsum)(VD v) { double s = 0.0; for (int i = 0; i < W; i++) s += v[i]; return s; }

#ifdef LOAD_F32
static inline VD NM(load_f32)(const float *p) { return LOAD_F32(p); }
#else
static inline VD NM(load_f32)(const float *p) { return __builtin_convertvector(*(const VFU *)p, VD); }
#endif
static inline VD NM(load_f64)(const double *p) { return *(const VDU *)p; }
/* The last n < W values, padded with -inf (exp gives 0, max ignores it). */
static inline VD NM(tail_f32)(const float *p, Py_ssize_t n) {
    double t[W]; for (int i = 0; i < W; i++) t[i] = i < n ? (double)p[i] : -INFINITY;
    return *(const VDU *)t;
}
static inline VD NM(tail_f64)(const double *p, Py_ssize_t n) {
    double t[W]; for (int i = 0; i < W; i++) t[i] = i < n ? p[i] : -INFINITY;
    return *(const VDU *)t;
}

/* The shared core of the exps below: n = round(x/ln2) by the 1.5*2^52 shifter (its sum with x left in *t, whose
 * low bits are n), r = x - n*ln2 in two steps, and the polynomial's exp(r). */
static inline VD NM(exp_reduced)(VD x, VD *t_out) {
    const VD shifter = NM(splat)(0x1.8p52);
    VD t = VFMA(x, NM(splat)(0x1.71547652b82fep+0), shifter);
    VD n = t - shifter;
    VD r = VFMA(n, NM(splat)(-0x1.62e42fee00000p-1), x);
    r = VFMA(n, NM(splat)(-0x1.a39ef35793c76p-33), r);
    VD p = NM(splat)(EXP_C11);
    p = VFMA(p, r, NM(splat)(EXP_C10));
    p = VFMA(p, r, NM(splat)(EXP_C9));
    p = VFMA(p, r, NM(splat)(EXP_C8));
    p = VFMA(p, r, NM(splat)(EXP_C7));
    p = VFMA(p, r, NM(splat)(EXP_C6));
    p = VFMA(p, r, NM(splat)(EXP_C5));
    p = VFMA(p, r, NM(splat)(EXP_C4));
    p = VFMA(p, r, NM(splat)(EXP_C3));
    p = VFMA(p, r, NM(splat)(EXP_C2));
    p = VFMA(p, r, NM(splat)(EXP_C1));
    p = VFMA(p, r, NM(splat)(EXP_C0));
    *t_out = t;
    return p;
}

/* exp(x) in float64, W lanes.  Cody-Waite: n = round(x/ln2) by the 1.5*2^52 shifter, r = x - n*ln2
 * in two steps (ln2 hi has 32 significant bits, so n*LN2_HI is exact for |n| < 2^21), exp(r) by the
 * degree-11 near-minimax polynomial on |r| <= 0.3467 (gen_coeffs.py: 1.6e-17 relative with the
 * rounded coefficients; Horner adds <= ~1 ulp), then 2^n as two factors 2^n1 * 2^n2 (n1 = floor(n/2))
 * so that results down in the subnormals are rounded once and 2^1024 is never formed.
 * x is clamped to [-746, 710] first: -inf and anything below -745.2 give +0, above 709.8 +inf.
 * NaN passes through every step (the integer bits of a NaN lane are garbage, but NaN * anything
 * is NaN). */
static inline VD NM(vexp)(VD x) {
    x = NM(blend)(x < -746.0, NM(splat)(-746.0), x);
    x = NM(blend)(x > 710.0, NM(splat)(710.0), x);
    VD t, p = NM(exp_reduced)(x, &t);
    VU i = (VU)t - 0x4338000000000000ULL;   /* n, two's complement */
    VU n1 = ((i + 2048) >> 1) - 1024;       /* floor(n/2) with logical shifts only (AVX2 has no 64-bit sra) */
    VU n2 = i - n1;
    VD s1 = (VD)((n1 + 1023) << 52), s2 = (VD)((n2 + 1023) << 52);
    return (p * s1) * s2;
}

/* exp(x) for x <= 0 (the row kernels' x = z - max) or NaN: as vexp, but one clamp (a max that keeps NaN)
 * and the scale as 2^(n+64) * 2^-64: 2^(n+64) is a normal number for every n >= -1077, the product p*2^(n+64)
 * is exact and the multiplication by 2^-64 rounds once into the subnormals. */
static inline VD NM(vexp_neg)(VD x) {
    x = VMAX(NM(splat)(-746.0), x);
    VD t, p = NM(exp_reduced)(x, &t);
    VD s = (VD)(((VU)t << 52) + (1087ULL << 52));  /* 2^(n + 64): the low 12 bits of t's bits are n's */
    return (p * s) * 0x1p-64;
}

/* exp(x) for -NARROW <= x <= 0 only (the rows whose min is within NARROW of their max): no clamp, and 2^n
 * formed directly (n >= -1021: normal results only). */
static inline VD NM(vexp_narrow)(VD x) {
    VD t, p = NM(exp_reduced)(x, &t);
    return p * (VD)(((VU)t << 52) + (1023ULL << 52));
}

#define EXP_ARRAY(name, f)                                                                              \
    static void name(const double *x, double *y, Py_ssize_t n) {                                        \
        Py_ssize_t j = 0;                                                                               \
        for (; j + W <= n; j += W) { VD v = f(NM(load_f64)(x + j)); *(VDU *)(y + j) = v; }             \
        if (j < n) {                                                                                    \
            double t[W]; for (int i = 0; i < W; i++) t[i] = j + i < n ? x[j + i] : 0.0;                 \
            VD v = f(*(VDU *)t);                                                                        \
            for (Py_ssize_t i = 0; j + i < n; i++) y[j + i] = v[i];                                     \
        }                                                                                               \
    }
EXP_ARRAY(NM(exp_array), NM(vexp))
EXP_ARRAY(NM(exp_neg_array), NM(vexp_neg))
EXP_ARRAY(NM(exp_narrow_array), NM(vexp_narrow))
#undef EXP_ARRAY

/* The per-input-type row functions. */
#define IN_IS_F32 1
#define IN_T float
#define IN_SUF _f32
#define LOADV NM(load_f32)
#define LOADT NM(tail_f32)
#include "_rowkernel_rows.h"
#undef IN_T
#undef IN_SUF
#undef LOADV
#undef LOADT
#undef IN_IS_F32
#define IN_IS_F32 0
#define IN_T double
#define IN_SUF _f64
#define LOADV NM(load_f64)
#define LOADT NM(tail_f64)
#include "_rowkernel_rows.h"
#undef IN_T
#undef IN_SUF
#undef LOADV
#undef LOADT
#undef IN_IS_F32

/* Block entry points: dtype switch outside the row loops.  float16 input is widened one row at a time
 * into `scratch` (V floats) and goes through the float32 loops. */
static float *NM(row_f32)(const void *z, int dt, Py_ssize_t i, Py_ssize_t V, float *scratch) {
    if (dt == DT_F32) return (float *)z + i * V;
    const uint16_t *src = (const uint16_t *)z + i * V;
#ifdef HAVE_F16C
    if (dt == DT_F16) {  /* vcvtph2ps, 8 at a time (exact, as the scalar widening) */
        Py_ssize_t j = 0;
        for (; j + 8 <= V; j += 8) _mm256_storeu_ps(scratch + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + j))));
        widen16(src + j, V - j, scratch + j);
        return scratch;
    }
#endif
    widen16(src, V, scratch);
    return scratch;
}

static void NM(ce_block)(const void *z, int dt, Py_ssize_t N, Py_ssize_t V, const int64_t *k, double T, double *out,
                         float *scratch) {
    for (Py_ssize_t i = 0; i < N; i++) {
        if (dt == DT_F64) out[i] = NM(ce_row_f64)((const double *)z + i * V, V, k[i], T);
        else out[i] = NM(ce_row_f32)(NM(row_f32)(z, dt, i, V, scratch), V, k[i], T);
    }
}

/* log Σ exp(z/T) = m/T + log Σ exp((z - m)/T). */
static void NM(lse_block)(const void *z, int dt, Py_ssize_t N, Py_ssize_t V, double T, double *out, float *scratch) {
    for (Py_ssize_t i = 0; i < N; i++) {
        double m, ls;
        if (dt == DT_F64) NM(row_lse_f64)((const double *)z + i * V, V, T, &m, &ls);
        else NM(row_lse_f32)(NM(row_f32)(z, dt, i, V, scratch), V, T, &m, &ls);
        out[i] = ls + m / T;
    }
}

static void NM(entropy_block)(const void *z, int dt, Py_ssize_t N, Py_ssize_t V, double T, double *out, float *scratch) {
    for (Py_ssize_t i = 0; i < N; i++) {
        if (dt == DT_F64) out[i] = NM(entropy_row_f64)((const double *)z + i * V, V, T);
        else out[i] = NM(entropy_row_f32)(NM(row_f32)(z, dt, i, V, scratch), V, T);
    }
}

static void NM(softmax_block)(const void *z, int dt, Py_ssize_t N, Py_ssize_t V, double *out, int log, double T,
                              float *scratch) {
    for (Py_ssize_t i = 0; i < N; i++) {
        if (dt == DT_F64) NM(softmax_row_f64)((const double *)z + i * V, V, out + i * V, log, T);
        else NM(softmax_row_f32)(NM(row_f32)(z, dt, i, V, scratch), V, out + i * V, log, T);
    }
}

#include "_rowkernel_compare.h"

static const kernels_t NM(kernels) = {
    ISA_NAME, NM(exp_array), NM(exp_neg_array), NM(exp_narrow_array), NM(ce_block), NM(lse_block), NM(entropy_block), NM(softmax_block), NM(compare_block),
};

#undef NM
#undef VD
#undef VI
#undef VU
#undef VF
#undef VFU
#undef VDU
#undef ISA_SUF
#undef ISA_NAME
#undef W
#undef VFMA
#undef VMAX
#undef LOAD_F32
#undef HAVE_F16C
