/* SPDX-License-Identifier: MIT */
/* Shared by the ferry subcommands: exit codes, error printing, JSON output helpers. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdio.h>

#include "ferry/ferry.h"

/* Exit codes, documented in `ferry help` and README.md. */
enum {
    EXIT_OK = 0,          /* success */
    EXIT_FAILED = 1,      /* ran, but a check failed (conformance case, gate) */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_INVALID = 3,     /* invalid input: model, data or tensor file */
    EXIT_UNSUPPORTED = 4, /* valid input that ferry does not support yet */
    EXIT_IO = 5,          /* file not found, unreadable, out of memory */
};

/* Map a library error code to an exit code. */
int cli_exit_for(int rc);
/* "ferry CMD: error: MSG" on stderr, plus "hint: HINT" if hint is non-NULL; returns code. */
int cli_error(const char *cmd, int code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write s as a JSON string literal (with quotes). */
void cli_json_str(FILE *f, const char *s);
/* Is this argument one of the help flags? */
int cli_is_help(const char *arg);
/* A whole decimal integer in [lo, hi] into *out: 0, or -1 (nothing written) for
 * anything else (empty, trailing characters, out of range). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* Peak resident memory of this process (VmHWM), or -1 when unknown. */
long long cli_peak_rss_bytes(void);
/* qsort comparator for doubles, ascending. */
int cli_cmp_double(const void *a, const void *b);

/* Open MODEL, which may be an ONNX file or a package (.ferry). On success *model
 * is set, and *pkg too when it was a package (else NULL); both owned by the caller.
 * On failure prints the error and returns the exit code. */
int cli_open_model(const char *cmd, const char *path, fy_model **model, fy_package **pkg);

int cmd_inspect(int argc, char **argv);
/* ferry inspect on a GGUF file (gguf_inspect.c). */
int cli_inspect_gguf(const char *path, int json);
/* The same for a package whose model.format is gguf, from the package's bytes. */
int cli_inspect_gguf_package(const fy_package *p, const char *path, int json);
int cmd_init(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_doc(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_perf(int argc, char **argv);
/* ferry perf on a GGUF language model (perf_gguf.c). */
int cli_perf_gguf(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_supervise(int argc, char **argv);
/* issue 6, ops tools */
int cmd_doctor(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_emit(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_compress(int argc, char **argv);

#endif
