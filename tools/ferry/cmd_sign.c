/* SPDX-License-Identifier: MIT */
/* ferry keygen and ferry sign: Ed25519 keys and package signatures. */
#include <string.h>

#include "cli.h"

static const char keygen_help[] =
    "usage: ferry keygen -o PREFIX\n"
    "\n"
    "Creates an Ed25519 key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub.\n"
    "Existing files are never overwritten. Give PREFIX.pub to whoever verifies\n"
    "packages ('ferry check --trusted-key PREFIX.pub'); keep PREFIX.key secret.\n"
    "\n"
    "exit: 0 created, 2 usage, 5 cannot write (exists?).\n";

static const char sign_help[] =
    "usage: ferry sign PACKAGE --key SECRET\n"
    "\n"
    "Signs the package in place (rewritten atomically): the Ed25519 signature covers\n"
    "the image manifest's digest, which covers every blob, and is stored in the\n"
    "package's index.json. Verify with 'ferry check PACKAGE --trusted-key PUB'.\n"
    "\n"
    "exit: 0 signed, 2 usage, 3 corrupt package or bad key file, 5 I/O.\n";

int cmd_keygen(int argc, char **argv)
{
    const char *prefix = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(keygen_help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else {
            return cli_error("keygen", EXIT_USAGE, "see 'ferry keygen --help'",
                             "unexpected argument '%s'", argv[i]);
        }
    }
    if (!prefix)
        return cli_error("keygen", EXIT_USAGE, "e.g. ferry keygen -o release", "missing -o PREFIX");
    fy_diag d = {{0}};
    int rc = fy_key_generate(prefix, &d);
    if (rc != FY_OK)
        return cli_error("keygen", EXIT_IO, NULL, "%s", d.msg);
    printf("wrote %s.key (secret) and %s.pub\n", prefix, prefix);
    return EXIT_OK;
}

int cmd_sign(int argc, char **argv)
{
    const char *path = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(sign_help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (argv[i][0] == '-') {
            return cli_error("sign", EXIT_USAGE, "see 'ferry sign --help'", "unknown option '%s'",
                             argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("sign", EXIT_USAGE, NULL, "more than one PACKAGE given");
        }
    }
    if (!path || !key)
        return cli_error("sign", EXIT_USAGE, "e.g. ferry sign model-1.0.0.ferry --key release.key",
                         "missing %s", path ? "--key SECRET" : "PACKAGE");
    fy_diag d = {{0}};
    int rc = fy_package_sign(path, key, &d);
    if (rc != FY_OK)
        return cli_error("sign", cli_exit_for(rc), NULL, "%s", d.msg);
    printf("signed %s\n", path);
    return EXIT_OK;
}
