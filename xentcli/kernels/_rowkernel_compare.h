/* compare's per-token statistics, one ISA build: included by _rowkernel_body.h (NM, VD, W, VFMA ... set)
 * after the row functions it uses (rowmax, sum_pass, row_f32).  The row functions per input type are
 * _rowkernel_compare_rows.h; the Python entry point compare_stats is _rowkernel_compare_py.h.
 *
 * What each statistic is (the NumPy reference, xentcli.core.tokens.fast, defines them):
 * with e_b = exp(z_b - m_b), p = e_b/s_b, q = softmax(z_t) and D = log q - log p, every per-class term
 * is p times a function of D (so every sum is in units of e_b, divided by s_b once per row):
 *   KL       φ(D) = e^D - 1 - D
 *   reverse  R(D) = 1 - (1 - D)·e^D = D·(e^D - 1) - φ(D)   (q·φ(-D)/p, summed on its own)
 *   JSD      J(D) = ½(1 + e^D)·G(D/2), G(h) = h·tanh h - log cosh h  (nats; bits at the end)
 *   TVD      ½|e^D - 1|
 * For |D| < 0.5, φ and J come from their Taylor series (exact to float64 rounding there; the closed forms
 * cancel) and R from φ; above, from q = e_t·s_b/s_t (the test's own exponential, no third exp per
 * class), where nothing cancels by more than a factor ~8.  The JSD's closed form is G in e_b and q, with
 * σ = e_b + q: for |D| <= 2, h·tanh h = |D|·|q - e_b|/(2σ) and log cosh h = -½·log y, y = 4·e_b·q/σ²
 * in [0.42, 0.94] (halved below √½: log 2y - ln 2); beyond (where those two terms both grow like |h|),
 * G = ln 2 - log(1 + r) - |D|·r/(1 + r), r = min/max(e_b, q) = e^{-|D|}.  Each log is 2·atanh s with
 * s = (y - 1)/(y + 1) written in e_b and q (-(q - e_b)²/(4·e_b·q + σ²), (8·e_b·q - σ²)/(8·e_b·q + σ²),
 * min/(σ + max)): one division a class, and the term ½σ·G needs no other.
 */

#ifndef XK_COMPARE_ONCE
#define XK_COMPARE_ONCE

/* Taylor coefficients in D, from D² on: φ: 1/n!, J: the product of ½(1 + e^D) and
 * G(D/2)'s series (Bernoulli numbers), each cut after the last term above 2^-60 of its function at
 * |D| = 0.5 (xentcli/core/tokens/series.py derives the same ones in d = -D). */
static const double XK_PHI_C[] = {
    0x1.0000000000000p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5, 0x1.1111111111111p-7, 0x1.6c16c16c16c17p-10,
    0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19, 0x1.27e4fb7789f5cp-22, 0x1.ae64567f544e4p-26,
    0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33, 0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-41, 0x1.ae7f3e733b81fp-45,
};
static const double XK_JSD_C[] = {
    0x1.0000000000000p-3, 0x1.0000000000000p-4, 0x1.0000000000000p-6, 0x1.5555555555555p-9, 0x1.c71c71c71c71cp-12,
    0x1.6c16c16c16c17p-14, 0x1.6c16c16c16c17p-17, -0x1.1566abc011567p-22, -0x1.bbd779334ef0bp-26, 0x1.96dad9c45db1fp-24,
    0x1.0f3c912d93cbfp-27, -0x1.b2e00cbb52846p-28, -0x1.f1000e8cf0974p-32, 0x1.0e69f16c45eb2p-31, 0x1.0e69f16c45eb2p-35,
    -0x1.574841295d2cbp-35, -0x1.3123c824c4998p-39, 0x1.bf0d4d0bdb62ap-39, 0x1.65a43da315e88p-43, -0x1.2927a646fa3c7p-42,
};
#define XK_NC(c) ((int)(sizeof(c) / sizeof((c)[0])))
/* log y = 2·atanh(s), s = (y - 1)/(y + 1): 2·Σ s^(2k+1)/(2k+1); |s| <= 0.172 after the reduction to
 * [√½, √2), where the term after s^21 is below 2^-60 of the sum. */
#define XK_LOG_NC 11
#define XK_LN2 0x1.62e42fefa39efp-1
#define XK_SQRT_HALF 0x1.6a09e667f3bcdp-1

/* Rows handed back to the caller (which redoes them with the reference's exact kernel), as the reference's
 * fast kernel hands them to it (xentcli.core.tokens.fast): a base class more than _FAR_BELOW under its row's
 * max (its e_b loses its digits to the subnormals), maxima more than FAR_SHIFT apart, NaN or ±inf, a class
 * one side masks (-inf) and the other not.  A class both sides mask adds 0 to every sum, here too. */
#define XK_FAR_BELOW 700.0
#define XK_FAR_SHIFT 1024.0

/* The out rows of compare_stats, in this order; need bits say which optional groups are wanted. */
enum { XK_KL, XK_REV, XK_JSD, XK_TVD, XK_HB, XK_HT, XK_SAME, XK_OVERLAP, XK_NLLB, XK_NLLT, XK_PT, XK_QT, XK_DP,
       XK_INB, XK_INT, XK_T1B, XK_T1T, XK_NSTATS };
enum { XK_NEED_REV = 1, XK_NEED_JSD = 2, XK_NEED_TVD = 4, XK_NEED_ENT = 8, XK_NEED_TOPK = 16 };
/* Their names (xentcli.core.token_stats' keys; the groups of xentcli.core.tokens.terms), which the module
 * exports as COMPARE_ROWS and COMPARE_NEED: the Python side reads them instead of spelling them again. */
