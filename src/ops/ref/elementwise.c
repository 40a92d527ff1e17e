/* SPDX-License-Identifier: MIT */
/* Reference kernels for elementwise operators: unary math, broadcasting binary and
 * variadic ops, Where, Cast, Clip, Identity, Dropout. Table-driven: one scalar function
 * per math op, a float32 loop generated beside it, and shared drivers for the rest. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../ops.h"

/* ---- dtype classes: what each op accepts ---- */

enum { T_F = 1, T_SI = 2, T_UI = 4, T_B = 8, T_INT = T_SI | T_UI, T_NUM = T_F | T_INT };

static int dclass(fy_dtype dt)
{
    if (fy__dtype_is_float(dt))
        return T_F;
    if (dt == FY_DTYPE_BOOL)
        return T_B;
    if (fy__dtype_is_int(dt))
        return fy__dtype_is_signed(dt) ? T_SI : T_UI;
    return 0;
}

/* A dtype ferry has no kernels for (string, complex) is unsupported; one the spec
 * does not list for the op is invalid. */
static int check_dtype(fy__op_ctx *c, int i, int accept)
{
    fy_dtype dt = c->in[i]->dtype;
    int k = dclass(dt);
    if (!k)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input %d: dtype %s is not supported", i,
                           fy_dtype_name(dt));
    if (!(k & accept))
        return fy__op_fail(c, FY_EINVAL, "input %d: dtype %s is not allowed for this operator", i,
                           fy_dtype_name(dt));
    return FY_OK;
}

/* Inputs 0..n-1 present and one output to write. */
static int need(fy__op_ctx *c, int n)
{
    if (c->n_out < 1)
        return fy__op_fail(c, FY_EINVAL, "the node has no output");
    for (int i = 0; i < n; i++) {
        int rc = fy__op_need(c, i);
        if (rc)
            return rc;
    }
    return FY_OK;
}

static int same_dtype(fy__op_ctx *c, int i, int j)
{
    if (c->in[i]->dtype == c->in[j]->dtype)
        return FY_OK;
    return fy__op_fail(c, FY_EINVAL, "input %d is %s but input %d is %s; they must match", i,
                       fy_dtype_name(c->in[i]->dtype), j, fy_dtype_name(c->in[j]->dtype));
}

/* Unsigned-aware integer order: values of unsigned dtypes arrive as int64 bit patterns. */
static int lt(int64_t x, int64_t y, int uns)
{
    return (uns & 1) ? (uint64_t)x < (uint64_t)y : x < y;
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v; /* NaN passes through, as in numpy */
}

/* ---- walking broadcast operands row by row ---- */

/* Operand 0 is the output; the others broadcast to its shape. Dimensions that are
 * contiguous for every operand are merged, so the inner row is as long as possible:
 * Add(X[1,64,56,56], B[1,64,1,1]) walks 64 rows of 3136 with B's stride 0. */
typedef struct walk {
    fy__iter it;                    /* over all but the last merged dimension */
    int64_t rows, n;                /* row count and row length */
    int64_t inner[FY_ITER_MAX_OPS]; /* element stride along a row, per operand */
} walk;

static void walk_init(walk *w, int nops, const fy_tensor *const *t)
{
    int64_t dims[FY_MAX_RANK], st[FY_ITER_MAX_OPS][FY_MAX_RANK];
    int rank = t[0]->rank, r = 0;
    for (int k = 0; k < nops; k++)
        fy__broadcast_strides(t[k], rank, t[0]->dims, st[k]);
    for (int i = 0; i < rank; i++) {
        int64_t d = t[0]->dims[i];
        if (d == 1)
            continue; /* a size-1 axis contributes nothing to any offset */
        int merge = r > 0;
        for (int k = 0; k < nops && merge; k++)
            merge = st[k][r - 1] == st[k][i] * d;
        if (merge) {
            dims[r - 1] *= d;
            for (int k = 0; k < nops; k++)
                st[k][r - 1] = st[k][i];
            continue;
        }
        dims[r] = d;
        for (int k = 0; k < nops; k++)
            st[k][r] = st[k][i];
        r++;
    }
    int64_t numel = fy_tensor_numel(t[0]);
    w->n = r ? dims[r - 1] : 1;
    w->rows = w->n ? numel / w->n : 0;
    for (int k = 0; k < nops; k++)
        w->inner[k] = r ? st[k][r - 1] : 0;
    fy__iter_init(&w->it, r ? r - 1 : 0, dims, nops, (const int64_t(*)[FY_MAX_RANK])st);
}

/* ---- unary ops ---- */

typedef struct prm {
    double alpha, beta; /* op attributes: alpha/beta, lambd/bias, alpha/gamma ... */
    int uns;            /* integer input of an unsigned dtype */
} prm;

typedef void (*unary_f32_fn)(const float *x, float *y, int64_t n, const prm *p);

typedef struct unop {
    const char *name;
    int accept;   /* dtype classes of the input */
    int out_bool; /* output is bool (IsNaN, IsInf), else the input's dtype */
    double (*fd)(double x, const prm *p);
    unary_f32_fn ff;                        /* float32 fast path, or NULL */
    int64_t (*fi)(int64_t x, const prm *p); /* exact path for ints/bool, or NULL: via double */
    const char *a1;                         /* attribute read into alpha, */
    double d1;                              /* and its default */
    const char *a2;                         /* attribute read into beta, */
    double d2;                              /* and its default */
} unop;

