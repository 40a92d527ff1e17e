/* SPDX-License-Identifier: MIT */
/* ferry run: run a model once on tensors from files and print or save its outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_INPUTS 64

static const char help[] =
    "usage: ferry run MODEL|PACKAGE --input NAME=FILE [--input NAME=FILE ...] [options]\n"
    "\n"
    "Runs the model (an .onnx file, or the model of a .ferry package) once. Tensor files: .npy (NumPy), .pb (ONNX TensorProto) or\n"
    ".json (nested arrays of numbers, read as the input's declared dtype). A model\n"
    "with one input also takes --input FILE.\n"
    "\n"
    "options:\n"
    "  --output-dir DIR   write each output as DIR/NAME.npy instead of printing values\n"
    "  --full             print every value (default: the first 16 of each output)\n"
    "  --json             print outputs as JSON: {\"outputs\": [{name, dtype, shape, data}]}\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 invalid model or input, 4 unsupported, 5 unreadable.\n";

static void print_value(const fy_tensor *t, int64_t i, int json)
{
    double v;
    switch (t->dtype) {
    case FY_DTYPE_F32: v = ((const float *)t->data)[i]; break;
    case FY_DTYPE_F64: v = ((const double *)t->data)[i]; break;
    case FY_DTYPE_F16: v = fy_f16_to_f32(((const uint16_t *)t->data)[i]); break;
    case FY_DTYPE_BF16: v = fy_bf16_to_f32(((const uint16_t *)t->data)[i]); break;
    case FY_DTYPE_I64: printf("%lld", (long long)((const int64_t *)t->data)[i]); return;
    case FY_DTYPE_U64: printf("%llu", (unsigned long long)((const uint64_t *)t->data)[i]); return;
    case FY_DTYPE_I32: printf("%d", ((const int32_t *)t->data)[i]); return;
    case FY_DTYPE_U32: printf("%u", ((const uint32_t *)t->data)[i]); return;
    case FY_DTYPE_I16: printf("%d", ((const int16_t *)t->data)[i]); return;
    case FY_DTYPE_U16: printf("%u", ((const uint16_t *)t->data)[i]); return;
    case FY_DTYPE_I8: printf("%d", ((const int8_t *)t->data)[i]); return;
    case FY_DTYPE_U8: printf("%u", ((const uint8_t *)t->data)[i]); return;
    case FY_DTYPE_BOOL:
        printf("%s", ((const uint8_t *)t->data)[i] ? "true" : "false");
        return;
    default: printf("null"); return;
    }
    if (json && !isfinite(v))
        printf("null"); /* JSON has no NaN or infinity */
    else
        printf("%.9g", v);
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *out_dir = NULL;
    const char *names[MAX_INPUTS], *files[MAX_INPUTS];
    int n_given = 0, json = 0, full = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--full") == 0) {
            full = 1;
        } else if (strcmp(a, "--output-dir") == 0 && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (strcmp(a, "--input") == 0 && i + 1 < argc) {
            if (n_given >= MAX_INPUTS)
                return cli_error("run", EXIT_USAGE, NULL, "more than %d inputs", MAX_INPUTS);
            const char *spec = argv[++i];
            const char *eq = strchr(spec, '=');
            names[n_given] = eq ? strndup(spec, (size_t)(eq - spec)) : NULL;
            files[n_given] = eq ? eq + 1 : spec;
            n_given++;
        } else if (a[0] == '-') {
            return cli_error("run", EXIT_USAGE, "see 'ferry run --help'", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_error("run", EXIT_USAGE, NULL, "more than one MODEL given");
        }
    }
    if (!path)
        return cli_error("run", EXIT_USAGE, "e.g. ferry run model.onnx --input x=x.npy",
                         "missing MODEL");
    int rc, code = EXIT_OK;
    fy_diag d = {{0}};
    fy_model *m = NULL;
    fy_package *pkg = NULL;
    fy_session *s = NULL;
    fy_tensor in[MAX_INPUTS], out[MAX_INPUTS];
    int n_in = 0, n_out = 0;
    memset(in, 0, sizeof in);
    if ((code = cli_open_model("run", path, &m, &pkg)) != EXIT_OK)
        goto done;
    if ((rc = fy_session_create(&s, m, NULL, &d)) != FY_OK) {
        code = cli_error("run", cli_exit_for(rc), "'ferry inspect MODEL' lists the ops it uses",
                         "%s", d.msg);
        goto done;
    }
    n_in = fy_model_n_inputs(m);
    if (n_in > MAX_INPUTS) {
        code = cli_error("run", EXIT_UNSUPPORTED, NULL, "model has more than %d inputs", MAX_INPUTS);
        n_in = 0;
        goto done;
    }
    for (int k = 0; k < n_given; k++) {
        int idx = -1;
        if (!names[k]) {
            if (n_in != 1) {
                code = cli_error("run", EXIT_USAGE, "write --input NAME=FILE",
                                 "the model has %d inputs: name each one", n_in);
                goto done;
            }
            idx = 0;
        }
        for (int i = 0; i < n_in && idx < 0; i++) {
            fy_io_desc io;
            fy_model_input(m, i, &io);
            if (strcmp(io.name, names[k]) == 0)
                idx = i;
        }
        if (idx < 0) {
            code = cli_error("run", EXIT_USAGE, "'ferry inspect MODEL' lists the inputs",
                             "the model has no input named '%s'", names[k]);
            goto done;
        }
        if (in[idx].data) {
            code = cli_error("run", EXIT_USAGE, NULL, "input %d given twice", idx);
            goto done;
        }
        fy_io_desc io;
        fy_model_input(m, idx, &io);
        if ((rc = fy_tensor_read_file(&in[idx], files[k], io.dtype, &d)) != FY_OK) {
            code = cli_error("run", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
    }
    for (int i = 0; i < n_in; i++)
        if (!in[i].data) {
            fy_io_desc io;
            fy_model_input(m, i, &io);
            code = cli_error("run", EXIT_USAGE, "add --input NAME=FILE for it",
                             "input '%s' is not given", io.name);
            goto done;
        }
    n_out = fy_model_n_outputs(m);
    if (n_out > MAX_INPUTS)
        n_out = MAX_INPUTS;
    if ((rc = fy_session_run(s, n_in, in, n_out, out, &d)) != FY_OK) {
        n_out = 0;
        code = cli_error("run", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    if (json)
        printf("{\"outputs\": [");
    for (int i = 0; i < n_out; i++) {
        fy_io_desc io;
        fy_model_output(m, i, &io);
        char desc[128];
        int64_t n = fy_tensor_numel(&out[i]);
        char p[4096] = "";
        if (out_dir) {
            snprintf(p, sizeof p, "%s/%s.npy", out_dir, io.name);
            if (strchr(io.name, '/') || strcmp(io.name, "..") == 0 || !io.name[0])
                snprintf(p, sizeof p, "%s/output_%d.npy", out_dir, i);
            if ((rc = fy_tensor_write_npy(&out[i], p, &d)) != FY_OK) {
                code = cli_error("run", EXIT_IO, NULL, "%s", d.msg);
                goto done;
            }
            if (!json)
                printf("%s %s -> %s\n", io.name, fy_tensor_describe(&out[i], desc, sizeof desc), p);
        }
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_str(stdout, io.name);
            printf(", \"dtype\": \"%s\", \"shape\": [", fy_dtype_name(out[i].dtype));
            for (int k = 0; k < out[i].rank; k++)
                printf("%s%lld", k ? ", " : "", (long long)out[i].dims[k]);
            printf("]");
            if (out_dir) {
                printf(", \"file\": ");
                cli_json_str(stdout, p);
            }
            printf(", \"data\": [");
            for (int64_t k = 0; k < n; k++) {
                if (k)
                    printf(", ");
                print_value(&out[i], k, 1);
            }
            printf("]}");
        } else if (!out_dir) {
            printf("%s %s:", io.name, fy_tensor_describe(&out[i], desc, sizeof desc));
            int64_t shown = full || n <= 16 ? n : 16;
            for (int64_t k = 0; k < shown; k++) {
                printf(" ");
                print_value(&out[i], k, 0);
            }
            printf("%s\n", shown < n ? " ..." : "");
        }
    }
    if (json)
        printf("]}\n");
done:
    for (int i = 0; i < n_in; i++)
        fy_tensor_deinit(&in[i]);
    for (int i = 0; i < n_out; i++)
        fy_tensor_deinit(&out[i]);
    for (int k = 0; k < n_given; k++)
        free((void *)names[k]);
    fy_session_free(s);
    fy_model_free(m);
    fy_package_free(pkg);
    return code;
}
