/* compare's row function for one ISA (_rowkernel_compare.h) and one input type (IN_T, IN_SUF, LOADV). */

#define FN(name) NM(CAT(name, IN_SUF))

/* The K best classes of a row (a heap, root the worst of them); K < V. */
static void FN(topk)(const IN_T *z, Py_ssize_t V, Py_ssize_t K, double *hv, int64_t *hi) {
    for (Py_ssize_t j = 0; j < K; j++) { hv[j] = (double)z[j]; hi[j] = j; }
    for (Py_ssize_t j = K / 2; j-- > 0;) xk_sift(hv, hi, K, j);
    double thr = hv[0];
    for (Py_ssize_t j = K; j < V; j++) {
        const double x = (double)z[j];
        if (x > thr) {  /* equal values lose: their id is higher than every one already in */
            hv[0] = x; hi[0] = j;
            xk_sift(hv, hi, K, 0);
            thr = hv[0];
        }
    }
}

/* Adds t to *acc in the lanes `live` (not padding at the row's tail, not a class both sides mask). */
#define ADD(acc, t) (acc) += NM(blend)(live, (t), zero)

/* Every statistic of one row pair into o[c·N] (c: XK_*), top-1s into *t1b, *t1t.  Returns 1 for a row it leaves
 * to the caller (not plain: see XK_FAR_BELOW; or a result not finite), whose outputs are then meaningless.
 * k < 0: no targets (the target rows of o untouched).  eb, et: V doubles of scratch each. */