/* One expression, two functions: a double scalar (every dtype) and a float32 loop
 * the compiler can inline and vectorize (no per-element dtype switch). */
#define UNARY(name, expr)                                                                          \
    static double name##_d(double x, const prm *p)                                                 \
    {                                                                                              \
        (void)p;                                                                                   \
        return (expr);                                                                             \
    }                                                                                              \
    static void name##_f(const float *in, float *out, int64_t n, const prm *p)                     \
    {                                                                                              \
        (void)p;                                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                          \
            float x = in[i];                                                                       \
            out[i] = (float)(expr);                                                                \
        }                                                                                          \
    }

UNARY(abs, fabs(x))
UNARY(neg, -x)
UNARY(sqrt, sqrt(x))
UNARY(recip, 1 / x)
UNARY(exp, exp(x))
UNARY(log, log(x))
UNARY(erf, erf(x))
UNARY(tanh, tanh(x))
UNARY(sigmoid, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
UNARY(relu, x < 0 ? 0 : x)
UNARY(leaky, x < 0 ? p->alpha * x : x)
UNARY(elu, x < 0 ? p->alpha * expm1(x) : x)
UNARY(selu, x <= 0 ? p->beta * p->alpha * expm1(x) : p->beta * x)
UNARY(celu, (x > 0 ? x : 0) + fmin(0, p->alpha * expm1(x / p->alpha)))
UNARY(hsigmoid, clamp01(p->alpha * x + p->beta))
UNARY(hswish, x * clamp01(x / 6.0 + 0.5))
UNARY(softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
UNARY(softsign, x / (1 + fabs(x)))
UNARY(threlu, x > p->alpha ? x : 0)
UNARY(shrink, x < -p->alpha ? x + p->beta : x > p->alpha ? x - p->beta : 0)
UNARY(gelu, 0.5 * x * (1 + erf(x * 0.70710678118654752440)))
UNARY(gelu_tanh, 0.5 * x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))))
UNARY(floor, floor(x))
UNARY(ceil, ceil(x))
UNARY(round, nearbyint(x)) /* default rounding mode: half to even */
UNARY(sign, x > 0 ? 1 : x < 0 ? -1 : x)
UNARY(sin, sin(x))
UNARY(cos, cos(x))
UNARY(tan, tan(x))
UNARY(asin, asin(x))
UNARY(acos, acos(x))
UNARY(atan, atan(x))
UNARY(sinh, sinh(x))
UNARY(cosh, cosh(x))
UNARY(asinh, asinh(x))
UNARY(acosh, acosh(x))
UNARY(atanh, atanh(x))

static double is_nan_d(double x, const prm *p)
{
    (void)p;
    return isnan(x);
}

/* IsInf: alpha is detect_positive, beta detect_negative. */
static double is_inf_d(double x, const prm *p)
{
    return isinf(x) && (x > 0 ? p->alpha != 0 : p->beta != 0);
}

/* Integer forms compute in uint64 where C would overflow (Abs/Neg of INT64_MIN wrap,
 * as numpy does). */
static int64_t abs_i(int64_t x, const prm *p)
{
    return p->uns || x >= 0 ? x : (int64_t)(0 - (uint64_t)x);
}

static int64_t neg_i(int64_t x, const prm *p)
{
    (void)p;
    return (int64_t)(0 - (uint64_t)x);
}

static int64_t relu_i(int64_t x, const prm *p)
{
    return p->uns || x > 0 ? x : 0;
}

static int64_t sign_i(int64_t x, const prm *p)
{
    return p->uns ? x != 0 : (x > 0) - (x < 0);
}

static int64_t not_i(int64_t x, const prm *p)
{
    (void)p;
    return !x;
}

static int64_t bnot_i(int64_t x, const prm *p)
{
    (void)p;
    return ~x;
}

#define SELU_ALPHA 1.67326319217681884765625
#define SELU_GAMMA 1.05070102214813232421875

