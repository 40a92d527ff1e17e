/* SPDX-License-Identifier: MIT */
/* ferry status: the deployed services, their live version, and what the supervisor
 * runs now (versions, traffic shares, workers, restarts). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_cli.h"

static const char help[] =
    "usage: ferry status [SERVICE] [--json] [--state-dir DIR]\n"
    "\n"
    "Shows every deployed service (or SERVICE): its live version and public URL, and,\n"
    "when its supervisor runs, each version it runs with its share of traffic, ready\n"
    "workers, restarts and requests relayed. State: --state-dir, $FERRY_STATE_DIR or\n"
    "./.ferry.\n"
    "\n"
    "exit: 0 shown, 2 usage, 5 the state store cannot be read.\n";

int cmd_status(int argc, char **argv)
{
    deploy_args a;
    int code = deploy_parse("status", argc, argv, help, NULL, &a);
    if (code)
        return code < 0 ? EXIT_OK : code;
    if (a.n_positional > 1)
        return cli_error("status", EXIT_USAGE, NULL, "one SERVICE at most");
    const char *only = a.n_positional ? a.positional[0] : a.service;
    char state[4096];
    fy_diag d = {{0}};
    fy_store *st = NULL;
    char *text = NULL;
    if (fy_state_dir(state, sizeof state, a.state_dir) != FY_OK)
        return cli_error("status", EXIT_USAGE, NULL, "state folder path too long");
    int rc = fy_store_open(&st, state, &d);
    if (rc == FY_OK)
        rc = fy_store_services_json(st, &text, &d);
    fy_store_close(st);
    if (rc != FY_OK)
        return cli_error("status", cli_exit_for(rc), NULL, "%s", d.msg);
    json_t *svcs = json_loads(text, 0, NULL), *out = json_array();
    free(text);
    size_t i;
    json_t *sv;
    json_array_foreach(svcs, i, sv)
    {
        const char *name = json_string_value(json_object_get(sv, "name"));
        if (!name || (only && strcmp(only, name)))
            continue;
        long pid = 0;
        json_t *sup = json_null();
        if (fy_supervisor_running(state, name, &pid)) {
            char *ans = NULL;
            fy_diag dd = {{0}};
            if (fy_supervisor_call(state, name, "{\"cmd\":\"status\"}", &ans, 5, &dd) == FY_OK) {
                json_t *j = json_loads(ans, 0, NULL);
                if (j)
                    sup = j;
                free(ans);
            }
        }
        json_object_set_new(sv, "supervisor", sup);
        json_array_append(out, sv);
    }
    json_decref(svcs);
    if (only && json_array_size(out) == 0) {
        json_decref(out);
        return cli_error("status", EXIT_IO, "'ferry status' lists the deployed services",
                         "no service '%s' in %s", only, state);
    }
    if (a.json) {
        json_t *doc = json_pack("{s:s, s:O}", "state_dir", state, "services", out);
        char *t = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(out);
        return EXIT_OK;
    }
    if (json_array_size(out) == 0)
        printf("no services deployed (state folder %s)\n", state);
    json_array_foreach(out, i, sv)
    {
        const char *live = json_string_value(json_object_get(sv, "live_version"));
        json_t *sup = json_object_get(sv, "supervisor");
        printf("%s: live %s on http://%s:%lld, supervisor %s\n",
               json_string_value(json_object_get(sv, "name")), live ? live : "(none)",
               json_string_value(json_object_get(sv, "host")),
               (long long)json_integer_value(json_object_get(sv, "port")),
               json_is_object(sup) ? "running" : "stopped");
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(sup, "versions"), k, v)
        {
            printf("  %-12s %3lld%% traffic  %lld/%lld ready  %lld restarts  %lld requests, "
                   "%lld 5xx, %lld failed%s\n",
                   json_string_value(json_object_get(v, "version")),
                   (long long)json_integer_value(json_object_get(v, "weight")),
                   (long long)json_integer_value(json_object_get(v, "ready")),
                   (long long)json_integer_value(json_object_get(v, "replicas")),
                   (long long)json_integer_value(json_object_get(v, "restarts")),
                   (long long)json_integer_value(json_object_get(v, "requests")),
                   (long long)json_integer_value(json_object_get(v, "errors_5xx")),
                   (long long)json_integer_value(json_object_get(v, "failures")),
                   json_is_true(json_object_get(v, "retiring")) ? "  (retiring)" : "");
            size_t w;
            json_t *wk;
            json_array_foreach(json_object_get(v, "workers"), w, wk)
            {
                printf("    worker %lld: pid %lld, 127.0.0.1:%lld, %s, %lld restarts\n",
                       (long long)json_integer_value(json_object_get(wk, "replica")),
                       (long long)json_integer_value(json_object_get(wk, "pid")),
                       (long long)json_integer_value(json_object_get(wk, "port")),
                       json_string_value(json_object_get(wk, "state")),
                       (long long)json_integer_value(json_object_get(wk, "restarts")));
            }
        }
    }
    json_decref(out);
    return EXIT_OK;
}
