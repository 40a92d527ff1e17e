/* SPDX-License-Identifier: MIT */
/* Fuzz target for the front's /metrics merge (src/deploy/metrics_merge.c): the input
 * is split at its first 0xFF byte into two workers' texts. Checks, besides memory
 * safety: every line out is a HELP, a TYPE or a sample carrying the worker label,
 * and no family's TYPE line appears twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "deploy/deploy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *cut = memchr(data, 0xff, size);
    size_t n0 = cut ? (size_t)(cut - data) : size;
    const char *texts[2] = {(const char *)data, cut ? (const char *)cut + 1 : NULL};
    size_t lens[2] = {n0, cut ? size - n0 - 1 : 0};
    const char *values[2] = {"a", "b\"c"};
    char *out = NULL;
    size_t len = 0;
    fy_diag d;
    if (fy__metrics_merge(texts, lens, values, 2, "w", &out, &len, &d) != FY_OK)
        return 0;
    if (strlen(out) != len)
        abort();
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            abort(); /* every line ends */
        size_t n = (size_t)(nl - p);
        if (n >= 7 && !memcmp(p, "# TYPE ", 7)) {
            /* the same TYPE line again later: a family written twice */
            char *line = malloc(n + 3);
            if (line) {
                line[0] = '\n';
                memcpy(line + 1, p, n + 1);
                line[n + 2] = 0;
                if (strstr(nl, line))
                    abort();
            }
            free(line);
        } else if (!(n >= 7 && !memcmp(p, "# HELP ", 7))) {
            const char *brace = memchr(p, '{', n);
            if (!brace || (strncmp(brace, "{w=\"a\"", 6) && strncmp(brace, "{w=\"b\\\"c\"", 9)))
                abort();
        }
        p = nl + 1;
    }
    fy__free(out);
    return 0;
}