static const unop unops[] = {
    {"Abs", T_NUM, 0, abs_d, abs_f, abs_i, NULL, 0, NULL, 0},
    {"Neg", T_F | T_SI, 0, neg_d, neg_f, neg_i, NULL, 0, NULL, 0},
    {"Sqrt", T_F, 0, sqrt_d, sqrt_f, NULL, NULL, 0, NULL, 0},
    {"Reciprocal", T_F, 0, recip_d, recip_f, NULL, NULL, 0, NULL, 0},
    {"Exp", T_F, 0, exp_d, exp_f, NULL, NULL, 0, NULL, 0},
    {"Log", T_F, 0, log_d, log_f, NULL, NULL, 0, NULL, 0},
    {"Erf", T_NUM, 0, erf_d, erf_f, NULL, NULL, 0, NULL, 0},
    {"Tanh", T_F, 0, tanh_d, tanh_f, NULL, NULL, 0, NULL, 0},
    {"Sigmoid", T_F, 0, sigmoid_d, sigmoid_f, NULL, NULL, 0, NULL, 0},
    {"Relu", T_F | T_SI, 0, relu_d, relu_f, relu_i, NULL, 0, NULL, 0},
    {"LeakyRelu", T_F, 0, leaky_d, leaky_f, NULL, "alpha", 0.01, NULL, 0},
    {"Elu", T_F, 0, elu_d, elu_f, NULL, "alpha", 1.0, NULL, 0},
    {"Selu", T_F, 0, selu_d, selu_f, NULL, "alpha", SELU_ALPHA, "gamma", SELU_GAMMA},
    {"Celu", T_F, 0, celu_d, celu_f, NULL, "alpha", 1.0, NULL, 0},
    {"HardSigmoid", T_F, 0, hsigmoid_d, hsigmoid_f, NULL, "alpha", 0.2, "beta", 0.5},
    {"HardSwish", T_F, 0, hswish_d, hswish_f, NULL, NULL, 0, NULL, 0},
    {"Softplus", T_F, 0, softplus_d, softplus_f, NULL, NULL, 0, NULL, 0},
    {"Softsign", T_F, 0, softsign_d, softsign_f, NULL, NULL, 0, NULL, 0},
    {"ThresholdedRelu", T_F, 0, threlu_d, threlu_f, NULL, "alpha", 1.0, NULL, 0},
    {"Shrink", T_NUM, 0, shrink_d, shrink_f, NULL, "lambd", 0.5, "bias", 0.0},
    {"Gelu", T_F, 0, gelu_d, gelu_f, NULL, NULL, 0, NULL, 0},
    {"Gelu(tanh)", T_F, 0, gelu_tanh_d, gelu_tanh_f, NULL, NULL, 0, NULL, 0},
    {"Floor", T_F, 0, floor_d, floor_f, NULL, NULL, 0, NULL, 0},
    {"Ceil", T_F, 0, ceil_d, ceil_f, NULL, NULL, 0, NULL, 0},
    {"Round", T_F, 0, round_d, round_f, NULL, NULL, 0, NULL, 0},
    {"Sign", T_NUM, 0, sign_d, sign_f, sign_i, NULL, 0, NULL, 0},
    {"Sin", T_F, 0, sin_d, sin_f, NULL, NULL, 0, NULL, 0},
    {"Cos", T_F, 0, cos_d, cos_f, NULL, NULL, 0, NULL, 0},
    {"Tan", T_F, 0, tan_d, tan_f, NULL, NULL, 0, NULL, 0},
    {"Asin", T_F, 0, asin_d, asin_f, NULL, NULL, 0, NULL, 0},
    {"Acos", T_F, 0, acos_d, acos_f, NULL, NULL, 0, NULL, 0},
    {"Atan", T_F, 0, atan_d, atan_f, NULL, NULL, 0, NULL, 0},
    {"Sinh", T_F, 0, sinh_d, sinh_f, NULL, NULL, 0, NULL, 0},
    {"Cosh", T_F, 0, cosh_d, cosh_f, NULL, NULL, 0, NULL, 0},
    {"Asinh", T_F, 0, asinh_d, asinh_f, NULL, NULL, 0, NULL, 0},
    {"Acosh", T_F, 0, acosh_d, acosh_f, NULL, NULL, 0, NULL, 0},
    {"Atanh", T_F, 0, atanh_d, atanh_f, NULL, NULL, 0, NULL, 0},
    {"IsNaN", T_F, 1, is_nan_d, NULL, NULL, NULL, 0, NULL, 0},
    {"IsInf", T_F, 1, is_inf_d, NULL, NULL, "detect_positive", 1, "detect_negative", 1},
    {"Not", T_B, 0, NULL, NULL, not_i, NULL, 0, NULL, 0},
    {"BitwiseNot", T_INT, 0, NULL, NULL, bnot_i, NULL, 0, NULL, 0},
};

static const unop *find_unop(const char *name)
{
    for (size_t i = 0; i < sizeof unops / sizeof unops[0]; i++)
        if (strcmp(unops[i].name, name) == 0)
            return &unops[i];
    return NULL;
}

static int unary_run(fy__op_ctx *c, const unop *u)
{
    int rc = need(c, 1);
    if (rc || (rc = check_dtype(c, 0, u->accept)))
        return rc;
    const fy_tensor *x = c->in[0];
    prm p = {0, 0, dclass(x->dtype) == T_UI};
    if (u->a1)
        p.alpha = fy__attr_float(c->node, u->a1, (float)u->d1);
    if (u->a2)
        p.beta = fy__attr_float(c->node, u->a2, (float)u->d2);
    if (u->fd == celu_d && p.alpha == 0)
        return fy__op_fail(c, FY_EINVAL, "attribute alpha must not be 0");
    fy_dtype odt = u->out_bool ? FY_DTYPE_BOOL : x->dtype;
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, odt, x->rank, x->dims, c->diag)))
        return rc;
    int64_t n = fy_tensor_numel(x);
    if (u->ff && x->dtype == FY_DTYPE_F32 && odt == FY_DTYPE_F32)
        u->ff(x->data, y->data, n, &p);
    else if (u->fi && !fy__dtype_is_float(x->dtype))
        for (int64_t i = 0; i < n; i++)
            fy__set_i64(y, i, u->fi(fy__get_i64(x, i), &p));
    else
        for (int64_t i = 0; i < n; i++)
            fy__set_f64(y, i, u->fd(fy__get_f64(x, i), &p));
    return FY_OK;
}

/* Ops whose table entry has the node's op_type as its name. */
static int op_unary(fy__op_ctx *c)
{
    const unop *u = find_unop(c->node->op_type);
    if (!u)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no unary kernel named %s", c->node->op_type);
    return unary_run(c, u);
}

