/* SPDX-License-Identifier: MIT */
/* ferry pack: build a package (an OCI image layout in a tar archive) from ferry.yaml. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: ferry pack [DIR|ferry.yaml] [-o FILE] [options]\n"
    "\n"
    "Packs the manifest (DIR/ferry.yaml, default ./ferry.yaml) and the files it names\n"
    "into one content-addressed package: an OCI image layout in a tar archive. The\n"
    "same inputs give the same bytes. The model is loaded and checked against the\n"
    "manifest's signature first, and SPEC.md is generated into the package. The\n"
    "file is written atomically: a failed pack leaves nothing under FILE.\n"
    "\n"
    "options:\n"
    "  -o FILE         output (default: NAME-VERSION.ferry in the current folder)\n"
    "  --runnable      add a layer with a ferry binary and the shared libraries it\n"
    "                  needs (found with ldd), so OCI runtimes can run it\n"
    "                  (entrypoint: ferry serve on port 8080)\n"
    "  --binary PATH   the binary for --runnable (default: this ferry)\n"
    "  --key SECRET    sign with this Ed25519 secret key (see 'ferry keygen')\n"
    "  --json          print {\"package\": .., \"digest\": .., \"bytes\": ..}\n"
    "\n"
    "exit: 0 packed, 2 usage, 3 invalid manifest or model, 4 unsupported, 5 I/O.\n";

/* The shared libraries (and loader) a dynamic binary needs, as ldd reports them:
 * "name => /path (addr)" and "/path (addr)" lines. A static binary has none.
 * Runs ldd directly (no shell). Returns the count, or -1 if ldd failed. */
static int runtime_libs(const char *binary, char **out, int max)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("ldd", "ldd", binary, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "=> ");
        p = p ? p + 3 : line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '/')
            continue; /* "not a dynamic executable", vdso, or not found */
        char *end = strchr(p, ' ');
        if (end)
            *end = 0;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        if (n < max && (out[n] = strdup(p)))
            n++;
    }
    if (f)
        fclose(f);
    else
        close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    /* ldd exits 1 for a static binary ("not a dynamic executable"): that is no libraries */
    return WIFEXITED(status) && WEXITSTATUS(status) <= 1 ? n : -1;
}

static void progress(const char *what, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "  %s\n", what);
}

int cmd_pack(int argc, char **argv)
{
    const char *src = NULL, *out = NULL;
    int json = 0;
    fy_pack_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--runnable") == 0) {
            o.runnable = 1;
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(a, "--binary") == 0 && i + 1 < argc) {
            o.ferry_binary = argv[++i];
        } else if (strcmp(a, "--key") == 0 && i + 1 < argc) {
            o.secret_key = argv[++i];
        } else if (a[0] == '-') {
            return cli_error("pack", EXIT_USAGE, "see 'ferry pack --help'", "unknown option '%s'", a);
        } else if (!src) {
            src = a;
        } else {
            return cli_error("pack", EXIT_USAGE, NULL, "more than one manifest given");
        }
    }
    if (o.ferry_binary && !o.runnable)
        return cli_error("pack", EXIT_USAGE, NULL, "--binary only makes sense with --runnable");
    char manifest_path[4096], out_buf[4096];
    struct stat st;
    if (!src)
        src = ".";
    if (stat(src, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(manifest_path, sizeof manifest_path, "%s/ferry.yaml", src);
    else
        snprintf(manifest_path, sizeof manifest_path, "%s", src);
    fy_diag d = {{0}};
    int rc;
    if (!out) {
        fy_manifest *man = NULL;
        if ((rc = fy_manifest_load(&man, manifest_path, &d)) != FY_OK)
            return cli_error("pack", cli_exit_for(rc),
                             rc == FY_ENOTFOUND ? "write one with 'ferry init MODEL'" : NULL, "%s",
                             d.msg);
        snprintf(out_buf, sizeof out_buf, "%s-%s.ferry", man->name, man->version);
        fy_manifest_free(man);
        out = out_buf;
    }
    if (!json && isatty(2)) {
        o.progress = progress;
        fprintf(stderr, "packing %s -> %s\n", manifest_path, out);
    }
    char *libs[FY_PACK_MAX_RUNTIME_FILES];
    int n_libs = 0;
    if (o.runnable) {
        /* the image has no system of its own: carry the libraries the binary needs */
        const char *bin = o.ferry_binary ? o.ferry_binary : "/proc/self/exe";
        if ((n_libs = runtime_libs(bin, libs, FY_PACK_MAX_RUNTIME_FILES)) < 0)
            return cli_error("pack", EXIT_IO, "is ldd installed (Debian's libc-bin)?",
                             "cannot list the shared libraries of %s", bin);
        o.runtime_files = (const char *const *)libs;
        o.n_runtime_files = n_libs;
    }
    rc = fy_package_pack(manifest_path, out, &o, &d);
    for (int i = 0; i < n_libs; i++)
        free(libs[i]);
    if (rc != FY_OK)
        return cli_error("pack", cli_exit_for(rc), NULL, "%s", d.msg);
    fy_package *p = NULL;
    if ((rc = fy_package_open(&p, out, &d)) != FY_OK)
        return cli_error("pack", cli_exit_for(rc), NULL, "reading back %s: %s", out, d.msg);
    long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
    if (json) {
        printf("{\"package\": ");
        cli_json_str(stdout, out);
        printf(", \"digest\": ");
        cli_json_str(stdout, fy_package_digest(p));
        printf(", \"bytes\": %lld, \"signed\": %s, \"runnable\": %s}\n", bytes,
               o.secret_key ? "true" : "false", o.runnable ? "true" : "false");
    } else {
        printf("%s  %s  %lld bytes%s%s\n", out, fy_package_digest(p), bytes,
               o.secret_key ? ", signed" : "", o.runnable ? ", runnable" : "");
    }
    fy_package_free(p);
    return EXIT_OK;
}
