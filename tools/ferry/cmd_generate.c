/* SPDX-License-Identifier: MIT */
/* ferry generate: run a GGUF language model (a .gguf file or a package holding one)
 * on a prompt and print the continuation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry generate MODEL.gguf|PACKAGE --prompt TEXT [options]\n"
    "\n"
    "Tokenizes TEXT (with BOS), processes it in one batch and generates a continuation\n"
    "with a LLaMA-family GGUF model (F32, F16, Q8_0 or Q4_0 weights), given as the\n"
    "file or as a package whose model.format is gguf. Prints the text as it is\n"
    "generated, or one JSON object with --json.\n"
    "\n"
    "options:\n"
    "  -n, --max-tokens N   tokens to generate (default 128; 0 = until EOS or full context)\n"
    "  --temperature T      0 = greedy (default 0)\n"
    "  --top-k K            keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P            nucleus sampling threshold (default 0.95; 1 = off)\n"
    "  --repeat-penalty R   CTRL-style penalty on the last 64 tokens (default 1 = off)\n"
    "  --seed S             PRNG seed for sampling (default 0)\n"
    "  --stop TEXT          stop before TEXT (up to 4 times)\n"
    "  --ctx N              context length (default: the model's, at most 4096)\n"
    "  --threads T          worker threads (default 1)\n"
    "  --scalar             use the reference kernels, not AVX2/AVX-512\n"
    "  --ignore-eos         keep generating after the end-of-sequence token\n"
    "  --json               print {\"text\", \"prompt_token_ids\", \"token_ids\",\n"
    "                       \"prompt_tokens_per_s\", \"gen_tokens_per_s\", ...}\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 invalid model or prompt, 4 unsupported model, 5 unreadable.\n";

typedef struct gen_out {
    int json;
    char *buf;
    size_t len, cap;
} gen_out;

static int on_text(void *ctx, int32_t id, const char *text, size_t len)
{
    gen_out *g = ctx;
    (void)id;
    if (!g->json) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return 0;
    }
    if (g->len + len + 1 > g->cap) {
        size_t nc = (g->len + len + 1) * 2;
        char *nb = realloc(g->buf, nc);
        if (!nb)
            return 1;
        g->buf = nb;
        g->cap = nc;
    }
    memcpy(g->buf + g->len, text, len);
    g->len += len;
    g->buf[g->len] = 0;
    return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static void json_ids(const int32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    putchar(']');
}

int cmd_generate(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL;
    fy_gen_opts go = {0};
    fy_llm_opts lo = {0};
    go.max_tokens = 128;
    go.add_bos = 1;
    go.sampler.top_k = 40;
    go.sampler.top_p = 0.95f;
    go.sampler.repeat_penalty = 1.0f;
    int json = 0, nstop = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double v;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        }
        int has_val = i + 1 < argc;
#define NUM(lo_, hi_)                                                                              \
    (has_val && parse_num(argv[++i], lo_, hi_, &v) == 0                                            \
         ? 1                                                                                       \
         : (cli_error("generate", EXIT_USAGE, "see 'ferry generate --help'",                       \
                      "%s needs a number in [%g, %g]", a, (double)(lo_), (double)(hi_)),           \
            0))
        if (strcmp(a, "--json") == 0)
            json = 1;
        else if (strcmp(a, "--scalar") == 0)
            lo.force_scalar = 1;
        else if (strcmp(a, "--ignore-eos") == 0)
            go.ignore_eos = 1;
        else if (strcmp(a, "--prompt") == 0 || strcmp(a, "-p") == 0) {
            if (!has_val)
                return cli_error("generate", EXIT_USAGE, NULL, "%s needs a value", a);
            prompt = argv[++i];
        } else if (strcmp(a, "--stop") == 0) {
            if (!has_val || nstop >= FY_LLM_MAX_STOP)
                return cli_error("generate", EXIT_USAGE, NULL, "--stop needs a value (at most %d)",
                                 FY_LLM_MAX_STOP);
            go.stop[nstop++] = argv[++i];
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
            if (!NUM(0, 1 << 20))
                return EXIT_USAGE;
            go.max_tokens = (uint32_t)v;
        } else if (strcmp(a, "--temperature") == 0) {
            if (!NUM(0, 100))
                return EXIT_USAGE;
            go.sampler.temperature = (float)v;
        } else if (strcmp(a, "--top-k") == 0) {
            if (!NUM(0, 1 << 24))
                return EXIT_USAGE;
            go.sampler.top_k = (int)v;
        } else if (strcmp(a, "--top-p") == 0) {
            if (!NUM(0, 1))
                return EXIT_USAGE;
            go.sampler.top_p = (float)v;
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            if (!NUM(0.01, 100))
                return EXIT_USAGE;
            go.sampler.repeat_penalty = (float)v;
        } else if (strcmp(a, "--seed") == 0) {
            if (!NUM(0, 18446744073709551615.0))
                return EXIT_USAGE;
            go.sampler.seed = (uint64_t)v;
        } else if (strcmp(a, "--ctx") == 0) {
            if (!NUM(1, 1 << 24))
                return EXIT_USAGE;
            lo.ctx = (uint32_t)v;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!NUM(1, 256))
                return EXIT_USAGE;
            lo.threads = (int)v;
        } else if (a[0] == '-') {
            return cli_error("generate", EXIT_USAGE, "see 'ferry generate --help'",
                             "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_error("generate", EXIT_USAGE, NULL, "unexpected argument '%s'", a);
        }
#undef NUM
    }
    if (!path || !prompt)
        return cli_error("generate", EXIT_USAGE, "see 'ferry generate --help'",
                         "a MODEL.gguf (or PACKAGE) and --prompt TEXT are required");
    fy_diag d = {{0}};
    fy_llm *m = NULL;
    fy_package *pkg = NULL; /* the model borrows its bytes */
    int rc;
    if (fy_package_sniff(path)) {
        if ((rc = fy_package_open(&pkg, path, &d)) == FY_OK)
            rc = fy_package_load_llm(pkg, &m, &lo, &d);
        if (rc) {
            fy_package_free(pkg);
            return cli_error("generate", cli_exit_for(rc), NULL, "%s: %s", path, d.msg);
        }
    } else if ((rc = fy_llm_load(&m, path, &lo, &d)) != FY_OK) {
        return cli_error("generate", cli_exit_for(rc), NULL, "%s", d.msg);
    }
    const fy_llm_info *in = fy_llm_info_get(m);
    size_t plen = strlen(prompt), cap = plen + 2, np = 0, ng = 0;
    int32_t *pids = malloc(cap * sizeof *pids);
    size_t gcap = go.max_tokens ? go.max_tokens : in->ctx;
    int32_t *gids = malloc(gcap * sizeof *gids);
    gen_out out = {json, NULL, 0, 0};
    int code = EXIT_OK;
    if (!pids || !gids) {
        code = cli_error("generate", EXIT_IO, NULL, "out of memory");
        goto done;
    }
    if ((rc = fy_llm_tokenize(m, prompt, plen, go.add_bos, pids, cap, &np)) != FY_OK) {
        code = cli_error("generate", cli_exit_for(rc), NULL, "cannot tokenize the prompt");
        goto done;
    }
    fy_gen_stats st;
    rc = fy_llm_generate(m, pids, np, &go, on_text, &out, gids, gcap, &ng, &st, &d);
    if (rc) {
        code = cli_error("generate", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    double pps = st.prompt_s > 0 ? st.prompt_tokens / st.prompt_s : 0;
    double gps = st.gen_s > 0 && st.gen_tokens > 1 ? (st.gen_tokens - 1) / st.gen_s : 0;
    if (json) {
        printf("{\"text\": ");
        cli_json_str(stdout, out.buf ? out.buf : "");
        printf(", \"prompt_token_ids\": ");
        json_ids(pids, np);
        printf(", \"token_ids\": ");
        json_ids(gids, ng < gcap ? ng : gcap);
        printf(", \"prompt_tokens\": %u, \"gen_tokens\": %u, \"finish_reason\": \"%s\", "
               "\"prompt_tokens_per_s\": %.2f, \"gen_tokens_per_s\": %.2f, "
               "\"time_to_first_token_s\": %.6f, \"threads\": %d, \"kernels\": \"%s\"}\n",
               st.prompt_tokens, st.gen_tokens, st.finish_reason, pps, gps, st.first_token_s,
               lo.threads ? lo.threads : 1, in->kernels);
    } else {
        printf("\n");
        fflush(stdout);
        fprintf(stderr,
                "ferry generate: %u prompt tokens (%.1f tok/s), %u generated (%.1f tok/s)\n",
                st.prompt_tokens, pps, st.gen_tokens, gps);
    }
done:
    free(out.buf);
    free(pids);
    free(gids);
    fy_llm_free(m);
    fy_package_free(pkg);
    return code;
}