static int FN(compare_stats_row)(const IN_T *zb, const IN_T *zt, Py_ssize_t V, int64_t k, Py_ssize_t K, int need,
                                 double *o, Py_ssize_t N, int64_t *t1b, int64_t *t1t, double *eb, double *et,
                                 double *hb, int64_t *ib, double *ht, int64_t *it) {
    double mb, mt, mnb, mnt;
    int64_t ab, at;
    if (!FN(rowmax)(zb, V, &mb, &ab, &mnb) || !FN(rowmax)(zt, V, &mt, &at, &mnt)) return 1;
    if (!(fabs(mb - mt) <= XK_FAR_SHIFT)) return 1;
    /* Classes both sides mask add nothing to any sum; a row with masked classes is checked class by class
     * (one side only masks one: handed back; a base class far below: handed back), others by their minimum. */
    const int masked = mnb == -INFINITY || mnt == -INFINITY;
    if (!masked && !(mb - mnb <= XK_FAR_BELOW)) return 1;
    double tb, tt;
    const double lsb = FN(sum_pass)(zb, V, mb, ab, mnb, eb, &tb);
    const double lst = FN(sum_pass)(zt, V, mt, at, mnt, et, &tt);
    const double sb = 1.0 + tb, st = 1.0 + tt;
    /* log(s_b/s_t) as log1p((t_b - t_t)/s_t) (an exact difference where the rows are close): lsb - lst would carry
     * both logs' roundings, which move every D alike. */
    const VD vc = NM(splat)((mb - mt) + log1p((tb - tt) / st)), rho = NM(splat)(sb / st);
    const VD vmb = NM(splat)(mb), vmt = NM(splat)(mt), zero = {0}, half = NM(splat)(0.5);
    const int rev = need & XK_NEED_REV, jsd = need & XK_NEED_JSD, tvd = need & XK_NEED_TVD, ent = need & XK_NEED_ENT;
    VD a_kl = zero, a_rev = zero, a_jsd = zero, a_tvd = zero, a_u = zero, a_qs = zero, a_hb = zero, a_ht = zero;
    VI valid = zero == zero;
    for (Py_ssize_t j = 0; j < V; j += W) {
        VD vb, vt, e, et_;
        if (j + W <= V) {
            vb = LOADV(zb + j); vt = LOADV(zt + j);
            e = *(const VDU *)(eb + j); et_ = *(const VDU *)(et + j);
        } else { /* the tail: padding lanes hold z = 0, e = 1 (finite everywhere), and add nothing */
            double bz[W], tz[W], be[W], te[W];
            for (int i = 0; i < W; i++) {
                const int in = j + i < V;
                bz[i] = in ? (double)zb[j + i] : 0.0; tz[i] = in ? (double)zt[j + i] : 0.0;
                be[i] = in ? eb[j + i] : 1.0; te[i] = in ? et[j + i] : 1.0;
                valid[i] = in ? -1 : 0;
            }
            vb = *(const VDU *)bz; vt = *(const VDU *)tz; e = *(const VDU *)be; et_ = *(const VDU *)te;
        }
        /* D as core.divergence.logit_log_ratio (negated): the logits' difference first, exact for close rows */
        const VD d = (vt - vb) + vc;
        VI live = valid;
        if (masked) {
            const VI mask_b = vb == -INFINITY, mask_t = vt == -INFINITY;
            live &= ~mask_b;
            if (NM(any)(valid & (mask_b ^ mask_t)) || NM(any)(live & ((vb - vmb) < -XK_FAR_BELOW))) return 1;
        }
        const VD q = et_ * rho;  /* e_b·e^D */
        const VI small = (d < 0.5) & (d > -0.5);
        const int some_small = NM(any)(small), all_small = !NM(any)(~small & live);
        const VD phi = some_small ? NM(poly)(XK_PHI_C, XK_NC(XK_PHI_C), d) * (d * d) : zero;
        const VD u = d + phi;
        const VD eu = NM(blend)(small, e * u, q - e);  /* e_b·(e^D - 1) = q - e_b */
        const VD kl_t = NM(blend)(small, e * phi, eu - e * d);
        ADD(a_kl, kl_t);
        ADD(a_u, eu);
        /* R = D·u - φ for small D (R ≈ D²/2 from D² and D²/2: one bit cancels); q·D - (q - e_b) above */
        if (rev) ADD(a_rev, NM(blend)(small, e * (d * u - phi), q * d - eu));
        if (tvd) {
            const VD aeu = NM(blend)(eu < 0.0, -eu, eu);
            ADD(a_tvd, aeu);
            ADD(a_qs, NM(blend)(eu < 0.0, -q, q));
        }
        if (jsd && all_small) {
            ADD(a_jsd, e * (NM(poly)(XK_JSD_C, XK_NC(XK_JSD_C), d) * (d * d)));
        } else if (jsd) {
            const VD sum = e + q, ad = NM(blend)(d < 0.0, -d, d), aeu = NM(blend)(eu < 0.0, -eu, eu);
            const VD mx = NM(blend)(e < q, q, e), mn = NM(blend)(e < q, e, q);
            const VD four = 4.0 * (e * q), sum2 = sum * sum;
            const VI mid = ad <= 2.0, halve = mid & (four < XK_SQRT_HALF * sum2);
            const VD num = NM(blend)(mid, NM(blend)(halve, (four + four) - sum2, -(eu * eu)), mn);
            const VD den = NM(blend)(mid, NM(blend)(halve, four + four, four) + sum2, sum + mx);
            const VD l = NM(log_atanh)(num / den);  /* log y; log 2y where halved; log(1 + r) beyond */
            const VD closed = NM(blend)(mid, 0.25 * (ad * aeu) + (0.25 * sum) * NM(blend)(halve, l - XK_LN2, l),
                                        (half * sum) * (XK_LN2 - l) - half * (ad * mn));
            const VD series = some_small ? e * (NM(poly)(XK_JSD_C, XK_NC(XK_JSD_C), d) * (d * d)) : zero;
            ADD(a_jsd, NM(blend)(small, series, closed));
        }
        if (ent) {
            ADD(a_hb, e * (vb - vmb));
            ADD(a_ht, NM(blend)(et_ == 0.0, zero, et_ * (vt - vmt)));
        }
    }
    const double inv_sb = 1.0 / sb;
    /* A constant error δ in D (the rounding of the row constant) raises Σ p·φ(D) and Σ p·R(D) by δ²/2 and
     * Σ p·J(D) by about δ²/8 (their first orders vanish or are relative: Σ q - Σ p = 0), and moves the TVD
     * by δ·Σ q·sign(q - p)/2; r = Σ p·(e^D - 1) = Σ q - 1 measures δ.  This matters only for nearly equal
     * rows (KL about 1e-19), where the reference, without it, is some 1e-13 off. */
    const double r = NM(hsum)(a_u) * inv_sb;
    const double r2 = isfinite(r) ? r * r : 0.0;
#define OUT(c) o[(c) * N]
    OUT(XK_KL) = fmax(NM(hsum)(a_kl) * inv_sb - 0.5 * r2, 0.0);
    int bad = !isfinite(OUT(XK_KL));
    if (rev) { OUT(XK_REV) = fmax(NM(hsum)(a_rev) * inv_sb - 0.5 * r2, 0.0); bad |= !isfinite(OUT(XK_REV)); }
    if (jsd) { OUT(XK_JSD) = fmax(NM(hsum)(a_jsd) * inv_sb - 0.125 * r2, 0.0) / XK_LN2; bad |= !isfinite(OUT(XK_JSD)); }
    if (tvd) {
        OUT(XK_TVD) = fmax(0.5 * (NM(hsum)(a_tvd) - r * NM(hsum)(a_qs)) * inv_sb, 0.0);
        bad |= !isfinite(OUT(XK_TVD));
    }
    if (ent) {
        OUT(XK_HB) = lsb - NM(hsum)(a_hb) * inv_sb;
        OUT(XK_HT) = lst - NM(hsum)(a_ht) / st;
        bad |= !isfinite(OUT(XK_HB)) || !isfinite(OUT(XK_HT));
    }
    if (bad) return 1;
    *t1b = ab; *t1t = at;
    OUT(XK_SAME) = ab == at;
    if (k >= 0) {
        const double lpb = ((double)zb[k] - mb) - lsb, lpt = ((double)zt[k] - mt) - lst;
        OUT(XK_NLLB) = 0.0 - lpb; OUT(XK_NLLT) = 0.0 - lpt;
        OUT(XK_PT) = exp(lpb); OUT(XK_QT) = exp(lpt);
        OUT(XK_DP) = OUT(XK_QT) - OUT(XK_PT);
        OUT(XK_T1B) = ab == k; OUT(XK_T1T) = at == k;
    }
    if (need & XK_NEED_TOPK) {
        if (K >= V) {
            OUT(XK_OVERLAP) = 1.0; OUT(XK_INB) = 1.0; OUT(XK_INT) = 1.0;
        } else if (K == 1) {
            OUT(XK_OVERLAP) = ab == at; OUT(XK_INB) = ab == k; OUT(XK_INT) = at == k;
        } else {
            FN(topk)(zb, V, K, hb, ib);
            FN(topk)(zt, V, K, ht, it);
            Py_ssize_t both = 0;
            for (Py_ssize_t i = 0; i < K; i++) both += xk_in_set(ht, it, (double)zt[ib[i]], ib[i]);
            OUT(XK_OVERLAP) = (double)both / (double)K;
            if (k >= 0) { OUT(XK_INB) = xk_in_set(hb, ib, (double)zb[k], k); OUT(XK_INT) = xk_in_set(ht, it, (double)zt[k], k); }
        }
    }
#undef OUT
    return 0;
}

#undef ADD
#undef FN
