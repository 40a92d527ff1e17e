/* SPDX-License-Identifier: MIT */
/* Dynamic batching for one model version: a bounded queue shared by the version's
 * instances (one session and one batch thread each). A thread takes the oldest
 * request, gathers compatible ones (same trailing shapes and dtypes) until the
 * batch is full or the queue delay passes, runs them as one batch and splits the
 * outputs back. See docs/serve.md, "Model repository". */
#define _GNU_SOURCE /* sem_clockwait */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "serve/serve_int.h"

enum { Q_QUEUED, Q_TAKEN, Q_DONE };

/* One waiting request. It lives on the stack of the thread blocked in
 * fy__batcher_infer; the batch thread writes its outputs and result, marks it
 * done under the batcher's mutex, and posts its semaphore after releasing the
 * mutex, so the woken caller never blocks on a mutex the batch thread still holds
 * (with one condition variable under the shared mutex, every completion of a
 * batch woke a caller straight into a lock convoy). */
typedef struct breq {
    struct breq *prev, *next;
    int n_in, n_out;
    const fy_tensor *in;
    fy_tensor *out;
    int64_t rows;
    int64_t enqueued_ns, deadline_ns; /* deadline 0: none */
    int state, rc, status;
    fy_diag *d;
    sem_t done; /* posted once the request is Q_DONE; the caller waits on it */
    /* fy__batcher_submit: no caller waits; cb runs once, never under the mutex */
    fy__batcher_cb cb;
    void *cb_ctx;
    struct breq *dnext; /* on the batcher's list of finished ones, until cb runs */
} breq;

typedef struct inst {
    fy__batcher *b;
    fy_session *s;
    pthread_t th;
    int started;
    breq **batch; /* max_batch slots */
} inst;

