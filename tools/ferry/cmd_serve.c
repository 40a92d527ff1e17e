/* SPDX-License-Identifier: MIT */
/* ferry serve: the inference server (HTTP, or HTTPS with --tls-cert and --tls-key),
 * until SIGTERM (drain) or SIGINT; SIGHUP reloads. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry serve MODEL|PACKAGE|REPOSITORY [...] [options]\n"
    "\n"
    "A GGUF file (or a package of one, under its manifest name) is a language\n"
    "model served with OpenAI's API: GET /v1/models,\n"
    "POST /v1/completions and /v1/chat/completions (JSON or \"stream\": true for\n"
    "Server-Sent Events), several requests decoded together (docs/llm.md).\n"
    "Serves models over HTTP/1.1: POST /predict, KServe V2 (Open Inference Protocol)\n"
    "under /v2, TensorFlow Serving's REST API under /v1, Prometheus metrics at\n"
    "/metrics, health at /healthz/live and /healthz/ready. A bare model is served\n"
    "under its file's stem, a package (or a folder holding ferry.yaml: an unpacked\n"
    "package) under its manifest name, a repository folder holds\n"
    "NAME/VERSION/{model.onnx|*.ferry}. Loopback only unless --host says\n"
    "otherwise; HTTPS with --tls-cert and --tls-key. SIGTERM or SIGINT: stop\n"
    "accepting, finish in-flight requests, exit 0. SIGHUP: rescan and reload models\n"
    "(in-flight requests finish on the old version), reopen the log, re-read the keys\n"
    "and, when they changed, the TLS files. See docs/serve.md.\n"
    "\n"
    "options:\n"
    "  --host ADDR            address to bind (default 127.0.0.1; 0.0.0.0 exposes it)\n"
    "  --port N               port (default 8080; 0 picks a free one and prints it)\n"
    "  --threads N            HTTP threads (default 4)\n"
    "  --engine-threads N     inference threads shared by all models and instances\n"
    "                         (default 0: the CPUs this process may use; 1: none)\n"
    "  --instances N          sessions per model version (default: manifest, else 1)\n"
    "  --max-batch N          dynamic batching: rows per batch (default: manifest, else 1)\n"
    "  --queue-delay-us N     dynamic batching: longest wait to fill a batch\n"
    "  --queue N              requests waiting per model before 503 (default 256)\n"
    "  --timeout-ms N         per-request deadline (default 30000)\n"
    "  --drain-ms N           how long SIGTERM waits for in-flight requests (default 30000)\n"
    "  --max-body N           largest request body in bytes (default 64 MiB)\n"
    "  --keys FILE            API keys (lines 'ROLE SHA256 NAME', ROLE infer|admin);\n"
    "                         without it management calls are accepted from loopback only\n"
    "  --tls-cert FILE        serve HTTPS with this PEM certificate (chain); needs --tls-key\n"
    "  --tls-key FILE         its PEM private key, unencrypted, chmod 600 (both re-read\n"
    "                         on SIGHUP: new connections get a renewed certificate)\n"
    "  --versions N           repository: serve the newest N versions (default 1)\n"
    "  --trusted-key PUB      serve only packages signed by this key (ferry keygen);\n"
    "                         unsigned, untrusted packages and bare models are refused\n"
    "  --ctx N                language models: context per request (default: the\n"
    "                         model's, at most 4096)\n"
    "  --parallel N           language models: requests decoded together (default 4)\n"
    "  --llm-queue N          language models: requests waiting for a slot before 429\n"
    "                         (default 64)\n"
    "  --max-tokens N         language models: largest max_tokens a request may ask\n"
    "                         (default 1024)\n"
    "  --llm-threads N        language models: compute threads (default 1)\n"
    "  --log FILE             JSON log lines to FILE (default: standard error)\n"
    "  --quiet                no access log lines\n"
    "  --hash-key KEY         print the hash of KEY for a keys file, and exit\n"
    "\n"
    "exit: 0 stopped cleanly, 2 usage, 3 invalid model, keys or TLS file, 5 cannot bind\n"
    "or read.\n";

/* The running server, for the signal handlers: the one global of the command,
 * set before handlers are installed and cleared after they are removed. */
static fy_server *volatile running;

static void on_stop(int sig)
{
    (void)sig;
    if (running)
        fy_server_request_stop(running);
}

static void on_reload(int sig)
{
    (void)sig;
    if (running)
        fy_server_request_reload(running);
}

