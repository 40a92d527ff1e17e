/* SPDX-License-Identifier: MIT */
/* The ferry command: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"inspect", cmd_inspect, "describe a model or package: inputs, outputs, ops, parameters"},
    {"generate", cmd_generate, "generate text with a GGUF language model (LLaMA family)"},
    {"run", cmd_run, "run a model or package on input tensors (.npy, .pb, .json)"},
    {"eval", cmd_eval, "measure a classifier's top-1 accuracy and speed on a dataset"},
    {"compress", cmd_compress, "prune, quantize or share weights; report the cost and savings"},
    {"perf", cmd_perf, "measure a model's latency, throughput, readiness time and peak memory"},
    {"conformance", cmd_conformance, "run ONNX's backend test cases and report per op"},
    {"serve", cmd_serve, "serve models over HTTP: /predict, KServe V2, TF Serving, /metrics"},
    {"init", cmd_init, "write a ferry.yaml manifest prefilled from a model"},
    {"pack", cmd_pack, "build a package (OCI image layout) from ferry.yaml"},
    {"check", cmd_check, "verify a package's digests and signature"},
    {"doc", cmd_doc, "generate a package's deployment specification (SPEC.md)"},
    {"keygen", cmd_keygen, "create an Ed25519 key pair for signing packages"},
    {"sign", cmd_sign, "sign a package"},
    {"deploy", cmd_deploy, "deploy a service from deploy.yaml: check, stage, verify, promote"},
    {"status", cmd_status, "deployed services, their versions, traffic and workers"},
    {"history", cmd_history, "deployments with their stages, or the audit log"},
    {"rollback", cmd_rollback, "put an earlier version of a service back in service"},
    {"logs", cmd_logs, "a service's supervisor and worker logs"},
    {"stop", cmd_stop, "stop a service's supervisor and workers"},
    {"supervise", cmd_supervise, "run a service's supervisor in the foreground (deploy starts it)"},
    {"doctor", cmd_doctor, "describe this machine and check a package's requirements against it"},
    {"bench", cmd_bench, "load-test an HTTP endpoint: latency percentiles, throughput, errors"},
    {"verify", cmd_verify, "run a package's acceptance tests against an endpoint or in-process"},
    {"emit", cmd_emit, "write Kubernetes, systemd or monitoring files for a package"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ferry [--version] [help] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'ferry COMMAND --help' describes one command.\n"
               "\nexit codes:\n"
               "  0  success\n"
               "  1  ran, but a check failed (a conformance case, an accuracy gate)\n"
               "  2  bad command line\n"
               "  3  invalid input (model, dataset or tensor file)\n"
               "  4  valid input that ferry does not support yet\n"
               "  5  file not found or unreadable, out of memory\n"
               "  6-8  ferry deploy only: environment check failed, service locked by\n"
               "       another deploy, new version did not start (ferry deploy --help)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ferry %s\n", FERRY_VERSION);
        return EXIT_OK;
    }
    if (cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
        if (argc >= 3 && strcmp(cmd, "help") == 0) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    char *hargv[] = {argv[2], (char *)"--help", NULL};
                    return commands[i].fn(2, hargv);
                }
        }
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ferry: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
