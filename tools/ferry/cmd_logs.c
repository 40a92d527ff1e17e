/* SPDX-License-Identifier: MIT */
/* ferry logs: the supervisor's log and its workers' logs, last lines first-to-last. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_cli.h"

static const char help[] =
    "usage: ferry logs [SERVICE] [--limit N] [--all] [--json] [--state-dir DIR]\n"
    "\n"
    "Prints the last N lines (default 40) of the supervisor's log (workers started,\n"
    "ready, exited, restarted, traffic moves) and, with --all, of every worker's\n"
    "standard error and JSON log (ferry serve's events and access lines). Files live\n"
    "in STATE/services/SERVICE/ (supervisor.log, workers/VERSION-N.{err,log}).\n"
    "\n"
    "exit: 0 shown, 2 usage, 5 no logs to read.\n";

/* Print (or emit as JSON) the last n lines of one file. */
static int tail(const char *path, int n, int json, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char **ring = calloc((size_t)n, sizeof *ring);
    char line[4096];
    long count = 0;
    while (ring && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        free(ring[count % n]);
        ring[count % n] = strdup(line);
        count++;
    }
    fclose(f);
    if (!json)
        printf("==> %s <==\n", name);
    for (long i = count > n ? count - n : 0; ring && i < count; i++) {
        const char *l = ring[i % n] ? ring[i % n] : "";
        if (json) {
            printf("{\"file\":");
            cli_json_str(stdout, name);
            printf(",\"line\":");
            cli_json_str(stdout, l);
            printf("}\n");
        } else {
            printf("%s\n", l);
        }
    }
    for (int i = 0; ring && i < n; i++)
        free(ring[i]);
    free(ring);
    return 1;
}

int cmd_logs(int argc, char **argv)
{
    deploy_args a;
    int code = deploy_parse("logs", argc, argv, help, "--all", &a);
    if (code)
        return code < 0 ? EXIT_OK : code;
    if (a.n_positional)
        a.service = a.positional[0];
    char state[4096], service[128], path[8192];
    fy_store *st = NULL;
    if ((code = deploy_open("logs", &a, state, sizeof state, service, sizeof service, &st)))
        return code;
    fy_store_close(st);
    int n = a.limit ? a.limit : 40, any = 0;
    snprintf(path, sizeof path, "%s/services/%s/supervisor.log", state, service);
    any += tail(path, n, a.json, "supervisor.log");
    if (a.flag) {
        snprintf(path, sizeof path, "%s/services/%s/workers", state, service);
        struct dirent **names = NULL;
        int k = scandir(path, &names, NULL, alphasort);
        for (int i = 0; i < k; i++) {
            const char *e = names[i]->d_name;
            size_t len = strlen(e);
            if (len > 4 && (!strcmp(e + len - 4, ".err") || !strcmp(e + len - 4, ".log"))) {
                char file[8400], label[600];
                snprintf(file, sizeof file, "%s/%s", path, e);
                snprintf(label, sizeof label, "workers/%s", e);
                any += tail(file, n, a.json, label);
            }
            free(names[i]);
        }
        free(names);
    }
    if (!any)
        return cli_error("logs", EXIT_IO, NULL, "no logs for %s under %s", service, state);
    return EXIT_OK;
}
