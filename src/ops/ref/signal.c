/* SPDX-License-Identifier: MIT */
/* Signal-processing reference kernels (ai.onnx opset 17+): DFT, STFT, the Hann,
 * Hamming and Blackman windows and MelWeightMatrix. Transforms run in double: a
 * radix-2 FFT for power-of-two lengths, Bluestein's chirp-z for any other length. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../core/core.h"
#include "../ops.h"

/* Longest transform (dft_length, frame_length) accepted. A plan holds about 22
 * doubles per point (Bluestein pads to a power of two up to 4n), so the ceiling
 * bounds a hostile model's scratch memory to ~180 MiB; the work per output
 * element stays O(log n) for every length. */
#ifndef FY_DFT_MAX_N
#define FY_DFT_MAX_N ((int64_t)1 << 20)
#endif

static const double PI = 3.14159265358979323846;

/* ---- shared input and output helpers ---- */

/* A count or length the model passes as a one-element int32/int64 tensor. */
static int scalar_int(fy__op_ctx *c, int i, const char *what, int64_t *out)
{
    int rc = fy__op_need(c, i);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *t = c->in[i];
    if (t->dtype != FY_DTYPE_I32 && t->dtype != FY_DTYPE_I64)
        return fy__op_fail(c, FY_EINVAL, "%s (input %d) must be int32 or int64, got %s", what, i,
                           fy_dtype_name(t->dtype));
    if (fy_tensor_numel(t) != 1)
        return fy__op_fail(c, FY_EINVAL, "%s (input %d) must be a scalar, got %lld elements", what,
                           i, (long long)fy_tensor_numel(t));
    *out = fy__get_i64(t, 0);
    return FY_OK;
}

static int scalar_float(fy__op_ctx *c, int i, const char *what, double *out)
{
    int rc = fy__op_need(c, i);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *t = c->in[i];
    if (!fy__dtype_is_float(t->dtype))
        return fy__op_fail(c, FY_EINVAL, "%s (input %d) must be a float type, got %s", what, i,
                           fy_dtype_name(t->dtype));
    if (fy_tensor_numel(t) != 1)
        return fy__op_fail(c, FY_EINVAL, "%s (input %d) must be a scalar, got %lld elements", what,
                           i, (long long)fy_tensor_numel(t));
    *out = fy__get_f64(t, 0);
    return FY_OK;
}

/* fy_tensor_alloc with the node named in the message (its checks refuse
 * negative and oversized shapes with FY_EINVAL / FY_ELIMIT). */
static int alloc_out(fy__op_ctx *c, int i, fy_dtype dt, int rank, const int64_t *dims)
{
    if (i >= c->n_out)
        return fy__op_fail(c, FY_EINVAL, "output %d is missing", i);
    fy_diag d = {{0}};
    int rc = fy_tensor_alloc(&c->out[i], dt, rank, dims, &d);
    if (rc != FY_OK)
        return fy__op_fail(c, rc, "output %d: %s", i, d.msg);
    return FY_OK;
}

/* The numeric types the window and mel ops may produce (their T2/T3). */
static int numeric_out_type(int64_t dt)
{
    switch (dt) {
    case FY_DTYPE_U8:
    case FY_DTYPE_U16:
    case FY_DTYPE_U32:
    case FY_DTYPE_U64:
    case FY_DTYPE_I8:
    case FY_DTYPE_I16:
    case FY_DTYPE_I32:
    case FY_DTYPE_I64:
    case FY_DTYPE_F16:
    case FY_DTYPE_F32:
    case FY_DTYPE_F64:
    case FY_DTYPE_BF16: return 1;
    default: return 0;
    }
}

/* ---- transforms ---- */

/* In-place radix-2 FFT of length m (a power of two): X_j = sum x_k w^(jk) with
 * w = e^(-2 pi i / m), or its conjugate when inv is set (unscaled). tw holds
 * e^(-2 pi i k / m) for k < m/2. */