/* Gelu-20: approximate = "none" (erf form) or "tanh". */
static int op_gelu(fy__op_ctx *c)
{
    const char *a = fy__attr_str(c->node, "approximate", "none");
    if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
        return fy__op_fail(c, FY_EINVAL, "attribute approximate is '%s', expected none or tanh",
                           a);
    return unary_run(c, find_unop(strcmp(a, "tanh") == 0 ? "Gelu(tanh)" : "Gelu"));
}

/* com.microsoft Gelu: always the erf form. */
static int op_gelu_ms(fy__op_ctx *c)
{
    return unary_run(c, find_unop("Gelu"));
}

/* ---- binary ops ---- */

enum { B_BOOL_OUT = 1, B_MIXED = 2, B_UNI = 4 };

typedef void (*binary_f32_fn)(const float *a, int64_t sa, const float *b, int64_t sb, float *o,
                              int64_t n);

typedef struct binop {
    const char *name;
    int accept; /* dtype classes of A (and of B, which must match, unless B_MIXED) */
    int flags;  /* B_BOOL_OUT: comparison; B_MIXED: B may differ (Pow); B_UNI: out has A's shape */
    double (*fd)(double x, double y);
    binary_f32_fn ff; /* float32 fast path, or NULL */
    /* Exact path for ints/bool; uns bit 0: A unsigned, bit 1: B unsigned. Returns
     * nonzero on integer division by zero. NULL: compute through double. */
    int (*fi)(int64_t x, int64_t y, int uns, int64_t *r);
} binop;

#define BINARY_D(name, expr)                                                                       \
    static double name##_d(double x, double y)                                                     \
    {                                                                                              \
        return (expr);                                                                             \
    }
#define BINARY(name, expr)                                                                         \
    BINARY_D(name, expr)                                                                           \
    static void name##_f(const float *a, int64_t sa, const float *b, int64_t sb, float *o,         \
                         int64_t n)                                                                \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            float x = a[i * sa], y = b[i * sb];                                                    \
            o[i] = (float)(expr);                                                                  \
        }                                                                                          \
    }
/* Integer forms that cannot fail; wrapping arithmetic is done in uint64 (no signed
 * overflow on model data). */
#define BINARY_I(name, expr)                                                                       \
    static int name##_i(int64_t x, int64_t y, int uns, int64_t *r)                                 \
    {                                                                                              \
        uint64_t ux = (uint64_t)x, uy = (uint64_t)y;                                               \
        (void)uns, (void)ux, (void)uy;                                                             \
        *r = (int64_t)(expr);                                                                      \
        return 0;                                                                                  \
    }

/* min/max propagate NaN like numpy's minimum/maximum (fmin/fmax would drop it). */
BINARY(add, x + y)
BINARY(sub, x - y)
BINARY(mul, x * y)
BINARY(div, x / y)
BINARY(pow, pow(x, y))
BINARY(min, isnan(x) || isnan(y) ? x + y : x < y ? x : y)
BINARY(max, isnan(x) || isnan(y) ? x + y : x > y ? x : y)
BINARY(prelu, x < 0 ? x * y : x)
BINARY_D(fmod, fmod(x, y))
BINARY_D(eq, x == y)
BINARY_D(lt, x < y)
BINARY_D(gt, x > y)
BINARY_D(le, x <= y)
BINARY_D(ge, x >= y)

BINARY_I(add, ux + uy)
BINARY_I(sub, ux - uy)
BINARY_I(mul, ux * uy)
BINARY_I(min, lt(y, x, uns) ? y : x)
BINARY_I(max, lt(x, y, uns) ? y : x)
BINARY_I(prelu, !(uns & 1) && x < 0 ? ux * uy : ux)
BINARY_I(eq, x == y)
BINARY_I(lt, lt(x, y, uns))
BINARY_I(gt, lt(y, x, uns))
BINARY_I(le, !lt(y, x, uns))
BINARY_I(ge, !lt(x, y, uns))
BINARY_I(and, x && y)
BINARY_I(or, x || y)
BINARY_I(xor, !x != !y)
BINARY_I(band, ux & uy)
BINARY_I(bor, ux | uy)
BINARY_I(bxor, ux ^ uy)
/* Unsigned only; shifting out every bit gives 0, as numpy does (C leaves it undefined). */
BINARY_I(shl, uy >= 64 ? 0 : ux << uy)
BINARY_I(shr, uy >= 64 ? 0 : ux >> uy)

/* ONNX integer Div truncates toward zero; INT64_MIN / -1 wraps instead of trapping. */
static int div_i(int64_t x, int64_t y, int uns, int64_t *r)
{
    if (y == 0)
        return -1;
    if (uns & 1)
        *r = (int64_t)((uint64_t)x / (uint64_t)y);
    else
        *r = y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y;
    return 0;
}

/* Mod with fmod=1: the sign of the dividend, like C's %. */
static int cmod_i(int64_t x, int64_t y, int uns, int64_t *r)
{
    if (y == 0)
        return -1;
    if (uns & 1)
        *r = (int64_t)((uint64_t)x % (uint64_t)y);
    else
        *r = y == -1 ? 0 : x % y;
    return 0;
}

/* Mod with fmod=0: the sign of the divisor, like Python's %. */
static int mod_i(int64_t x, int64_t y, int uns, int64_t *r)
{
    if (cmod_i(x, y, uns, r))
        return -1;
    if (!(uns & 1) && *r != 0 && (*r < 0) != (y < 0))
        *r += y;
    return 0;
}

