/* SPDX-License-Identifier: MIT */
/* ferry inspect: what a model takes and returns, its opset, ops and size. */
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry inspect MODEL|PACKAGE [--json]\n"
    "\n"
    "A GGUF file (language model) is described by its architecture, hyper-parameters,\n"
    "weight types, vocabulary, context length and metadata.\n"
    "Describes an ONNX model, or a package and its model: inputs and outputs (names, dtypes, "
    "shapes with\n"
    "symbolic dimensions), IR version and opset, producer, an op histogram\n"
    "(marking ops ferry cannot run), parameter count and size.\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 invalid model, 4 unsupported model, 5 unreadable.\n";

static void print_shape(FILE *f, const fy_io_desc *io, int json)
{
    if (io->rank < 0) {
        fputs(json ? "null" : "?", f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < io->rank; i++) {
        if (i)
            fputs(json ? ", " : ",", f);
        if (io->dims[i] >= 0)
            fprintf(f, "%lld", (long long)io->dims[i]);
        else if (json)
            cli_json_str(f, io->dim_names[i] ? io->dim_names[i] : "?");
        else
            fputs(io->dim_names[i] ? io->dim_names[i] : "?", f);
    }
    fputc(']', f);
}

typedef struct op_ctx {
    int json, first, unsupported;
} op_ctx;

static void print_op(const char *domain, const char *op, int count, int supported, void *vctx)
{
    op_ctx *c = vctx;
    if (!supported)
        c->unsupported++;
    if (c->json) {
        printf("%s{\"op\": ", c->first ? "" : ", ");
        cli_json_str(stdout, op);
        printf(", \"domain\": ");
        cli_json_str(stdout, domain);
        printf(", \"count\": %d, \"supported\": %s}", count, supported ? "true" : "false");
    } else {
        printf("  %-28s %6d%s\n", op, count, supported ? "" : "   (not supported by ferry)");
    }
    c->first = 0;
}

static void print_ios(const fy_model *m, int outputs, int json)
{
    int n = outputs ? fy_model_n_outputs(m) : fy_model_n_inputs(m);
    for (int i = 0; i < n; i++) {
        fy_io_desc io;
        if (outputs)
            fy_model_output(m, i, &io);
        else
            fy_model_input(m, i, &io);
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_str(stdout, io.name);
            printf(", \"dtype\": \"%s\", \"shape\": ", fy_dtype_name(io.dtype));
            print_shape(stdout, &io, 1);
            printf("}");
        } else {
            printf("  %-24s %-9s ", io.name, fy_dtype_name(io.dtype));
            print_shape(stdout, &io, 0);
            printf("\n");
        }
    }
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-') {
            return cli_error("inspect", EXIT_USAGE, "see 'ferry inspect --help'",
                             "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("inspect", EXIT_USAGE, NULL, "more than one MODEL given");
        }
    }
    if (!path)
        return cli_error("inspect", EXIT_USAGE, "e.g. ferry inspect model.onnx", "missing MODEL");
    if (fy_gguf_sniff(path))
        return cli_inspect_gguf(path, json);
    if (fy_package_sniff(path)) { /* a package of a GGUF model: its own view */
        fy_package *gp = NULL;
        fy_diag gd = {{0}};
        if (fy_package_open(&gp, path, &gd) == FY_OK) {
            const char *f = fy_package_manifest(gp)->model_format;
            int code = f && strcmp(f, "gguf") == 0 ? cli_inspect_gguf_package(gp, path, json) : -1;
            fy_package_free(gp);
            if (code >= 0)
                return code;
        } /* else and for ONNX: the path below (which reports open errors) */
    }
    fy_model *m = NULL;
    fy_package *pkg = NULL;
    int code = cli_open_model("inspect", path, &m, &pkg);
    if (code != EXIT_OK)
        return code;
    const fy_manifest *man = pkg ? fy_package_manifest(pkg) : NULL;
    fy_model_info info;
    fy_model_get_info(m, &info);
    op_ctx oc = {json, 1, 0};
    if (json) {
        printf("{\"model\": ");
        cli_json_str(stdout, path);
        if (man) {
            printf(", \"package\": {\"name\": ");
            cli_json_str(stdout, man->name);
            printf(", \"version\": ");
            cli_json_str(stdout, man->version);
            printf(", \"digest\": ");
            if (*fy_package_digest(pkg))
                cli_json_str(stdout, fy_package_digest(pkg));
            else
                printf("null"); /* an unpacked package folder */
            printf(", \"model_file\": ");
            cli_json_str(stdout, man->model_file);
            printf("}");
        }
        printf(", \"ir_version\": %lld, \"opset\": %lld, \"producer\": ",
               (long long)info.ir_version, (long long)info.opset);
        cli_json_str(stdout, info.producer_name);
        printf(", \"producer_version\": ");
        cli_json_str(stdout, info.producer_version);
        printf(", \"inputs\": [");
        print_ios(m, 0, 1);
        printf("], \"outputs\": [");
        print_ios(m, 1, 1);
        printf("], \"nodes\": %lld, \"ops\": [", (long long)info.n_nodes);
        fy_model_each_op(m, print_op, &oc);
        printf("], \"parameters\": %lld, \"parameter_bytes\": %lld, \"file_bytes\": %lld, "
               "\"unsupported_ops\": %d}\n",
               (long long)info.n_params, (long long)info.n_param_bytes, (long long)info.file_bytes,
               oc.unsupported);
    } else {
        if (man) {
            printf("package    %s %s\n", man->name, man->version);
            printf("digest     %s\n", *fy_package_digest(pkg)
                                          ? fy_package_digest(pkg)
                                          : "none (an unpacked package folder)");
            if (man->description)
                printf("about      %s\n", man->description);
            printf("model      %s (inside the package)\n", man->model_file);
        } else {
            printf("model      %s\n", path);
        }
        printf("format     ONNX, IR version %lld, opset %lld\n", (long long)info.ir_version,
               (long long)info.opset);
        printf("producer   %s %s\n", info.producer_name[0] ? info.producer_name : "(unknown)",
               info.producer_version);
        printf("size       %lld bytes; %lld parameters in %lld initializers (%lld bytes)\n",
               (long long)info.file_bytes, (long long)info.n_params, (long long)info.n_initializers,
               (long long)info.n_param_bytes);
        printf("inputs:\n");
        print_ios(m, 0, 0);
        printf("outputs:\n");
        print_ios(m, 1, 0);
        printf("ops (%lld nodes):\n", (long long)info.n_nodes);
        fy_model_each_op(m, print_op, &oc);
        if (oc.unsupported)
            printf("warning: %d op type(s) are not supported: 'ferry run' will refuse this model\n",
                   oc.unsupported);
    }
    fy_model_free(m);
    fy_package_free(pkg);
    return EXIT_OK;
}
