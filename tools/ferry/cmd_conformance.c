/* SPDX-License-Identifier: MIT */
/* ferry conformance: run ONNX backend test cases, each in its own process with a
 * time limit, and report per case, per op and per suite. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define MAX_GATES 16
#define MAX_OPS 512

static const char help[] =
    "usage: ferry conformance DIR [options]\n"
    "\n"
    "Runs ONNX backend test cases: DIR is one case (holding model.onnx and\n"
    "test_data_set_N/), a suite of cases, or a folder of suites (such as\n"
    "/usr/include/onnx/backend/test/data from Debian's libonnx-testdata).\n"
    "Outputs are compared with ONNX's tolerances (rtol 1e-3, atol 1e-7). An\n"
    "unsupported op or dtype is a skip with its reason. Each case runs in a child\n"
    "process, so a crash or hang is reported as that case's failure.\n"
    "\n"
    "options:\n"
    "  --filter TEXT        only cases whose name contains TEXT\n"
    "  --verbose            print every case, not only failures\n"
    "  --json               print one JSON object (cases and totals) instead\n"
    "  --timeout S          seconds per case (default 60)\n"
    "  --min-pass SUITE=N   gate: fail unless SUITE has at least N passing cases\n"
    "  --max-fail SUITE=N   gate: fail if SUITE has more than N failing cases\n"
    "\n"
    "exit: 0 when every gate holds (without gates: when no case failed), 1 otherwise,\n"
    "2 usage, 5 DIR unreadable.\n";

typedef struct case_ref {
    char suite[128];
    char name[256];
    char path[4096];
} case_ref;

typedef struct tally {
    char name[128];
    int pass, fail, skip;
} tally;

static int has_model(const char *dir)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted subfolder names of dir; caller frees each and the array. */
static int list_dir(const char *dir, char ***out)
{
    DIR *dd = opendir(dir);
    if (!dd)
        return -1;
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(dd);
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static int add_case(case_ref **cases, int *n, int *cap, const char *suite, const char *name,
                    const char *path)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        case_ref *c = realloc(*cases, (size_t)*cap * sizeof *c);
        if (!c)
            return -1;
        *cases = c;
    }
    case_ref *c = &(*cases)[(*n)++];
    snprintf(c->suite, sizeof c->suite, "%s", suite);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->path, sizeof c->path, "%s", path);
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    while (s && s[1] == 0 && s > p) { /* trailing slash */
        const char *q = s - 1;
        while (q > p && *q != '/')
            q--;
        return *q == '/' ? q + 1 : q;
    }
    return s ? s + 1 : p;
}

/* One case, two levels (suite/case) or three levels (root/suite/case). */
static int collect(const char *root, const char *filter, case_ref **cases, int *n)
{
    int cap = 0;
    char path[4096], sub[4096];
    if (has_model(root))
        return add_case(cases, n, &cap, "case", base_name(root), root);
    char **l1;
    int n1 = list_dir(root, &l1);
    if (n1 < 0)
        return -1;
    for (int i = 0; i < n1; i++) {
        snprintf(path, sizeof path, "%s/%s", root, l1[i]);
        if (has_model(path)) {
            if (!filter || strstr(l1[i], filter))
                add_case(cases, n, &cap, base_name(root), l1[i], path);
        } else {
            char **l2;
            int n2 = list_dir(path, &l2);
            for (int k = 0; k < n2; k++) {
                snprintf(sub, sizeof sub, "%s/%s", path, l2[k]);
                if (has_model(sub) && (!filter || strstr(l2[k], filter)))
                    add_case(cases, n, &cap, l1[i], l2[k], sub);
                free(l2[k]);
            }
            if (n2 > 0)
                free(l2);
        }
        free(l1[i]);
    }
    free(l1);
    return 0;
}

/* Run one case in a child; crashes and time-outs become failures. */
static void run_isolated(const case_ref *c, int timeout, fy_case_result *r)
{
    int fds[2];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "?");
    if (pipe(fds) != 0) {
        fy_conformance_case(c->path, r);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)timeout);
        fy_case_result cr;
        fy_conformance_case(c->path, &cr);
        ssize_t w = write(fds[1], &cr, sizeof cr);
        _exit(w == (ssize_t)sizeof cr ? 0 : 3);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        fy_conformance_case(c->path, r);
        return;
    }
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t k = read(fds[0], (char *)r + got, sizeof *r - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof *r) {
        memset(r, 0, sizeof *r);
        snprintf(r->op, sizeof r->op, "?");
        r->status = FY_CASE_FAIL;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            snprintf(r->reason, sizeof r->reason, "timed out after %d s", timeout);
        else if (WIFSIGNALED(status))
            snprintf(r->reason, sizeof r->reason, "crashed with signal %d", WTERMSIG(status));
        else
            snprintf(r->reason, sizeof r->reason, "exited with status %d", WEXITSTATUS(status));
    }
}

static tally *find_tally(tally *t, int *n, int max, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    if (*n >= max)
        return NULL;
    memset(&t[*n], 0, sizeof t[*n]);
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    return &t[(*n)++];
}

static void count(tally *t, fy_case_status st)
{
    if (!t)
        return;
    if (st == FY_CASE_PASS)
        t->pass++;
    else if (st == FY_CASE_FAIL)
        t->fail++;
    else
        t->skip++;
}

