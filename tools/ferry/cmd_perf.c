/* SPDX-License-Identifier: MIT */
/* ferry perf: load a model, run it many times in-process on given or random inputs
 * and report latency percentiles, throughput, load-to-ready time and peak memory
 * (ferry's counterpart of onnxruntime_perf_test; bench/engine/run.sh reads --json). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_INPUTS 64
#define MAX_DIMS 32
#define MAX_ITERATIONS 10000000L

static const char help[] =
    "usage: ferry perf MODEL|PACKAGE [options]\n"
    "\n"
    "Loads the model, runs it --warmup times, then --iterations timed times on the\n"
    "same inputs, and reports latency (median, p90, p99), throughput, readiness time\n"
    "and peak memory. Inputs not given with --input are random: floats uniform in\n"
    "[-1, 1), integers uniform in [0, 100) (valid small indices), booleans 0/1; never\n"
    "all zeros. Unknown dimensions of an input: the first is --batch, a named one is\n"
    "--dim NAME=V if given, any other is 1.\n"
    "\n"
    "options:\n"
    "  --batch B          first dimension of inputs whose first dimension is free (default 1)\n"
    "  --threads T        intra-op threads for the session (default 1)\n"
    "  --iterations N     timed runs (default 100)\n"
    "  --warmup N         untimed runs before them (default 5)\n"
    "  --input NAME=FILE  feed input NAME from a tensor file (.npy, .pb, .json)\n"
    "  --dim NAME=V       value of the symbolic dimension NAME\n"
    "  --seed S           seed of the random inputs (default 1)\n"
    "  --output-dir DIR   write the last run's outputs as DIR/NAME.npy\n"
    "  --json             print one JSON object (keys below) instead of text\n"
    "\n"
    "reported:\n"
    "  latency_ms         median, p90, p99, mean, min, max of the timed runs\n"
    "  throughput_per_s   items per second: batch / median latency\n"
    "  load_ms            reading and parsing the model\n"
    "  ready_ms           load start to session ready (load + session creation)\n"
    "  first_result_ms    load start to the first run's outputs\n"
    "  process_first_result_ms  process start (kernel start time, 10 ms ticks) to them\n"
    "  peak_rss_bytes     peak resident memory of the process (VmHWM)\n"
    "\n"
    "environment (engine debugging, docs/DESIGN.md \"Engine optimization\"):\n"
    "  FERRY_NO_OPTIMIZE=1  run the graph as loaded, without the graph passes\n"
    "  FERRY_NO_PLAN=1      allocate intermediates per run instead of the planned arena\n"
    "  FERRY_PROFILE=1      print the time per op type to stderr at the end\n"
    "                       (=nodes: then also the time of every node)\n"
    "  FERRY_WINOGRAD=0|2|4 3x3 convs: im2col GEMM only, or force F(2,3) / F(4,3)\n"
    "                       (default: chosen per output size)\n"
    "  FERRY_CONV_PHASE=0   strided convs by im2col, not by phase planes\n"
    "  FERRY_WINO_FILL=0    Winograd blocks by the memory budget alone\n"
    "\n"
    "A GGUF language model (or a package of one) gets tokens/s instead: see\n"
    "'ferry perf MODEL.gguf --help'.\n"
    "\n"
    "exit: 0 ok, 2 usage, 3 invalid model or input, 4 unsupported, 5 unreadable.\n";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Process age in ms from /proc/self/stat's start time (clock ticks since boot),
 * against CLOCK_BOOTTIME; -1 if unavailable. */
static double process_age_ms(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    /* Field 22 is starttime; after ')' comes field 3. */
    int field = 2;
    unsigned long long start = 0;
    for (const char *q = p + 1; *q; q++) {
        if (*q == ' ' && ++field == 22) {
            start = strtoull(q + 1, NULL, 10);
            break;
        }
    }
    if (field != 22)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec ts;
    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        return -1;
    double boot_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    return boot_ms - (double)start * 1e3 / (double)hz;
}

