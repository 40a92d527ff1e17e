/* SPDX-License-Identifier: MIT */
/* ferry check: verify a package's integrity (every digest) and its signature. */
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry check PACKAGE [--trusted-key PUB] [--require-signature] [--json]\n"
    "\n"
    "Verifies every blob's digest and every reference of the package, its manifest,\n"
    "and its Ed25519 signature. With --trusted-key, the package must be signed by\n"
    "that key. With --require-signature, an unsigned package fails.\n"
    "\n"
    "exit: 0 intact (and signed by the trusted key when one is given), 1 signature\n"
    "missing, invalid or untrusted, 2 usage, 3 corrupt or tampered package, 5 I/O.\n";

static const char *status_name(fy_sig_status s)
{
    switch (s) {
    case FY_SIG_VALID: return "valid";
    case FY_SIG_UNTRUSTED: return "untrusted";
    case FY_SIG_INVALID: return "invalid";
    default: return "unsigned";
    }
}

int cmd_check(int argc, char **argv)
{
    const char *path = NULL, *pub = NULL;
    int json = 0, require = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--require-signature") == 0) {
            require = 1;
        } else if (strcmp(a, "--trusted-key") == 0 && i + 1 < argc) {
            pub = argv[++i];
        } else if (a[0] == '-') {
            return cli_error("check", EXIT_USAGE, "see 'ferry check --help'", "unknown option '%s'",
                             a);
        } else if (!path) {
            path = a;
        } else {
            return cli_error("check", EXIT_USAGE, NULL, "more than one PACKAGE given");
        }
    }
    if (!path)
        return cli_error("check", EXIT_USAGE, "e.g. ferry check model-1.0.0.ferry",
                         "missing PACKAGE");
    fy_diag d = {{0}};
    fy_package *p = NULL;
    int rc = fy_package_open(&p, path, &d);
    if (rc != FY_OK) {
        if (json) {
            printf("{\"package\": ");
            cli_json_str(stdout, path);
            printf(", \"intact\": false, \"error\": ");
            cli_json_str(stdout, d.msg);
            printf("}\n");
        }
        return cli_error("check", cli_exit_for(rc), NULL, "%s", d.msg);
    }
    if (!*fy_package_digest(p)) {
        fy_package_free(p);
        return cli_error("check", EXIT_INVALID, "check the package archive (.ferry) it came from",
                         "%s is an unpacked package folder: it has no digests to verify", path);
    }
    fy_sig_status st = FY_SIG_NONE;
    char key_id[17] = "";
    int code = EXIT_OK;
    d.msg[0] = 0;
    rc = fy_package_verify_signature(p, pub, &st, key_id, &d); /* d says why, on any status */
    if (rc != FY_OK) {
        code = cli_error("check", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    const fy_manifest *man = fy_package_manifest(p);
    int sig_ok = pub ? st == FY_SIG_VALID : !(require && st == FY_SIG_NONE) && st != FY_SIG_INVALID;
    if (json) {
        printf("{\"package\": ");
        cli_json_str(stdout, path);
        printf(", \"name\": ");
        cli_json_str(stdout, man->name);
        printf(", \"version\": ");
        cli_json_str(stdout, man->version);
        printf(", \"digest\": ");
        cli_json_str(stdout, fy_package_digest(p));
        printf(", \"intact\": true, \"signature\": \"%s\", \"key_id\": ", status_name(st));
        cli_json_str(stdout, key_id);
        printf(", \"ok\": %s}\n", sig_ok ? "true" : "false");
    } else {
        printf("%s: %s %s, %s\n", path, man->name, man->version, fy_package_digest(p));
        printf("  integrity  every digest verified\n");
        printf("  signature  %s%s%s\n", status_name(st), key_id[0] ? ", key " : "", key_id);
    }
    if (!sig_ok) {
        const char *why = st == FY_SIG_INVALID     ? "the signature does not verify"
                          : st == FY_SIG_NONE      ? "the package is not signed"
                                                   : "it is not signed by the trusted key";
        fprintf(stderr, "ferry check: %s%s%s\n", why, d.msg[0] ? ": " : "", d.msg);
        code = EXIT_FAILED;
    }
done:
    fy_package_free(p);
    return code;
}
