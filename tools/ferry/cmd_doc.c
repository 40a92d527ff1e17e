/* SPDX-License-Identifier: MIT */
/* ferry doc: the standardized deployment specification of a package. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry doc PACKAGE [-o FILE] [--json]\n"
    "\n"
    "Generates the deployment specification of a package: model summary and\n"
    "signature, ops and parameters, sizes and digests, requirements, deployment\n"
    "flow, test standards, and how to call it (curl examples per protocol).\n"
    "Markdown by default, JSON with --json. The same package always gives the\n"
    "same document.\n"
    "\n"
    "options:\n"
    "  -o FILE   write to FILE instead of standard output\n"
    "  --json    JSON instead of Markdown\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 corrupt package, 5 I/O.\n";

int cmd_doc(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            return cli_error("doc", EXIT_USAGE, "see 'ferry doc --help'", "unknown option '%s'",
                             argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("doc", EXIT_USAGE, NULL, "more than one PACKAGE given");
        }
    }
    if (!path)
        return cli_error("doc", EXIT_USAGE, "e.g. ferry doc model-1.0.0.ferry -o SPEC.md",
                         "missing PACKAGE");
    fy_diag d = {{0}};
    fy_package *p = NULL;
    char *text = NULL;
    int rc = fy_package_open(&p, path, &d), code = EXIT_OK;
    if (rc != FY_OK)
        return cli_error("doc", cli_exit_for(rc), NULL, "%s", d.msg);
    if ((rc = fy_package_spec(p, json, &text, &d)) != FY_OK) {
        code = cli_error("doc", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        code = cli_error("doc", EXIT_IO, NULL, "cannot write %s: %s", out, strerror(errno));
        goto done;
    }
    int ok = fputs(text, f) >= 0;
    if (out && fclose(f) != 0)
        ok = 0;
    if (!ok)
        code = cli_error("doc", EXIT_IO, NULL, "writing %s failed", out ? out : "output");
done:
    free(text);
    fy_package_free(p);
    return code;
}