static void fft_pow2(double *re, double *im, int64_t m, const double *tw_re, const double *tw_im,
                     int inv)
{
    for (int64_t i = 1, j = 0; i < m; i++) {
        int64_t bit = m >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len >> 1, step = m / len;
        for (int64_t s = 0; s < m; s += len)
            for (int64_t k = 0; k < half; k++) {
                double wr = tw_re[k * step], wi = inv ? -tw_im[k * step] : tw_im[k * step];
                int64_t a = s + k, b = a + half;
                double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
    }
}

/* One transform length and direction, with its tables and work buffers. The
 * caller fills re/im[0..n), calls plan_run, and reads re/im[0..n) back. */
typedef struct dft_plan {
    int64_t n, m; /* transform length; power-of-two FFT length (n, or Bluestein's) */
    int inverse;
    double *mem;
    double *tw_re, *tw_im; /* m/2 twiddles e^(-2 pi i k / m) */
    double *ch_re, *ch_im; /* Bluestein chirp e^(s pi i k^2 / n), NULL for powers of two */
    double *bf_re, *bf_im; /* FFT of the conjugate chirp, zero-padded to m */
    double *re, *im;       /* work, m */
} dft_plan;

static int plan_init(fy__op_ctx *c, dft_plan *p, int64_t n, int inverse)
{
    memset(p, 0, sizeof *p);
    if (n < 1)
        return fy__op_fail(c, FY_EINVAL, "transform length %lld must be positive", (long long)n);
    if (n > FY_DFT_MAX_N)
        return fy__op_fail(c, FY_ELIMIT, "transform length %lld is above FY_DFT_MAX_N (%lld)",
                           (long long)n, (long long)FY_DFT_MAX_N);
    int pow2 = (n & (n - 1)) == 0;
    int64_t m = 1;
    if (pow2)
        m = n;
    else
        while (m < 2 * n - 1)
            m <<= 1;
    size_t count = (size_t)(m + 2 * m + (pow2 ? 0 : 2 * n + 2 * m));
    p->mem = fy__malloc(count * sizeof(double));
    if (!p->mem)
        return fy__op_fail(c, FY_ENOMEM, "no memory for a transform of length %lld", (long long)n);
    p->n = n;
    p->m = m;
    p->inverse = inverse;
    double *q = p->mem;
    p->tw_re = q, q += m / 2;
    p->tw_im = q, q += m / 2;
    p->re = q, q += m;
    p->im = q, q += m;
    for (int64_t k = 0; k < m / 2; k++) {
        double a = -2.0 * PI * (double)k / (double)m;
        p->tw_re[k] = cos(a);
        p->tw_im[k] = sin(a);
    }
    if (pow2)
        return FY_OK;
    p->ch_re = q, q += n;
    p->ch_im = q, q += n;
    p->bf_re = q, q += m;
    p->bf_im = q;
    /* jk = (j^2 + k^2 - (j-k)^2) / 2 turns the DFT into a convolution with the
     * chirp; k^2 is reduced mod 2n first so the angle stays exact for large k. */
    double s = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t q2 = ((uint64_t)k * (uint64_t)k) % (uint64_t)(2 * n);
        double a = s * PI * (double)q2 / (double)n;
        p->ch_re[k] = cos(a);
        p->ch_im[k] = sin(a);
    }
    memset(p->bf_re, 0, (size_t)m * sizeof(double));
    memset(p->bf_im, 0, (size_t)m * sizeof(double));
    p->bf_re[0] = p->ch_re[0];
    p->bf_im[0] = -p->ch_im[0];
    for (int64_t k = 1; k < n; k++) {
        p->bf_re[k] = p->bf_re[m - k] = p->ch_re[k];
        p->bf_im[k] = p->bf_im[m - k] = -p->ch_im[k];
    }
    fft_pow2(p->bf_re, p->bf_im, m, p->tw_re, p->tw_im, 0);
    return FY_OK;
}

static void plan_free(dft_plan *p)
{
    fy__free(p->mem);
    p->mem = NULL;
}

