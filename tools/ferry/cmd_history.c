/* SPDX-License-Identifier: MIT */
/* ferry history: the deployments of a service with each stage's result, or the
 * audit log (who did what, when, with what outcome). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_cli.h"

static const char help[] =
    "usage: ferry history [SERVICE] [--audit] [--limit N] [--json] [--state-dir DIR]\n"
    "\n"
    "Lists deployments, newest first: version, the version it replaced, kind (deploy\n"
    "or rollback), strategy, outcome (promoted, rolled_back, refused, failed,\n"
    "interrupted, running), who ran it and when, and each stage's result and time.\n"
    "--audit lists the audit log instead. Without SERVICE: every service.\n"
    "\n"
    "options:\n"
    "  --audit       the audit log (who, what, when, outcome)\n"
    "  --limit N     at most N entries (default 20)\n"
    "  --json        the entries as one JSON array\n"
    "\n"
    "exit: 0 shown, 2 usage, 5 the state store cannot be read.\n";

int cmd_history(int argc, char **argv)
{
    deploy_args a;
    int code = deploy_parse("history", argc, argv, help, "--audit", &a);
    if (code)
        return code < 0 ? EXIT_OK : code;
    const char *only = a.n_positional ? a.positional[0] : a.service;
    char state[4096], *text = NULL;
    fy_diag d = {{0}};
    fy_store *st = NULL;
    if (fy_state_dir(state, sizeof state, a.state_dir) != FY_OK)
        return cli_error("history", EXIT_USAGE, NULL, "state folder path too long");
    int rc = fy_store_open(&st, state, &d);
    int limit = a.limit ? a.limit : 20;
    if (rc == FY_OK)
        rc = a.flag ? fy_store_audit_json(st, only, limit, &text, &d)
                    : fy_store_history_json(st, only, limit, &text, &d);
    fy_store_close(st);
    if (rc != FY_OK)
        return cli_error("history", cli_exit_for(rc), NULL, "%s", d.msg);
    if (a.json) {
        printf("%s\n", text);
        free(text);
        return EXIT_OK;
    }
    json_t *rows = json_loads(text, 0, NULL);
    free(text);
    size_t i;
    json_t *r;
    if (json_array_size(rows) == 0)
        printf("nothing recorded yet\n");
#define S(o, k)                                                                                    \
    (json_string_value(json_object_get(o, k)) ? json_string_value(json_object_get(o, k)) : "-")
    json_array_foreach(rows, i, r)
    {
        if (a.flag) {
            printf("%s  %-14s %-10s %-10s %-12s %s\n", S(r, "at"), S(r, "who"), S(r, "service"),
                   S(r, "action"), S(r, "outcome"), S(r, "detail"));
            continue;
        }
        printf("#%lld %s %s %s -> %s (%s, %s): %s\n   by %s, %s .. %s\n",
               (long long)json_integer_value(json_object_get(r, "id")), S(r, "service"),
               S(r, "kind"), S(r, "previous"), S(r, "version"), S(r, "strategy"), S(r, "status"),
               S(r, "detail"), S(r, "who"), S(r, "started"), S(r, "finished"));
        size_t k;
        json_t *s;
        json_array_foreach(json_object_get(r, "stages"), k, s)
        {
            printf("   %-12s %-8s %6.1f s  %s\n", S(s, "stage"), S(s, "outcome"),
                   json_real_value(json_object_get(s, "seconds")), S(s, "detail"));
        }
    }
#undef S
    json_decref(rows);
    return EXIT_OK;
}
