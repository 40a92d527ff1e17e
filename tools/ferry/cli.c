/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands: exit codes, error messages, JSON strings. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_exit_for(int rc)
{
    switch (rc) {
    case FY_OK: return EXIT_OK;
    case FY_EPARSE: case FY_EINVAL: case FY_ELIMIT: return EXIT_INVALID;
    case FY_EUNSUPPORTED: return EXIT_UNSUPPORTED;
    default: return EXIT_IO;
    }
}

int cli_error(const char *cmd, int code, const char *hint, const char *fmt, ...)
{
    fprintf(stderr, "ferry %s: error: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (hint)
        fprintf(stderr, "hint: %s\n", hint);
    return code;
}

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_open_model(const char *cmd, const char *path, fy_model **model, fy_package **pkg)
{
    fy_diag d = {{0}};
    int rc;
    *model = NULL;
    *pkg = NULL;
    if (fy_package_sniff(path)) {
        if ((rc = fy_package_open(pkg, path, &d)) != FY_OK)
            return cli_error(cmd, cli_exit_for(rc), "'ferry check PKG' tells what is wrong with it",
                             "%s", d.msg);
        if ((rc = fy_package_load_model(*pkg, model, &d)) != FY_OK) {
            fy_package_free(*pkg);
            *pkg = NULL;
            return cli_error(cmd, cli_exit_for(rc), NULL, "%s: %s", path, d.msg);
        }
        return EXIT_OK;
    }
    if ((rc = fy_model_load(model, path, NULL, &d)) != FY_OK)
        return cli_error(cmd, cli_exit_for(rc), NULL, "%s", d.msg);
    return EXIT_OK;
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

long long cli_peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int cli_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
