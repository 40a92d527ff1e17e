/* SPDX-License-Identifier: MIT */
/* ferry bench: load an HTTP endpoint (or a package served in-process) and report
 * latency percentiles, throughput and errors by kind. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: ferry bench URL [options]\n"
    "       ferry bench --model MODEL|PACKAGE [options]\n"
    "\n"
    "Sends HTTP/1.1 requests over keep-alive connections and reports latency\n"
    "percentiles (from a histogram with 64 buckets per doubling), throughput and\n"
    "errors by kind (connect, timeout, io, bad_response, status_3xx/4xx/5xx,\n"
    "status_other). With --model, serves the model or package in this process on a\n"
    "free loopback port and loads its /predict endpoint.\n"
    "\n"
    "load:\n"
    "  -c, --connections N   concurrent connections (default 1)\n"
    "  --rate R              open loop: R requests/s in all, latency counted from each\n"
    "                        request's scheduled start (default: closed loop)\n"
    "  -d, --duration S      measure for S seconds (default 10, or until -n)\n"
    "  -n, --requests N      measure N requests, then stop\n"
    "  --warmup S            send for S seconds first, not measured (default 0)\n"
    "  --timeout-ms MS       per request (default 10000)\n"
    "requests:\n"
    "  --method M            default POST with a body, GET without\n"
    "  --body FILE           request body (at most 64 MiB)\n"
    "  --dataset SPEC        bodies {\"instances\": [SAMPLE]} from idx:IMAGES,LABELS\n"
    "                        (the first 256 samples, in turn)\n"
    "  --content-type T      default application/json\n"
    "  -H, --header 'K: V'   extra header (repeatable, at most 16)\n"
    "output:\n"
    "  --json                the result as JSON (docs/bench.md)\n"
    "\n"
    "exit: 0 every measured request succeeded, 1 some failed, 2 usage, 3 invalid\n"
    "input (URL, body, dataset), 5 unreadable file or nothing listening.\n";

typedef struct {
    fy_server *srv;
    int rc;
} srv_thread;

static void *serve_main(void *arg)
{
    srv_thread *t = arg;
    t->rc = fy_server_run(t->srv, NULL);
    return NULL;
}

/* Set by SIGINT/SIGTERM to end the run early with what was measured (listed in
 * docs/ARCHITECTURE.md's global state). */
