/* Row functions for one ISA (NM, VD, W ... from _rowkernel_body.h) and one input type
 * (IN_T, IN_SUF, LOADV, LOADT).  Every row: float64 throughout, max shifted out. */

#define FN(name) NM(CAT(name, IN_SUF))

/* max of the row and the first index where it is reached (np.argmax on a row without NaN); returns 1 if
 * the max is finite and the row holds no NaN (the fast path applies), else 0. */
#if IN_IS_F32
/* float32: compared as float32, 2W lanes a vector (the max is exact either way). */
static int FN(rowmax)(const float *z, Py_ssize_t V, double *m_out, int64_t *arg_out, double *min_out) {
    typedef float vf2 __attribute__((vector_size(W * 8)));
    typedef float vf2u __attribute__((vector_size(W * 8), aligned(4), may_alias));
    typedef int vi2 __attribute__((vector_size(W * 8)));
    vf2 vmax, vmin, x;
    vi2 nan = {0}, idx = {0}, cur;
    for (int l = 0; l < 2 * W; l++) { vmax[l] = -INFINITY; vmin[l] = INFINITY; cur[l] = l; }
    Py_ssize_t j = 0;
    if (V < INT32_MAX)
        for (; j + 2 * W <= V; j += 2 * W, cur += 2 * W) {
            x = *(const vf2u *)(z + j);
            nan |= (x != x);
            vi2 gt = x > vmax, lt = x < vmin;
            vmax = (vf2)((gt & (vi2)x) | (~gt & (vi2)vmax));
            vmin = (vf2)((lt & (vi2)x) | (~lt & (vi2)vmin));
            idx = (gt & cur) | (~gt & idx);
        }
    float m = -INFINITY, mn = INFINITY;
    int anynan = 0;
    int64_t a = INT64_MAX;
    for (int l = 0; l < 2 * W; l++) { if (vmax[l] > m) m = vmax[l]; if (vmin[l] < mn) mn = vmin[l]; anynan |= nan[l]; }
    for (int l = 0; l < 2 * W; l++) if (vmax[l] == m && idx[l] < a) a = idx[l];
    if (a == INT64_MAX) a = 0;
    for (; j < V; j++) { if (z[j] > m) { m = z[j]; a = j; } if (z[j] < mn) mn = z[j]; anynan |= z[j] != z[j]; }
    *m_out = m;
    *arg_out = a;
    *min_out = mn;
    return !anynan && isfinite(m);
}
#else
static int FN(rowmax)(const IN_T *z, Py_ssize_t V, double *m_out, int64_t *arg_out, double *min_out) {
    VD vmax = NM(splat)(-INFINITY), vmin = NM(splat)(INFINITY);
    VI nan = {0}, idx = {0}, cur;
    for (int l = 0; l < W; l++) cur[l] = l;
    Py_ssize_t j = 0;
    for (; j + W <= V; j += W, cur += W) {
        VD x = LOADV(z + j);
        nan |= (x != x);
        VI gt = x > vmax;
        vmax = NM(blend)(gt, x, vmax);
        vmin = NM(blend)(x < vmin, x, vmin);
        idx = (gt & cur) | (~gt & idx);
    }
    double m = vmax[0], mn = vmin[0];
    long long anynan = nan[0];
    for (int l = 1; l < W; l++) { if (vmax[l] > m) m = vmax[l]; if (vmin[l] < mn) mn = vmin[l]; anynan |= nan[l]; }
    int64_t a = INT64_MAX;
    for (int l = 0; l < W; l++) if (vmax[l] == m && idx[l] < a) a = idx[l];
    if (a == INT64_MAX) a = 0;
    for (; j < V; j++) {
        double x = (double)z[j];
        if (x > m) { m = x; a = j; }
        if (x < mn) mn = x;
        anynan |= x != x;
    }
    *m_out = m;
    *arg_out = a;
    *min_out = mn;
    return !anynan && isfinite(m);
}
#endif

/* (z - m) / T of a vector, where `scaled` says T != 1 (the division is then skipped: it would be exact anyway). */
#define SHIFTED(v) (scaled ? ((v) - vm) / vT : (v) - vm)

/* Σ exp((z_j - m)/T) over lo <= j < hi, added to *acc (two vector chains: the exp is a long one and Zen 3's
 * smaller window needs the help); store: if not NULL, each exp(z_j - m) is written to store[j].
 * sum_seg uses vexp_neg (any x <= 0); sum_seg_narrow vexp_narrow, for rows whose values all lie within
 * NARROW of their max (no clamp, no subnormal results: two fewer operations a vector). */
