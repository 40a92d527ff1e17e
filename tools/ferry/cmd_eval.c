/* SPDX-License-Identifier: MIT */
/* ferry eval: top-1 accuracy and images/s of a classifier on a labeled dataset. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: ferry eval MODEL|PACKAGE [--dataset idx:IMAGES,LABELS] [options]\n"
    "\n"
    "Feeds every image (uint8 pixels scaled to [0,1], or by the package's\n"
    "preprocessing.scale) through the model in batches and prints top-1 accuracy\n"
    "and images per second. IDX files may be gzipped. For a package, the dataset\n"
    "and the minimum accuracy default to its manifest's test standards.\n"
    "\n"
    "options:\n"
    "  --batch N          images per run (default 64)\n"
    "  --limit N          only the first N images\n"
    "  --min-accuracy A   exit 1 if accuracy (a fraction, e.g. 0.89) is below A\n"
    "  --save-outputs F   write every output row to F as float32 .npy [count, classes]\n"
    "  --json             print {\"accuracy\": .., \"count\": .., \"images_per_s\": ..}\n"
    "\n"
    "exit: 0 ok, 1 below --min-accuracy, 2 usage, 3 invalid model or dataset,\n"
    "4 unsupported, 5 unreadable.\n";

static void progress(int64_t done, int64_t total, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "\r  %lld/%lld images (%d%%)", (long long)done, (long long)total,
            (int)(100 * done / (total ? total : 1)));
    if (done == total)
        fputc('\n', stderr);
}

int cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *spec = NULL, *save = NULL;
    int json = 0;
    double min_acc = -1;
    fy_eval_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--dataset") == 0 && i + 1 < argc) {
            spec = argv[++i];
        } else if (strcmp(a, "--save-outputs") == 0 && i + 1 < argc) {
            save = argv[++i];
        } else if (strcmp(a, "--batch") == 0 && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 1, 65536, &v) != 0)
                return cli_error("eval", EXIT_USAGE, NULL, "--batch wants 1..65536, got '%s'",
                                 argv[i]);
            o.batch = (int)v;
        } else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 1, 1L << 40, &v) != 0)
                return cli_error("eval", EXIT_USAGE, NULL, "--limit wants a positive count, got '%s'",
                                 argv[i]);
            o.limit = v;
        } else if (strcmp(a, "--min-accuracy") == 0 && i + 1 < argc) {
            char *end;
            min_acc = strtod(argv[++i], &end);
            if (*end || !(min_acc >= 0 && min_acc <= 1))
                return cli_error("eval", EXIT_USAGE, NULL,
                                 "--min-accuracy wants a fraction from 0 to 1, got '%s'", argv[i]);
        } else if (a[0] == '-') {
            return cli_error("eval", EXIT_USAGE, "see 'ferry eval --help'", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_error("eval", EXIT_USAGE, NULL, "more than one MODEL given");
        }
    }
    if (!path)
        return cli_error("eval", EXIT_USAGE,
                         "e.g. ferry eval model.onnx --dataset idx:images.gz,labels.gz",
                         "missing MODEL");
    int rc, code = EXIT_OK;
    fy_diag d = {{0}};
    fy_model *m = NULL;
    fy_package *pkg = NULL;
    fy_session *s = NULL;
    fy_dataset ds = {0};
    fy_tensor scores = {0};
    fy_eval_result r;
    if ((code = cli_open_model("eval", path, &m, &pkg)) != EXIT_OK)
        goto done;
    if (pkg) { /* a package brings its own test standards and preprocessing */
        const fy_manifest *man = fy_package_manifest(pkg);
        if (!spec)
            spec = man->test_dataset;
        if (min_acc < 0 && man->test_metric && strcmp(man->test_metric, "accuracy") == 0)
            min_acc = man->test_min;
        if (man->scale != 0)
            o.scale = (float)man->scale;
    }
    if (!spec) {
        code = cli_error("eval", EXIT_USAGE, "add --dataset idx:IMAGES,LABELS",
                         "missing --dataset (and no package test dataset)");
        goto done;
    }
    if ((rc = fy_session_create(&s, m, NULL, &d)) != FY_OK) {
        code = cli_error("eval", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    if ((rc = fy_dataset_open(&ds, spec, &d)) != FY_OK) {
        code = cli_error("eval", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    if (!json && isatty(2)) {
        o.progress = progress;
    }
    if (save)
        o.scores = &scores;
    if ((rc = fy_eval_classifier(s, m, &ds, &o, &r, &d)) != FY_OK) {
        code = cli_error("eval", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    if (save && (rc = fy_tensor_write_npy(&scores, save, &d)) != FY_OK) {
        code = cli_error("eval", EXIT_IO, NULL, "%s", d.msg);
        goto done;
    }
    if (json)
        printf("{\"accuracy\": %.6f, \"count\": %lld, \"correct\": %lld, \"images_per_s\": %.1f, "
               "\"seconds\": %.3f}\n",
               r.accuracy, (long long)r.count, (long long)r.correct, r.images_per_s, r.seconds);
    else
        printf("accuracy %.2f%% (%lld of %lld correct), %.0f images/s\n", 100 * r.accuracy,
               (long long)r.correct, (long long)r.count, r.images_per_s);
    if (min_acc >= 0 && r.accuracy < min_acc) {
        fprintf(stderr, "ferry eval: accuracy %.4f is below the minimum %.4f\n", r.accuracy,
                min_acc);
        code = EXIT_FAILED;
    }
done:
    fy_tensor_deinit(&scores);
    fy_dataset_deinit(&ds);
    fy_session_free(s);
    fy_model_free(m);
    fy_package_free(pkg);
    return code;
}
