/* SPDX-License-Identifier: MIT */
/* ferry doctor: what this machine offers, and whether a package's requirements hold. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry doctor [PACKAGE|ferry.yaml] [--json] [--disk PATH] [--root DIR]\n"
    "\n"
    "Describes this machine as a model service sees it: CPU model and features\n"
    "(cpuid), online CPUs, affinity and the cgroup CPU quota, memory and the cgroup\n"
    "memory limit, free disk, NVIDIA GPUs, the OS and the libraries ferry links.\n"
    "Given a package (or a ferry.yaml), checks each of its requirements (arch,\n"
    "cpu_features, min_memory_mb, min_disk_mb, threads, ferry version) and says\n"
    "which fail and why.\n"
    "\n"
    "options:\n"
    "  --json        machine-readable report (see docs/doctor.md)\n"
    "  --disk PATH   measure free disk here (default: the current folder)\n"
    "  --gpus N      also require N NVIDIA GPUs\n"
    "  --root DIR    read /proc, /sys and /etc under DIR (tests; CPU features then\n"
    "                come from DIR/proc/cpuinfo)\n"
    "\n"
    "exit: 0 every requirement passes (or no package given), 1 a requirement fails,\n"
    "2 usage, 3 invalid package or manifest, 5 unreadable.\n";

static void human_bytes(char *out, size_t n, uint64_t b)
{
    if (b >= (1ull << 30))
        snprintf(out, n, "%.1f GiB", (double)b / (double)(1ull << 30));
    else
        snprintf(out, n, "%.0f MiB", (double)b / (double)(1ull << 20));
}

static void print_human(const fy_env *e, const fy_env_report *r, const char *what)
{
    char a[32], b[32];
    printf("cpu:      %s (%s)\n", e->cpu_model[0] ? e->cpu_model : "unknown model",
           e->arch[0] ? e->arch : "unknown arch");
    printf("features:");
    int nf = 0;
    for (int i = 0; i < fy_env_cpu_feature_count(); i++)
        if (e->cpu_features >> i & 1) {
            printf(" %s", fy_env_cpu_feature_name(i));
            nf++;
        }
    printf("%s (%s)\n", nf ? "" : " none known",
           e->cpu_features_from_cpuid ? "cpuid" : "/proc/cpuinfo");
    printf("cores:    %d online, %d in affinity", e->cpus_online, e->cpus_affinity);
    if (e->cpu_quota > 0)
        printf(", cgroup v%d quota %.2f CPUs", e->cgroup_version, e->cpu_quota);
    else if (e->cgroup_version)
        printf(", cgroup v%d: no CPU quota", e->cgroup_version);
    printf(" -> %d usable\n", e->cpus_usable);
    human_bytes(a, sizeof a, e->mem_total);
    human_bytes(b, sizeof b, e->mem_available);
    printf("memory:   %s total, %s available", a, b);
    if (e->mem_limit) {
        human_bytes(a, sizeof a, e->mem_limit);
        printf(", cgroup limit %s", a);
    }
    printf("\n");
    human_bytes(a, sizeof a, e->disk_free);
    human_bytes(b, sizeof b, e->disk_total);
    printf("disk:     %s free of %s at %s\n", a, b, e->disk_path);
    if (e->n_gpus) {
        printf("gpus:     %d NVIDIA%s%s\n", e->n_gpus, e->nvidia_driver[0] ? ", driver " : "",
               e->nvidia_driver);
        for (int i = 0; i < e->n_gpus; i++)
            printf("          %s %s\n", e->gpus[i].bus_id, e->gpus[i].model);
    } else {
        printf("gpus:     none found\n");
    }
    printf("os:       %s (%s)\n", e->os_name, e->kernel);
    printf("ferry:    %s; ", e->ferry_version);
    for (int i = 0; i < e->n_libs; i++)
        printf("%s%s %s", i ? ", " : "", e->libs[i].name, e->libs[i].version);
    printf("\n");
    if (!r)
        return;
    printf("\nrequirements of %s:\n", what);
    if (!r->n_checks)
        printf("  (none declared)\n");
    for (int i = 0; i < r->n_checks; i++) {
        const fy_env_check *c = &r->checks[i];
        const char *st = c->status == FY_ENV_PASS   ? "pass"
                         : c->status == FY_ENV_FAIL ? "FAIL"
                                                    : "????";
        printf("  %-4s %-24s want %-22s have %s\n", st, c->name, c->want, c->have);
        if (c->why[0] && c->status != FY_ENV_PASS)
            printf("       %s\n", c->why);
    }
    printf("%s\n", r->n_failed ? "some requirements fail" : "all requirements pass");
}

int cmd_doctor(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    long gpus = 0;
    fy_env_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--disk") == 0 && i + 1 < argc) {
            o.disk_path = argv[++i];
        } else if (strcmp(a, "--root") == 0 && i + 1 < argc) {
            o.root = argv[++i];
        } else if (strcmp(a, "--gpus") == 0 && i + 1 < argc) {
            char *end;
            gpus = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || gpus < 0 || gpus > FY_ENV_MAX_GPUS)
                return cli_error("doctor", EXIT_USAGE, NULL, "--gpus takes 0 to %d",
                                 FY_ENV_MAX_GPUS);
        } else if (a[0] == '-' || path) {
            fputs(help, stderr);
            return EXIT_USAGE;
        } else {
            path = a;
        }
    }
    fy_diag d = {{0}};
    fy_env env;
    int rc = fy_env_detect(&env, &o, &d);
    if (rc != FY_OK)
        return cli_error("doctor", cli_exit_for(rc), NULL, "%s", d.msg);

    fy_package *pkg = NULL;
    fy_manifest *own = NULL;
    const fy_manifest *man = NULL;
    fy_env_report *rep = NULL;
    int code = EXIT_OK;
    if (path) {
        if (fy_package_sniff(path)) {
            if ((rc = fy_package_open(&pkg, path, &d)) != FY_OK)
                return cli_error("doctor", cli_exit_for(rc), NULL, "%s", d.msg);
            man = fy_package_manifest(pkg);
        } else {
            if ((rc = fy_manifest_load(&own, path, &d)) != FY_OK)
                return cli_error("doctor", cli_exit_for(rc),
                                 "give a package (.ferry) or its ferry.yaml", "%s", d.msg);
            man = own;
        }
    }
    if (man || gpus) {
        fy_env_reqs reqs;
        fy_env_reqs_from_manifest(man, &reqs);
        reqs.min_gpus = (int)gpus;
        if (!(rep = calloc(1, sizeof *rep))) {
            code = cli_error("doctor", EXIT_IO, NULL, "out of memory");
            goto done;
        }
        if ((rc = fy_env_check_reqs(&env, &reqs, rep, &d)) != FY_OK) {
            code = cli_error("doctor", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        if (rep->n_failed)
            code = EXIT_FAILED;
    }
    if (json) {
        char *s = NULL;
        if ((rc = fy_env_to_json(&env, rep, &s, &d)) != FY_OK) {
            code = cli_error("doctor", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        puts(s);
        free(s);
    } else {
        char what[192];
        if (man)
            snprintf(what, sizeof what, "%s %s", man->name, man->version);
        else
            snprintf(what, sizeof what, "the command line");
        print_human(&env, rep, what);
    }
done:
    free(rep);
    fy_manifest_free(own);
    fy_package_free(pkg);
    return code;
}