/* xorshift64*: deterministic across machines for a given seed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static int fill_random(fy_tensor *t, uint64_t *s)
{
    int64_t n = fy_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double u = rng_unit(s);
        int64_t k = (int64_t)(u * 100.0);
        switch (t->dtype) {
        case FY_DTYPE_F32: ((float *)t->data)[i] = (float)(2.0 * u - 1.0); break;
        case FY_DTYPE_F64: ((double *)t->data)[i] = 2.0 * u - 1.0; break;
        case FY_DTYPE_F16: ((uint16_t *)t->data)[i] = fy_f32_to_f16((float)(2.0 * u - 1.0)); break;
        case FY_DTYPE_BF16:
            ((uint16_t *)t->data)[i] = fy_f32_to_bf16((float)(2.0 * u - 1.0));
            break;
        case FY_DTYPE_I64: ((int64_t *)t->data)[i] = k; break;
        case FY_DTYPE_U64: ((uint64_t *)t->data)[i] = (uint64_t)k; break;
        case FY_DTYPE_I32: ((int32_t *)t->data)[i] = (int32_t)k; break;
        case FY_DTYPE_U32: ((uint32_t *)t->data)[i] = (uint32_t)k; break;
        case FY_DTYPE_I16: ((int16_t *)t->data)[i] = (int16_t)k; break;
        case FY_DTYPE_U16: ((uint16_t *)t->data)[i] = (uint16_t)k; break;
        case FY_DTYPE_I8: ((int8_t *)t->data)[i] = (int8_t)k; break;
        case FY_DTYPE_U8: ((uint8_t *)t->data)[i] = (uint8_t)k; break;
        case FY_DTYPE_BOOL: ((uint8_t *)t->data)[i] = u < 0.5; break;
        default: return FY_EUNSUPPORTED;
        }
    }
    return FY_OK;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, long n, double p)
{
    long k = (long)ceil(p / 100.0 * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

int cmd_perf(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* a GGUF language model has its own measures */
        if (argv[i][0] != '-' && fy_package_path_is_llm(argv[i]))
            return cli_perf_gguf(argc, argv);
    const char *path = NULL, *out_dir = NULL;
    const char *names[MAX_INPUTS], *files[MAX_INPUTS];
    const char *dim_names[MAX_DIMS];
    long dim_vals[MAX_DIMS];
    int n_given = 0, n_dims = 0, json = 0;
    long batch = 1, threads = 1, iters = 100, warmup = 5, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *num = NULL;
        long lo = 1, hi = 1L << 20;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        } else if (strcmp(a, "--batch") == 0) {
            num = &batch;
        } else if (strcmp(a, "--threads") == 0) {
            num = &threads, hi = 1024;
        } else if (strcmp(a, "--iterations") == 0) {
            num = &iters, hi = MAX_ITERATIONS;
        } else if (strcmp(a, "--warmup") == 0) {
            num = &warmup, lo = 0, hi = MAX_ITERATIONS;
        } else if (strcmp(a, "--seed") == 0) {
            num = &seed, lo = 0, hi = 0x7fffffffL;
        } else if (strcmp(a, "--output-dir") == 0 && i + 1 < argc) {
            out_dir = argv[++i];
            continue;
        } else if ((strcmp(a, "--input") == 0 || strcmp(a, "--dim") == 0) && i + 1 < argc) {
            const char *spec = argv[++i];
            const char *eq = strchr(spec, '=');
            if (!eq || eq == spec)
                return cli_error("perf", EXIT_USAGE, NULL, "%s wants NAME=VALUE, got '%s'", a,
                                 spec);
            if (a[2] == 'i') {
                if (n_given >= MAX_INPUTS)
                    return cli_error("perf", EXIT_USAGE, NULL, "more than %d inputs", MAX_INPUTS);
                names[n_given] = spec;
                files[n_given++] = eq + 1;
            } else {
                if (n_dims >= MAX_DIMS)
                    return cli_error("perf", EXIT_USAGE, NULL, "more than %d --dim", MAX_DIMS);
                if (cli_parse_long(eq + 1, 0, 1L << 30, &dim_vals[n_dims]) != 0)
                    return cli_error("perf", EXIT_USAGE, NULL, "bad dimension value in '%s'", spec);
                dim_names[n_dims++] = spec;
            }
            continue;
        } else if (a[0] == '-') {
            return cli_error("perf", EXIT_USAGE, "see 'ferry perf --help'", "unknown option '%s'",
                             a);
        } else if (!path) {
            path = a;
            continue;
        } else {
            return cli_error("perf", EXIT_USAGE, NULL, "more than one MODEL given");
        }
        if (i + 1 >= argc || cli_parse_long(argv[i + 1], lo, hi, num) != 0)
            return cli_error("perf", EXIT_USAGE, NULL, "%s wants a number in [%ld, %ld]", a, lo,
                             hi);
        i++;
    }
    if (!path)
        return cli_error("perf", EXIT_USAGE, "e.g. ferry perf model.onnx --batch 8",
                         "missing MODEL");

    int rc, code = EXIT_OK;
    fy_diag d = {{0}};
    fy_model *m = NULL;
    fy_package *pkg = NULL;
    fy_session *s = NULL;
    fy_tensor in[MAX_INPUTS], out[MAX_INPUTS];
    double *lat = NULL;
    int n_in = 0, n_out = 0;
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed * 0xD1B54A32D192ED03ULL);
    if (!rng)
        rng = 1;

    double t_load0 = now_ms();
    if ((code = cli_open_model("perf", path, &m, &pkg)) != EXIT_OK)
        goto done;
    double t_loaded = now_ms();
    fy_session_opts so = {0};
    so.threads = (int)threads;
    if ((rc = fy_session_create(&s, m, &so, &d)) != FY_OK) {
        code = cli_error("perf", cli_exit_for(rc), "'ferry inspect MODEL' lists the ops it uses",
                         "%s", d.msg);
        goto done;
    }
    double t_ready = now_ms();

    n_in = fy_model_n_inputs(m);
    if (n_in > MAX_INPUTS) {
        code =
            cli_error("perf", EXIT_UNSUPPORTED, NULL, "model has more than %d inputs", MAX_INPUTS);
        n_in = 0;
        goto done;
    }
    for (int k = 0; k < n_given; k++) {
        size_t len = (size_t)(strchr(names[k], '=') - names[k]);
        int idx = -1;
        fy_io_desc io;
        for (int i = 0; i < n_in && idx < 0; i++) {
            fy_model_input(m, i, &io);
            if (strlen(io.name) == len && strncmp(io.name, names[k], len) == 0)
                idx = i;
        }
        if (idx < 0) {
            code = cli_error("perf", EXIT_USAGE, "'ferry inspect MODEL' lists the inputs",
                             "the model has no input named '%.*s'", (int)len, names[k]);
            goto done;
        }
        if (in[idx].data) {
            code = cli_error("perf", EXIT_USAGE, NULL, "input '%s' given twice", io.name);
            goto done;
        }
        if ((rc = fy_tensor_read_file(&in[idx], files[k], io.dtype, &d)) != FY_OK) {
            code = cli_error("perf", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i].data)
            continue;
        fy_io_desc io;
        fy_model_input(m, i, &io);
        if (io.rank < 0) {
            code = cli_error("perf", EXIT_USAGE, "give it with --input NAME=FILE",
                             "input '%s' declares no shape", io.name);
            goto done;
        }
        int64_t dims[FY_MAX_RANK];
        for (int k = 0; k < io.rank; k++) {
            dims[k] = io.dims[k];
            if (dims[k] >= 0)
                continue;
            dims[k] = k == 0 ? batch : 1;
            for (int j = 0; j < n_dims && io.dim_names[k]; j++) {
                size_t len = (size_t)(strchr(dim_names[j], '=') - dim_names[j]);
                if (strlen(io.dim_names[k]) == len &&
                    strncmp(io.dim_names[k], dim_names[j], len) == 0)
                    dims[k] = dim_vals[j];
            }
        }
        if ((rc = fy_tensor_alloc(&in[i], io.dtype, io.rank, dims, &d)) != FY_OK) {
            code = cli_error("perf", cli_exit_for(rc), NULL, "input '%s': %s", io.name, d.msg);
            goto done;
        }
        if (fill_random(&in[i], &rng) != FY_OK) {
            code = cli_error("perf", EXIT_UNSUPPORTED, "give it with --input NAME=FILE",
                             "input '%s': no random data for %s", io.name, fy_dtype_name(io.dtype));
            goto done;
        }
    }
    n_out = fy_model_n_outputs(m);
    if (n_out > MAX_INPUTS)
        n_out = MAX_INPUTS;
    if (!(lat = malloc((size_t)iters * sizeof *lat))) {
        code = cli_error("perf", EXIT_IO, NULL, "out of memory");
        goto done;
    }
    double t_first = 0;
    for (long it = 0; it < warmup + iters; it++) {
        double t0 = now_ms();
        rc = fy_session_run(s, n_in, in, n_out, out, &d);
        double t1 = now_ms();
        if (rc != FY_OK) {
            code = cli_error("perf", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        if (it == 0)
            t_first = t1;
        if (it >= warmup)
            lat[it - warmup] = t1 - t0;
        if (it + 1 < warmup + iters)
            for (int k = 0; k < n_out; k++)
                fy_tensor_deinit(&out[k]);
    }
    double proc_first = process_age_ms();
    if (proc_first >= 0)
        proc_first -= now_ms() - t_first;
    long long rss = cli_peak_rss_bytes();
    double mean = 0;
    for (long i = 0; i < iters; i++)
        mean += lat[i] / (double)iters;
    qsort(lat, (size_t)iters, sizeof *lat, cli_cmp_double);
    double med = percentile(lat, iters, 50), p90 = percentile(lat, iters, 90);
    double p99 = percentile(lat, iters, 99);
    double tput = med > 0 ? (double)batch * 1e3 / med : 0;
    if (out_dir) {
        for (int i = 0; i < n_out; i++) {
            fy_io_desc io;
            fy_model_output(m, i, &io);
            char p[4096];
            snprintf(p, sizeof p, "%s/%s.npy", out_dir, io.name);
            if (strchr(io.name, '/') || strcmp(io.name, "..") == 0 || !io.name[0])
                snprintf(p, sizeof p, "%s/output_%d.npy", out_dir, i);
            if ((rc = fy_tensor_write_npy(&out[i], p, &d)) != FY_OK) {
                code = cli_error("perf", EXIT_IO, NULL, "%s", d.msg);
                goto done;
            }
        }
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_str(stdout, path);
        printf(", \"batch\": %ld, \"threads\": %ld, \"iterations\": %ld, \"warmup\": %ld, "
               "\"seed\": %ld,\n \"latency_ms\": {\"median\": %.4f, \"p90\": %.4f, "
               "\"p99\": %.4f, \"mean\": %.4f, \"min\": %.4f, \"max\": %.4f},\n"
               " \"throughput_per_s\": %.3f, \"load_ms\": %.3f, \"ready_ms\": %.3f, "
               "\"first_result_ms\": %.3f, \"process_first_result_ms\": %.1f, "
               "\"peak_rss_bytes\": %lld,\n \"inputs\": [",
               batch, threads, iters, warmup, seed, med, p90, p99, mean, lat[0], lat[iters - 1],
               tput, t_loaded - t_load0, t_ready - t_load0, t_first - t_load0, proc_first, rss);
        for (int i = 0; i < n_in; i++) {
            fy_io_desc io;
            fy_model_input(m, i, &io);
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_str(stdout, io.name);
            printf(", \"dtype\": \"%s\", \"shape\": [", fy_dtype_name(in[i].dtype));
            for (int k = 0; k < in[i].rank; k++)
                printf("%s%lld", k ? ", " : "", (long long)in[i].dims[k]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        char desc[128];
        printf("model      %s\n", path);
        for (int i = 0; i < n_in; i++) {
            fy_io_desc io;
            fy_model_input(m, i, &io);
            printf("input      %s %s\n", io.name, fy_tensor_describe(&in[i], desc, sizeof desc));
        }
        printf("runs       %ld timed after %ld warm-up, batch %ld, %ld thread%s\n", iters, warmup,
               batch, threads, threads == 1 ? "" : "s");
        printf("latency    median %.3f ms, p90 %.3f ms, p99 %.3f ms (min %.3f, max %.3f)\n", med,
               p90, p99, lat[0], lat[iters - 1]);
        printf("throughput %.1f items/s\n", tput);
        printf("ready      %.2f ms (load %.2f ms + session %.2f ms); first result at %.2f ms\n",
               t_ready - t_load0, t_loaded - t_load0, t_ready - t_loaded, t_first - t_load0);
        printf("peak RSS   %.1f MiB\n", (double)rss / 1048576.0);
    }
done:
    for (int i = 0; i < n_in; i++)
        fy_tensor_deinit(&in[i]);
    for (int i = 0; i < n_out; i++)
        fy_tensor_deinit(&out[i]);
    free(lat);
    fy_session_free(s);
    fy_model_free(m);
    fy_package_free(pkg);
    return code;
}
