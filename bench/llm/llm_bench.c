/* SPDX-License-Identifier: MIT */
/* Prompt-processing and generation speed of one GGUF model through libferry's
 * fy_llm_perf_run (the call `ferry perf` can use), with peak memory. Prints one JSON
 * line. Built and run by bench/llm/run.sh; not a test.
 *   llm_bench MODEL.gguf N_PROMPT N_GEN THREADS [REPEATS] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "ferry/ferry.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: llm_bench MODEL.gguf N_PROMPT N_GEN THREADS [REPEATS]\n");
        return 2;
    }
    fy_llm_opts o = {0};
    o.threads = (int)strtol(argv[4], NULL, 10);
    uint32_t np = (uint32_t)strtoul(argv[2], NULL, 10), ng = (uint32_t)strtoul(argv[3], NULL, 10);
    int reps = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 3;
    o.ctx = np + ng + 1;
    double best_pp = 0, best_tg = 0, best_load = 1e9;
    fy_llm_perf p = {0};
    for (int r = 0; r < reps; r++) {
        fy_diag d = {{0}};
        int rc = fy_llm_perf_run(argv[1], &o, np, ng, &p, &d);
        if (rc) {
            fprintf(stderr, "llm_bench: %s\n", d.msg);
            return 1;
        }
        if (p.prompt_tokens_per_s > best_pp)
            best_pp = p.prompt_tokens_per_s;
        if (p.load_s < best_load)
            best_load = p.load_s;
        if (p.gen_tokens_per_s > best_tg)
            best_tg = p.gen_tokens_per_s;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"engine\": \"ferry\", \"threads\": %d, \"pp\": %u, \"tg\": %u, \"pp_tok_s\": %.1f, "
           "\"tg_tok_s\": %.1f, \"max_rss_mib\": %.1f, \"kv_mib\": %.1f, \"load_s\": %.3f}\n",
           o.threads, np, ng, best_pp, best_tg, ru.ru_maxrss / 1024.0, p.kv_bytes / 1048576.0,
           best_load);
    return 0;
}