#define SUM_SEG(name, vexp_)                                                                                  \
    static inline void name(const IN_T *z, Py_ssize_t lo, Py_ssize_t hi, VD vm, VD vT, int scaled, double *store, \
                            VD *acc) {                                                                        \
        VD a1 = *acc, a2 = {0};                                                                               \
        Py_ssize_t j = lo;                                                                                    \
        for (; j + 2 * W <= hi; j += 2 * W) {                                                                 \
            VD e = vexp_(SHIFTED(LOADV(z + j))), e2 = vexp_(SHIFTED(LOADV(z + j + W)));                      \
            a1 += e;                                                                                          \
            a2 += e2;                                                                                         \
            if (store) { *(VDU *)(store + j) = e; *(VDU *)(store + j + W) = e2; }                             \
        }                                                                                                     \
        if (j + W <= hi) {                                                                                    \
            VD e = vexp_(SHIFTED(LOADV(z + j)));                                                              \
            a1 += e;                                                                                          \
            if (store) *(VDU *)(store + j) = e;                                                               \
            j += W;                                                                                           \
        }                                                                                                     \
        if (j < hi) { /* padding: -inf, whose exp is 0 (vexp_neg); vexp_narrow gets m - NARROW instead */     \
            VD x = SHIFTED(LOADT(z + j, hi - j));                                                             \
            VD e = NM(vexp_neg)(x);                                                                           \
            a2 += e;                                                                                          \
            if (store) for (Py_ssize_t i = 0; j + i < hi; i++) store[j + i] = e[i];                           \
        }                                                                                                     \
        *acc = a1 + a2;                                                                                       \
    }
SUM_SEG(FN(sum_seg), NM(vexp_neg))
SUM_SEG(FN(sum_seg_narrow), NM(vexp_narrow))
#undef SUM_SEG

/* log Σ exp((z - m)/T) for a row whose max m is finite (rowmax said so), in one pass over the row without
 * its first maximum a: t = Σ_{j != a} exp(z_j - m) (other maxima add their exact 1s), s = 1 + t, and
 * log_sum = log1p(t): the reference's log1p form, without the rounding of 1 + t (see _rowkernel.c).
 * store: if not NULL, exp(z - m) of every class is written there (store[a] = 1).
 * t_out: if not NULL, gets t. */
static double FN(sum_pass_t)(const IN_T *z, Py_ssize_t V, double m, int64_t a, double mn, double T, double *store,
                             double *t_out) {
    const VD vm = NM(splat)(m), vT = NM(splat)(T);
    const int scaled = T != 1.0;
    VD acc = {0};
    if ((mn - m) / T >= -NARROW) {
        FN(sum_seg_narrow)(z, 0, a, vm, vT, scaled, store, &acc);
        FN(sum_seg_narrow)(z, a + 1, V, vm, vT, scaled, store, &acc);
    } else {
        FN(sum_seg)(z, 0, a, vm, vT, scaled, store, &acc);
        FN(sum_seg)(z, a + 1, V, vm, vT, scaled, store, &acc);
    }
    if (store) store[a] = 1.0;
    double t = NM(hsum)(acc);
    if (t_out) *t_out = t;
    return log1p(t);
}

static inline double FN(sum_pass)(const IN_T *z, Py_ssize_t V, double m, int64_t a, double mn, double *store,
                                  double *t_out) {
    return FN(sum_pass_t)(z, V, m, a, mn, 1.0, store, t_out);
}

/* (m, log Σ exp((z - m)/T)) as max_and_log_sum: m = 0 where the max is not finite or the row holds NaN,
 * and then the reference's literal formula (libm exp; the log-sum is NaN, +inf or -inf there). */
static void FN(row_lse)(const IN_T *z, Py_ssize_t V, double T, double *m, double *ls) {
    int64_t a;
    double mn;
    if (FN(rowmax)(z, V, m, &a, &mn)) { *ls = FN(sum_pass_t)(z, V, *m, a, mn, T, NULL, NULL); return; }
    double s = 0.0;
    for (Py_ssize_t j = 0; j < V; j++) s += exp((double)z[j] / T);
    *m = 0.0;
    *ls = log(s);
}

