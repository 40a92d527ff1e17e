/* SPDX-License-Identifier: MIT */
/* Continuous batching for the server: one thread per model owns the fy_llm and, at each
 * step, runs one batch holding the next token of every sequence that is generating plus
 * prompt chunks of sequences that are starting; waiting requests take a KV slot as soon
 * as one frees. The queue of waiting requests is bounded. */
#include <pthread.h>
#include <string.h>

#include "core/core.h"
#include "llm/llm_int.h"

#define PIECE_MAX 1024

typedef enum { JOB_WAITING, JOB_PROMPT, JOB_DECODE } job_state;

struct llm_job {
    llm_job_params p;
    char *stop_copy[FY_LLM_MAX_STOP + 1];
    job_state state;
    uint32_t slot, n_past, n_fed; /* tokens in the cache; prompt tokens fed so far */
    int32_t next;                 /* the token to feed next in JOB_DECODE */
    int32_t *hist;
    size_t n_hist, hist_cap;
    fy_rng rng;
    llm_text text;
    fy_gen_stats st;
    double t_submit, t_start;
    llm_job *qnext;
};

struct llm_sched {
    fy_llm *m;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    llm_job *q_head, *q_tail; /* waiting */
    uint32_t n_waiting, queue_cap;
    llm_job **active; /* by slot; NULL = free */
    uint32_t n_active;
    /* batch scratch (scheduler thread only) */
    int32_t *ids;
    uint32_t *slot, *pos, *rows;
    llm_job **row_job;
    float *logits;
    fy_llm_cand *cand;
};

static void job_free(llm_job *j)
{
    if (!j)
        return;
    for (int i = 0; i < FY_LLM_MAX_STOP; i++)
        fy__free(j->stop_copy[i]);
    fy__free(j->p.prompt);
    fy__free(j->hist);
    fy__llm_text_deinit(&j->text);
    fy__free(j);
}

static void finish(llm_sched *s, llm_job *j, int rc, const char *err)
{
    const char *rest;
    size_t rest_len;
    if (rc == FY_OK) {
        fy__llm_text_flush(&j->text, &rest, &rest_len);
        if (rest_len)
            j->p.on_text(j->p.ctx, -1, rest, rest_len);
    }
    double now = fy__llm_now();
    if (j->st.gen_tokens && j->t_start > 0)
        j->st.gen_s = now - j->t_start - j->st.prompt_s;
    j->p.on_done(j->p.ctx, &j->st, rc, err);
    if (j->state != JOB_WAITING) {
        pthread_mutex_lock(&s->mu);
        s->active[j->slot] = NULL;
        s->n_active--;
        pthread_mutex_unlock(&s->mu);
    }
    job_free(j);
}

/* Sample the next token of j from its logits row; returns 1 when j is finished. */
static int step_job(llm_sched *s, llm_job *j, float *logits)
{
    const fy_llm_info *in = fy_llm_info_get(s->m);
    int32_t id =
        fy_sample(&j->p.opts.sampler, &j->rng, logits, in->vocab, j->hist, j->n_hist, s->cand);
    if (j->st.gen_tokens == 0)
        j->st.first_token_s = fy__llm_now() - j->t_start;
    if (!j->p.opts.ignore_eos && fy_llm_is_eog(s->m, id)) {
        j->st.finish_reason = "stop";
        return 1;
    }
    if (j->n_hist < j->hist_cap)
        j->hist[j->n_hist++] = id;
    j->st.gen_tokens++;
    char piece[PIECE_MAX];
    size_t pl = fy_llm_token_piece(s->m, id, piece, sizeof piece);
    const char *emit;
    size_t emit_len;
    if (fy__llm_text_push(&j->text, piece, pl, &emit, &emit_len) != FY_OK) {
        j->st.finish_reason = "error";
        return 1;
    }
    if (j->p.on_text(j->p.ctx, id, emit, emit_len)) {
        j->st.finish_reason = "cancelled";
        return 1;
    }
    if (j->text.stopped) {
        j->st.finish_reason = "stop";
        return 1;
    }
    if ((j->p.opts.max_tokens && j->st.gen_tokens >= j->p.opts.max_tokens) ||
        j->n_past >= in->ctx) {
        j->st.finish_reason = "length";
        return 1;
    }
    j->next = id;
    j->state = JOB_DECODE;
    return 0;
}