struct fy__batcher {
    fy__batcher_opts o;
    int n_inputs, n_outputs, max_batch;
    fy_io_desc *in_desc;
    const char *warm_skip;
    pthread_mutex_t mu;
    pthread_condattr_t cattr;
    pthread_cond_t work;   /* idle instances wait here */
    pthread_cond_t gather; /* the one instance gathering a batch waits here */
    breq q;                /* sentinel of the FIFO */
    int queued, gathering, stop;
    int executing; /* requests taken into batches that are running */
    int n_inst;
    inst *inst;
    /* submitted requests: finished ones wait here for their callbacks (run outside
     * the mutex), and the reaper fails queued ones at their deadlines (no caller
     * waits with a timeout for them) */
    breq *done_head;
    pthread_cond_t reap;
    int64_t reap_at; /* when the reaper wakes next; INT64_MAX: when signalled */
    pthread_t reaper;
    int reaper_started;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec to_ts(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------------------- */
/* Queue (all under b->mu)                                                    */
/* ------------------------------------------------------------------------- */

static void unlink_req(fy__batcher *b, breq *r)
{
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->prev = r->next = NULL;
    b->queued--;
    fy__metrics_pending(b->o.metrics, b->o.name, b->o.version, -1);
}

/* Under b->mu. The waiter may return (and its breq go away) once posted; a
 * submitted request's callback runs at the next flush_done. */
static void complete(fy__batcher *b, breq *r)
{
    r->state = Q_DONE;
    if (r->cb) {
        r->dnext = b->done_head;
        b->done_head = r;
    } else {
        sem_post(&r->done);
    }
}

/* A submitted request's end: its callback, and the breq freed. Not under b->mu
 * (the callback may release the model version, or anything else). */
static void finish_async(breq *r)
{
    fy__batcher_cb cb = r->cb;
    void *ctx = r->cb_ctx;
    int rc = r->rc, status = r->status;
    fy__free(r);
    cb(ctx, rc, status);
}

/* Under b->mu (released meanwhile): the callbacks of finished submitted requests. */
static void flush_done(fy__batcher *b)
{
    while (b->done_head) {
        breq *list = b->done_head;
        b->done_head = NULL;
        pthread_mutex_unlock(&b->mu);
        while (list) {
            breq *r = list;
            list = r->dnext;
            finish_async(r);
        }
        pthread_mutex_lock(&b->mu);
    }
}

static void fail_timeout(fy__batcher *b, breq *r, int64_t now)
{
    r->rc = fy__diag_set(r->d, FY_ELIMIT,
                         "model '%s' version '%s': timed out in queue after %.1f ms; retry later",
                         b->o.name, b->o.version, (double)(now - r->enqueued_ns) / 1e6);
    r->status = 503;
    complete(b, r);
}

static int expired(const breq *r, int64_t now)
{
    return r->deadline_ns && now >= r->deadline_ns;
}

/* Same number of inputs, dtypes, ranks and every dimension after the first. */
static int compatible(const breq *a, const breq *c)
{
    if (a->n_in != c->n_in)
        return 0;
    for (int i = 0; i < a->n_in; i++) {
        const fy_tensor *x = &a->in[i], *y = &c->in[i];
        if (x->dtype != y->dtype || x->rank != y->rank || x->rank < 1)
            return 0;
        for (int k = 1; k < x->rank; k++)
            if (x->dims[k] != y->dims[k])
                return 0;
    }
    return 1;
}

static void take(fy__batcher *b, breq *r, breq **batch, int *nb, int64_t *rows, int64_t now)
{
    unlink_req(b, r);
    r->state = Q_TAKEN;
    batch[(*nb)++] = r;
    *rows += r->rows;
    fy__metrics_queue_wait(b->o.metrics, b->o.name, b->o.version,
                           (double)(now - r->enqueued_ns) / 1e9);
}

/* Oldest request still within its deadline; expired ones are failed on the way. */
static breq *take_first(fy__batcher *b, breq **batch, int *nb, int64_t *rows)
{
    int64_t now = mono_ns();
    while (b->q.next != &b->q) {
        breq *r = b->q.next;
        if (expired(r, now)) {
            unlink_req(b, r);
            fail_timeout(b, r, now);
            continue;
        }
        take(b, r, batch, nb, rows, now);
        return r;
    }
    return NULL;
}

static void take_compatible(fy__batcher *b, breq **batch, int *nb, int64_t *rows)
{
    int64_t now = mono_ns();
    /* *nb bounds the slots too: requests of zero rows add none */
    for (breq *r = b->q.next, *next; r != &b->q && *rows < b->max_batch && *nb < b->max_batch;
         r = next) {
        next = r->next;
        if (expired(r, now)) {
            unlink_req(b, r);
            fail_timeout(b, r, now);
        } else if (*rows + r->rows <= b->max_batch && compatible(batch[0], r)) {
            take(b, r, batch, nb, rows, now);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Running a batch (outside the mutex)                                        */
/* ------------------------------------------------------------------------- */

static int status_of(int rc)
{
    switch (rc) {
    case FY_EINVAL:
    case FY_ELIMIT:
    case FY_EPARSE: return 400; /* the request's values do not fit the model */
    case FY_ENOMEM: return 503; /* transient: the client may retry */
    default: return 500;
    }
}

static void fail_engine(fy__batcher *b, breq *r, int rc, const char *msg)
{
    r->rc = fy__diag_set(r->d, rc, "model '%s' version '%s': %s", b->o.name, b->o.version, msg);
    r->status = status_of(rc);
}

/* One request on its own: outputs go straight to the caller. */
static void run_one(fy__batcher *b, inst *in, breq *r)
{
    fy_diag d = {{0}};
    int64_t t0 = mono_ns();
    int rc = fy_session_run(in->s, r->n_in, r->in, r->n_out, r->out, &d);
    fy__metrics_batch(b->o.metrics, b->o.name, b->o.version, (int)r->rows,
                      (double)(mono_ns() - t0) / 1e9);
    if (rc != FY_OK) {
        fail_engine(b, r, rc, d.msg);
        return;
    }
    r->rc = FY_OK;
    r->status = 200;
}

static int concat_inputs(breq **batch, int nb, int64_t rows, fy_tensor *cat, fy_diag *d)
{
    const breq *f = batch[0];
    for (int i = 0; i < f->n_in; i++) {
        int64_t dims[FY_MAX_RANK];
        memcpy(dims, f->in[i].dims, sizeof dims);
        dims[0] = rows;
        int rc = fy_tensor_alloc(&cat[i], f->in[i].dtype, f->in[i].rank, dims, d);
        if (rc != FY_OK)
            return rc;
        char *p = cat[i].data;
        for (int k = 0; k < nb; k++) {
            size_t n = fy_tensor_nbytes(&batch[k]->in[i]);
            if (n)
                memcpy(p, batch[k]->in[i].data, n);
            p += n;
        }
    }
    return FY_OK;
}

/* Give each request its rows of every output whose first dimension is the batch's
 * row count, and a whole copy of any other output. */
static void split_outputs(fy__batcher *b, breq **batch, int nb, int64_t rows, const fy_tensor *outs)
{
    int64_t off = 0;
    for (int k = 0; k < nb; k++) {
        breq *r = batch[k];
        fy_diag d = {{0}};
        int rc = FY_OK, o = 0;
        for (; o < r->n_out && rc == FY_OK; o++) {
            const fy_tensor *t = &outs[o];
            if (t->rank >= 1 && t->dims[0] == rows) {
                int64_t dims[FY_MAX_RANK];
                memcpy(dims, t->dims, sizeof dims);
                dims[0] = r->rows;
                rc = fy_tensor_alloc(&r->out[o], t->dtype, t->rank, dims, &d);
                if (rc == FY_OK && rows > 0) {
                    size_t row_bytes = fy_tensor_nbytes(t) / (size_t)rows;
                    if (row_bytes)
                        memcpy(r->out[o].data, (const char *)t->data + (size_t)off * row_bytes,
                               (size_t)r->rows * row_bytes);
                }
            } else {
                rc = fy_tensor_copy(&r->out[o], t, &d);
            }
        }
        if (rc != FY_OK) {
            for (int j = 0; j < o; j++)
                fy_tensor_deinit(&r->out[j]);
            fail_engine(b, r, rc, d.msg);
        } else {
            r->rc = FY_OK;
            r->status = 200;
        }
        off += r->rows;
    }
}

static void run_batch(fy__batcher *b, inst *in, breq **batch, int nb, int64_t rows)
{
    if (nb == 1) {
        run_one(b, in, batch[0]);
        return;
    }
    int n_in = batch[0]->n_in, n_run = 0;
    for (int k = 0; k < nb; k++)
        n_run = batch[k]->n_out > n_run ? batch[k]->n_out : n_run;
    fy_tensor *cat = fy__calloc((size_t)n_in + 1, sizeof *cat);
    fy_tensor *outs = fy__calloc((size_t)n_run + 1, sizeof *outs);
    fy_diag d = {{0}};
    int rc = FY_ENOMEM;
    if (cat && outs && (rc = concat_inputs(batch, nb, rows, cat, &d)) == FY_OK) {
        int64_t t0 = mono_ns();
        rc = fy_session_run(in->s, n_in, cat, n_run, outs, &d);
        if (rc == FY_OK) {
            fy__metrics_batch(b->o.metrics, b->o.name, b->o.version, (int)rows,
                              (double)(mono_ns() - t0) / 1e9);
            split_outputs(b, batch, nb, rows, outs);
        }
    }
    for (int i = 0; cat && i < n_in; i++)
        fy_tensor_deinit(&cat[i]);
    for (int i = 0; outs && i < n_run; i++)
        fy_tensor_deinit(&outs[i]);
    fy__free(cat);
    fy__free(outs);
    if (rc != FY_OK) {
        /* One request's values can make the whole batch fail (a shape that only
         * breaks a kernel, say), or memory ran short: run each on its own, so only
         * the faulty one fails and the others are not punished for sharing. */
        for (int k = 0; k < nb; k++)
            run_one(b, in, batch[k]);
    }
}

/* How often a gathering instance looks again whether requests are on the way. */
#define GATHER_POLL_NS 50000

/* Can more requests join the batch being gathered soon? The server counts the
 * inference requests it has received and not yet answered (over all its models).
 * When all of them are in this batch or running, no request is on its way to the
 * queue: closed-loop clients (each waiting for its answer, like wrk's connections)
 * send nothing more until answered, so waiting out the delay would only add it to
 * every request (16 connections: a quarter of the unbatched throughput). Requests
 * of other models, and answers not yet sent, count as on the way: at worst the
 * delay is waited out, as before. Without that count (a batcher with no HTTP
 * front, which counts nothing) the delay rule alone applies. */
static int more_on_the_way(const fy__batcher *b, int nb)
{
    int64_t inflight = fy__metrics_inflight_now(b->o.metrics);
    return inflight <= 0 || inflight > (int64_t)nb + b->executing;
}

static void *batch_main(void *arg)
{
    inst *in = arg;
    fy__batcher *b = in->b;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        flush_done(b);
        while (!b->stop && (b->queued == 0 || b->gathering))
            pthread_cond_wait(&b->work, &b->mu);
        if (b->stop)
            break;
        int nb = 0;
        int64_t rows = 0;
        if (!take_first(b, in->batch, &nb, &rows))
            continue;
        if (b->max_batch > 1 && rows < b->max_batch)
            take_compatible(b, in->batch, &nb, &rows); /* what already waits joins */
        /* Wait for more only when others were waiting too: a lone request on an
         * idle model runs at once (waiting would only add the delay to its
         * latency: p50 2.9 ms instead of 0.7 ms at one connection with the
         * example's 2 ms delay), while under load the queue refills during each
         * run and the delay lets batches fill. */
        if (b->max_batch > 1 && rows < b->max_batch && nb > 1) {
            /* Only one instance gathers at a time, so requests arriving meanwhile
             * join its batch instead of waking an idle instance one by one. */
            b->gathering = 1;
            int64_t until = mono_ns() + (int64_t)b->o.max_queue_delay_us * 1000;
            for (;;) {
                take_compatible(b, in->batch, &nb, &rows);
                int64_t now = mono_ns();
                if (rows >= b->max_batch || b->stop || now >= until || !more_on_the_way(b, nb))
                    break;
                /* Woken by each arrival; re-checked every GATHER_POLL_NS for
                 * answers going out (which end what is on the way). */
                struct timespec ts =
                    to_ts(until - now < GATHER_POLL_NS ? until : now + GATHER_POLL_NS);
                pthread_cond_timedwait(&b->gather, &b->mu, &ts);
            }
            b->gathering = 0;
        }
        if (b->queued > 0)
            pthread_cond_signal(&b->work); /* what is left is for another instance */
        /* A deadline that passed while the batch was gathered: fail, never run. */
        int64_t now = mono_ns();
        int kept = 0;
        for (int k = 0; k < nb; k++) {
            breq *r = in->batch[k];
            if (expired(r, now)) {
                rows -= r->rows;
                fail_timeout(b, r, now);
            } else {
                in->batch[kept++] = r;
            }
        }
        nb = kept;
        if (!nb)
            continue;
        flush_done(b); /* what timed out on the way is answered before the batch runs */
        b->executing += nb;
        pthread_mutex_unlock(&b->mu);
        run_batch(b, in, in->batch, nb, rows);
        pthread_mutex_lock(&b->mu);
        b->executing -= nb;
        for (int k = 0; k < nb; k++)
            in->batch[k]->state = Q_DONE;
        pthread_mutex_unlock(&b->mu);
        for (int k = 0; k < nb; k++) { /* outside the mutex: see breq */
            breq *r = in->batch[k];
            if (r->cb)
                finish_async(r);
            else
                sem_post(&r->done);
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Fails submitted requests still queued at their deadlines. It sleeps until the
 * earliest such deadline; a request enqueued with an earlier one wakes it. */
static void *reaper_main(void *arg)
{
    fy__batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        int64_t now = mono_ns(), next = INT64_MAX;
        for (breq *r = b->q.next, *nx; r != &b->q; r = nx) {
            nx = r->next;
            if (!r->cb || !r->deadline_ns)
                continue;
            if (now >= r->deadline_ns) {
                unlink_req(b, r);
                fail_timeout(b, r, now);
            } else if (r->deadline_ns < next) {
                next = r->deadline_ns;
            }
        }
        if (b->done_head) {
            flush_done(b);
            continue; /* the queue may have changed meanwhile */
        }
        b->reap_at = next;
        if (next == INT64_MAX) {
            pthread_cond_wait(&b->reap, &b->mu);
        } else {
            struct timespec ts = to_ts(next);
            pthread_cond_timedwait(&b->reap, &b->mu, &ts);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Creation, warm-up                                                          */
/* ------------------------------------------------------------------------- */

static int warm_up(fy__batcher *b, fy_diag *d)
{
    int rc = FY_OK, n_in = b->n_inputs, n_out = b->n_outputs;
    fy_tensor *in = fy__calloc((size_t)n_in + 1, sizeof *in);
    fy_tensor *out = fy__calloc((size_t)n_out + 1, sizeof *out);
    fy_diag e = {{0}};
    if (!in || !out) {
        rc = fy__diag_set(d, FY_ENOMEM, "warm-up: out of memory");
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        const fy_io_desc *x = &b->in_desc[i];
        if (x->rank < 0 || fy_dtype_size(x->dtype) == 0) {
            b->warm_skip = x->rank < 0 ? "an input's shape is not declared"
                                       : "an input's element type is not declared";
            goto done;
        }
    }
    for (int i = 0; i < n_in; i++) {
        const fy_io_desc *x = &b->in_desc[i];
        int64_t dims[FY_MAX_RANK];
        for (int k = 0; k < x->rank; k++)
            dims[k] = x->dims[k] < 0 ? 1 : x->dims[k];
        if ((rc = fy_tensor_alloc(&in[i], x->dtype, x->rank, dims, &e)) != FY_OK) {
            rc = fy__diag_set(d, rc, "warm-up: input '%s': %s", x->name, e.msg);
            goto done;
        }
    }
    for (int k = 0; k < b->n_inst; k++) {
        if ((rc = fy_session_run(b->inst[k].s, n_in, in, n_out, out, &e)) != FY_OK) {
            rc = fy__diag_set(d, rc, "warm-up: %s", e.msg);
            goto done;
        }
        for (int i = 0; i < n_out; i++)
            fy_tensor_deinit(&out[i]);
    }
done:
    for (int i = 0; in && i < n_in; i++)
        fy_tensor_deinit(&in[i]);
    fy__free(in);
    fy__free(out);
    return rc;
}

int fy__batcher_create(fy__batcher **out, const fy__batcher_opts *o, fy_diag *d)
{
    int rc = FY_ENOMEM, mu_ok = 0, attr_ok = 0, work_ok = 0, gather_ok = 0, reap_ok = 0;
    fy__batcher *b = fy__calloc(1, sizeof *b);
    if (!b)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    b->o = *o;
    b->o.instances = clampi(o->instances, 1, FY_SERVE_MAX_INSTANCES);
    b->o.max_batch_size = clampi(o->max_batch_size, 1, FY_SERVE_MAX_BATCH);
    b->o.max_queue_delay_us = clampi(o->max_queue_delay_us, 0, FY_SERVE_MAX_DELAY_US);
    b->o.queue_capacity = clampi(o->queue_capacity, 1, FY_SERVE_MAX_QUEUE);
    b->q.next = b->q.prev = &b->q;
    b->n_inputs = fy_model_n_inputs(o->model);
    b->n_outputs = fy_model_n_outputs(o->model);
    b->max_batch = b->o.max_batch_size;
    if (!(b->in_desc = fy__calloc((size_t)b->n_inputs + 1, sizeof *b->in_desc))) {
        fy__diag_set(d, rc, "out of memory");
        goto fail;
    }
    for (int i = 0; i < b->n_inputs; i++) {
        fy_model_input(o->model, i, &b->in_desc[i]);
        /* concatenating along dim 0 needs a symbolic first dimension everywhere */
        if (b->in_desc[i].rank < 1 || b->in_desc[i].dims[0] >= 0)
            b->max_batch = 1;
    }
    if (pthread_mutex_init(&b->mu, NULL) != 0)
        goto sys_fail;
    mu_ok = 1;
    if (pthread_condattr_init(&b->cattr) != 0)
        goto sys_fail;
    attr_ok = 1;
    pthread_condattr_setclock(&b->cattr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&b->work, &b->cattr) != 0)
        goto sys_fail;
    work_ok = 1;
    if (pthread_cond_init(&b->gather, &b->cattr) != 0)
        goto sys_fail;
    gather_ok = 1;
    if (pthread_cond_init(&b->reap, &b->cattr) != 0)
        goto sys_fail;
    reap_ok = 1;
    b->reap_at = INT64_MAX;
    if (!(b->inst = fy__calloc((size_t)b->o.instances, sizeof *b->inst))) {
        fy__diag_set(d, rc, "out of memory");
        goto fail;
    }
    b->n_inst = b->o.instances;
    for (int k = 0; k < b->n_inst; k++) {
        b->inst[k].b = b;
        if (!(b->inst[k].batch = fy__calloc((size_t)b->max_batch, sizeof(breq *)))) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto fail;
        }
        fy_session_opts so = {.threads = 1, .pool = o->pool};
        if ((rc = fy_session_create(&b->inst[k].s, o->model, &so, d)) != FY_OK)
            goto fail;
    }
    if ((rc = warm_up(b, d)) != FY_OK)
        goto fail;
    for (int k = 0; k < b->n_inst; k++) {
        if (pthread_create(&b->inst[k].th, NULL, batch_main, &b->inst[k]) != 0) {
            rc = fy__diag_set(d, FY_ENOMEM, "cannot start batch thread %d of %d", k + 1, b->n_inst);
            goto fail;
        }
        b->inst[k].started = 1;
    }
    if (pthread_create(&b->reaper, NULL, reaper_main, b) != 0) {
        rc = fy__diag_set(d, FY_ENOMEM, "cannot start the queue's deadline thread");
        goto fail;
    }
    b->reaper_started = 1;
    *out = b;
    return FY_OK;
sys_fail:
    rc = fy__diag_set(d, FY_ENOMEM, "cannot create a mutex or condition variable");
fail:
    /* fy__batcher_free copes with a half-built batcher when its sync objects exist */
    if (mu_ok && attr_ok && work_ok && gather_ok && reap_ok) {
        fy__batcher_free(b);
        return rc;
    }
    if (gather_ok)
        pthread_cond_destroy(&b->gather);
    if (work_ok)
        pthread_cond_destroy(&b->work);
    if (attr_ok)
        pthread_condattr_destroy(&b->cattr);
    if (mu_ok)
        pthread_mutex_destroy(&b->mu);
    fy__free(b->in_desc);
    fy__free(b);
    return rc;
}

void fy__batcher_free(fy__batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    /* nothing should be queued (callers hold references); fail stragglers, never hang them */
    while (b->q.next != &b->q) {
        breq *r = b->q.next;
        unlink_req(b, r);
        r->rc = fy__diag_set(r->d, FY_EINVAL, "model '%s' version '%s' is being unloaded",
                             b->o.name, b->o.version);
        r->status = 503;
        complete(b, r);
    }
    pthread_cond_broadcast(&b->work);
    pthread_cond_broadcast(&b->gather);
    pthread_cond_broadcast(&b->reap);
    flush_done(b);
    pthread_mutex_unlock(&b->mu);
    if (b->reaper_started)
        pthread_join(b->reaper, NULL);
    for (int k = 0; b->inst && k < b->n_inst; k++) {
        if (b->inst[k].started)
            pthread_join(b->inst[k].th, NULL);
        fy_session_free(b->inst[k].s);
        fy__free(b->inst[k].batch);
    }
    fy__free(b->inst);
    pthread_cond_destroy(&b->reap);
    pthread_cond_destroy(&b->gather);
    pthread_cond_destroy(&b->work);
    pthread_condattr_destroy(&b->cattr);
    pthread_mutex_destroy(&b->mu);
    fy__free(b->in_desc);
    fy__free(b);
}

int fy__batcher_max_batch(const fy__batcher *b)
{
    return b->max_batch;
}
const char *fy__batcher_warmup_skipped(const fy__batcher *b)
{
    return b->warm_skip;
}

/* ------------------------------------------------------------------------- */
/* Requests                                                                   */
/* ------------------------------------------------------------------------- */

/* Everything the engine would refuse, refused before queueing: a bad request must
 * get its own 400 and never fail a batch it shares with others. */
static int check_request(const fy__batcher *b, int n_in, const fy_tensor *in, int n_out,
                         int64_t *rows, fy_diag *d)
{
    const char *nm = b->o.name, *ver = b->o.version;
    char got[160];
    if (n_in != b->n_inputs)
        return fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' takes %d input%s, got %d", nm,
                            ver, b->n_inputs, b->n_inputs == 1 ? "" : "s", n_in);
    if (n_out < 0 || n_out > b->n_outputs)
        return fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' has %d outputs, %d asked for",
                            nm, ver, b->n_outputs, n_out);
    if (n_in > 0 && !in)
        return fy__diag_set(d, FY_EINVAL, "no input tensors");
    for (int i = 0; i < n_in; i++) {
        const fy_io_desc *x = &b->in_desc[i];
        const fy_tensor *t = &in[i];
        size_t nbytes;
        if (t->rank < 0 || t->rank > FY_MAX_RANK)
            return fy__diag_set(d, FY_EINVAL, "input '%s': rank %d is out of range", x->name,
                                t->rank);
            /* described only when refused: this runs for every request */
#define GOT fy_tensor_describe(t, got, sizeof got)
        if (x->dtype != FY_DTYPE_UNDEFINED && t->dtype != x->dtype)
            return fy__diag_set(d, FY_EINVAL, "input '%s': expected %s, got %s", x->name,
                                fy_dtype_name(x->dtype), GOT);
        if (x->rank >= 0 && t->rank != x->rank)
            return fy__diag_set(d, FY_EINVAL, "input '%s': expected rank %d, got %s", x->name,
                                x->rank, GOT);
        for (int k = 0; x->rank >= 0 && k < x->rank; k++)
            if (x->dims[k] >= 0 && t->dims[k] != x->dims[k])
                return fy__diag_set(d, FY_EINVAL, "input '%s': dimension %d must be %lld, got %s",
                                    x->name, k, (long long)x->dims[k], GOT);
#undef GOT
        fy_diag e;
        int rc = fy_shape_nbytes(t->dtype, t->rank, t->dims, &nbytes, &e);
        if (rc != FY_OK)
            return fy__diag_set(d, rc, "input '%s': %s", x->name, e.msg);
        if (nbytes && !t->data)
            return fy__diag_set(d, FY_EINVAL, "input '%s' has no data", x->name);
    }
    /* A request with more rows than a batch runs alone: gathering never adds to it. */
    *rows = n_in > 0 && in[0].rank >= 1 ? in[0].dims[0] : 1;
    for (int i = 1; b->max_batch > 1 && i < n_in; i++)
        if (in[i].dims[0] != *rows)
            return fy__diag_set(d, FY_EINVAL,
                                "inputs disagree on the batch dimension: '%s' has %lld rows, "
                                "'%s' has %lld",
                                b->in_desc[0].name, (long long)*rows, b->in_desc[i].name,
                                (long long)in[i].dims[0]);
    return FY_OK;
}

int fy__batcher_infer(fy__batcher *b, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                      int64_t deadline_ns, int *http_status, fy_diag *d)
{
    breq r;
    memset(&r, 0, sizeof r);
    int rc = check_request(b, n_in, in, n_out, &r.rows, d);
    if (rc != FY_OK) {
        *http_status = 400;
        return rc;
    }
    for (int o = 0; o < n_out; o++)
        memset(&out[o], 0, sizeof out[o]);
    r.n_in = n_in;
    r.in = in;
    r.n_out = n_out;
    r.out = out;
    r.d = d;
    r.deadline_ns = deadline_ns > 0 ? deadline_ns : 0;
    r.enqueued_ns = mono_ns();
    r.state = Q_QUEUED;
    if (sem_init(&r.done, 0, 0) != 0) {
        *http_status = 503;
        return fy__diag_set(d, FY_ENOMEM, "cannot create a semaphore; retry later");
    }
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        rc = fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' is being unloaded", b->o.name,
                          b->o.version);
        *http_status = 503;
    } else if (b->queued >= b->o.queue_capacity) {
        rc = fy__diag_set(d, FY_ELIMIT,
                          "model '%s' version '%s': queue full (%d requests waiting); retry later",
                          b->o.name, b->o.version, b->queued);
        *http_status = 503;
    } else if (expired(&r, r.enqueued_ns)) {
        rc = fy__diag_set(d, FY_ELIMIT, "model '%s' version '%s': timed out in queue; retry later",
                          b->o.name, b->o.version);
        *http_status = 503;
    } else {
        r.prev = b->q.prev;
        r.next = &b->q;
        b->q.prev->next = &r;
        b->q.prev = &r;
        b->queued++;
        fy__metrics_pending(b->o.metrics, b->o.name, b->o.version, 1);
        pthread_cond_t *wake = b->gathering ? &b->gather : &b->work;
        pthread_mutex_unlock(&b->mu);
        /* Signalled after unlocking, so the batch thread does not wake into our
         * mutex. Nothing is lost: it checks the queue under the mutex before it
         * waits, and a gatherer that stops meanwhile hands what is left on. */
        pthread_cond_signal(wake);
        int64_t deadline = r.deadline_ns;
        for (;;) {
            int w;
            if (deadline) {
                struct timespec ts = to_ts(deadline);
                w = sem_clockwait(&r.done, CLOCK_MONOTONIC, &ts);
            } else {
                w = sem_wait(&r.done);
            }
            if (w == 0)
                break;
            if (errno != ETIMEDOUT)
                continue; /* EINTR */
            pthread_mutex_lock(&b->mu);
            if (r.state == Q_QUEUED) {
                unlink_req(b, &r);
                fail_timeout(b, &r, mono_ns());
                pthread_mutex_unlock(&b->mu);
                break;
            }
            pthread_mutex_unlock(&b->mu);
            /* taken into a batch: it finishes (or fails) soon; never abandon it
             * while a batch thread may still write its outputs */
            deadline = 0;
        }
        rc = r.rc;
        *http_status = r.status;
        sem_destroy(&r.done);
        return rc;
    }
    pthread_mutex_unlock(&b->mu);
    sem_destroy(&r.done);
    return rc;
}

int fy__batcher_submit(fy__batcher *b, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                       int64_t deadline_ns, int *http_status, fy_diag *d, fy__batcher_cb cb,
                       void *ctx)
{
    int64_t rows;
    int rc = check_request(b, n_in, in, n_out, &rows, d);
    if (rc != FY_OK) {
        *http_status = 400;
        return rc;
    }
    breq *r = fy__calloc(1, sizeof *r);
    if (!r) {
        *http_status = 503;
        return fy__diag_set(d, FY_ENOMEM, "out of memory; retry later");
    }
    for (int o = 0; o < n_out; o++)
        memset(&out[o], 0, sizeof out[o]);
    r->rows = rows;
    r->n_in = n_in;
    r->in = in;
    r->n_out = n_out;
    r->out = out;
    r->d = d;
    r->cb = cb;
    r->cb_ctx = ctx;
    r->deadline_ns = deadline_ns > 0 ? deadline_ns : 0;
    r->enqueued_ns = mono_ns();
    r->state = Q_QUEUED;
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        rc = fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' is being unloaded", b->o.name,
                          b->o.version);
    } else if (b->queued >= b->o.queue_capacity) {
        rc = fy__diag_set(d, FY_ELIMIT,
                          "model '%s' version '%s': queue full (%d requests waiting); retry later",
                          b->o.name, b->o.version, b->queued);
    } else if (expired(r, r->enqueued_ns)) {
        rc = fy__diag_set(d, FY_ELIMIT, "model '%s' version '%s': timed out in queue; retry later",
                          b->o.name, b->o.version);
    }
    if (rc != FY_OK) {
        pthread_mutex_unlock(&b->mu);
        fy__free(r);
        *http_status = 503;
        return rc;
    }
    r->prev = b->q.prev;
    r->next = &b->q;
    b->q.prev->next = r;
    b->q.prev = r;
    b->queued++;
    fy__metrics_pending(b->o.metrics, b->o.name, b->o.version, 1);
    if (r->deadline_ns && r->deadline_ns < b->reap_at) {
        b->reap_at = r->deadline_ns;
        pthread_cond_signal(&b->reap);
    }
    pthread_cond_t *wake = b->gathering ? &b->gather : &b->work;
    pthread_mutex_unlock(&b->mu);
    pthread_cond_signal(wake); /* after unlocking, as in fy__batcher_infer */
    return FY_OK;
}