/* Forward: X_j = sum_k x_k e^(-2 pi i jk/n); inverse: (1/n) sum_k x_k e^(+2 pi i jk/n). */
static void plan_run(dft_plan *p)
{
    int64_t n = p->n, m = p->m;
    double *re = p->re, *im = p->im;
    if (!p->ch_re) {
        fft_pow2(re, im, n, p->tw_re, p->tw_im, p->inverse);
    } else {
        for (int64_t k = 0; k < n; k++) {
            double xr = re[k], xi = im[k];
            re[k] = xr * p->ch_re[k] - xi * p->ch_im[k];
            im[k] = xr * p->ch_im[k] + xi * p->ch_re[k];
        }
        for (int64_t k = n; k < m; k++)
            re[k] = im[k] = 0.0;
        fft_pow2(re, im, m, p->tw_re, p->tw_im, 0);
        for (int64_t k = 0; k < m; k++) {
            double xr = re[k], xi = im[k];
            re[k] = xr * p->bf_re[k] - xi * p->bf_im[k];
            im[k] = xr * p->bf_im[k] + xi * p->bf_re[k];
        }
        fft_pow2(re, im, m, p->tw_re, p->tw_im, 1);
        for (int64_t j = 0; j < n; j++) {
            double yr = re[j] / (double)m, yi = im[j] / (double)m;
            re[j] = yr * p->ch_re[j] - yi * p->ch_im[j];
            im[j] = yr * p->ch_im[j] + yi * p->ch_re[j];
        }
    }
    if (p->inverse)
        for (int64_t j = 0; j < n; j++) {
            re[j] /= (double)n;
            im[j] /= (double)n;
        }
}

/* [..., 1 or 2]: the last dimension holds a real value or a (re, im) pair. */
static int check_signal(fy__op_ctx *c, const fy_tensor *x, int min_rank)
{
    if (!fy__dtype_is_float(x->dtype))
        return fy__op_fail(c, FY_EINVAL, "input 0 must be a float type, got %s",
                           fy_dtype_name(x->dtype));
    if (x->rank < min_rank)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d, expected at least %d", x->rank,
                           min_rank);
    int64_t comp = x->dims[x->rank - 1];
    if (comp != 1 && comp != 2)
        return fy__op_fail(c, FY_EINVAL,
                           "last dimension of input 0 is %lld; must be 1 (real) or 2 (complex)",
                           (long long)comp);
    return FY_OK;
}

/* DFT-17 (axis attribute) and DFT-20 (axis input, default -2). As in ONNX's
 * reference, onesided keeps the first n/2+1 outputs of the full transform in
 * both directions; dft_length zero-pads or truncates the signal. */
