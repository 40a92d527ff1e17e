/* SPDX-License-Identifier: MIT */
/* ferry emit: Kubernetes, systemd and monitoring files for a package. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry emit kubernetes|systemd|monitoring|all PACKAGE|ferry.yaml -o DIR [options]\n"
    "\n"
    "Writes deployment files for the package (docs/kubernetes.md):\n"
    "  kubernetes  deployment.yaml service.yaml hpa.yaml pdb.yaml (kubectl apply -f DIR)\n"
    "              and kserve/inferenceservice.yaml (the KServe alternative)\n"
    "  systemd     NAME.service and NAME.env\n"
    "  monitoring  NAME-alerts.yaml (Prometheus rules) and NAME-dashboard.json (Grafana)\n"
    "  all         all of them\n"
    "Names, version and resources come from the manifest (requirements.threads and\n"
    "min_memory_mb).\n"
    "\n"
    "options:\n"
    "  -o, --out DIR          folder to write (created if missing)\n"
    "  --image REF            the package's runnable OCI image (kubernetes)\n"
    "  --registry R           or: image R/NAME:VERSION (R/NAME@DIGEST with --digest;\n"
    "                         needs a .ferry package)\n"
    "  --digest               pin the image by the package digest\n"
    "  --name NAME            service name (default: the manifest name)\n"
    "  --namespace NS         Kubernetes namespace (default: none in the files)\n"
    "  --port N               8080\n"
    "  --replicas N           2\n"
    "  --min-replicas N       autoscaling floor (default: replicas)\n"
    "  --max-replicas N       autoscaling ceiling (default: 2 x min)\n"
    "  --target-cpu PCT       autoscaling CPU utilization target (70)\n"
    "  --cpu-limit MILLI      CPU limit in millicores (default: none)\n"
    "  --memory-limit MIB     memory limit (default: 2 x the request)\n"
    "  --auth-secret NAME     Secret with the API keys file under key 'keys'\n"
    "  --package-path PATH    systemd: the package to serve (default\n"
    "                         /var/lib/ferry/NAME-VERSION.ferry)\n"
    "  --binary PATH          systemd: ferry binary (/usr/local/bin/ferry)\n"
    "  --user USER            systemd: service user (ferry)\n"
    "  --host ADDR            systemd: bind address (127.0.0.1)\n"
    "  --keys-file PATH       systemd: API keys file\n"
    "  --alert-selector M     PromQL matchers for the service (default job=\"NAME\")\n"
    "  --alert-error-rate F   failed share that alerts (0.01)\n"
    "  --alert-p99-ms MS      p99 latency that alerts (default: the manifest's\n"
    "                         tests.max_p99_latency_ms, else 100)\n"
    "\n"
    "exit: 0 written, 2 usage, 3 invalid package or settings, 5 cannot write.\n";

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cmd_emit(int argc, char **argv)
{
    const char *what = NULL, *path = NULL, *dir = NULL, *registry = NULL, *name = NULL;
    int digest = 0;
    fy_emit_opts o;
    memset(&o, 0, sizeof o);
    const char *image = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        }
#define STR(flag, field)                                                                           \
    if (v && strcmp(a, flag) == 0) {                                                               \
        field = v;                                                                                 \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define INT(flag, field, lo, hi)                                                                   \
    if (v && strcmp(a, flag) == 0) {                                                               \
        if (num(v, lo, hi, &x) || x != floor(x))                                                   \
            return cli_error("emit", EXIT_USAGE, NULL, "%s takes %d to %d", flag, lo, hi);         \
        field = (int)x;                                                                            \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        STR("-o", dir)
        STR("--out", dir)
        STR("--image", image)
        STR("--registry", registry)
        STR("--name", name)
        STR("--namespace", o.namespace_)
        STR("--auth-secret", o.auth_secret)
        STR("--package-path", o.package_path)
        STR("--binary", o.binary)
        STR("--user", o.user)
        STR("--host", o.host)
        STR("--keys-file", o.keys_file)
        STR("--alert-selector", o.alert_selector)
        INT("--port", o.port, 1, 65535)
        INT("--replicas", o.replicas, 1, 1000)
        INT("--min-replicas", o.min_replicas, 1, 1000)
        INT("--max-replicas", o.max_replicas, 1, 1000)
        INT("--target-cpu", o.target_cpu_percent, 1, 100)
        INT("--cpu-limit", o.cpu_limit_millis, 100, 1024000)
        if (v && strcmp(a, "--memory-limit") == 0) {
            if (num(v, 64, 1 << 30, &x) || x != floor(x))
                return cli_error("emit", EXIT_USAGE, NULL, "--memory-limit takes MiB");
            o.memory_limit_mb = (uint64_t)x;
            i++;
            continue;
        }
        if (v && strcmp(a, "--alert-error-rate") == 0) {
            if (num(v, 1e-6, 0.999, &x))
                return cli_error("emit", EXIT_USAGE, NULL, "--alert-error-rate takes 0 to 1");
            o.alert_error_rate = x;
            i++;
            continue;
        }
        if (v && strcmp(a, "--alert-p99-ms") == 0) {
            if (num(v, 0.001, 3600000, &x))
                return cli_error("emit", EXIT_USAGE, NULL, "--alert-p99-ms takes milliseconds");
            o.alert_p99_ms = x;
            i++;
            continue;
        }
#undef STR
#undef INT
        if (strcmp(a, "--digest") == 0) {
            digest = 1;
        } else if (a[0] == '-') {
            fputs(help, stderr);
            return EXIT_USAGE;
        } else if (!what) {
            what = a;
        } else if (!path) {
            path = a;
        } else {
            fputs(help, stderr);
            return EXIT_USAGE;
        }
    }
    int k8s = 0, sysd = 0, mon = 0;
    if (what && strcmp(what, "kubernetes") == 0)
        k8s = 1;
    else if (what && strcmp(what, "systemd") == 0)
        sysd = 1;
    else if (what && strcmp(what, "monitoring") == 0)
        mon = 1;
    else if (what && strcmp(what, "all") == 0)
        k8s = sysd = mon = 1;
    if (!(k8s || sysd || mon) || !path || !dir) {
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    if (image && registry)
        return cli_error("emit", EXIT_USAGE, NULL, "--image and --registry exclude each other");

    fy_diag d = {{0}};
    fy_package *pkg = NULL;
    fy_manifest *own = NULL;
    const fy_manifest *man;
    int rc, code = EXIT_OK;
    if (fy_package_sniff(path)) {
        if ((rc = fy_package_open(&pkg, path, &d)) != FY_OK)
            return cli_error("emit", cli_exit_for(rc), NULL, "%s", d.msg);
        man = fy_package_manifest(pkg);
    } else {
        if ((rc = fy_manifest_load(&own, path, &d)) != FY_OK)
            return cli_error("emit", cli_exit_for(rc), "give a package (.ferry) or its ferry.yaml",
                             "%s", d.msg);
        man = own;
    }
    fy_emit_opts_from_manifest(man, &o);
    if (name)
        o.name = name;
    if (!o.alert_p99_ms && man->test_max_p99_ms > 0)
        o.alert_p99_ms = man->test_max_p99_ms;
    char ref[1024], pkgpath[512];
    if (registry) {
        if (!pkg) {
            code = cli_error("emit", EXIT_USAGE, NULL, "--registry needs a .ferry package");
            goto done;
        }
        if ((rc = fy_emit_image_ref(pkg, registry, digest, ref, sizeof ref, &d)) != FY_OK) {
            code = cli_error("emit", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        image = ref;
    }
    o.image = image;
    if (!o.package_path) {
        snprintf(pkgpath, sizeof pkgpath, "/var/lib/ferry/%s-%s.ferry", man->name, man->version);
        o.package_path = pkgpath;
    }
    if (k8s && !o.image) {
        code = cli_error("emit", EXIT_USAGE, "push the runnable package with skopeo, then name it",
                         "kubernetes needs --image REF or --registry R");
        goto done;
    }
    if (k8s && (rc = fy_emit_kubernetes(&o, dir, &d)) != FY_OK)
        goto fail;
    if (sysd && (rc = fy_emit_systemd(&o, dir, &d)) != FY_OK)
        goto fail;
    if (mon && (rc = fy_emit_monitoring(&o, dir, &d)) != FY_OK)
        goto fail;
    printf("wrote %s%s%s files for %s to %s\n", k8s ? "kubernetes" : "",
           sysd ? (k8s ? ", systemd" : "systemd") : "",
           mon ? (k8s || sysd ? ", monitoring" : "monitoring") : "", o.name, dir);
    goto done;
fail:
    code = cli_error("emit", rc == FY_EIO ? EXIT_IO : cli_exit_for(rc), NULL, "%s", d.msg);
done:
    fy_manifest_free(own);
    fy_package_free(pkg);
    return code;
}