/* Integer power by squaring (wrapping). A negative exponent has an integer result
 * only for bases 1 and -1; other bases truncate toward 0. */
static int pow_i(int64_t x, int64_t y, int uns, int64_t *r)
{
    if (!(uns & 2) && y < 0) {
        *r = x == 1 ? 1 : (x == -1 && !(uns & 1)) ? ((y & 1) ? -1 : 1) : 0;
        return 0;
    }
    uint64_t base = (uint64_t)x, e = (uint64_t)y, acc = 1;
    while (e) {
        if (e & 1)
            acc *= base;
        base *= base;
        e >>= 1;
    }
    *r = (int64_t)acc;
    return 0;
}

static const binop binops[] = {
    {"Add", T_NUM, 0, add_d, add_f, add_i},
    {"Sub", T_NUM, 0, sub_d, sub_f, sub_i},
    {"Mul", T_NUM, 0, mul_d, mul_f, mul_i},
    {"Div", T_NUM, 0, div_d, div_f, div_i},
    {"Pow", T_NUM, B_MIXED, pow_d, pow_f, pow_i},
    {"PRelu", T_F | T_INT, B_UNI, prelu_d, prelu_f, prelu_i},
    {"Mod(fmod)", T_NUM, 0, fmod_d, NULL, cmod_i},
    {"Mod", T_INT, 0, NULL, NULL, mod_i},
    {"BitShift(left)", T_UI, 0, NULL, NULL, shl_i},
    {"BitShift(right)", T_UI, 0, NULL, NULL, shr_i},
    {"And", T_B, B_BOOL_OUT, NULL, NULL, and_i},
    {"Or", T_B, B_BOOL_OUT, NULL, NULL, or_i},
    {"Xor", T_B, B_BOOL_OUT, NULL, NULL, xor_i},
    {"BitwiseAnd", T_INT, 0, NULL, NULL, band_i},
    {"BitwiseOr", T_INT, 0, NULL, NULL, bor_i},
    {"BitwiseXor", T_INT, 0, NULL, NULL, bxor_i},
    {"Equal", T_NUM | T_B, B_BOOL_OUT, eq_d, NULL, eq_i},
    {"Less", T_NUM, B_BOOL_OUT, lt_d, NULL, lt_i},
    {"Greater", T_NUM, B_BOOL_OUT, gt_d, NULL, gt_i},
    {"LessOrEqual", T_NUM, B_BOOL_OUT, le_d, NULL, le_i},
    {"GreaterOrEqual", T_NUM, B_BOOL_OUT, ge_d, NULL, ge_i},
    /* variadic */
    {"Min", T_NUM, 0, min_d, min_f, min_i},
    {"Max", T_NUM, 0, max_d, max_f, max_i},
    {"Sum", T_F, 0, add_d, add_f, NULL},
    {"Mean", T_F, 0, add_d, add_f, NULL},
};

static const binop *find_binop(const char *name)
{
    for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++)
        if (strcmp(binops[i].name, name) == 0)
            return &binops[i];
    return NULL;
}

/* o = op(a, b), with a and b broadcast to o's (already allocated) shape. o may be a. */
static int bin_apply(fy__op_ctx *c, const binop *op, const fy_tensor *a, const fy_tensor *b,
                     fy_tensor *o)
{
    const fy_tensor *t[3] = {o, a, b};
    walk w;
    walk_init(&w, 3, t);
    int fast = op->ff && a->dtype == FY_DTYPE_F32 && b->dtype == FY_DTYPE_F32 &&
               o->dtype == FY_DTYPE_F32;
    int exact = op->fi && !fy__dtype_is_float(a->dtype) && !fy__dtype_is_float(b->dtype);
    int uns = (dclass(a->dtype) == T_UI) | (dclass(b->dtype) == T_UI) << 1;
    int64_t so = w.inner[0], sa = w.inner[1], sb = w.inner[2];
    for (int64_t row = 0; row < w.rows; row++, fy__iter_next(&w.it)) {
        int64_t oo = w.it.off[0], oa = w.it.off[1], ob = w.it.off[2];
        if (fast) {
            op->ff((const float *)a->data + oa, sa, (const float *)b->data + ob, sb,
                   (float *)o->data + oo, w.n);
            continue;
        }
        for (int64_t i = 0; i < w.n; i++) {
            int64_t ia = oa + i * sa, ib = ob + i * sb, io = oo + i * so;
            if (!exact) {
                fy__set_f64(o, io, op->fd(fy__get_f64(a, ia), fy__get_f64(b, ib)));
                continue;
            }
            int64_t r;
            if (op->fi(fy__get_i64(a, ia), fy__get_i64(b, ib), uns, &r))
                return fy__op_fail(c, FY_EINVAL, "integer division by zero (input 1 has a 0)");
            fy__set_i64(o, io, r);
        }
    }
    return FY_OK;
}

/* Opset < 7 broadcasting: with broadcast=1 and `axis`, B's dims line up with A's
 * starting at axis; PRelu-6 applies a 1-D slope along the channel axis 1. View B
 * with trailing 1s so numpy alignment puts it there. */