int cmd_conformance(int argc, char **argv)
{
    const char *dir = NULL, *filter = NULL;
    int verbose = 0, json = 0, timeout = 60, n_gates = 0;
    struct {
        char suite[128];
        int n, is_min;
    } gates[MAX_GATES];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 3600)
                return cli_error("conformance", EXIT_USAGE, NULL,
                                 "--timeout wants seconds from 1 to 3600, got '%s'", argv[i]);
            timeout = (int)v;
        } else if ((strcmp(a, "--min-pass") == 0 || strcmp(a, "--max-fail") == 0) &&
                   i + 1 < argc) {
            const char *g = argv[++i];
            const char *eq = strchr(g, '=');
            char *end = NULL;
            long v = eq ? strtol(eq + 1, &end, 10) : -1;
            if (!eq || eq == g || (size_t)(eq - g) >= sizeof gates[0].suite || *end || v < 0 ||
                n_gates >= MAX_GATES)
                return cli_error("conformance", EXIT_USAGE, "write it as SUITE=N, e.g. node=600",
                                 "bad gate '%s'", g);
            snprintf(gates[n_gates].suite, sizeof gates[0].suite, "%.*s", (int)(eq - g), g);
            gates[n_gates].n = (int)v;
            gates[n_gates].is_min = a[2] == 'm' && a[3] == 'i';
            n_gates++;
        } else if (a[0] == '-') {
            return cli_error("conformance", EXIT_USAGE, "see 'ferry conformance --help'",
                             "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return cli_error("conformance", EXIT_USAGE, NULL, "more than one DIR given");
        }
    }
    if (!dir)
        return cli_error("conformance", EXIT_USAGE,
                         "e.g. ferry conformance /usr/include/onnx/backend/test/data",
                         "missing DIR");
    case_ref *cases = NULL;
    int n = 0;
    if (collect(dir, filter, &cases, &n) != 0)
        return cli_error("conformance", EXIT_IO, NULL, "cannot read '%s'", dir);

    static tally ops[MAX_OPS], suites[64];
    int n_ops = 0, n_suites = 0, pass = 0, fail = 0, skip = 0;
    if (json)
        printf("{\"cases\": [");
    for (int i = 0; i < n; i++) {
        fy_case_result r;
        run_isolated(&cases[i], timeout, &r);
        count(find_tally(ops, &n_ops, MAX_OPS, r.op), r.status);
        count(find_tally(suites, &n_suites, 64, cases[i].suite), r.status);
        pass += r.status == FY_CASE_PASS;
        fail += r.status == FY_CASE_FAIL;
        skip += r.status == FY_CASE_SKIP;
        static const char *st_name[] = {"pass", "fail", "skip"};
        if (json) {
            printf("%s\n {\"suite\": ", i ? "," : "");
            cli_json_str(stdout, cases[i].suite);
            printf(", \"case\": ");
            cli_json_str(stdout, cases[i].name);
            printf(", \"op\": ");
            cli_json_str(stdout, r.op);
            printf(", \"status\": \"%s\", \"reason\": ", st_name[r.status]);
            cli_json_str(stdout, r.reason);
            printf("}");
        } else if (r.status == FY_CASE_FAIL || verbose) {
            printf("%-4s %s/%s [%s]%s%s\n", r.status == FY_CASE_PASS   ? "ok"
                                            : r.status == FY_CASE_FAIL ? "FAIL"
                                                                       : "skip",
                   cases[i].suite, cases[i].name, r.op, r.reason[0] ? ": " : "", r.reason);
        }
        fflush(stdout);
    }
    int gates_ok = 1;
    for (int g = 0; g < n_gates; g++) {
        int found = 0;
        for (int s = 0; s < n_suites; s++) {
            if (strcmp(suites[s].name, gates[g].suite) != 0)
                continue;
            found = 1;
            if (gates[g].is_min ? suites[s].pass < gates[g].n : suites[s].fail > gates[g].n)
                gates_ok = 0;
        }
        if (!found && gates[g].is_min && gates[g].n > 0)
            gates_ok = 0;
    }
    if (json) {
        printf("\n], \"suites\": {");
        for (int s = 0; s < n_suites; s++) {
            printf("%s", s ? ", " : "");
            cli_json_str(stdout, suites[s].name);
            printf(": {\"passed\": %d, \"failed\": %d, \"skipped\": %d}", suites[s].pass,
                   suites[s].fail, suites[s].skip);
        }
        printf("}, \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"gates_ok\": %s}\n", pass,
               fail, skip, gates_ok ? "true" : "false");
    } else {
        printf("\nper op (pass/fail/skip):\n");
        for (int k = 0; k < n_ops; k++)
            printf("  %-32s %4d %4d %4d\n", ops[k].name, ops[k].pass, ops[k].fail, ops[k].skip);
        printf("\nper suite:\n");
        for (int s = 0; s < n_suites; s++)
            printf("  %-20s %d passed, %d failed, %d skipped\n", suites[s].name, suites[s].pass,
                   suites[s].fail, suites[s].skip);
        for (int g = 0; g < n_gates; g++)
            printf("gate %s %s %d\n", gates[g].suite, gates[g].is_min ? ">= passes" : "<= fails",
                   gates[g].n);
        if (n_gates)
            printf("gates: %s\n", gates_ok ? "held" : "FAILED");
        printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
    }
    free(cases);
    if (n_gates)
        return gates_ok ? EXIT_OK : EXIT_FAILED;
    return fail ? EXIT_FAILED : EXIT_OK;
}
