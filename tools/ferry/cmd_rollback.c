/* SPDX-License-Identifier: MIT */
/* ferry rollback: put an earlier version of a service back in service. */
#include <string.h>

#include "deploy_cli.h"

static const char help[] =
    "usage: ferry rollback [VERSION] [--service NAME] [--json] [--state-dir DIR]\n"
    "\n"
    "Puts VERSION (default: the version live before the current one) of the service\n"
    "back in service: its stored package is started beside the live version, and once\n"
    "ready traffic moves to it (blue-green) and the current version drains. The\n"
    "rollback is recorded in the history and the audit log. --service is needed when\n"
    "several services are deployed.\n"
    "\n"
    "exit: 0 rolled back, 2 usage, 3 unknown version, 5 IO (state, supervisor),\n"
    "7 a deploy of the service is running, 8 the version did not start (the current\n"
    "one keeps serving).\n";

int cmd_rollback(int argc, char **argv)
{
    deploy_args a;
    int code = deploy_parse("rollback", argc, argv, help, NULL, &a);
    if (code)
        return code < 0 ? EXIT_OK : code;
    if (a.n_positional > 1)
        return cli_error("rollback", EXIT_USAGE, NULL, "one VERSION at most");
    char state[4096], service[128];
    fy_store *st = NULL;
    if ((code = deploy_open("rollback", &a, state, sizeof state, service, sizeof service, &st)))
        return code;
    fy_store_close(st);
    fy_deploy_opts o = {.state_dir = state};
    fy_deploy_result res;
    fy_diag d = {{0}};
    int rc = fy_deploy_rollback(service, a.n_positional ? a.positional[0] : NULL, &o, &res, &d);
    code = rc != FY_OK ? cli_exit_for(rc) : res.outcome;
    const char *detail = rc != FY_OK ? d.msg : res.detail;
    if (a.json) {
        printf("{\"outcome\":\"%s\",\"exit\":%d,\"service\":", code == 0 ? "promoted" : "failed",
               code);
        cli_json_str(stdout, service);
        printf(",\"version\":");
        cli_json_str(stdout, res.version);
        printf(",\"previous\":");
        cli_json_str(stdout, res.previous);
        printf(",\"detail\":");
        cli_json_str(stdout, detail);
        printf("}\n");
        return code;
    }
    if (code != EXIT_OK)
        return cli_error("rollback", code, NULL, "%s", detail);
    printf("%s: %s serves on %s (was %s)\n", service, res.version, res.url,
           res.previous[0] ? res.previous : "none");
    return EXIT_OK;
}