/* -log softmax(z/T)[k]: log_sum - (z_k - m)/T, NaN where the log-sum is not finite (no distribution). */
static double FN(ce_row)(const IN_T *z, Py_ssize_t V, int64_t k, double T) {
    double m, ls;
    FN(row_lse)(z, V, T, &m, &ls);
    if (!isfinite(ls)) return NAN;
    double picked = ((double)z[k] - m) / T - ls;
    return 0.0 - picked;
}

/* Σ e_j and Σ e_j·x_j over lo <= j < hi, x_j = (z_j - m)/T, e_j = exp(x_j), into two accumulators; a class whose
 * e_j is 0 (masked, or below float64's range) adds 0 to both, where e_j·x_j would be 0·-inf = NaN. */
static inline void FN(entropy_seg)(const IN_T *z, Py_ssize_t lo, Py_ssize_t hi, VD vm, VD vT, int scaled, VD *acc,
                                   VD *accx) {
    const VD zero = {0};
    Py_ssize_t j = lo;
    for (;; j += W) {
        VD x;
        if (j + W <= hi) x = SHIFTED(LOADV(z + j));
        else if (j < hi) x = SHIFTED(LOADT(z + j, hi - j));
        else break;
        VD e = NM(vexp_neg)(x);
        *acc += e;
        *accx += NM(blend)(e != zero, e * x, zero);
    }
}

/* H = -Σ p_j log p_j = log_sum - Σ e_j x_j / s, s = 1 + t: both parts >= 0, so nothing cancels (a dominant
 * row's tiny H keeps its digits).  The first maximum a is left out of both sums (its e is exactly 1, its
 * z_a - m exactly 0), which keeps t's digits for log1p.  NaN for a row that is no distribution. */
static double FN(entropy_row)(const IN_T *z, Py_ssize_t V, double T) {
    double m, mn;
    int64_t a;
    if (!FN(rowmax)(z, V, &m, &a, &mn)) return NAN;
    const VD vm = NM(splat)(m), vT = NM(splat)(T);
    const int scaled = T != 1.0;
    VD acc = {0}, accx = {0};
    FN(entropy_seg)(z, 0, a, vm, vT, scaled, &acc, &accx);
    FN(entropy_seg)(z, a + 1, V, vm, vT, scaled, &acc, &accx);
    const double t = NM(hsum)(acc);
    return log1p(t) - NM(hsum)(accx) / (1.0 + t);
}

/* softmax (e / Σ e, as core.softmax.softmax) or log-softmax ((z - m)/T - log_sum, with the log1p form). */
static void FN(softmax_row)(const IN_T *z, Py_ssize_t V, double *out, int log_, double T) {
    double m;
    int64_t a;
    double mn;
    if (!FN(rowmax)(z, V, &m, &a, &mn)) { /* reference formula with m = 0 */
        double s = 0.0;
        for (Py_ssize_t j = 0; j < V; j++) s += exp((double)z[j] / T);
        if (log_) { double ls = log(s); for (Py_ssize_t j = 0; j < V; j++) out[j] = (double)z[j] / T - ls; }
        else for (Py_ssize_t j = 0; j < V; j++) out[j] = exp((double)z[j] / T) / s;
        return;
    }
    const VD vm = NM(splat)(m), vT = NM(splat)(T);
    const int scaled = T != 1.0;
    Py_ssize_t j;
    if (log_) {
        const VD ls = NM(splat)(FN(sum_pass_t)(z, V, m, a, mn, T, NULL, NULL));
        for (j = 0; j + W <= V; j += W) *(VDU *)(out + j) = SHIFTED(LOADV(z + j)) - ls;
        for (; j < V; j++) out[j] = ((double)z[j] - m) / T - ls[0];
        return;
    }
    VD acc = {0};
    for (j = 0; j + W <= V; j += W) {
        VD e = NM(vexp_neg)(SHIFTED(LOADV(z + j)));
        acc += e;
        *(VDU *)(out + j) = e;
    }
    if (j < V) {
        VD e = NM(vexp_neg)(SHIFTED(LOADT(z + j, V - j)));
        acc += e;
        for (Py_ssize_t i = 0; j + i < V; i++) out[j + i] = e[i];
    }
    const VD s = NM(splat)(NM(hsum)(acc));
    for (j = 0; j + W <= V; j += W) *(VDU *)(out + j) = *(VDU *)(out + j) / s;
    for (; j < V; j++) out[j] = out[j] / s[0];
}

#undef SHIFTED
#undef FN