static void *sched_main(void *arg)
{
    llm_sched *s = arg;
    uint32_t n_seq = fy__llm_n_seq(s->m), B = fy__llm_batch_max(s->m);
    const fy_llm_info *in = fy_llm_info_get(s->m);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && s->n_active == 0 && !s->q_head)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        /* admit waiting requests into free slots, oldest first */
        llm_job *admitted[256];
        uint32_t n_adm = 0;
        for (uint32_t k = 0; k < n_seq && s->q_head && n_adm < 256; k++) {
            if (s->active[k])
                continue;
            llm_job *j = s->q_head;
            s->q_head = j->qnext;
            if (!s->q_head)
                s->q_tail = NULL;
            s->n_waiting--;
            j->slot = k;
            j->state = JOB_PROMPT;
            s->active[k] = j;
            s->n_active++;
            admitted[n_adm++] = j;
        }
        pthread_mutex_unlock(&s->mu);
        for (uint32_t a = 0; a < n_adm; a++) {
            llm_job *j = admitted[a];
            j->t_start = fy__llm_now();
            /* a client that left while its request waited is not worth a prompt */
            if (j->p.on_text(j->p.ctx, -1, "", 0)) {
                j->st.finish_reason = "cancelled";
                finish(s, j, FY_OK, NULL);
            }
        }
        /* build one batch: decode tokens first (one per generating sequence), then
         * prompt chunks while room is left */
        uint32_t n = 0, n_rows = 0;
        for (uint32_t k = 0; k < n_seq && n < B; k++) {
            llm_job *j = s->active[k];
            if (!j || j->state != JOB_DECODE)
                continue;
            s->ids[n] = j->next;
            s->slot[n] = k;
            s->pos[n] = j->n_past++;
            s->rows[n_rows] = n;
            s->row_job[n_rows++] = j;
            n++;
        }
        for (uint32_t k = 0; k < n_seq && n < B; k++) {
            llm_job *j = s->active[k];
            if (!j || j->state != JOB_PROMPT)
                continue;
            if (j->n_fed == 0)
                j->st.prompt_tokens = (uint32_t)j->p.n_prompt;
            while (j->n_fed < j->p.n_prompt && n < B) {
                s->ids[n] = j->p.prompt[j->n_fed++];
                s->slot[n] = k;
                s->pos[n] = j->n_past++;
                n++;
            }
            if (j->n_fed == j->p.n_prompt) {
                s->rows[n_rows] = n - 1;
                s->row_job[n_rows++] = j;
            }
        }
        if (n == 0)
            continue;
        fy_diag d = {{0}};
        int rc = fy__llm_decode(s->m, s->ids, s->slot, s->pos, n, s->rows, n_rows, s->logits, &d);
        for (uint32_t r = 0; r < n_rows; r++) {
            llm_job *j = s->row_job[r];
            if (rc != FY_OK) {
                j->st.finish_reason = "error";
                finish(s, j, rc, d.msg);
                continue;
            }
            if (j->state == JOB_PROMPT)
                j->st.prompt_s = fy__llm_now() - j->t_start;
            if (step_job(s, j, s->logits + (size_t)r * in->vocab))
                finish(s, j, FY_OK, NULL);
        }
    }
    return NULL;
}

void fy__llm_sched_free(llm_sched *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    /* fail what is left: active sequences and waiting requests */
    uint32_t n_seq = s->m ? fy__llm_n_seq(s->m) : 0;
    for (uint32_t k = 0; s->active && k < n_seq; k++)
        if (s->active[k]) {
            llm_job *j = s->active[k];
            j->st.finish_reason = "error";
            finish(s, j, FY_EIO, "the server is shutting down");
        }
    while (s->q_head) {
        llm_job *j = s->q_head;
        s->q_head = j->qnext;
        j->st.finish_reason = "error";
        finish(s, j, FY_EIO, "the server is shutting down");
    }
    if (s->started) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    fy__free(s->active);
    fy__free(s->ids);
    fy__free(s->slot);
    fy__free(s->pos);
    fy__free(s->rows);
    fy__free(s->row_job);
    fy__free(s->logits);
    fy__free(s->cand);
    fy__free(s);
}