static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void progress(double elapsed, int64_t done, int64_t errors, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "\r  %.0f s: %lld requests, %lld errors   ", elapsed, (long long)done,
            (long long)errors);
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *url = NULL, *model = NULL, *body_file = NULL, *dataset = NULL;
    const char *headers[FY_BENCH_MAX_HEADERS];
    int json = 0, n_headers = 0;
    fy_bench_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (v && (strcmp(a, "-c") == 0 || strcmp(a, "--connections") == 0)) {
            if (parse_num(v, 1, FY_BENCH_MAX_CONNECTIONS, &x) || x != floor(x))
                return cli_error("bench", EXIT_USAGE, NULL, "%s takes 1 to %d", a,
                                 FY_BENCH_MAX_CONNECTIONS);
            o.connections = (int)x;
            i++;
        } else if (v && strcmp(a, "--rate") == 0) {
            if (parse_num(v, 0.001, 1e7, &x))
                return cli_error("bench", EXIT_USAGE, NULL, "--rate takes 0.001 to 1e7");
            o.rate = x;
            i++;
        } else if (v && (strcmp(a, "-d") == 0 || strcmp(a, "--duration") == 0)) {
            if (parse_num(v, 0.001, 86400, &x))
                return cli_error("bench", EXIT_USAGE, NULL, "%s takes seconds (at most 86400)", a);
            o.duration_s = x;
            i++;
        } else if (v && (strcmp(a, "-n") == 0 || strcmp(a, "--requests") == 0)) {
            if (parse_num(v, 1, 1e12, &x) || x != floor(x))
                return cli_error("bench", EXIT_USAGE, NULL, "%s takes a positive count", a);
            o.requests = (int64_t)x;
            i++;
        } else if (v && strcmp(a, "--warmup") == 0) {
            if (parse_num(v, 0, 86400, &x))
                return cli_error("bench", EXIT_USAGE, NULL, "--warmup takes seconds");
            o.warmup_s = x;
            i++;
        } else if (v && strcmp(a, "--timeout-ms") == 0) {
            if (parse_num(v, 1, 3600000, &x) || x != floor(x))
                return cli_error("bench", EXIT_USAGE, NULL, "--timeout-ms takes 1 to 3600000");
            o.timeout_ms = (int)x;
            i++;
        } else if (v && strcmp(a, "--method") == 0) {
            o.method = argv[++i];
        } else if (v && strcmp(a, "--body") == 0) {
            body_file = argv[++i];
        } else if (v && strcmp(a, "--dataset") == 0) {
            dataset = argv[++i];
        } else if (v && strcmp(a, "--model") == 0) {
            model = argv[++i];
        } else if (v && strcmp(a, "--content-type") == 0) {
            o.content_type = argv[++i];
        } else if (v && (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0)) {
            if (n_headers == FY_BENCH_MAX_HEADERS)
                return cli_error("bench", EXIT_USAGE, NULL, "at most %d headers",
                                 FY_BENCH_MAX_HEADERS);
            headers[n_headers++] = argv[++i];
        } else if (a[0] == '-' || url) {
            fputs(help, stderr);
            return EXIT_USAGE;
        } else {
            url = a;
        }
    }
    if (!url == !model)
        return cli_error("bench", EXIT_USAGE, "ferry bench --help", "give a URL or --model");
    if (body_file && dataset)
        return cli_error("bench", EXIT_USAGE, NULL, "--body and --dataset exclude each other");

    fy_diag d = {{0}};
    int rc, code = EXIT_OK;
    unsigned char *body = NULL;
    size_t body_len = 0;
    fy_bench_body one, *bodies = NULL;
    int n_bodies = 0;
    fy_server *srv = NULL;
    pthread_t th;
    int th_started = 0;
    srv_thread st = {0};
    char url_buf[512];
    fy_package *pkg = NULL;

    if (body_file) {
        FILE *f = fopen(body_file, "rb");
        if (!f)
            return cli_error("bench", EXIT_IO, NULL, "%s: cannot open", body_file);
        size_t cap = 1 << 16;
        body = malloc(cap);
        while (body) {
            if (body_len == cap) {
                if (cap >= FY_BENCH_MAX_RESPONSE) {
                    fclose(f);
                    free(body);
                    return cli_error("bench", EXIT_INVALID, NULL, "%s: larger than 64 MiB",
                                     body_file);
                }
                unsigned char *nb = realloc(body, cap *= 2);
                if (!nb) {
                    free(body);
                    body = NULL;
                    break;
                }
                body = nb;
            }
            size_t r = fread(body + body_len, 1, cap - body_len, f);
            if (!r)
                break;
            body_len += r;
        }
        int err = ferror(f);
        fclose(f);
        if (!body || err) {
            free(body);
            return cli_error("bench", EXIT_IO, NULL, "%s: cannot read", body_file);
        }
        one.data = body;
        one.len = body_len;
        o.bodies = &one;
        o.n_bodies = 1;
    } else if (dataset) {
        if ((rc = fy_bench_predict_bodies(dataset, 256, &bodies, &n_bodies, NULL, &d)) != FY_OK)
            return cli_error("bench", cli_exit_for(rc), NULL, "%s", d.msg);
        o.bodies = bodies;
        o.n_bodies = n_bodies;
    }

    if (model) {
        fy_serve_opts so = {0};
        so.port = -1;
        so.quiet = 1;
        so.log_path = "/dev/null";
        const char *paths[1] = {model};
        if ((rc = fy_server_create(&srv, paths, 1, &so, &d)) != FY_OK) {
            code = cli_error("bench", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        st.srv = srv;
        if (pthread_create(&th, NULL, serve_main, &st) != 0) {
            code = cli_error("bench", EXIT_IO, NULL, "cannot start the server thread");
            goto done;
        }
        th_started = 1;
        /* /predict/NAME: the package's manifest name, else the file stem */
        char name[200] = "";
        if (fy_package_sniff(model) && fy_package_open(&pkg, model, NULL) == FY_OK) {
            snprintf(name, sizeof name, "%s", fy_package_manifest(pkg)->name);
        } else {
            const char *b = strrchr(model, '/');
            b = b ? b + 1 : model;
            size_t l = strcspn(b, ".");
            snprintf(name, sizeof name, "%.*s", (int)l, b);
        }
        snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%d/predict/%s", fy_server_port(srv),
                 name);
        url = url_buf;
        if (!o.n_bodies && !dataset && pkg && fy_package_manifest(pkg)->test_dataset) {
            dataset = fy_package_manifest(pkg)->test_dataset;
            if ((rc = fy_bench_predict_bodies(dataset, 256, &bodies, &n_bodies, NULL, &d)) !=
                FY_OK) {
                code = cli_error("bench", cli_exit_for(rc), NULL, "%s", d.msg);
                goto done;
            }
            o.bodies = bodies;
            o.n_bodies = n_bodies;
        }
        if (!o.n_bodies) {
            code = cli_error("bench", EXIT_USAGE, NULL,
                             "--model needs request bodies: --body FILE or --dataset SPEC");
            goto done;
        }
    }

    o.url = url;
    o.n_headers = n_headers;
    o.headers = headers;
    o.stop = &stop_flag;
    if (!json && isatty(2))
        o.progress = progress;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fy_bench_result r;
    rc = fy_bench_run(&o, &r, &d);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (o.progress)
        fputc('\n', stderr);
    if (rc != FY_OK) {
        code =
            cli_error("bench", rc == FY_ENOTFOUND ? EXIT_IO : cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    if (json) {
        char *s = NULL;
        if ((rc = fy_bench_result_json(&r, &s, &d)) != FY_OK) {
            code = cli_error("bench", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        puts(s);
        free(s);
    } else {
        printf("target:     %s\n", url);
        printf("load:       %d connection%s, %s", o.connections > 0 ? o.connections : 1,
               o.connections > 1 ? "s" : "", o.rate > 0 ? "open loop at " : "closed loop");
        if (o.rate > 0)
            printf("%g requests/s", o.rate);
        printf("\n");
        printf("requests:   %lld in %.2f s, %lld ok, %lld failed\n", (long long)r.requests,
               r.seconds, (long long)r.ok, (long long)r.error_total);
        printf("throughput: %.1f requests/s\n", r.throughput);
        printf("latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max "
               "%.3f\n",
               r.lat_min_ms, r.lat_mean_ms, r.lat_p50_ms, r.lat_p90_ms, r.lat_p99_ms, r.lat_p999_ms,
               r.lat_max_ms);
        if (o.rate > 0)
            printf("late:       %lld requests started over 1 ms behind schedule\n",
                   (long long)r.late);
        if (r.error_total) {
            printf("errors:    ");
            for (int e = 0; e < FY_BENCH_ERR_N; e++)
                if (r.errors[e])
                    printf(" %s %lld", fy_bench_err_name((fy_bench_err)e), (long long)r.errors[e]);
            printf("\nfirst:      %s\n", r.first_error);
        }
    }
    if (r.error_total)
        code = EXIT_FAILED;
    else if (r.requests == 0)
        code = cli_error("bench", EXIT_FAILED, NULL, "no request was measured");
done:
    if (th_started) {
        fy_server_request_stop(srv);
        pthread_join(th, NULL);
    }
    fy_server_free(srv);
    fy_package_free(pkg);
    fy_bench_bodies_free(bodies, n_bodies);
    free(body);
    return code;
}