static int int_arg(const char *flag, const char *v, long lo, long hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return cli_error("serve", EXIT_USAGE, NULL, "%s wants a number from %ld to %ld, got '%s'",
                         flag, lo, hi, v);
    *out = (int)n;
    return EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
    fy_serve_opts o = {0};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int n_paths = 0, code = EXIT_OK, port = 8080, max_body = 0;
    int llm_ctx = 0, llm_parallel = 0, llm_queue = 0, llm_max_tokens = 0;
    if (!paths)
        return cli_error("serve", EXIT_IO, NULL, "out of memory");
    for (int i = 1; i < argc && code == EXIT_OK; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            free(paths);
            return EXIT_OK;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "--hash-key") == 0 && v) {
            char h[65];
            fy_serve_hash_key(v, h);
            printf("%s\n", h);
            free(paths);
            return EXIT_OK;
        } else if (v && strcmp(a, "--host") == 0) {
            o.host = argv[++i];
        } else if (v && strcmp(a, "--trusted-key") == 0) {
            o.trusted_key_file = argv[++i];
        } else if (v && strcmp(a, "--keys") == 0) {
            o.keys_file = argv[++i];
        } else if (v && strcmp(a, "--tls-cert") == 0) {
            o.tls_cert_file = argv[++i];
        } else if (v && strcmp(a, "--tls-key") == 0) {
            o.tls_key_file = argv[++i];
        } else if (v && strcmp(a, "--log") == 0) {
            o.log_path = argv[++i];
        } else if (v && strcmp(a, "--port") == 0) {
            code = int_arg(a, argv[++i], 0, 65535, &port);
        } else if (v && strcmp(a, "--threads") == 0) {
            code = int_arg(a, argv[++i], 1, 256, &o.http_threads);
        } else if (v && strcmp(a, "--engine-threads") == 0) {
            code = int_arg(a, argv[++i], 0, 1024, &o.engine_threads);
        } else if (v && strcmp(a, "--instances") == 0) {
            code = int_arg(a, argv[++i], 1, 256, &o.instances);
        } else if (v && strcmp(a, "--max-batch") == 0) {
            code = int_arg(a, argv[++i], 1, 65536, &o.max_batch_size);
        } else if (v && strcmp(a, "--queue-delay-us") == 0) {
            code = int_arg(a, argv[++i], 0, 10000000, &o.max_queue_delay_us);
        } else if (v && strcmp(a, "--queue") == 0) {
            code = int_arg(a, argv[++i], 1, 1000000, &o.queue_capacity);
        } else if (v && strcmp(a, "--timeout-ms") == 0) {
            code = int_arg(a, argv[++i], 1, 3600000, &o.request_timeout_ms);
        } else if (v && strcmp(a, "--drain-ms") == 0) {
            code = int_arg(a, argv[++i], 0, 3600000, &o.drain_timeout_ms);
        } else if (v && strcmp(a, "--max-body") == 0) {
            code = int_arg(a, argv[++i], 1024, 1 << 30, &max_body);
        } else if (v && strcmp(a, "--versions") == 0) {
            code = int_arg(a, argv[++i], 1, 1000, &o.version_policy_latest);
        } else if (v && strcmp(a, "--ctx") == 0) {
            code = int_arg(a, argv[++i], 1, 1 << 24, &llm_ctx);
        } else if (v && strcmp(a, "--parallel") == 0) {
            code = int_arg(a, argv[++i], 1, 256, &llm_parallel);
        } else if (v && strcmp(a, "--llm-queue") == 0) {
            code = int_arg(a, argv[++i], 1, 65536, &llm_queue);
        } else if (v && strcmp(a, "--max-tokens") == 0) {
            code = int_arg(a, argv[++i], 1, 1 << 24, &llm_max_tokens);
        } else if (v && strcmp(a, "--llm-threads") == 0) {
            code = int_arg(a, argv[++i], 1, 256, &o.llm_threads);
        } else if (a[0] == '-') {
            code = cli_error("serve", EXIT_USAGE, "see 'ferry serve --help'",
                             "unknown option '%s'", a);
        } else {
            paths[n_paths++] = a;
        }
    }
    if (code != EXIT_OK) {
        free(paths);
        return code;
    }
    if (n_paths == 0) {
        free(paths);
        return cli_error("serve", EXIT_USAGE, "e.g. ferry serve model.onnx", "missing MODEL");
    }
    if (!o.tls_cert_file != !o.tls_key_file) {
        free(paths);
        return cli_error("serve", EXIT_USAGE, "e.g. --tls-cert cert.pem --tls-key key.pem",
                         "%s needs %s", o.tls_cert_file ? "--tls-cert" : "--tls-key",
                         o.tls_cert_file ? "--tls-key" : "--tls-cert");
    }
    o.port = port == 0 ? -1 : port;
    o.max_body_bytes = (size_t)max_body;
    o.llm_ctx = (uint32_t)llm_ctx;
    o.llm_parallel = (uint32_t)llm_parallel;
    o.llm_queue = (uint32_t)llm_queue;
    o.llm_max_tokens = (uint32_t)llm_max_tokens;
    fy_diag d = {{0}};
    fy_server *s = NULL;
    int rc = fy_server_create(&s, paths, n_paths, &o, &d);
    free(paths);
    if (rc != FY_OK)
        return cli_error("serve", cli_exit_for(rc), NULL, "%s", d.msg);
    running = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "ferry serve: listening on %s://%s:%d\n", o.tls_cert_file ? "https" : "http",
            o.host ? o.host : "127.0.0.1", fy_server_port(s));
    rc = fy_server_run(s, &d);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    running = NULL;
    fy_server_free(s);
    if (rc != FY_OK)
        return cli_error("serve", cli_exit_for(rc), NULL, "%s", d.msg);
    return EXIT_OK;
}