static int op_dft(fy__op_ctx *c)
{
    dft_plan p = {0};
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = check_signal(c, x, 2)) != FY_OK)
        return rc;
    int r = x->rank;
    int64_t axis = 1;
    if (c->opset >= 20) {
        axis = -2;
        if (c->n_in > 2 && c->in[2] && (rc = scalar_int(c, 2, "axis", &axis)) != FY_OK)
            return rc;
    } else {
        axis = fy__attr_int(c->node, "axis", 1);
    }
    /* The last dimension holds the complex parts, so it is never a signal axis. */
    if (!((axis >= 0 && axis <= r - 2) || (axis < 0 && axis >= -r && axis <= -2)))
        return fy__op_fail(c, FY_EINVAL, "axis %lld out of range for input 0 of rank %d",
                           (long long)axis, r);
    if (axis < 0)
        axis += r;
    int ax = (int)axis;
    int64_t n_in = x->dims[ax], n = n_in;
    if (c->n_in > 1 && c->in[1]) {
        if ((rc = scalar_int(c, 1, "dft_length", &n)) != FY_OK)
            return rc;
        if (n < 1)
            return fy__op_fail(c, FY_EINVAL, "dft_length %lld must be positive", (long long)n);
    } else if (n < 1) {
        return fy__op_fail(c, FY_EINVAL, "signal axis %d of input 0 is empty", ax);
    }
    if (n > FY_DFT_MAX_N)
        return fy__op_fail(c, FY_ELIMIT, "dft_length %lld is above FY_DFT_MAX_N (%lld)",
                           (long long)n, (long long)FY_DFT_MAX_N);
    int inverse = fy__attr_int(c->node, "inverse", 0) != 0;
    int onesided = fy__attr_int(c->node, "onesided", 0) != 0;
    int64_t out_len = onesided ? n / 2 + 1 : n;
    int64_t dims[FY_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[ax] = out_len;
    dims[r - 1] = 2;
    if ((rc = alloc_out(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    if (fy_tensor_numel(y) == 0)
        return FY_OK;
    int64_t outer = 1, inner = 1, comp = x->dims[r - 1];
    for (int i = 0; i < ax; i++)
        outer *= x->dims[i];
    for (int i = ax + 1; i < r - 1; i++)
        inner *= x->dims[i];
    if ((rc = plan_init(c, &p, n, inverse)) != FY_OK)
        return rc;
    int64_t used = n < n_in ? n : n_in;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t k = 0; k < n; k++) {
                p.re[k] = p.im[k] = 0.0;
                if (k < used) {
                    int64_t at = ((o * n_in + k) * inner + i) * comp;
                    p.re[k] = fy__get_f64(x, at);
                    if (comp == 2)
                        p.im[k] = fy__get_f64(x, at + 1);
                }
            }
            plan_run(&p);
            for (int64_t j = 0; j < out_len; j++) {
                int64_t at = ((o * out_len + j) * inner + i) * 2;
                fy__set_f64(y, at, p.re[j]);
                fy__set_f64(y, at + 1, p.im[j]);
            }
        }
    plan_free(&p);
    return FY_OK;
}

/* STFT-17: signal [batch, length, 1 or 2] -> [batch, frames, bins, 2]. The frame
 * length is frame_length, else the window's length, else the whole signal. */
static int op_stft(fy__op_ctx *c)
{
    dft_plan p = {0};
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = check_signal(c, x, 3)) != FY_OK)
        return rc;
    if (x->rank != 3)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d; STFT needs [batch, length, 1 or 2]",
                           x->rank);
    int64_t step;
    if ((rc = scalar_int(c, 1, "frame_step", &step)) != FY_OK)
        return rc;
    if (step < 1)
        return fy__op_fail(c, FY_EINVAL, "frame_step %lld must be positive", (long long)step);
    const fy_tensor *w = c->n_in > 2 ? c->in[2] : NULL;
    if (w && (!fy__dtype_is_float(w->dtype) || w->rank != 1))
        return fy__op_fail(c, FY_EINVAL,
                           "window (input 2) must be a 1-D float tensor, got %s of rank %d",
                           fy_dtype_name(w->dtype), w->rank);
    int64_t len = x->dims[1], fl = len;
    if (c->n_in > 3 && c->in[3]) {
        if ((rc = scalar_int(c, 3, "frame_length", &fl)) != FY_OK)
            return rc;
        if (fl < 1)
            return fy__op_fail(c, FY_EINVAL, "frame_length %lld must be positive", (long long)fl);
        if (w && w->dims[0] != fl)
            return fy__op_fail(c, FY_EINVAL, "window length %lld differs from frame_length %lld",
                               (long long)w->dims[0], (long long)fl);
    } else if (w) {
        fl = w->dims[0];
    }
    if (fl < 1)
        return fy__op_fail(c, FY_EINVAL, "frame length is 0 (empty window or signal)");
    if (fl > len)
        return fy__op_fail(c, FY_EINVAL, "frame length %lld exceeds the signal length %lld",
                           (long long)fl, (long long)len);
    if (fl > FY_DFT_MAX_N)
        return fy__op_fail(c, FY_ELIMIT, "frame length %lld is above FY_DFT_MAX_N (%lld)",
                           (long long)fl, (long long)FY_DFT_MAX_N);
    int64_t frames = 1 + (len - fl) / step;
    int onesided = fy__attr_int(c->node, "onesided", 1) != 0;
    int64_t bins = onesided ? fl / 2 + 1 : fl, batch = x->dims[0], comp = x->dims[2];
    int64_t dims[4] = {batch, frames, bins, 2};
    if ((rc = alloc_out(c, 0, x->dtype, 4, dims)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    if (fy_tensor_numel(y) == 0)
        return FY_OK;
    if ((rc = plan_init(c, &p, fl, 0)) != FY_OK)
        return rc;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t k = 0; k < fl; k++) {
                int64_t at = (b * len + f * step + k) * comp;
                double wk = w ? fy__get_f64(w, k) : 1.0;
                p.re[k] = fy__get_f64(x, at) * wk;
                p.im[k] = comp == 2 ? fy__get_f64(x, at + 1) * wk : 0.0;
            }
            plan_run(&p);
            for (int64_t j = 0; j < bins; j++) {
                int64_t at = ((b * frames + f) * bins + j) * 2;
                fy__set_f64(y, at, p.re[j]);
                fy__set_f64(y, at + 1, p.im[j]);
            }
        }
    plan_free(&p);
    return FY_OK;
}

