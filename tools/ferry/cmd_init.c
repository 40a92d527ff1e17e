/* SPDX-License-Identifier: MIT */
/* ferry init: write a ferry.yaml manifest prefilled from a model, for the user to edit. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: ferry init MODEL [-o FILE] [--force]\n"
    "       ferry init --deploy [-o FILE] [--force]\n"
    "\n"
    "Writes a commented ferry.yaml (the package manifest; see docs/manifest.md)\n"
    "prefilled from the model: name, version 0.1.0, the model file, its signature\n"
    "(inputs and outputs with symbolic dimensions), and requirements. Edit it, then\n"
    "run 'ferry pack'. The model path is written relative to the manifest's folder,\n"
    "so write the manifest beside the model. With --deploy it writes a commented\n"
    "deploy.yaml instead (docs/deploy.md), for 'ferry deploy'.\n"
    "\n"
    "options:\n"
    "  -o FILE    where to write (default: ferry.yaml in the model's folder;\n"
    "             deploy.yaml with --deploy)\n"
    "  --deploy   write a deploy.yaml starting file\n"
    "  --force    overwrite an existing file\n"
    "\n"
    "exit: 0 written, 2 usage, 3 invalid model, 4 unsupported, 5 cannot write (exists?).\n";

/* Write text to a new file (or over one with force); prints "wrote FILE" and next. */
static int write_text(const char *out, const char *text, int force, const char *next)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0)
        return cli_error("init", EXIT_IO, errno == EEXIST ? "use --force to overwrite it" : NULL,
                         "cannot write %s: %s", out, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (close(fd) != 0 || off != len) {
        unlink(out);
        return cli_error("init", EXIT_IO, NULL, "writing %s failed", out);
    }
    printf("wrote %s\n", out);
    if (next)
        printf("%s %s\n", next, out);
    return EXIT_OK;
}

int cmd_init(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int force = 0, deploy = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--deploy") == 0) {
            deploy = 1;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            return cli_error("init", EXIT_USAGE, "see 'ferry init --help'", "unknown option '%s'",
                             argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("init", EXIT_USAGE, NULL, "more than one MODEL given");
        }
    }
    if (deploy) {
        if (path)
            return cli_error("init", EXIT_USAGE, NULL, "--deploy takes no MODEL");
        return write_text(out ? out : "deploy.yaml", fy_deploy_spec_template(), force,
                          "next: edit it (service, model, serving, verify), then: ferry deploy");
    }
    if (!path)
        return cli_error("init", EXIT_USAGE, "e.g. ferry init model.onnx", "missing MODEL");
    char dflt[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!out) {
        if (slash)
            snprintf(dflt, sizeof dflt, "%.*s/ferry.yaml", (int)(slash - path), path);
        else
            snprintf(dflt, sizeof dflt, "ferry.yaml");
        out = dflt;
    }
    fy_model *m = NULL;
    fy_diag d = {{0}};
    char *text = NULL;
    int rc = fy_model_load(&m, path, NULL, &d), code = EXIT_OK;
    if (rc != FY_OK)
        return cli_error("init", cli_exit_for(rc), NULL, "%s", d.msg);
    if ((rc = fy_manifest_template(&text, m, base, &d)) != FY_OK) {
        code = cli_error("init", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    code = write_text(out, text, force, NULL);
    if (code != EXIT_OK)
        goto done;
    printf("next: edit it (description, licence, tests), then: ferry pack %s\n", out);
done:
    free(text);
    fy_model_free(m);
    return code;
}
