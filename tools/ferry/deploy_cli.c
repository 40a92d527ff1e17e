/* SPDX-License-Identifier: MIT */
/* Option parsing and service lookup shared by status, history, rollback, logs, stop. */
#include <stdlib.h>
#include <string.h>

#include "deploy_cli.h"

int deploy_parse(const char *cmd, int argc, char **argv, const char *help, const char *flag_name,
                 deploy_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(s)) {
            fputs(help, stdout);
            return -1;
        } else if (!strcmp(s, "--json")) {
            a->json = 1;
        } else if (flag_name && !strcmp(s, flag_name)) {
            a->flag = 1;
        } else if (!strcmp(s, "--state-dir") && v) {
            a->state_dir = argv[++i];
        } else if (!strcmp(s, "--service") && v) {
            a->service = argv[++i];
        } else if (!strcmp(s, "--limit") && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 100000)
                return cli_error(cmd, EXIT_USAGE, NULL, "--limit wants 1 to 100000, got '%s'",
                                 argv[i]);
            a->limit = (int)n;
        } else if (s[0] == '-') {
            char hint[64];
            snprintf(hint, sizeof hint, "see 'ferry %s --help'", cmd);
            return cli_error(cmd, EXIT_USAGE, hint, "unknown option '%s'", s);
        } else if (a->n_positional < 2) {
            a->positional[a->n_positional++] = s;
        } else {
            return cli_error(cmd, EXIT_USAGE, NULL, "too many arguments");
        }
    }
    return EXIT_OK;
}

int deploy_open(const char *cmd, deploy_args *a, char *state, size_t n_state, char *service,
                size_t n_service, fy_store **store)
{
    fy_diag d = {{0}};
    if (fy_state_dir(state, n_state, a->state_dir) != FY_OK)
        return cli_error(cmd, EXIT_USAGE, NULL, "state folder path too long");
    int rc = fy_store_open(store, state, &d);
    if (rc != FY_OK)
        return cli_error(cmd, cli_exit_for(rc), NULL, "%s", d.msg);
    if (a->service) {
        snprintf(service, n_service, "%s", a->service);
        return EXIT_OK;
    }
    if ((rc = fy_store_default_service(*store, service, n_service, &d)) != FY_OK) {
        fy_store_close(*store);
        *store = NULL;
        return cli_error(cmd, rc == FY_ENOTFOUND ? EXIT_IO : EXIT_USAGE,
                         rc == FY_ENOTFOUND ? NULL : "give SERVICE (or --service NAME)", "%s",
                         d.msg);
    }
    return EXIT_OK;
}
