/* SPDX-License-Identifier: MIT */
/* ferry deploy: run the deploy pipeline of a deploy.yaml (validate, environment,
 * pack, stage, verify, promote or roll back), showing each stage as it runs. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: ferry deploy deploy.yaml [--json] [--state-dir DIR] [--wait SECONDS] [--port N]\n"
    "       ferry deploy deploy.yaml --target kubernetes|systemd --emit DIR\n"
    "                    [--image REF | --registry R]\n"
    "\n"
    "Deploys the service that deploy.yaml describes (docs/deploy.md): validates the\n"
    "spec, checks this machine against the requirements, packs the model if the spec\n"
    "names a folder, stages the new version beside the live one, verifies it\n"
    "(accuracy, smoke requests, p99 latency and throughput under load), then moves\n"
    "traffic to it (blue-green, canary steps, or recreate) or rolls it back; the live\n"
    "version serves throughout. The local target runs a supervisor daemon per service\n"
    "that owns the public port. State (SQLite) lives in --state-dir, else\n"
    "$FERRY_STATE_DIR, else ./.ferry. Then: ferry status, history, rollback, logs, stop.\n"
    "\n"
    "options:\n"
    "  --json            one JSON event per line (stage, state, message, seconds), then\n"
    "                    a result line with the outcome and exit code\n"
    "  --state-dir DIR   where state, packages and logs live\n"
    "  --wait SECONDS    wait this long for another deploy of the service (default 0)\n"
    "  --port N          the public port, instead of the spec's serving.port\n"
    "  --target T        override the spec's target; kubernetes and systemd need --emit\n"
    "  --emit DIR        write the target's files into DIR instead of deploying:\n"
    "                    kubernetes (deployment, service, hpa, pdb, kserve/) or\n"
    "                    systemd (NAME.service, NAME.env), plus NAME-alerts.yaml\n"
    "                    (Prometheus rules) and NAME-dashboard.json (Grafana)\n"
    "  --image REF       kubernetes: the package's runnable OCI image\n"
    "  --registry R      kubernetes: or R/NAME:VERSION (model.package must be a .ferry)\n"
    "\n"
    "exit: 0 promoted (or already live), 1 verification failed: rolled back, the old\n"
    "version serves, 2 usage, 3 invalid spec or package, 4 unsupported, 5 IO (files,\n"
    "state store, disk), 6 the environment check failed (nothing changed), 7 another\n"
    "deploy of the service is running, 8 the new version did not start: rolled back.\n";

typedef struct out_ctx {
    int json;
    int tty;
    int step;
    int running;              /* a stage's line is on the terminal, not yet ended */
    char stage[32], msg[200]; /* the stage running, re-shown after an info line */
} out_ctx;

static void on_event(const char *stage, const char *state, const char *msg, double secs, void *ctx)
{
    out_ctx *o = ctx;
    if (o->json) {
        printf("{\"event\":\"stage\",\"stage\":");
        cli_json_str(stdout, stage);
        printf(",\"state\":");
        cli_json_str(stdout, state);
        printf(",\"message\":");
        cli_json_str(stdout, msg);
        if (strcmp(state, "start") && strcmp(state, "info"))
            printf(",\"seconds\":%.3f", secs);
        printf("}\n");
        fflush(stdout);
        return;
    }
    if (!strcmp(state, "start")) {
        o->step++;
        snprintf(o->stage, sizeof o->stage, "%s", stage);
        snprintf(o->msg, sizeof o->msg, "%s", msg);
        o->running = 1;
        if (o->tty)
            printf("  .. %-12s %.60s", stage, msg);
        else
            printf("%s: start: %s\n", stage, msg);
    } else if (!strcmp(state, "info")) {
        if (o->tty && o->running)
            printf("\r\033[K     %s\n  .. %-12s %.60s", msg, o->stage, o->msg);
        else if (o->tty)
            printf("     %s\n", msg);
        else
            printf("%s: %s\n", stage, msg);
    } else {
        const char *mark = !strcmp(state, "ok") ? "ok" : !strcmp(state, "skipped") ? "--" : "!!";
        o->running = 0;
        if (o->tty) /* the whole message is in the history; the line stays short */
            printf("\r\033[K  %s %-12s %.100s%s (%.1f s)\n", mark, stage, msg,
                   strlen(msg) > 100 ? "..." : "", secs);
        else
            printf("%s: %s (%.1f s): %s\n", stage, state, secs, msg);
    }
    fflush(stdout);
}

static const char *outcome_name(int o)
{
    switch (o) {
    case FY_DEPLOY_PROMOTED: return "promoted";
    case FY_DEPLOY_VERIFY_FAILED: return "rolled_back";
    case FY_DEPLOY_START_FAILED: return "start_failed";
    case FY_DEPLOY_ENV_FAILED: return "environment_failed";
    case FY_DEPLOY_LOCKED: return "locked";
    case FY_DEPLOY_INVALID: return "invalid";
    case FY_DEPLOY_UNSUPPORTED: return "unsupported";
    default: return "failed";
    }
}

static int emit(const fy_deploy_spec *spec, fy_target target, const char *dir, const char *image,
                const char *registry)
{
    fy_diag d = {{0}};
    int rc = fy_deploy_emit(spec, target, dir, image, registry, &d);
    if (rc != FY_OK)
        return cli_error("deploy", rc == FY_EIO ? EXIT_IO : cli_exit_for(rc), NULL, "%s", d.msg);
    printf("wrote the %s files of %s and its monitoring rules and dashboard to %s\n",
           fy_target_name(target), spec->service, dir);
    if (target == FY_TARGET_KUBERNETES)
        printf("apply: kubectl apply -f %s  (or kserve/inferenceservice.yaml instead)\n", dir);
    else
        printf("install: cp %s/%s.service /etc/systemd/system/ && systemctl enable --now %s\n", dir,
               spec->service, spec->service);
    return EXIT_OK;
}

