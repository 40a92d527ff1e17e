/* SPDX-License-Identifier: MIT */
/* ferry perf on a GGUF language model: prompt-processing and generation tokens/s,
 * load time, weight and KV-cache bytes, peak memory (cmd_perf.c branches here when
 * the model it is given is a GGUF file or a package holding one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ferry/llm.h"
#include "ferry/package.h"

static const char help[] =
    "usage: ferry perf MODEL.gguf|PACKAGE [options]\n"
    "\n"
    "Loads a GGUF language model (the file, or a package whose model.format is gguf),\n"
    "feeds a prompt of --prompt-tokens token ids in one\n"
    "batch, then generates --gen-tokens tokens one at a time (greedy), --repeats\n"
    "times (each a fresh load), and reports the median of each measure. The prompt is\n"
    "a fixed spread of ids over the vocabulary: speed does not depend on the text.\n"
    "\n"
    "options:\n"
    "  --prompt-tokens N  prompt length (default 128)\n"
    "  --gen-tokens N     generated tokens (default 32; 0 skips generation)\n"
    "  --threads T        compute threads (default 1)\n"
    "  --repeats R        runs, each with a fresh load (default 3)\n"
    "  --ctx N            context length (default: the model's, at most 4096)\n"
    "  --json             print one JSON object (keys below) instead of text\n"
    "\n"
    "reported:\n"
    "  prompt_tokens_per_s  prompt tokens / seconds of the batched prompt pass\n"
    "  gen_tokens_per_s     generated tokens / seconds of the one-token steps\n"
    "  load_ms              mapping the file, checking it and allocating the state\n"
    "                       (for a package: opening it, digests checked, and loading)\n"
    "  weight_bytes         bytes of the weights (mapped, not copied)\n"
    "  kv_bytes             bytes of the KV cache at the context length\n"
    "  peak_rss_bytes       peak resident memory of the process (VmHWM)\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 invalid model, 4 unsupported model, 5 unreadable.\n";

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cli_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPEATS 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* fy_llm_perf_run for a package: the load it times is opening the package (which
 * checks every digest) and loading the model from its bytes. */
static int perf_package(const char *path, const fy_llm_opts *o, uint32_t np, uint32_t ng,
                        fy_llm_perf *out, fy_diag *d)
{
    fy_package *pkg = NULL;
    fy_llm *m = NULL;
    double t0 = now_s();
    int rc = fy_package_open(&pkg, path, d);
    if (rc == FY_OK)
        rc = fy_package_load_llm(pkg, &m, o, d);
    double load_s = now_s() - t0;
    if (rc == FY_OK && (rc = fy_llm_perf_model(m, np, ng, out, d)) == FY_OK)
        out->load_s = load_s;
    fy_llm_free(m);
    fy_package_free(pkg);
    return rc;
}

int cli_perf_gguf(int argc, char **argv)
{
    const char *path = NULL;
    long np = 128, ng = 32, threads = 1, repeats = 3, ctx = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *num = NULL, lo = 1, hi = 1L << 20;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        } else if (strcmp(a, "--prompt-tokens") == 0) {
            num = &np;
        } else if (strcmp(a, "--gen-tokens") == 0) {
            num = &ng, lo = 0;
        } else if (strcmp(a, "--threads") == 0) {
            num = &threads, hi = 1024;
        } else if (strcmp(a, "--repeats") == 0) {
            num = &repeats, hi = MAX_REPEATS;
        } else if (strcmp(a, "--ctx") == 0) {
            num = &ctx;
        } else if (a[0] == '-') {
            return cli_error("perf", EXIT_USAGE, "see 'ferry perf MODEL.gguf --help'",
                             "unknown option '%s' for a GGUF model", a);
        } else if (!path) {
            path = a;
            continue;
        } else {
            return cli_error("perf", EXIT_USAGE, NULL, "more than one MODEL given");
        }
        if (i + 1 >= argc || cli_parse_long(argv[i + 1], lo, hi, num) != 0)
            return cli_error("perf", EXIT_USAGE, NULL, "%s wants a number in [%ld, %ld]", a, lo,
                             hi);
        i++;
    }
    if (!path)
        return cli_error("perf", EXIT_USAGE, NULL, "a MODEL.gguf or PACKAGE is required");
    int is_pkg = fy_package_sniff(path);
    fy_llm_opts o = {0};
    o.threads = (int)threads;
    o.ctx = (uint32_t)ctx;
    double pp[MAX_REPEATS], tg[MAX_REPEATS], load[MAX_REPEATS];
    fy_llm_perf p = {0};
    for (long r = 0; r < repeats; r++) {
        fy_diag d = {0};
        int rc = is_pkg ? perf_package(path, &o, (uint32_t)np, (uint32_t)ng, &p, &d)
                        : fy_llm_perf_run(path, &o, (uint32_t)np, (uint32_t)ng, &p, &d);
        if (rc)
            return cli_error("perf", cli_exit_for(rc), NULL, "%s: %s", path, d.msg);
        pp[r] = p.prompt_tokens_per_s;
        tg[r] = p.gen_tokens_per_s;
        load[r] = p.load_s * 1e3;
    }
    double mpp = median(pp, (int)repeats), mtg = median(tg, (int)repeats);
    double mload = median(load, (int)repeats);
    long long rss = cli_peak_rss_bytes();
    if (json) {
        printf("{\"format\": \"gguf\", \"model\": ");
        cli_json_str(stdout, path);
        printf(", \"threads\": %ld, \"prompt_tokens\": %ld, \"gen_tokens\": %ld, \"repeats\": %ld, "
               "\"prompt_tokens_per_s\": %.2f, \"gen_tokens_per_s\": %.2f, \"load_ms\": %.2f, "
               "\"weight_bytes\": %llu, \"kv_bytes\": %llu, \"peak_rss_bytes\": %lld}\n",
               threads, np, ng, repeats, mpp, mtg, mload, (unsigned long long)p.weight_bytes,
               (unsigned long long)p.kv_bytes, rss);
    } else {
        printf("model        %s (GGUF), %ld thread%s, median of %ld\n", path, threads,
               threads == 1 ? "" : "s", repeats);
        printf("prompt       %.1f tokens/s (%ld tokens in one batch)\n", mpp, np);
        if (ng)
            printf("generation   %.1f tokens/s (%ld tokens)\n", mtg, ng);
        printf("load         %.1f ms\n", mload);
        printf("weights      %.1f MiB\n", p.weight_bytes / 1048576.0);
        printf("kv cache     %.1f MiB\n", p.kv_bytes / 1048576.0);
        if (rss >= 0)
            printf("peak rss     %.1f MiB\n", rss / 1048576.0);
    }
    return EXIT_OK;
}