static int legacy_view(fy__op_ctx *c, const binop *op, const fy_tensor *a, const fy_tensor *b,
                       fy_tensor *view)
{
    *view = *b;
    int64_t axis;
    if (c->opset >= 7)
        return FY_OK;
    if (op->flags & B_UNI) {
        if (b->rank != 1 || a->rank < 2 || b->dims[0] == 1)
            return FY_OK;
        axis = 1;
    } else {
        if (fy__attr_int(c->node, "broadcast", 0) == 0 || !fy__attr_find(c->node, "axis"))
            return FY_OK;
        axis = fy__axis(c, fy__attr_int(c->node, "axis", 0), a->rank, 0);
        if (axis < 0)
            return (int)axis;
    }
    if (axis + b->rank > a->rank)
        return fy__op_fail(c, FY_EINVAL, "input 1 of rank %d does not fit input 0 of rank %d at "
                           "axis %d", b->rank, a->rank, (int)axis);
    view->rank = a->rank - (int)axis;
    for (int i = b->rank; i < view->rank; i++)
        view->dims[i] = 1;
    return FY_OK;
}

static int binary_run(fy__op_ctx *c, const binop *op)
{
    int rc = need(c, 2);
    if (rc || (rc = check_dtype(c, 0, op->accept)))
        return rc;
    if ((op->flags & B_MIXED) ? (rc = check_dtype(c, 1, T_NUM)) : (rc = same_dtype(c, 0, 1)))
        return rc;
    const fy_tensor *a = c->in[0];
    fy_tensor b;
    if ((rc = legacy_view(c, op, a, c->in[1], &b)))
        return rc;
    const fy_tensor *ab[2] = {a, &b};
    int rank;
    int64_t dims[FY_MAX_RANK];
    if ((rc = fy__broadcast(c, 2, ab, &rank, dims)))
        return rc;
    if ((op->flags & B_UNI) &&
        (rank != a->rank || memcmp(dims, a->dims, sizeof(int64_t) * (size_t)rank) != 0))
        return fy__op_fail(c, FY_EINVAL, "input 1 must broadcast to the shape of input 0");
    fy_dtype odt = (op->flags & B_BOOL_OUT) ? FY_DTYPE_BOOL : a->dtype;
    if ((rc = fy_tensor_alloc(&c->out[0], odt, rank, dims, c->diag)))
        return rc;
    return bin_apply(c, op, a, &b, &c->out[0]);
}

static int op_binary(fy__op_ctx *c)
{
    const binop *op = find_binop(c->node->op_type);
    if (!op)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no binary kernel named %s", c->node->op_type);
    return binary_run(c, op);
}

static int op_mod(fy__op_ctx *c)
{
    int64_t fm = fy__attr_int(c->node, "fmod", 0);
    if (fm != 0 && fm != 1)
        return fy__op_fail(c, FY_EINVAL, "attribute fmod is %lld, expected 0 or 1", (long long)fm);
    if (fm == 0 && c->n_in > 0 && c->in[0] && fy__dtype_is_float(c->in[0]->dtype))
        return fy__op_fail(c, FY_EINVAL, "attribute fmod must be 1 for %s inputs",
                           fy_dtype_name(c->in[0]->dtype));
    return binary_run(c, find_binop(fm ? "Mod(fmod)" : "Mod"));
}

static int op_bitshift(fy__op_ctx *c)
{
    const char *d = fy__attr_str(c->node, "direction", "");
    if (strcmp(d, "LEFT") != 0 && strcmp(d, "RIGHT") != 0)
        return fy__op_fail(c, FY_EINVAL, "attribute direction is '%s', expected LEFT or RIGHT", d);
    return binary_run(c, find_binop(d[0] == 'L' ? "BitShift(left)" : "BitShift(right)"));
}

/* Min, Max, Sum, Mean: fold the inputs pairwise into the output, which already has
 * the broadcast shape of all of them. */
static int op_variadic(fy__op_ctx *c)
{
    const binop *op = find_binop(c->node->op_type);
    if (!op)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no variadic kernel named %s", c->node->op_type);
    int rc = need(c, c->n_in > 0 ? c->n_in : 1);
    if (rc || (rc = check_dtype(c, 0, op->accept)))
        return rc;
    for (int i = 1; i < c->n_in; i++)
        if ((rc = same_dtype(c, 0, i)))
            return rc;
    int rank;
    int64_t dims[FY_MAX_RANK];
    if ((rc = fy__broadcast(c, c->n_in, c->in, &rank, dims)))
        return rc;
    fy_tensor *o = &c->out[0];
    if ((rc = fy_tensor_alloc(o, c->in[0]->dtype, rank, dims, c->diag)))
        return rc;
    if (c->n_in == 1) {
        memcpy(o->data, c->in[0]->data, fy_tensor_nbytes(o));
        return FY_OK;
    }
    for (int i = 1; i < c->n_in; i++)
        if ((rc = bin_apply(c, op, i == 1 ? c->in[0] : o, c->in[i], o)))
            return rc;
    if (strcmp(op->name, "Mean") == 0) {
        int64_t n = fy_tensor_numel(o);
        if (o->dtype == FY_DTYPE_F32)
            for (int64_t i = 0; i < n; i++)
                ((float *)o->data)[i] /= (float)c->n_in;
        else
            for (int64_t i = 0; i < n; i++)
                fy__set_f64(o, i, fy__get_f64(o, i) / c->n_in);
    }
    return FY_OK;
}

/* ---- Where, Cast, Clip, Identity, Dropout ---- */

