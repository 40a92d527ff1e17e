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
    "\n"
    "Writes a commented ferry.yaml (the package manifest; see docs/manifest.md)\n"
    "prefilled from the model: name, version 0.1.0, the model file, its signature\n"
    "(inputs and outputs with symbolic dimensions), and requirements. Edit it, then\n"
    "run 'ferry pack'. The model path is written relative to the manifest's folder,\n"
    "so write the manifest beside the model.\n"
    "\n"
    "options:\n"
    "  -o FILE    where to write (default: ferry.yaml in the model's folder)\n"
    "  --force    overwrite an existing file\n"
    "\n"
    "exit: 0 written, 2 usage, 3 invalid model, 4 unsupported, 5 cannot write (exists?).\n";

int cmd_init(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
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
    int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        code = cli_error("init", EXIT_IO, errno == EEXIST ? "use --force to overwrite it" : NULL,
                         "cannot write %s: %s", out, strerror(errno));
        goto done;
    }
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
        code = cli_error("init", EXIT_IO, NULL, "writing %s failed", out);
        unlink(out);
        goto done;
    }
    printf("wrote %s\nnext: edit it (description, licence, tests), then: ferry pack %s\n", out, out);
done:
    free(text);
    fy_model_free(m);
    return code;
}
