/* SPDX-License-Identifier: MIT */
/* ferry supervise: run a service's supervisor in the foreground. `ferry deploy`
 * starts it as a daemon this way; it can also run under a process manager. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char help[] =
    "usage: ferry supervise --service NAME --port N [--host ADDR] [--state-dir DIR]\n"
    "\n"
    "Runs the supervisor of a deployed service in the foreground (docs/deploy.md): it\n"
    "owns the public port (a front that routes each request to a version by weight),\n"
    "runs the versions' worker processes, health-checks and restarts them, and takes\n"
    "commands on STATE/services/NAME/control.sock. `ferry deploy` and `ferry rollback`\n"
    "start it as a daemon when it is not running, then tell it which versions to run;\n"
    "started by hand it runs no version until told. SIGTERM or SIGINT (or 'ferry\n"
    "stop'): stop accepting, finish requests in flight, drain the workers, exit 0.\n"
    "\n"
    "exit: 0 stopped, 2 usage, 3 invalid name or address, 5 the port, lock or control\n"
    "socket cannot be taken (another supervisor of the service runs?).\n";

int cmd_supervise(int argc, char **argv)
{
    const char *state = NULL, *service = NULL, *host = NULL;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--state-dir") && v) {
            state = argv[++i];
        } else if (!strcmp(a, "--service") && v) {
            service = argv[++i];
        } else if (!strcmp(a, "--host") && v) {
            host = argv[++i];
        } else if (!strcmp(a, "--port") && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 65535)
                return cli_error("supervise", EXIT_USAGE, NULL, "--port wants 1 to 65535, got '%s'",
                                 argv[i]);
            port = (int)n;
        } else {
            return cli_error("supervise", EXIT_USAGE, "see 'ferry supervise --help'",
                             "unknown argument '%s'", a);
        }
    }
    if (!service || !port)
        return cli_error("supervise", EXIT_USAGE, NULL, "--service and --port are required");
    char dir[4096];
    if (fy_state_dir(dir, sizeof dir, state) != FY_OK)
        return cli_error("supervise", EXIT_USAGE, NULL, "state folder path too long");
    fy_supervisor_opts o = {.state_dir = dir, .service = service, .host = host, .port = port};
    fy_diag d = {{0}};
    int rc = fy_supervisor_run(&o, &d);
    if (rc != FY_OK) {
        /* one line, timestamped like the supervisor's log, which `ferry deploy` reads */
        char ts[40];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s supervisor of %s failed: %s\n", ts, service, d.msg);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}