static const char *const XK_ROW_NAMES[XK_NSTATS] = {
    "kl", "kl_reverse", "jsd", "tvd", "entropy_base", "entropy_test", "same_top1", "topk_overlap", "nll_base",
    "nll_test", "p_target", "q_target", "delta_p", "in_topk_base", "in_topk_test", "top1_correct_base",
    "top1_correct_test"};
static const struct { const char *group; int bit; } XK_NEED_NAMES[] = {
    {"kl_reverse", XK_NEED_REV}, {"jsd", XK_NEED_JSD}, {"tvd", XK_NEED_TVD}, {"entropy", XK_NEED_ENT},
    {"topk", XK_NEED_TOPK}};

/* Top-K sets: the K best classes in the order (value descending, id ascending), kept as a heap (values v, ids id:
 * two arrays, so that every move is one 8-byte load or store) whose root is the worst of them.  A class is in the
 * set iff it is no worse than that root. */
static inline int xk_worse(double va, int64_t ia, double vb, int64_t ib) { return va < vb || (va == vb && ia > ib); }

static void xk_sift(double *v, int64_t *id, Py_ssize_t n, Py_ssize_t i) {
    const double x = v[i];
    const int64_t xi = id[i];
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && xk_worse(v[c + 1], id[c + 1], v[c], id[c])) c++;
        if (!xk_worse(v[c], id[c], x, xi)) break;
        v[i] = v[c]; id[i] = id[c];
        i = c;
    }
    v[i] = x; id[i] = xi;
}

static inline int xk_in_set(const double *v, const int64_t *id, double x, int64_t j) {
    return x > v[0] || (x == v[0] && j <= id[0]);
}
#endif

/* Whether any lane of a comparison's mask is set. */
static inline int NM(any)(VI m) {
#if defined(XK_X86) && W == 8
    return _mm512_test_epi64_mask((__m512i)m, (__m512i)m) != 0;
#elif defined(XK_X86) && W == 4
    return _mm256_movemask_pd((__m256d)m) != 0;
#else
    long long r = 0;
    for (int i = 0; i < W; i++) r |= m[i];
    return r != 0;
#endif
}

/* Σ c[i]·x^i as even(x²) + x·odd(x²): two Horner chains of half the length, which the CPU runs side by side
 * (one chain of 15 to 20 dependent FMAs a vector would leave the loops waiting on its latency). */
static inline VD NM(poly)(const double *c, int n, VD x) {
    const VD x2 = x * x;
    const int ne = (n + 1) / 2, no = n / 2;
    VD pe = NM(splat)(c[2 * (ne - 1)]), po = NM(splat)(c[2 * no - 1]);
    for (int i = ne - 2; i >= 0; i--) pe = VFMA(pe, x2, NM(splat)(c[2 * i]));
    for (int i = no - 2; i >= 0; i--) po = VFMA(po, x2, NM(splat)(c[2 * i + 1]));
    return VFMA(po, x, pe);
}

/* log((1 + s)/(1 - s)) = 2·atanh s for |s| <= 0.172 (the JSD's closed form hands over s itself, from one division). */
static inline VD NM(log_atanh)(VD s) {
    static const double c[XK_LOG_NC] = {1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11, 1.0 / 13, 1.0 / 15,
                                        1.0 / 17, 1.0 / 19, 1.0 / 21};
    return (s + s) * NM(poly)(c, XK_LOG_NC, s * s);
}

#define IN_IS_F32 1
#define IN_T float
#define IN_SUF _f32
#define LOADV NM(load_f32)
#include "_rowkernel_compare_rows.h"
#undef IN_T
#undef IN_SUF
#undef LOADV
#undef IN_IS_F32
#define IN_IS_F32 0
#define IN_T double
#define IN_SUF _f64
#define LOADV NM(load_f64)
#include "_rowkernel_compare_rows.h"
#undef IN_T
#undef IN_SUF
#undef LOADV
#undef IN_IS_F32

/* N rows: out is XK_NSTATS rows of N (row c: statistic c), top1 two rows of N (base, test), redo[i] = 1 where
 * row i was left to the caller.  scratch: 2V doubles, 2V floats (16-bit inputs widened), 2K doubles and 2K int64 (the top-K heaps). */
static void NM(compare_block)(const void *zb, const void *zt, int dt, Py_ssize_t N, Py_ssize_t V, const int64_t *k,
                              Py_ssize_t K, int need, double *out, int64_t *top1, int64_t *redo, void *scratch) {
    double *eb = (double *)scratch, *et = eb + V;
    float *wb = (float *)(et + V), *wt = wb + V;
    double *hb = (double *)(wt + V), *ht = hb + K;
    int64_t *ib = (int64_t *)(ht + K), *it = ib + K;
    for (Py_ssize_t i = 0; i < N; i++) {
        int64_t ki = k ? k[i] : -1;
        if (dt == DT_F64)
            redo[i] = NM(compare_stats_row_f64)((const double *)zb + i * V, (const double *)zt + i * V, V, ki, K, need,
                                                out + i, N, top1 + i, top1 + N + i, eb, et, hb, ib, ht, it);
        else
            redo[i] = NM(compare_stats_row_f32)(NM(row_f32)(zb, dt, i, V, wb), NM(row_f32)(zt, dt, i, V, wt), V, ki, K,
                                                need, out + i, N, top1 + i, top1 + N + i, eb, et, hb, ib, ht, it);
    }
}