/* ---- windows ---- */

/* Generalized cosine window y[k] = sum_j (-1)^j a[j] cos(j 2 pi k / N), with
 * N = size (periodic) or size - 1 (symmetric). A symmetric window of size 1
 * divides by zero and gives NaN, as the operators' function bodies do. */
static int cosine_window(fy__op_ctx *c, const double *a, int na)
{
    int64_t size;
    int rc = scalar_int(c, 0, "size", &size);
    if (rc != FY_OK)
        return rc;
    if (size < 0)
        return fy__op_fail(c, FY_EINVAL, "size %lld must not be negative", (long long)size);
    int64_t odt = fy__attr_int(c->node, "output_datatype", FY_DTYPE_F32);
    if (!numeric_out_type(odt))
        return fy__op_fail(c, FY_EINVAL, "output_datatype %lld is not a numeric type",
                           (long long)odt);
    int periodic = fy__attr_int(c->node, "periodic", 1) != 0;
    if ((rc = alloc_out(c, 0, (fy_dtype)odt, 1, &size)) != FY_OK)
        return rc;
    double big_n = periodic ? (double)size : (double)size - 1.0;
    for (int64_t k = 0; k < size; k++) {
        double theta = 2.0 * PI * (double)k / big_n, v = 0.0;
        for (int j = 0; j < na; j++)
            v += (j % 2 ? -a[j] : a[j]) * cos((double)j * theta);
        fy__set_f64(&c->out[0], k, v);
    }
    return FY_OK;
}

static int op_hann(fy__op_ctx *c)
{
    static const double a[2] = {0.5, 0.5};
    return cosine_window(c, a, 2);
}

static int op_hamming(fy__op_ctx *c)
{
    static const double a[2] = {25.0 / 46.0, 21.0 / 46.0};
    return cosine_window(c, a, 2);
}

static int op_blackman(fy__op_ctx *c)
{
    static const double a[3] = {0.42, 0.5, 0.08};
    return cosine_window(c, a, 3);
}

/* ---- MelWeightMatrix ---- */

/* Spectrogram bin of mel point k of num_mel_bins + 2, as ONNX's reference: the
 * mel range is split into num_mel_bins + 2 steps (not + 1) and the frequency
 * mapped with floor((dft_length + 1) * hz / sample_rate). */
static int mel_point(fy__op_ctx *c, int64_t k, double lo_mel, double step, int64_t dft_length,
                     int64_t sample_rate, int64_t *out)
{
    double mel = (double)k * step + lo_mel;
    double hz = 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    double bin = floor(((double)dft_length + 1.0) * hz / (double)sample_rate);
    if (!(fabs(bin) < 4.0e18))
        return fy__op_fail(c, FY_EINVAL, "mel point %lld maps to no spectrogram bin (%g Hz)",
                           (long long)k, hz);
    *out = (int64_t)bin;
    return FY_OK;
}