int fy__llm_sched_create(llm_sched **out, fy_llm *m, uint32_t queue_cap, fy_diag *d)
{
    llm_sched *s = fy__calloc(1, sizeof *s);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    s->m = m;
    s->queue_cap = queue_cap ? queue_cap : 64;
    uint32_t n_seq = fy__llm_n_seq(m), B = fy__llm_batch_max(m);
    uint32_t V = fy_llm_info_get(m)->vocab;
    s->active = fy__calloc(n_seq, sizeof *s->active);
    s->ids = fy__malloc(B * sizeof *s->ids);
    s->slot = fy__malloc(B * sizeof *s->slot);
    s->pos = fy__malloc(B * sizeof *s->pos);
    s->rows = fy__malloc(B * sizeof *s->rows);
    s->row_job = fy__malloc(B * sizeof *s->row_job);
    s->logits = fy__malloc((size_t)B * V * sizeof *s->logits);
    s->cand = fy__malloc((size_t)V * sizeof *s->cand);
    if (!s->active || !s->ids || !s->slot || !s->pos || !s->rows || !s->row_job || !s->logits ||
        !s->cand) {
        fy__llm_sched_free(s);
        return fy__diag_set(d, FY_ENOMEM, "out of memory for the scheduler");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        fy__llm_sched_free(s);
        return fy__diag_set(d, FY_EIO, "cannot start the scheduler thread");
    }
    s->started = 1;
    *out = s;
    return FY_OK;
}

int fy__llm_sched_submit(llm_sched *s, const llm_job_params *p, fy_diag *d)
{
    const fy_llm_info *in = fy_llm_info_get(s->m);
    if (p->n_prompt == 0)
        return fy__diag_set(d, FY_EINVAL, "the prompt is empty");
    if (p->n_prompt >= in->ctx)
        return fy__diag_set(d, FY_EINVAL,
                            "the prompt has %zu tokens; the context holds %u (prompt plus at "
                            "least one generated token)",
                            p->n_prompt, in->ctx);
    llm_job *j = fy__calloc(1, sizeof *j);
    if (!j)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    j->p = *p;
    j->p.prompt = NULL;
    j->p.prompt = fy__malloc(p->n_prompt * sizeof *p->prompt);
    j->hist_cap = in->ctx + 1;
    j->hist = fy__malloc(j->hist_cap * sizeof *j->hist);
    int ok = j->p.prompt && j->hist;
    for (int i = 0; ok && i < FY_LLM_MAX_STOP && p->opts.stop[i]; i++) {
        ok = (j->stop_copy[i] = fy__strdup(p->opts.stop[i])) != NULL;
        j->p.opts.stop[i] = j->stop_copy[i];
    }
    if (!ok) {
        job_free(j);
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    memcpy(j->p.prompt, p->prompt, p->n_prompt * sizeof *p->prompt);
    memcpy(j->hist, p->prompt, p->n_prompt * sizeof *p->prompt);
    j->n_hist = p->n_prompt;
    fy_rng_seed(&j->rng, p->opts.sampler.seed);
    fy__llm_text_init(&j->text, (const char *const *)j->p.opts.stop);
    j->st.finish_reason = "length";
    j->t_submit = fy__llm_now();
    pthread_mutex_lock(&s->mu);
    if (s->stop || s->n_waiting >= s->queue_cap) {
        int stopping = s->stop;
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return stopping ? fy__diag_set(d, FY_EIO, "the server is shutting down")
                        : fy__diag_set(d, FY_ELIMIT,
                                       "%u requests are already waiting for this model; retry "
                                       "later",
                                       s->queue_cap);
    }
    if (s->q_tail)
        s->q_tail->qnext = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->n_waiting++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return FY_OK;
}

void fy__llm_sched_counts(llm_sched *s, uint32_t *running, uint32_t *waiting)
{
    pthread_mutex_lock(&s->mu);
    *running = s->n_active;
    *waiting = s->n_waiting;
    pthread_mutex_unlock(&s->mu);
}

fy_llm *fy__llm_sched_model(llm_sched *s)
{
    return s->m;
}