static int op_where(fy__op_ctx *c)
{
    int rc = need(c, 3);
    if (rc)
        return rc;
    if (c->in[0]->dtype != FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EINVAL, "input 0 (condition) must be bool, got %s",
                           fy_dtype_name(c->in[0]->dtype));
    if ((rc = same_dtype(c, 1, 2)))
        return rc;
    size_t es = fy_dtype_size(c->in[1]->dtype);
    if (!es)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 1: dtype %s is not supported",
                           fy_dtype_name(c->in[1]->dtype));
    int rank;
    int64_t dims[FY_MAX_RANK];
    if ((rc = fy__broadcast(c, 3, c->in, &rank, dims)))
        return rc;
    fy_tensor *o = &c->out[0];
    if ((rc = fy_tensor_alloc(o, c->in[1]->dtype, rank, dims, c->diag)))
        return rc;
    const fy_tensor *t[4] = {o, c->in[0], c->in[1], c->in[2]};
    walk w;
    walk_init(&w, 4, t);
    const uint8_t *cond = c->in[0]->data;
    for (int64_t row = 0; row < w.rows; row++, fy__iter_next(&w.it))
        for (int64_t i = 0; i < w.n; i++) {
            int64_t io = w.it.off[0] + i * w.inner[0], ic = w.it.off[1] + i * w.inner[1];
            int k = cond[ic] ? 2 : 3;
            fy__copy_elem(o, io, t[k], w.it.off[k] + i * w.inner[k]);
        }
    return FY_OK;
}

static int cast_run(fy__op_ctx *c, int64_t to)
{
    int rc = need(c, 1);
    if (rc || (rc = check_dtype(c, 0, T_NUM | T_B)))
        return rc;
    if (to <= 0 || to > 23)
        return fy__op_fail(c, FY_EINVAL, "target dtype %lld is not an ONNX data type",
                           (long long)to);
    fy_dtype dt = (fy_dtype)to;
    if (!dclass(dt))
        return fy__op_fail(c, FY_EUNSUPPORTED, "casting to %s (%lld) is not supported",
                           fy_dtype_name(dt), (long long)to);
    const fy_tensor *x = c->in[0];
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, dt, x->rank, x->dims, c->diag)))
        return rc;
    int64_t n = fy_tensor_numel(x);
    if (dt == x->dtype)
        memcpy(y->data, x->data, fy_tensor_nbytes(y));
    else if (!fy__dtype_is_float(dt) && !fy__dtype_is_float(x->dtype))
        for (int64_t i = 0; i < n; i++) /* exact, wrapping like numpy's astype */
            fy__set_i64(y, i, fy__get_i64(x, i));
    else
        for (int64_t i = 0; i < n; i++)
            fy__set_f64(y, i, fy__get_f64(x, i));
    return FY_OK;
}

static int op_cast(fy__op_ctx *c)
{
    if (!fy__attr_find(c->node, "to"))
        return fy__op_fail(c, FY_EINVAL, "attribute 'to' is missing");
    return cast_run(c, fy__attr_int(c->node, "to", 0));
}

static int op_castlike(fy__op_ctx *c)
{
    int rc = need(c, 2);
    return rc ? rc : cast_run(c, c->in[1]->dtype);
}

/* Clip: bounds are attributes before opset 11, optional scalar inputs after. */
static int op_clip(fy__op_ctx *c)
{
    int rc = need(c, 1);
    if (rc || (rc = check_dtype(c, 0, c->opset < 12 ? T_F : T_NUM)))
        return rc;
    const fy_tensor *x = c->in[0];
    double lo = -INFINITY, hi = INFINITY;
    int64_t ilo = 0, ihi = 0;
    int has[2] = {0, 0};
    if (c->opset < 11) {
        lo = fy__attr_float(c->node, "min", -INFINITY);
        hi = fy__attr_float(c->node, "max", INFINITY);
    } else {
        for (int k = 1; k <= 2; k++) {
            const fy_tensor *b = k < c->n_in ? c->in[k] : NULL;
            if (!b)
                continue;
            if ((rc = same_dtype(c, 0, k)))
                return rc;
            if (fy_tensor_numel(b) != 1)
                return fy__op_fail(c, FY_EINVAL, "input %d (%s) must be a scalar, has %lld "
                                   "elements", k, k == 1 ? "min" : "max",
                                   (long long)fy_tensor_numel(b));
            has[k - 1] = 1;
            if (k == 1)
                lo = fy__get_f64(b, 0), ilo = fy__get_i64(b, 0);
            else
                hi = fy__get_f64(b, 0), ihi = fy__get_i64(b, 0);
        }
    }
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    int64_t n = fy_tensor_numel(x);
    int uns = dclass(x->dtype) == T_UI;
    /* max(x, lo) then min(., hi): when min > max every value becomes max, as the spec says */
    if (x->dtype == FY_DTYPE_F32) {
        float flo = (float)lo, fhi = (float)hi;
        const float *px = x->data;
        float *py = y->data;
        for (int64_t i = 0; i < n; i++) {
            float v = px[i] < flo ? flo : px[i];
            py[i] = v > fhi ? fhi : v;
        }
    } else if (!fy__dtype_is_float(x->dtype)) {
        for (int64_t i = 0; i < n; i++) {
            int64_t v = fy__get_i64(x, i);
            if (has[0] && lt(v, ilo, uns))
                v = ilo;
            if (has[1] && lt(ihi, v, uns))
                v = ihi;
            fy__set_i64(y, i, v);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = fy__get_f64(x, i);
            v = v < lo ? lo : v;
            fy__set_f64(y, i, v > hi ? hi : v);
        }
    }
    return FY_OK;
}

