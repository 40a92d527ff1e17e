/* SPDX-License-Identifier: MIT */
/* Shared by the deployment commands (status, history, rollback, logs, stop):
 * their common options and the default service. */
#ifndef FERRY_DEPLOY_CLI_H
#define FERRY_DEPLOY_CLI_H

#include "cli.h"

typedef struct deploy_args {
    const char *state_dir;
    const char *service; /* first positional argument, or --service */
    const char *positional[2];
    int n_positional;
    int json;
    int limit;
    int flag; /* the command's one extra switch (history --audit, logs --all) */
} deploy_args;

/* Parse --state-dir, --service, --json, --limit N, `flag_name` (may be NULL) and up
 * to two positional arguments. Returns -1 and prints help for --help, else an exit
 * code (EXIT_OK when parsing went well). */
int deploy_parse(const char *cmd, int argc, char **argv, const char *help, const char *flag_name,
                 deploy_args *a);
/* Resolve the state folder and the service (the only one deployed when none was
 * named); opens the store into *store. Prints the error and returns its exit code. */
int deploy_open(const char *cmd, deploy_args *a, char *state, size_t n_state, char *service,
                size_t n_service, fy_store **store);

#endif
