/* SPDX-License-Identifier: MIT */
/* ferry stop: stop a service's supervisor: the front stops accepting, requests in
 * flight finish, the workers drain and exit. */
#include <stdlib.h>
#include <time.h>

#include "deploy_cli.h"

static const char help[] =
    "usage: ferry stop [SERVICE] [--json] [--state-dir DIR]\n"
    "\n"
    "Stops the service's supervisor: the public port stops accepting, requests in\n"
    "flight finish, every worker drains (SIGTERM) and exits, then the supervisor\n"
    "exits. The state (versions, history) stays: 'ferry deploy' or 'ferry rollback'\n"
    "starts it again. Recorded in the audit log.\n"
    "\n"
    "exit: 0 stopped (or was not running), 2 usage, 5 it did not stop within 90 s.\n";

int cmd_stop(int argc, char **argv)
{
    deploy_args a;
    int code = deploy_parse("stop", argc, argv, help, NULL, &a);
    if (code)
        return code < 0 ? EXIT_OK : code;
    if (a.n_positional > 1)
        return cli_error("stop", EXIT_USAGE, NULL, "one SERVICE at most");
    if (a.n_positional)
        a.service = a.positional[0];
    char state[4096], service[128];
    fy_store *st = NULL;
    if ((code = deploy_open("stop", &a, state, sizeof state, service, sizeof service, &st)))
        return code;
    long pid = 0;
    fy_diag d = {{0}};
    int was = fy_supervisor_running(state, service, &pid), stopped = 1;
    if (was) {
        char *ans = NULL;
        if (fy_supervisor_call(state, service, "{\"cmd\":\"stop\"}", &ans, 10, &d) == FY_OK)
            free(ans);
        stopped = 0;
        for (int i = 0; i < 900 && !stopped; i++) {
            stopped = !fy_supervisor_running(state, service, NULL);
            struct timespec ts = {0, 100 * 1000 * 1000};
            if (!stopped)
                nanosleep(&ts, NULL);
        }
    }
    fy_store_audit(st, service, "stop", stopped ? "ok" : "failed",
                   was ? (stopped ? "supervisor stopped" : "supervisor still running after 90 s")
                       : "was not running",
                   &d);
    fy_store_close(st);
    if (a.json)
        printf("{\"service\":\"%s\",\"was_running\":%s,\"stopped\":%s}\n", service,
               was ? "true" : "false", stopped ? "true" : "false");
    else if (!stopped)
        return cli_error("stop", EXIT_IO, "see 'ferry logs'",
                         "the supervisor of %s (pid %ld) did not stop within 90 s", service, pid);
    else
        printf("%s: %s\n", service, was ? "stopped" : "was not running");
    return stopped ? EXIT_OK : EXIT_IO;
}