static int op_identity(fy__op_ctx *c)
{
    int rc = need(c, 1);
    if (rc)
        return rc;
    if (!fy_dtype_size(c->in[0]->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0: dtype %s is not supported",
                           fy_dtype_name(c->in[0]->dtype));
    return fy_tensor_copy(&c->out[0], c->in[0], c->diag);
}

/* Inference Dropout is the identity. Opset 12 moved ratio and training_mode to inputs;
 * training with ratio > 0 is random, so ferry refuses it. The mask is bool from
 * opset 10, the input's dtype before; it is all true (nothing dropped). */
static int op_dropout(fy__op_ctx *c)
{
    int rc = need(c, 1);
    if (rc || (rc = check_dtype(c, 0, T_F)))
        return rc;
    double ratio = 0.5;
    int training = 0;
    if (c->opset >= 12) {
        const fy_tensor *r = c->n_in > 1 ? c->in[1] : NULL;
        const fy_tensor *t = c->n_in > 2 ? c->in[2] : NULL;
        if (r) {
            if (!fy__dtype_is_float(r->dtype) || fy_tensor_numel(r) != 1)
                return fy__op_fail(c, FY_EINVAL, "input 1 (ratio) must be a float scalar");
            ratio = fy__get_f64(r, 0);
        }
        if (t) {
            if (t->dtype != FY_DTYPE_BOOL || fy_tensor_numel(t) != 1)
                return fy__op_fail(c, FY_EINVAL, "input 2 (training_mode) must be a bool scalar");
            training = fy__get_i64(t, 0) != 0;
        }
    } else {
        ratio = fy__attr_float(c->node, "ratio", 0.5f);
    }
    if (!(ratio >= 0 && ratio < 1))
        return fy__op_fail(c, FY_EINVAL, "ratio %g is outside [0, 1)", ratio);
    if (training && ratio > 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "training_mode with ratio %g is random", ratio);
    if ((rc = fy_tensor_copy(&c->out[0], c->in[0], c->diag)))
        return rc;
    if (c->n_out < 2)
        return FY_OK;
    const fy_tensor *x = c->in[0];
    fy_tensor *m = &c->out[1];
    if ((rc = fy_tensor_alloc(m, c->opset >= 10 ? FY_DTYPE_BOOL : x->dtype, x->rank, x->dims,
                              c->diag)))
        return rc;
    for (int64_t i = 0, n = fy_tensor_numel(m); i < n; i++)
        fy__set_i64(m, i, 1);
    return FY_OK;
}

const fy__op_def fy__ops_elementwise[] = {
    {"Abs", "", op_unary},
    {"Neg", "", op_unary},
    {"Sqrt", "", op_unary},
    {"Reciprocal", "", op_unary},
    {"Exp", "", op_unary},
    {"Log", "", op_unary},
    {"Erf", "", op_unary},
    {"Tanh", "", op_unary},
    {"Sigmoid", "", op_unary},
    {"Relu", "", op_unary},
    {"LeakyRelu", "", op_unary},
    {"Elu", "", op_unary},
    {"Selu", "", op_unary},
    {"Celu", "", op_unary},
    {"HardSigmoid", "", op_unary},
    {"HardSwish", "", op_unary},
    {"Softplus", "", op_unary},
    {"Softsign", "", op_unary},
    {"ThresholdedRelu", "", op_unary},
    {"Shrink", "", op_unary},
    {"Floor", "", op_unary},
    {"Ceil", "", op_unary},
    {"Round", "", op_unary},
    {"Sign", "", op_unary},
    {"Sin", "", op_unary},
    {"Cos", "", op_unary},
    {"Tan", "", op_unary},
    {"Asin", "", op_unary},
    {"Acos", "", op_unary},
    {"Atan", "", op_unary},
    {"Sinh", "", op_unary},
    {"Cosh", "", op_unary},
    {"Asinh", "", op_unary},
    {"Acosh", "", op_unary},
    {"Atanh", "", op_unary},
    {"IsNaN", "", op_unary},
    {"IsInf", "", op_unary},
    {"Not", "", op_unary},
    {"BitwiseNot", "", op_unary},
    {"Gelu", "", op_gelu},
    {"Gelu", "com.microsoft", op_gelu_ms},
    {"Add", "", op_binary},
    {"Sub", "", op_binary},
    {"Mul", "", op_binary},
    {"Div", "", op_binary},
    {"Pow", "", op_binary},
    {"PRelu", "", op_binary},
    {"And", "", op_binary},
    {"Or", "", op_binary},
    {"Xor", "", op_binary},
    {"BitwiseAnd", "", op_binary},
    {"BitwiseOr", "", op_binary},
    {"BitwiseXor", "", op_binary},
    {"Equal", "", op_binary},
    {"Less", "", op_binary},
    {"Greater", "", op_binary},
    {"LessOrEqual", "", op_binary},
    {"GreaterOrEqual", "", op_binary},
    {"Mod", "", op_mod},
    {"BitShift", "", op_bitshift},
    {"Min", "", op_variadic},
    {"Max", "", op_variadic},
    {"Sum", "", op_variadic},
    {"Mean", "", op_variadic},
    {"Where", "", op_where},
    {"Cast", "", op_cast},
    {"CastLike", "", op_castlike},
    {"Clip", "", op_clip},
    {"Identity", "", op_identity},
    {"Dropout", "", op_dropout},
    {NULL, NULL, NULL},
};