static int op_mel(fy__op_ctx *c)
{
    int64_t n_mel, dft_length, rate;
    double lo, hi;
    int rc;
    if ((rc = scalar_int(c, 0, "num_mel_bins", &n_mel)) != FY_OK ||
        (rc = scalar_int(c, 1, "dft_length", &dft_length)) != FY_OK ||
        (rc = scalar_int(c, 2, "sample_rate", &rate)) != FY_OK ||
        (rc = scalar_float(c, 3, "lower_edge_hertz", &lo)) != FY_OK ||
        (rc = scalar_float(c, 4, "upper_edge_hertz", &hi)) != FY_OK)
        return rc;
    if (n_mel < 1)
        return fy__op_fail(c, FY_EINVAL, "num_mel_bins %lld must be positive", (long long)n_mel);
    if (dft_length < 1)
        return fy__op_fail(c, FY_EINVAL, "dft_length %lld must be positive", (long long)dft_length);
    if (rate < 1)
        return fy__op_fail(c, FY_EINVAL, "sample_rate %lld must be positive", (long long)rate);
    if (!(lo >= 0.0) || !(hi >= lo) || !isfinite(hi))
        return fy__op_fail(c, FY_EINVAL,
                           "edges must satisfy 0 <= lower_edge_hertz (%g) <= upper_edge_hertz (%g)",
                           lo, hi);
    int64_t odt = fy__attr_int(c->node, "output_datatype", FY_DTYPE_F32);
    if (!numeric_out_type(odt))
        return fy__op_fail(c, FY_EINVAL, "output_datatype %lld is not a numeric type",
                           (long long)odt);
    int64_t bins = dft_length / 2 + 1;
    int64_t dims[2] = {bins, n_mel};
    if ((rc = alloc_out(c, 0, (fy_dtype)odt, 2, dims)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    double lo_mel = 2595.0 * log10(1.0 + lo / 700.0);
    double hi_mel = 2595.0 * log10(1.0 + hi / 700.0);
    double step = (hi_mel - lo_mel) / (double)(n_mel + 2);
    /* Each triangle touches only bins between its outer points, so the work is
     * bounded by the output size once those points are checked against it. */
    for (int64_t i = 0; i < n_mel; i++) {
        int64_t left, center, right;
        if ((rc = mel_point(c, i, lo_mel, step, dft_length, rate, &left)) != FY_OK ||
            (rc = mel_point(c, i + 1, lo_mel, step, dft_length, rate, &center)) != FY_OK ||
            (rc = mel_point(c, i + 2, lo_mel, step, dft_length, rate, &right)) != FY_OK)
            return rc;
        if (left < 0 || center >= bins || (right > center && right > bins))
            return fy__op_fail(c, FY_EINVAL,
                               "mel bin %lld spans spectrogram bins %lld..%lld, outside [0, %lld]; "
                               "upper_edge_hertz is above the Nyquist frequency",
                               (long long)i, (long long)left, (long long)right,
                               (long long)bins - 1);
        int64_t up = center - left, down = right - center;
        if (up == 0)
            fy__set_f64(y, center * n_mel + i, 1.0);
        for (int64_t j = left; up > 0 && j <= center; j++)
            fy__set_f64(y, j * n_mel + i, (double)(j - left) / (double)up);
        for (int64_t j = center; down > 0 && j < right; j++)
            fy__set_f64(y, j * n_mel + i, (double)(right - j) / (double)down);
    }
    return FY_OK;
}

const fy__op_def fy__ops_signal[] = {
    {"DFT", "", op_dft},
    {"STFT", "", op_stft},
    {"HannWindow", "", op_hann},
    {"HammingWindow", "", op_hamming},
    {"BlackmanWindow", "", op_blackman},
    {"MelWeightMatrix", "", op_mel},
    {NULL, NULL, NULL},
};
