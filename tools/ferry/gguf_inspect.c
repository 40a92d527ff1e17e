/* SPDX-License-Identifier: MIT */
/* `ferry inspect` for GGUF files: architecture, hyper-parameters, weight types,
 * vocabulary, context length and the metadata (long arrays summarized). */
#include <string.h>

#include "cli.h"

#define SHOW_ARRAY 8 /* array elements printed before "..." */

static void print_value(const fy_gguf_value *v, int json)
{
    switch (v->type) {
    case FY_GGUF_STRING: {
        char buf[256];
        size_t n = v->str.len < sizeof buf - 1 ? (size_t)v->str.len : sizeof buf - 1;
        memcpy(buf, v->str.ptr, n);
        buf[n] = 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] < 0x20)
                buf[i] = ' ';
        if (json)
            cli_json_str(stdout, buf);
        else
            printf("\"%s\"%s", buf, v->str.len > n ? "..." : "");
        break;
    }
    case FY_GGUF_ARRAY:
        if (json) {
            printf("{\"type\": \"array\", \"count\": %llu}", (unsigned long long)v->count);
            break;
        }
        printf("[%llu x %s]", (unsigned long long)v->count,
               v->elem_type == FY_GGUF_STRING ? "string" : "number");
        if (v->elem_type != FY_GGUF_STRING)
            for (uint64_t i = 0; i < v->count && i < SHOW_ARRAY; i++)
                printf(" %g", fy_gguf_array_num(v, i));
        break;
    case FY_GGUF_F32:
    case FY_GGUF_F64: printf("%g", v->f); break;
    case FY_GGUF_BOOL: printf("%s", v->u ? "true" : "false"); break;
    case FY_GGUF_I8:
    case FY_GGUF_I16:
    case FY_GGUF_I32:
    case FY_GGUF_I64: printf("%lld", (long long)v->i); break;
    default: printf("%llu", (unsigned long long)v->u); break;
    }
}

/* path names the model; buf (len bytes, a package's file) holds it when non-NULL */
static int inspect(const char *path, const void *buf, size_t len, int json)
{
    fy_diag d = {{0}};
    fy_gguf *g = NULL;
    int rc = buf ? fy_gguf_open_memory(&g, buf, len, &d) : fy_gguf_open(&g, path, &d);
    if (rc)
        return cli_error("inspect", cli_exit_for(rc), NULL, "%s: %s", path, d.msg);
    /* the model view when it is one ferry can run; the file view always */
    fy_llm *m = NULL;
    fy_diag md = {{0}};
    int mrc = buf ? fy_llm_load_memory(&m, buf, len, path, NULL, &md)
                  : fy_llm_load(&m, path, NULL, &md);
    const fy_llm_info *in = mrc == FY_OK ? fy_llm_info_get(m) : NULL;
    uint64_t counts[32] = {0};
    for (size_t i = 0; i < fy_gguf_tensor_count(g); i++) {
        uint32_t t = fy_gguf_tensor_at(g, i)->type;
        counts[t < 32 ? t : 31]++;
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_str(stdout, path);
        printf(", \"format\": \"gguf\", \"gguf_version\": %u, \"file_bytes\": %llu, "
               "\"tensors\": %zu, \"tensor_types\": {",
               fy_gguf_version(g), (unsigned long long)fy_gguf_file_size(g),
               fy_gguf_tensor_count(g));
        int first = 1;
        for (uint32_t t = 0; t < 32; t++)
            if (counts[t]) {
                printf("%s\"%s\": %llu", first ? "" : ", ",
                       fy_ggml_type_name(t) ? fy_ggml_type_name(t) : "other",
                       (unsigned long long)counts[t]);
                first = 0;
            }
        printf("}");
        if (in) {
            printf(", \"architecture\": ");
            cli_json_str(stdout, in->arch);
            printf(", \"parameters\": %llu, \"weight_bytes\": %llu, \"weight_type\": \"%s\", "
                   "\"dim\": %u, \"layers\": %u, \"heads\": %u, \"kv_heads\": %u, "
                   "\"ffn_dim\": %u, \"vocab_size\": %u, \"context_length\": %u, "
                   "\"rope_theta\": %g, \"rms_eps\": %g, \"tied_output\": %s, \"runnable\": true",
                   (unsigned long long)in->n_params, (unsigned long long)in->weight_bytes,
                   fy_ggml_type_name(in->weight_type), in->dim, in->n_layers, in->n_heads,
                   in->n_kv_heads, in->ffn_dim, in->vocab, in->ctx_train, in->rope_theta,
                   in->rms_eps, in->tied_output ? "true" : "false");
        } else {
            printf(", \"runnable\": false, \"not_runnable_because\": ");
            cli_json_str(stdout, md.msg);
        }
        printf(", \"metadata\": {");
        for (size_t i = 0; i < fy_gguf_kv_count(g); i++) {
            const fy_gguf_kv *kv = fy_gguf_kv_at(g, i);
            printf("%s", i ? ", " : "");
            cli_json_str(stdout, kv->key);
            printf(": ");
            print_value(&kv->v, 1);
        }
        printf("}}\n");
    } else {
        printf("model      %s\n", path);
        printf("format     GGUF v%u, %llu bytes, %zu tensors, alignment %u\n", fy_gguf_version(g),
               (unsigned long long)fy_gguf_file_size(g), fy_gguf_tensor_count(g),
               fy_gguf_alignment(g));
        printf("types     ");
        for (uint32_t t = 0; t < 32; t++)
            if (counts[t])
                printf(" %s x%llu", fy_ggml_type_name(t) ? fy_ggml_type_name(t) : "other",
                       (unsigned long long)counts[t]);
        printf("\n");
        if (in) {
            printf("arch       %s: dim %u, %u layers, %u heads (%u KV), FFN %u, head %u\n",
                   in->arch, in->dim, in->n_layers, in->n_heads, in->n_kv_heads, in->ffn_dim,
                   in->head_dim);
            printf("params     %llu (%llu bytes, mostly %s)%s\n", (unsigned long long)in->n_params,
                   (unsigned long long)in->weight_bytes, fy_ggml_type_name(in->weight_type),
                   in->tied_output ? ", tied output" : "");
            printf("vocab      %u tokens; context %u; rope theta %g; rms eps %g\n", in->vocab,
                   in->ctx_train, in->rope_theta, in->rms_eps);
        } else {
            printf("runnable   no: %s\n", md.msg);
        }
        printf("metadata:\n");
        for (size_t i = 0; i < fy_gguf_kv_count(g); i++) {
            const fy_gguf_kv *kv = fy_gguf_kv_at(g, i);
            printf("  %-40s ", kv->key);
            print_value(&kv->v, 0);
            printf("\n");
        }
    }
    fy_llm_free(m);
    fy_gguf_free(g);
    return EXIT_OK;
}

int cli_inspect_gguf(const char *path, int json)
{
    return inspect(path, NULL, 0, json);
}

int cli_inspect_gguf_package(const fy_package *p, const char *path, int json)
{
    const fy_manifest *man = fy_package_manifest(p);
    const void *data;
    size_t len;
    if (fy_package_file(p, man->model_file, &data, &len) != FY_OK)
        return cli_error("inspect", EXIT_INVALID, NULL, "%s: no file %s in the package", path,
                         man->model_file);
    char label[1024];
    snprintf(label, sizeof label, "%s (in %s)", man->model_file, path);
    return inspect(label, data, len, json);
}
