/* SPDX-License-Identifier: MIT */
/* OpenAI-compatible endpoints for GGUF language models: GET /v1/models,
 * POST /v1/completions and /v1/chat/completions, plain JSON or Server-Sent Events,
 * on the continuous-batching scheduler of src/llm; request checks, chat templates,
 * client-gone detection and the LLM metrics. http.c routes here (docs/llm.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "core/core.h"
#include "ferry/package.h"
#include "llm/llm_int.h"
#include "serve/serve_int.h"

#define OAI_NAME_MAX 128
#define OAI_MAX_MESSAGES 1024
#define OAI_MAX_PROMPT_BYTES ((size_t)1 << 20)
#define OAI_MAX_STOP_BYTES 256
#define OAI_HIST_N 14

/* Buckets in seconds for time to first token and inter-token latency. */
static const double hist_le[OAI_HIST_N] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                           0.25,  0.5,    1,     2.5,  5,     10,   30};

typedef struct hist {
    atomic_ullong b[OAI_HIST_N + 1];
    atomic_ullong count;
    atomic_ullong sum_ns;
} hist;

static void hist_add(hist *h, double s)
{
    int i = 0;
    while (i < OAI_HIST_N && s > hist_le[i])
        i++;
    atomic_fetch_add(&h->b[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (unsigned long long)(s > 0 ? s * 1e9 : 0));
}

enum { TMPL_PLAIN, TMPL_CHATML, TMPL_LLAMA2, TMPL_LLAMA3, TMPL_ZEPHYR };
static const char *const tmpl_names[] = {"plain", "chatml", "llama2", "llama3", "zephyr"};

enum { OUT_OK, OUT_CLIENT_ERROR, OUT_REJECTED, OUT_CANCELLED, OUT_ERROR, OUT_N };
static const char *const out_names[] = {"success", "client_error", "rejected", "cancelled",
                                        "error"};

typedef struct oai_model {
    char name[OAI_NAME_MAX + 1];
    fy_llm *m;
    fy_package *pkg; /* a packaged model's bytes (the model borrows them); else NULL */
    llm_sched *sched;
    int tmpl, add_bos;
    int64_t created;
    atomic_ullong prompt_tokens, gen_tokens, requests[OUT_N];
    hist ttft, itl;
} oai_model;

struct fy__oai {
    fy__oai_opts o;
    oai_model *models;
    int n;
    atomic_ullong next_id;
};

/* ---- one request ---- */

typedef struct oai_req {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    oai_model *om;
    int chat, stream, include_usage, fd;
    char id[48];
    int64_t created;
    /* non-streaming: the text; streaming: SSE bytes not yet read */
    char *buf;
    size_t len, cap, off;
    int done, rc, cancel, gone, waiting, alloc_failed;
    char err[256];
    fy_gen_stats st;
    double t_start, t_last;
    /* the consumer's wake-up (http.c): suspend in read, resume from the producer */
    void (*suspend)(void *), (*resume)(void *);
    void *wake_ctx;
} oai_req;

static void req_release(oai_req *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    fy__free(q->buf);
    fy__free(q);
}

/* Append under q->mu. */
static void append(oai_req *q, const char *s, size_t n)
{
    if (q->alloc_failed)
        return;
    if (q->len + n + 1 > q->cap) {
        size_t nc = (q->len + n + 1) * 2 + 256;
        char *nb = fy__realloc(q->buf, nc);
        if (!nb) {
            q->alloc_failed = 1;
            return;
        }
        q->buf = nb;
        q->cap = nc;
    }
    memcpy(q->buf + q->len, s, n);
    q->len += n;
    q->buf[q->len] = 0;
}

/* Under q->mu: let a suspended reader run again. */
static void wake_reader(oai_req *q)
{
    if (q->waiting && !q->gone && q->resume) {
        q->waiting = 0;
        q->resume(q->wake_ctx);
    }
    pthread_cond_broadcast(&q->cv);
}

/* A closed client: a peek at its socket reads end-of-file or fails. Only used while
 * the connection is suspended (its descriptor cannot be reused meanwhile). */
static int peer_closed(int fd)
{
    if (fd < 0)
        return 0;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void sse_event(oai_req *q, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s) {
        q->alloc_failed = 1;
        return;
    }
    append(q, "data: ", 6);
    append(q, s, strlen(s));
    append(q, "\n\n", 2);
    free(s);
}

static json_t *chunk_base(oai_req *q)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", q->id, "object",
                     q->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)q->created, "model", q->om->name);
}

static json_t *usage_obj(const fy_gen_stats *st)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)st->prompt_tokens,
                     "completion_tokens", (int)st->gen_tokens, "total_tokens",
                     (int)(st->prompt_tokens + st->gen_tokens));
}

static void sse_delta(oai_req *q, const char *text, size_t len, const char *finish)
{
    json_t *c = chunk_base(q), *choice;
    json_t *t = json_stringn_nocheck(text, len);
    if (q->chat) {
        json_t *delta = json_object();
        if (len)
            json_object_set_new(delta, "content", t);
        else
            json_decref(t);
        choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                           finish ? json_string(finish) : json_null());
    } else {
        choice = json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "text", t, "logprobs",
                           "finish_reason", finish ? json_string(finish) : json_null());
    }
    json_object_set_new(c, "choices", json_pack("[o]", choice));
    sse_event(q, c);
}