int cmd_deploy(int argc, char **argv)
{
    const char *file = NULL, *state = NULL, *emit_dir = NULL, *target_name = NULL;
    const char *image = NULL, *registry = NULL;
    int json = 0, wait_s = 0, port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--state-dir") && v) {
            state = argv[++i];
        } else if (!strcmp(a, "--emit") && v) {
            emit_dir = argv[++i];
        } else if (!strcmp(a, "--port") && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 65535)
                return cli_error("deploy", EXIT_USAGE, NULL, "--port wants 1 to 65535, got '%s'",
                                 argv[i]);
            port = (int)n;
        } else if (!strcmp(a, "--image") && v) {
            image = argv[++i];
        } else if (!strcmp(a, "--registry") && v) {
            registry = argv[++i];
        } else if (!strcmp(a, "--target") && v) {
            target_name = argv[++i];
        } else if (!strcmp(a, "--wait") && v) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0 || n > 86400)
                return cli_error("deploy", EXIT_USAGE, NULL, "--wait wants seconds, got '%s'",
                                 argv[i]);
            wait_s = (int)n;
        } else if (a[0] == '-') {
            return cli_error("deploy", EXIT_USAGE, "see 'ferry deploy --help'",
                             "unknown option '%s'", a);
        } else if (!file) {
            file = a;
        } else {
            return cli_error("deploy", EXIT_USAGE, NULL, "more than one spec given");
        }
    }
    if (!file)
        return cli_error("deploy", EXIT_USAGE,
                         "e.g. ferry deploy deploy.yaml (ferry init --deploy "
                         "writes one)",
                         "missing deploy.yaml");
    fy_deploy_spec *spec = NULL;
    fy_diag d = {{0}};
    int rc = fy_deploy_spec_load(&spec, file, &d);
    if (rc != FY_OK) {
        if (json) {
            printf("{\"event\":\"result\",\"outcome\":\"invalid\",\"exit\":%d,\"detail\":",
                   cli_exit_for(rc));
            cli_json_str(stdout, d.msg);
            printf("}\n");
        }
        return cli_error("deploy", cli_exit_for(rc), NULL, "%s", d.msg);
    }
    if (port)
        spec->port = port;
    fy_target target = spec->target;
    if (target_name) {
        if (!strcmp(target_name, "local"))
            target = FY_TARGET_LOCAL;
        else if (!strcmp(target_name, "kubernetes"))
            target = FY_TARGET_KUBERNETES;
        else if (!strcmp(target_name, "systemd"))
            target = FY_TARGET_SYSTEMD;
        else {
            fy_deploy_spec_free(spec);
            return cli_error("deploy", EXIT_USAGE, NULL,
                             "--target is local, kubernetes or systemd, got '%s'", target_name);
        }
        spec->target = target;
    }
    if (target != FY_TARGET_LOCAL || emit_dir) {
        int code;
        if (!emit_dir)
            code = cli_error("deploy", EXIT_USAGE, "e.g. --emit k8s/",
                             "target %s writes files: give --emit DIR", fy_target_name(target));
        else if (target == FY_TARGET_LOCAL)
            code = cli_error("deploy", EXIT_USAGE, NULL,
                             "--emit writes kubernetes or systemd files: add --target "
                             "kubernetes|systemd");
        else
            code = emit(spec, target, emit_dir, image, registry);
        fy_deploy_spec_free(spec);
        return code;
    }
    out_ctx oc = {.json = json, .tty = !json && isatty(1)};
    fy_deploy_opts o = {
        .state_dir = state, .on_event = on_event, .ctx = &oc, .lock_wait_s = wait_s};
    fy_deploy_result res;
    rc = fy_deploy_run(spec, &o, &res, &d);
    int code = rc != FY_OK ? cli_exit_for(rc) : res.outcome;
    const char *detail = rc != FY_OK ? d.msg : res.detail;
    if (json) {
        printf("{\"event\":\"result\",\"outcome\":\"%s\",\"exit\":%d,\"service\":",
               rc != FY_OK ? "failed" : outcome_name(res.outcome), code);
        cli_json_str(stdout, spec->service);
        printf(",\"version\":");
        cli_json_str(stdout, res.version);
        printf(",\"previous\":");
        cli_json_str(stdout, res.previous);
        printf(",\"deploy_id\":%lld,\"url\":", (long long)res.deploy_id);
        cli_json_str(stdout, res.url);
        printf(",\"detail\":");
        cli_json_str(stdout, detail);
        printf("}\n");
    } else if (code == EXIT_OK) {
        printf("\n%s %s is live on %s\n", spec->service, res.version, res.url);
        const char *body = NULL;
        for (int i = 0; i < spec->n_smoke && !body; i++)
            if (spec->smoke[i].body_file)
                body = spec->smoke[i].body_file;
        if (body)
            printf(
                "try:  curl -s -H 'Content-Type: application/json' --data-binary @%s %s/predict\n",
                body, res.url);
        else
            printf("try:  curl -s -H 'Content-Type: application/json' -d '{\"instances\": [...]}' "
                   "%s/predict\n",
                   res.url);
        printf("then: ferry status | ferry history | ferry rollback | ferry logs | ferry stop %s\n",
               spec->service);
    } else {
        cli_error("deploy", code,
                  code == FY_DEPLOY_VERIFY_FAILED || code == FY_DEPLOY_START_FAILED
                      ? "the live version was kept; 'ferry history' has the stages"
                      : NULL,
                  "%s", detail);
    }
    fy_deploy_spec_free(spec);
    return code;
}