/* Text from the scheduler thread. */
static int on_text(void *ctx, int32_t id, const char *text, size_t len)
{
    oai_req *q = ctx;
    double now = fy__llm_now();
    if (id >= 0) {
        if (q->st.gen_tokens == 0 && q->t_last == 0)
            hist_add(&q->om->ttft, now - q->t_start);
        else if (q->t_last > 0)
            hist_add(&q->om->itl, now - q->t_last);
        q->t_last = now;
        q->st.gen_tokens++;
    }
    pthread_mutex_lock(&q->mu);
    int stop = q->cancel || q->gone;
    if (!stop && len) {
        if (q->stream) {
            /* invalid UTF-8 (a model emitting odd bytes) becomes U+FFFD, JSON stays valid */
            char *clean = NULL;
            json_t *probe = json_stringn(text, len);
            if (probe) {
                json_decref(probe);
            } else {
                clean = fy__malloc(len * 3 + 1);
                size_t o = 0;
                for (size_t i = 0; clean && i < len; i++) {
                    if ((unsigned char)text[i] < 0x80) {
                        clean[o++] = text[i];
                    } else {
                        memcpy(clean + o, "\xef\xbf\xbd", 3);
                        o += 3;
                    }
                }
                if (clean) {
                    text = clean;
                    len = o;
                }
            }
            sse_delta(q, text, len, NULL);
            fy__free(clean);
            wake_reader(q);
        } else {
            append(q, text, len);
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (!stop && !q->stream)
        stop = peer_closed(q->fd);
    return stop;
}

static void on_done(void *ctx, const fy_gen_stats *st, int rc, const char *err)
{
    oai_req *q = ctx;
    oai_model *om = q->om;
    atomic_fetch_add(&om->prompt_tokens, st->prompt_tokens);
    atomic_fetch_add(&om->gen_tokens, st->gen_tokens);
    int cancelled = st->finish_reason && strcmp(st->finish_reason, "cancelled") == 0;
    atomic_fetch_add(&om->requests[rc ? OUT_ERROR : cancelled ? OUT_CANCELLED : OUT_OK], 1);
    pthread_mutex_lock(&q->mu);
    q->st = *st;
    q->rc = rc;
    if (err)
        snprintf(q->err, sizeof q->err, "%s", err);
    if (q->stream && !q->gone) {
        if (rc) {
            sse_event(q, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                                   q->err[0] ? q->err : "generation failed", "type", "server_error",
                                   "param", "code"));
        } else {
            sse_delta(q, "", 0, cancelled ? "stop" : st->finish_reason);
            if (q->include_usage) {
                json_t *c = chunk_base(q);
                json_object_set_new(c, "choices", json_array());
                json_object_set_new(c, "usage", usage_obj(st));
                sse_event(q, c);
            }
        }
        append(q, "data: [DONE]\n\n", 14);
    }
    q->done = 1;
    wake_reader(q);
    pthread_mutex_unlock(&q->mu);
    req_release(q);
}

/* ---- the stream as http.c reads it ---- */

void fy__oai_stream_attach(fy__oai_stream *st, void (*suspend)(void *), void (*resume)(void *),
                           void *ctx)
{
    oai_req *q = (oai_req *)st;
    pthread_mutex_lock(&q->mu);
    q->suspend = suspend;
    q->resume = resume;
    q->wake_ctx = ctx;
    pthread_mutex_unlock(&q->mu);
}

long fy__oai_stream_read(fy__oai_stream *st, char *buf, size_t max)
{
    oai_req *q = (oai_req *)st;
    long n;
    pthread_mutex_lock(&q->mu);
    if (q->off < q->len) {
        size_t k = q->len - q->off < max ? q->len - q->off : max;
        memcpy(buf, q->buf + q->off, k);
        q->off += k;
        if (q->off == q->len)
            q->off = q->len = 0; /* everything read: reuse the buffer from the start */
        n = (long)k;
    } else if (q->done || q->alloc_failed || q->gone) {
        n = -1;
    } else {
        /* nothing yet: suspend under the lock, so the producer's resume (also under
         * it) cannot come first and be lost */
        q->waiting = 1;
        if (q->suspend)
            q->suspend(q->wake_ctx);
        n = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void fy__oai_stream_retain(fy__oai_stream *st)
{
    atomic_fetch_add(&((oai_req *)st)->refs, 1);
}

void fy__oai_stream_close(fy__oai_stream *st)
{
    oai_req *q = (oai_req *)st;
    pthread_mutex_lock(&q->mu);
    q->gone = 1;
    if (q->waiting && q->resume) {
        q->waiting = 0;
        q->resume(q->wake_ctx);
    }
    q->resume = NULL;
    pthread_mutex_unlock(&q->mu);
}

void fy__oai_stream_release(fy__oai_stream *st)
{
    oai_req *q = (oai_req *)st;
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->gone = 1; /* the response is gone: generation stops at the next token */
    q->waiting = 0;
    q->resume = NULL;
    pthread_mutex_unlock(&q->mu);
    req_release(q);
}

/* ---- errors in OpenAI's shape ---- */

static void set_err(fy__oai_result *r, int status, const char *type, const char *param,
                    const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void set_err(fy__oai_result *r, int status, const char *type, const char *param,
                    const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char clean[512];
    fy__serve_ascii(clean, sizeof clean, msg);
    r->status = status;
    r->retry_after = status == 429 || status == 503;
    fy__oai_error_body(clean, type, param, code, &r->body, &r->len);
}

int fy__oai_error_body(const char *message, const char *type, const char *param, const char *code,
                       char **body, size_t *len)
{
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type,
                          "param", param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    char *s = e ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(e);
    if (!s) {
        *body = NULL;
        *len = 0;
        return FY_ENOMEM;
    }
    size_t n = strlen(s);
    *body = fy__malloc(n + 1);
    if (*body)
        memcpy(*body, s, n + 1);
    free(s);
    *len = *body ? n : 0;
    return *body ? FY_OK : FY_ENOMEM;
}

static void set_json_body(fy__oai_result *r, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (!s) {
        set_err(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    size_t n = strlen(s);
    r->body = fy__malloc(n + 1);
    if (r->body)
        memcpy(r->body, s, n + 1);
    free(s);
    r->len = r->body ? n : 0;
    r->status = r->body ? 200 : 503;
}

/* ---- models ---- */

static oai_model *find_model(fy__oai *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->models[i].name, name) == 0)
            return &o->models[i];
    return NULL;
}

int fy__oai_count(const fy__oai *o)
{
    return o ? o->n : 0;
}

void fy__oai_models(fy__oai *o, fy__oai_result *r)
{
    json_t *data = json_array();
    for (int i = 0; o && i < o->n; i++) {
        const fy_llm_info *in = fy_llm_info_get(o->models[i].m);
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s, s:i, s:s}", "id",
                                              o->models[i].name, "object", "model", "created",
                                              (json_int_t)o->models[i].created, "owned_by", "ferry",
                                              "context_length", (int)in->ctx, "chat_template",
                                              tmpl_names[o->models[i].tmpl]));
    }
    set_json_body(r, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* The chat template a GGUF declares, recognized by its markers; unknown or absent
 * templates get the plain one ("User: ...\nAssistant:"; docs/llm.md). */
static int detect_template(const fy_gguf *g)
{
    fy_gguf_str t;
    if (fy_gguf_get_str(g, "tokenizer.chat_template", &t, NULL) != FY_OK)
        return TMPL_PLAIN;
#define HAS(s) (memmem(t.ptr, (size_t)t.len, s, strlen(s)) != NULL)
    if (HAS("<|start_header_id|>"))
        return TMPL_LLAMA3;
    if (HAS("<|im_start|>"))
        return TMPL_CHATML;
    if (HAS("[INST]"))
        return TMPL_LLAMA2;
    if (HAS("<|user|>"))
        return TMPL_ZEPHYR;
#undef HAS
    return TMPL_PLAIN;
}

void fy__oai_free(fy__oai *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n; i++) {
        fy__llm_sched_free(o->models[i].sched);
        fy_llm_free(o->models[i].m);
        fy_package_free(o->models[i].pkg);
    }
    fy__free(o->models);
    fy__free(o);
}

static void stem(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = strlen(b);
    if (l > 5 && strcmp(b + l - 5, ".gguf") == 0)
        l -= 5;
    size_t o = 0;
    for (size_t i = 0; i < l && o + 1 < n; i++) {
        char c = b[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[o++] = ok ? c : '_';
    }
    out[o] = 0;
    if (!o)
        snprintf(out, n, "model");
}

/* A package whose model is GGUF: the signature policy, then the model straight from
 * the package's bytes (no copy); named by the manifest. */
static int load_package(oai_model *om, const char *path, const fy_llm_opts *lo,
                        const char *trusted_key, fy_diag *d)
{
    fy_package *p = NULL;
    int rc = fy_package_open(&p, path, d);
    if (rc)
        return rc;
    if (trusted_key) {
        fy_sig_status st = FY_SIG_NONE;
        fy_diag vd = {{0}};
        if ((rc = fy_package_verify_signature(p, trusted_key, &st, NULL, &vd)) != FY_OK) {
            fy__diag_set(d, rc, "%s: signature check: %s", path, vd.msg);
            goto fail;
        }
        if (st != FY_SIG_VALID) {
            rc = fy__diag_set(d, FY_EINVAL, "%s: refused by the signature policy: the package is %s",
                              path,
                              st == FY_SIG_NONE        ? "unsigned"
                              : st == FY_SIG_INVALID   ? "signed, but the signature does not verify"
                                                       : "signed by a key that is not trusted");
            goto fail;
        }
    }
    if ((rc = fy_package_load_llm(p, &om->m, lo, d)) != FY_OK) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
        fy__diag_set(d, rc, "%s: %s", path, msg);
        goto fail;
    }
    snprintf(om->name, sizeof om->name, "%s", fy_package_manifest(p)->name);
    om->pkg = p;
    return FY_OK;
fail:
    fy_package_free(p);
    return rc;
}

int fy__oai_create(fy__oai **out, const char *const *paths, int n, const fy__oai_opts *opts,
                   fy_diag *d)
{
    fy__oai *o = fy__calloc(1, sizeof *o);
    if (!o)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    if (opts)
        o->o = *opts;
    if (!o->o.max_tokens)
        o->o.max_tokens = 1024;
    if (!o->o.parallel)
        o->o.parallel = 4;
    if (!o->o.queue)
        o->o.queue = 64;
    o->models = fy__calloc((size_t)(n > 0 ? n : 1), sizeof *o->models);
    if (!o->models) {
        fy__oai_free(o);
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        oai_model *om = &o->models[i];
        fy_llm_opts lo = {0};
        lo.ctx = o->o.ctx;
        lo.threads = o->o.threads;
        lo.n_seq = o->o.parallel;
        int rc;
        if (fy_gguf_sniff(paths[i])) {
            if (o->o.trusted_key)
                rc = fy__diag_set(d, FY_EINVAL,
                                  "%s: a bare GGUF file carries no signature, and signatures "
                                  "are required: pack and sign it (ferry pack --key)",
                                  paths[i]);
            else
                rc = fy_llm_load(&om->m, paths[i], &lo, d);
            if (rc == FY_OK)
                stem(paths[i], om->name, sizeof om->name);
        } else {
            rc = load_package(om, paths[i], &lo, o->o.trusted_key, d);
        }
        if (rc) {
            fy__oai_free(o);
            return rc;
        }
        o->n = i + 1;
        if (find_model(o, om->name) != om) {
            fy__oai_free(o);
            return fy__diag_set(d, FY_EINVAL, "two models are named '%s'", om->name);
        }
        om->tmpl = detect_template(fy_llm_gguf(om->m));
        const fy_gguf_value *ab = fy_gguf_find(fy_llm_gguf(om->m), "tokenizer.ggml.add_bos_token");
        om->add_bos = ab && ab->type == FY_GGUF_BOOL ? ab->u != 0 : 1;
        om->created = (int64_t)time(NULL);
        if ((rc = fy__llm_sched_create(&om->sched, om->m, o->o.queue, d))) {
            fy__oai_free(o);
            return rc;
        }
    }
    *out = o;
    return FY_OK;
}

/* ---- request parsing ---- */

typedef struct params {
    fy_gen_opts g;
    int stream, include_usage, max_given;
    char stops[FY_LLM_MAX_STOP][OAI_MAX_STOP_BYTES + 1];
} params;

/* Reads an optional number field into *out within [lo, hi]; 0 ok, else sets r. */
static int num_field(json_t *b, const char *k, double lo, double hi, double *out, fy__oai_result *r)
{
    json_t *v = json_object_get(b, k);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        set_err(r, 400, "invalid_request_error", k, "invalid_value",
                "'%s' must be a number from %g to %g", k, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int int_field(json_t *b, const char *k, double lo, double hi, double *out, fy__oai_result *r)
{
    json_t *v = json_object_get(b, k);
    if (v && !json_is_null(v) && !json_is_integer(v)) {
        set_err(r, 400, "invalid_request_error", k, "invalid_type", "'%s' must be an integer", k);
        return -1;
    }
    return num_field(b, k, lo, hi, out, r);
}

static int parse_params(fy__oai *o, json_t *b, params *p, fy__oai_result *r)
{
    double v;
    memset(p, 0, sizeof *p);
    p->g.sampler.temperature = 1.0f;
    p->g.sampler.top_p = 1.0f;
    p->g.sampler.repeat_penalty = 1.0f;
    v = 1;
    if (num_field(b, "temperature", 0, 2, &v, r))
        return -1;
    p->g.sampler.temperature = (float)v;
    v = 1;
    if (num_field(b, "top_p", 0, 1, &v, r))
        return -1;
    p->g.sampler.top_p = (float)v;
    v = 0;
    if (int_field(b, "top_k", 0, 1 << 24, &v, r))
        return -1;
    p->g.sampler.top_k = (int)v;
    v = 1;
    if (num_field(b, "repetition_penalty", 0.01, 100, &v, r))
        return -1;
    p->g.sampler.repeat_penalty = (float)v;
    v = 0;
    if (int_field(b, "seed", -9.2e18, 9.2e18, &v, r))
        return -1;
    p->g.sampler.seed = (uint64_t)(int64_t)v;
    v = 1;
    if (int_field(b, "n", 1, 1, &v, r))
        return -1;
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "frequency_penalty" : "presence_penalty";
        v = 0;
        if (num_field(b, k, 0, 0, &v, r)) {
            set_err(r, 400, "invalid_request_error", k, "unsupported_parameter",
                    "'%s' is not supported (use repetition_penalty)", k);
            return -1;
        }
    }
    json_t *lp = json_object_get(b, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_false(lp)) {
        set_err(r, 400, "invalid_request_error", "logprobs", "unsupported_parameter",
                "'logprobs' is not supported");
        return -1;
    }
    double mt = -1;
    if (int_field(b, "max_tokens", 1, 1e9, &mt, r) ||
        (mt < 0 && int_field(b, "max_completion_tokens", 1, 1e9, &mt, r)))
        return -1;
    if (mt > o->o.max_tokens) {
        set_err(r, 400, "invalid_request_error", "max_tokens", "invalid_value",
                "max_tokens %.0f is above this server's limit of %u", mt, o->o.max_tokens);
        return -1;
    }
    p->max_given = mt > 0;
    p->g.max_tokens = mt > 0 ? (uint32_t)mt : 0;
    json_t *st = json_object_get(b, "stop");
    if (st && !json_is_null(st)) {
        json_t *one = json_is_string(st) ? st : NULL;
        size_t ns = one ? 1 : json_is_array(st) ? json_array_size(st) : (size_t)-1;
        if (ns > FY_LLM_MAX_STOP) {
            set_err(r, 400, "invalid_request_error", "stop", "invalid_value",
                    "'stop' must be a string or an array of up to %d strings", FY_LLM_MAX_STOP);
            return -1;
        }
        for (size_t i = 0; i < ns; i++) {
            json_t *s = one ? one : json_array_get(st, i);
            if (!json_is_string(s) || json_string_length(s) == 0 ||
                json_string_length(s) > OAI_MAX_STOP_BYTES) {
                set_err(r, 400, "invalid_request_error", "stop", "invalid_value",
                        "each stop sequence must be a string of 1 to %d bytes", OAI_MAX_STOP_BYTES);
                return -1;
            }
            memcpy(p->stops[i], json_string_value(s), json_string_length(s) + 1);
            p->g.stop[i] = p->stops[i];
        }
    }
    json_t *sm = json_object_get(b, "stream");
    if (sm && !json_is_null(sm) && !json_is_boolean(sm)) {
        set_err(r, 400, "invalid_request_error", "stream", "invalid_type",
                "'stream' must be a boolean");
        return -1;
    }
    p->stream = sm && json_is_true(sm);
    json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        json_t *iu = json_is_object(so) ? json_object_get(so, "include_usage") : NULL;
        if (!json_is_object(so) || (iu && !json_is_boolean(iu))) {
            set_err(r, 400, "invalid_request_error", "stream_options", "invalid_type",
                    "'stream_options' must be an object like {\"include_usage\": true}");
            return -1;
        }
        p->include_usage = iu && json_is_true(iu);
    }
    return 0;
}

/* Message content: a string, or an array of {"type": "text", "text": ...} parts. */
static int message_text(json_t *c, fy__sb *sb)
{
    if (json_is_string(c)) {
        fy__sb_add(sb, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c))
        return -1;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *ty = json_object_get(part, "type"), *tx = json_object_get(part, "text");
        if (!json_is_string(ty) || strcmp(json_string_value(ty), "text") != 0 ||
            !json_is_string(tx))
            return -1;
        fy__sb_add(sb, json_string_value(tx), json_string_length(tx));
    }
    return 0;
}

static int build_chat(oai_model *om, json_t *msgs, fy__sb *sb, fy__oai_result *r)
{
    if (!json_is_array(msgs) || json_array_size(msgs) == 0 ||
        json_array_size(msgs) > OAI_MAX_MESSAGES) {
        set_err(r, 400, "invalid_request_error", "messages", "invalid_value",
                "'messages' must be an array of 1 to %d messages", OAI_MAX_MESSAGES);
        return -1;
    }
    size_t i;
    json_t *msg;
    json_array_foreach(msgs, i, msg)
    {
        json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
        const char *rs = json_is_string(role) ? json_string_value(role) : "";
        int known = !strcmp(rs, "system") || !strcmp(rs, "user") || !strcmp(rs, "assistant") ||
                    !strcmp(rs, "developer");
        if (!json_is_object(msg) || !known) {
            set_err(r, 400, "invalid_request_error", "messages", "invalid_value",
                    "messages[%zu]: 'role' must be system, developer, user or assistant", i);
            return -1;
        }
        if (!strcmp(rs, "developer"))
            rs = "system";
        fy__sb text = {0};
        if (message_text(content, &text) != 0) {
            fy__free(text.buf);
            set_err(r, 400, "invalid_request_error", "messages", "invalid_value",
                    "messages[%zu]: 'content' must be a string or an array of text parts", i);
            return -1;
        }
        const char *t = text.buf ? text.buf : "";
        size_t tl = text.len;
        switch (om->tmpl) {
        case TMPL_CHATML:
            fy__sb_puts(sb, "<|im_start|>");
            fy__sb_puts(sb, rs);
            fy__sb_puts(sb, "\n");
            fy__sb_add(sb, t, tl);
            fy__sb_puts(sb, "<|im_end|>\n");
            break;
        case TMPL_LLAMA3:
            fy__sb_puts(sb, "<|start_header_id|>");
            fy__sb_puts(sb, rs);
            fy__sb_puts(sb, "<|end_header_id|>\n\n");
            fy__sb_add(sb, t, tl);
            fy__sb_puts(sb, "<|eot_id|>");
            break;
        case TMPL_ZEPHYR:
            fy__sb_puts(sb, "<|");
            fy__sb_puts(sb, rs);
            fy__sb_puts(sb, "|>\n");
            fy__sb_add(sb, t, tl);
            fy__sb_puts(sb, "</s>\n");
            break;
        case TMPL_LLAMA2:
            /* [INST] user [/INST] answer </s><s>[INST] ...; a system message goes inside the
             * first instruction between <<SYS>> markers */
            if (!strcmp(rs, "system")) {
                fy__sb_puts(sb, "[INST] <<SYS>>\n");
                fy__sb_add(sb, t, tl);
                fy__sb_puts(sb, "\n<</SYS>>\n\n");
            } else if (!strcmp(rs, "user")) {
                if (!sb->len || sb->buf[sb->len - 1] != '\n')
                    fy__sb_puts(sb, "[INST] ");
                fy__sb_add(sb, t, tl);
                fy__sb_puts(sb, " [/INST]");
            } else {
                fy__sb_puts(sb, " ");
                fy__sb_add(sb, t, tl);
                fy__sb_puts(sb, " </s><s>");
            }
            break;
        default:
            fy__sb_puts(sb, !strcmp(rs, "system") ? "System: "
                            : !strcmp(rs, "user") ? "User: "
                                                  : "Assistant: ");
            fy__sb_add(sb, t, tl);
            fy__sb_puts(sb, "\n");
            break;
        }
        fy__free(text.buf);
    }
    switch (om->tmpl) {
    case TMPL_CHATML: fy__sb_puts(sb, "<|im_start|>assistant\n"); break;
    case TMPL_LLAMA3: fy__sb_puts(sb, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
    case TMPL_ZEPHYR: fy__sb_puts(sb, "<|assistant|>\n"); break;
    case TMPL_LLAMA2: break;
    default: fy__sb_puts(sb, "Assistant:"); break;
    }
    return 0;
}

/* ---- POST /v1/completions and /v1/chat/completions ---- */

void fy__oai_complete(fy__oai *o, int chat, const char *body, size_t len, int client_fd,
                      int64_t deadline_ns, fy__oai_result *r)
{
    memset(r, 0, sizeof *r);
    json_error_t je;
    json_t *b = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    fy__sb prompt = {0};
    int32_t *ids = NULL;
    oai_req *q = NULL;
    if (!b || !json_is_object(b)) {
        set_err(r, 400, "invalid_request_error", NULL, "invalid_json",
                b ? "the body must be a JSON object" : "the body is not valid JSON: %s (line %d)",
                je.text, je.line);
        goto done;
    }
    json_t *mn = json_object_get(b, "model");
    oai_model *om = NULL;
    if (mn && !json_is_string(mn)) {
        set_err(r, 400, "invalid_request_error", "model", "invalid_type",
                "'model' must be a string");
        goto done;
    }
    if (mn)
        om = find_model(o, json_string_value(mn));
    else if (o->n == 1)
        om = &o->models[0];
    if (!om) {
        if (mn)
            set_err(r, 404, "invalid_request_error", "model", "model_not_found",
                    "the model '%.100s' does not exist (GET /v1/models lists them)",
                    json_string_value(mn));
        else
            set_err(r, 400, "invalid_request_error", "model", "missing_required_parameter",
                    "'model' is required when several models are served");
        goto done;
    }
    snprintf(r->model, sizeof r->model, "%s", om->name);
    params p;
    if (parse_params(o, b, &p, r))
        goto client_error;
    if (chat) {
        if (build_chat(om, json_object_get(b, "messages"), &prompt, r))
            goto client_error;
        if (om->tmpl == TMPL_PLAIN && !p.g.stop[FY_LLM_MAX_STOP - 1]) {
            int k = 0;
            while (k < FY_LLM_MAX_STOP && p.g.stop[k])
                k++;
            p.g.stop[k] = "\nUser:"; /* the plain template's turn boundary */
        }
    } else {
        json_t *pr = json_object_get(b, "prompt");
        if (json_is_array(pr) && json_array_size(pr) == 1)
            pr = json_array_get(pr, 0);
        if (!json_is_string(pr)) {
            set_err(r, 400, "invalid_request_error", "prompt", "invalid_value",
                    "'prompt' must be a string (or an array of one string)");
            goto client_error;
        }
        fy__sb_add(&prompt, json_string_value(pr), json_string_length(pr));
    }
    if (prompt.err || prompt.len > OAI_MAX_PROMPT_BYTES) {
        set_err(r, 400, "invalid_request_error", chat ? "messages" : "prompt",
                "context_length_exceeded", "the prompt is longer than %zu bytes",
                OAI_MAX_PROMPT_BYTES);
        goto client_error;
    }
    const fy_llm_info *in = fy_llm_info_get(om->m);
    size_t cap = in->ctx + 1, n = 0;
    ids = fy__malloc(cap * sizeof *ids);
    if (!ids) {
        set_err(r, 503, "server_error", NULL, NULL, "out of memory");
        goto rejected;
    }
    int trc = chat && om->tmpl != TMPL_PLAIN
                  ? fy__llm_tokenize_special(om->m, prompt.buf ? prompt.buf : "", prompt.len,
                                             om->add_bos, ids, cap, &n)
                  : fy_llm_tokenize(om->m, prompt.buf ? prompt.buf : "", prompt.len, om->add_bos,
                                    ids, cap, &n);
    if (trc == FY_ELIMIT || n >= in->ctx) {
        set_err(r, 400, "invalid_request_error", chat ? "messages" : "prompt",
                "context_length_exceeded",
                "this model's maximum context length is %u tokens; the prompt alone has %s%zu",
                in->ctx, trc == FY_ELIMIT ? "more than " : "", n);
        goto client_error;
    }
    if (trc) {
        set_err(r, 503, "server_error", NULL, NULL, "cannot tokenize the prompt");
        goto rejected;
    }
    if (n == 0) {
        set_err(r, 400, "invalid_request_error", chat ? "messages" : "prompt", "invalid_value",
                "the prompt is empty");
        goto client_error;
    }
    if (p.max_given && n + p.g.max_tokens > in->ctx) {
        set_err(r, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                "this model's maximum context length is %u tokens; you requested %zu (%zu in the "
                "prompt, %u to generate)",
                in->ctx, n + p.g.max_tokens, n, p.g.max_tokens);
        goto client_error;
    }
    if (!p.max_given) {
        uint32_t room = in->ctx - (uint32_t)n;
        p.g.max_tokens = chat ? (room < o->o.max_tokens ? room : o->o.max_tokens)
                              : (room < 16 ? room : 16); /* OpenAI's completions default */
    }
    q = fy__calloc(1, sizeof *q);
    if (!q) {
        set_err(r, 503, "server_error", NULL, NULL, "out of memory");
        goto rejected;
    }
    atomic_init(&q->refs, 2); /* the scheduler's and ours (the response's for streams) */
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->om = om;
    q->chat = chat;
    q->stream = p.stream;
    q->include_usage = p.include_usage;
    q->fd = p.stream ? -1 : client_fd;
    q->created = (int64_t)time(NULL);
    q->t_start = fy__llm_now();
    snprintf(q->id, sizeof q->id, "%s-%llx%08llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)q->created, (unsigned long long)atomic_fetch_add(&o->next_id, 1));
    if (q->stream && chat) {
        /* the first chunk names the role, as OpenAI's streams do */
        json_t *c = chunk_base(q);
        json_object_set_new(c, "choices",
                            json_pack("[{s:i, s:{s:s, s:s}, s:n}]", "index", 0, "delta", "role",
                                      "assistant", "content", "", "finish_reason"));
        sse_event(q, c);
    }
    llm_job_params jp = {0};
    jp.prompt = ids;
    jp.n_prompt = n;
    jp.opts = p.g;
    jp.on_text = on_text;
    jp.on_done = on_done;
    jp.ctx = q;
    fy_diag d = {{0}};
    int rc = fy__llm_sched_submit(om->sched, &jp, &d);
    if (rc) {
        atomic_store(&q->refs, 1);
        req_release(q);
        q = NULL;
        if (rc == FY_ELIMIT)
            set_err(r, 429, "rate_limit_error", NULL, "server_busy", "%s", d.msg);
        else if (rc == FY_EINVAL)
            set_err(r, 400, "invalid_request_error", NULL, "context_length_exceeded", "%s", d.msg);
        else
            set_err(r, 503, "server_error", NULL, NULL, "%s", d.msg);
        if (rc == FY_EINVAL)
            goto client_error;
        goto rejected;
    }
    if (q->stream) {
        r->status = 200;
        r->stream = (fy__oai_stream *)q;
        q = NULL; /* the stream's reference goes to http.c */
        goto done;
    }
    /* wait for the answer; past the deadline the request is cancelled */
    pthread_mutex_lock(&q->mu);
    while (!q->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t left = deadline_ns - (int64_t)(fy__llm_now() * 1e9);
        if (left <= 0 || q->cancel) {
            q->cancel = 1;
            pthread_cond_wait(&q->cv, &q->mu); /* the job stops at its next token */
            continue;
        }
        int64_t step = left < 100000000 ? left : 100000000;
        ts.tv_nsec += step % 1000000000;
        ts.tv_sec += step / 1000000000 + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    int timed_out = q->cancel;
    pthread_mutex_unlock(&q->mu);
    if (q->rc) {
        set_err(r, 500, "server_error", NULL, NULL, "generation failed: %s", q->err);
        goto done;
    }
    if (timed_out) {
        set_err(r, 503, "server_error", NULL, "timeout",
                "the request took longer than the server's timeout");
        goto done;
    }
    if (q->alloc_failed) {
        set_err(r, 503, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    json_t *text = json_stringn(q->buf ? q->buf : "", q->len);
    if (!text) { /* invalid UTF-8 from the model: replace it */
        for (size_t i = 0; i < q->len; i++)
            if ((unsigned char)q->buf[i] >= 0x80)
                q->buf[i] = '?';
        text = json_stringn(q->buf, q->len);
    }
    const char *fin = strcmp(q->st.finish_reason ? q->st.finish_reason : "stop", "length") == 0
                          ? "length"
                          : "stop";
    json_t *choice = chat ? json_pack("{s:i, s:{s:s, s:o}, s:s}", "index", 0, "message", "role",
                                      "assistant", "content", text, "finish_reason", fin)
                          : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", text, "logprobs",
                                      "finish_reason", fin);
    set_json_body(r, json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", q->id, "object",
                               chat ? "chat.completion" : "text_completion", "created",
                               (json_int_t)q->created, "model", om->name, "choices", choice,
                               "usage", usage_obj(&q->st)));
    goto done;
client_error:
    if (om)
        atomic_fetch_add(&om->requests[OUT_CLIENT_ERROR], 1);
    goto done;
rejected:
    if (om)
        atomic_fetch_add(&om->requests[OUT_REJECTED], 1);
done:
    if (q)
        req_release(q);
    fy__free(ids);
    fy__free(prompt.buf);
    json_decref(b);
}

/* ---- metrics ---- */

void fy__oai_metrics(fy__oai *o, fy__sb *sb)
{
    if (!o || !o->n)
        return;
    char line[512];
#define LINE(...)                                                                                  \
    do {                                                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                                                  \
        fy__sb_puts(sb, line);                                                                     \
    } while (0)
    LINE("# HELP ferry_llm_prompt_tokens_total Prompt tokens processed.\n"
         "# TYPE ferry_llm_prompt_tokens_total counter\n");
    for (int i = 0; i < o->n; i++)
        LINE("ferry_llm_prompt_tokens_total{model=\"%s\"} %llu\n", o->models[i].name,
             (unsigned long long)atomic_load(&o->models[i].prompt_tokens));
    LINE("# HELP ferry_llm_generated_tokens_total Tokens generated.\n"
         "# TYPE ferry_llm_generated_tokens_total counter\n");
    for (int i = 0; i < o->n; i++)
        LINE("ferry_llm_generated_tokens_total{model=\"%s\"} %llu\n", o->models[i].name,
             (unsigned long long)atomic_load(&o->models[i].gen_tokens));
    LINE("# HELP ferry_llm_requests_total Generation requests by outcome.\n"
         "# TYPE ferry_llm_requests_total counter\n");
    for (int i = 0; i < o->n; i++)
        for (int k = 0; k < OUT_N; k++)
            LINE("ferry_llm_requests_total{model=\"%s\",outcome=\"%s\"} %llu\n", o->models[i].name,
                 out_names[k], (unsigned long long)atomic_load(&o->models[i].requests[k]));
    LINE("# HELP ferry_llm_requests_running Sequences generating now.\n"
         "# TYPE ferry_llm_requests_running gauge\n");
    for (int i = 0; i < o->n; i++) {
        uint32_t run, wait;
        fy__llm_sched_counts(o->models[i].sched, &run, &wait);
        LINE("ferry_llm_requests_running{model=\"%s\"} %u\n", o->models[i].name, run);
    }
    LINE("# HELP ferry_llm_requests_waiting Requests queued for a free sequence slot.\n"
         "# TYPE ferry_llm_requests_waiting gauge\n");
    for (int i = 0; i < o->n; i++) {
        uint32_t run, wait;
        fy__llm_sched_counts(o->models[i].sched, &run, &wait);
        LINE("ferry_llm_requests_waiting{model=\"%s\"} %u\n", o->models[i].name, wait);
    }
    static const char *const hn[2] = {"ferry_llm_time_to_first_token_seconds",
                                      "ferry_llm_inter_token_latency_seconds"};
    static const char *const hh[2] = {"From request start to its first generated token.",
                                      "Between consecutive generated tokens of a request."};
    for (int k = 0; k < 2; k++) {
        LINE("# HELP %s %s\n# TYPE %s histogram\n", hn[k], hh[k], hn[k]);
        for (int i = 0; i < o->n; i++) {
            hist *h = k ? &o->models[i].itl : &o->models[i].ttft;
            unsigned long long cum = 0;
            for (int b = 0; b <= OAI_HIST_N; b++) {
                cum += atomic_load(&h->b[b]);
                if (b < OAI_HIST_N)
                    LINE("%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", hn[k], o->models[i].name,
                         hist_le[b], cum);
                else
                    LINE("%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", hn[k], o->models[i].name,
                         cum);
            }
            LINE("%s_sum{model=\"%s\"} %.9f\n%s_count{model=\"%s\"} %llu\n", hn[k],
                 o->models[i].name, (double)atomic_load(&h->sum_ns) / 1e9, hn[k], o->models[i].name,
                 (unsigned long long)atomic_load(&h->count));
        }
    }
#undef LINE
}
