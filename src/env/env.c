/* SPDX-License-Identifier: MIT */
/* Environment detection (CPU, cores, memory, disk, GPUs, OS, libraries) and the
 * check of a package's requirements against it. See docs/doctor.md. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <protobuf-c/protobuf-c.h>
#include <sodium.h>
#include <yaml.h>
#include <zlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FY_ENV_X86 1
#endif

#include "../core/core.h"
#include "env_int.h"
#include "ferry/ferry.h"

/* The manifest's names (docs/manifest.md), in its order. */
static const char *const feature_names[] = {
    "sse",         "sse2",        "sse3",       "ssse3",      "sse4_1",       "sse4_2",
    "popcnt",      "aes",         "pclmulqdq",  "avx",        "avx2",         "fma",
    "f16c",        "bmi1",        "bmi2",       "avx512f",    "avx512cd",     "avx512bw",
    "avx512dq",    "avx512vl",    "avx512ifma", "avx512vbmi", "avx512_vbmi2", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni",   "amx_tile",   "amx_int8",     "amx_bf16",
    "neon",        "asimd",       "asimdhp",    "asimddp",    "fphp",         "dotprod",
    "i8mm",        "bf16",        "sve",        "sve2",       "sme",
};
#define N_FEATURES ((int)(sizeof feature_names / sizeof feature_names[0]))

int fy_env_cpu_feature_count(void)
{
    return N_FEATURES;
}

const char *fy_env_cpu_feature_name(int i)
{
    return i >= 0 && i < N_FEATURES ? feature_names[i] : NULL;
}

int fy_env_cpu_feature_index(const char *name)
{
    for (int i = 0; name && i < N_FEATURES; i++)
        if (strcmp(feature_names[i], name) == 0)
            return i;
    return -1;
}

static uint64_t bit(const char *name)
{
    int i = fy_env_cpu_feature_index(name);
    return i < 0 ? 0 : (uint64_t)1 << i;
}

/* cpuinfo spellings that differ from the manifest's names. */
static uint64_t flag_bits(const char *tok, size_t len)
{
    static const struct {
        const char *flag, *name;
    } alias[] = {{"pni", "sse3"}, {"asimd", "neon"}, {"asimddp", "dotprod"}};
    uint64_t b = 0;
    for (int i = 0; i < N_FEATURES; i++)
        if (strlen(feature_names[i]) == len && memcmp(feature_names[i], tok, len) == 0)
            b |= (uint64_t)1 << i;
    for (size_t k = 0; k < sizeof alias / sizeof alias[0]; k++)
        if (strlen(alias[k].flag) == len && memcmp(alias[k].flag, tok, len) == 0)
            b |= bit(alias[k].name);
    return b;
}

uint64_t fy__env_flags_from_cpuinfo(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t st = i;
        while (i < len && text[i] != '\n')
            i++;
        const char *line = text + st;
        size_t ll = i - st;
        i++;
        int is_flags = (ll >= 5 && memcmp(line, "flags", 5) == 0) ||
                       (ll >= 8 && memcmp(line, "Features", 8) == 0);
        const char *colon = memchr(line, ':', ll);
        if (!is_flags || !colon)
            continue;
        /* the key must be exactly "flags" or "Features" before the colon */
        size_t kl = (size_t)(colon - line);
        while (kl && (line[kl - 1] == ' ' || line[kl - 1] == '\t'))
            kl--;
        if (!((kl == 5 && memcmp(line, "flags", 5) == 0) ||
              (kl == 8 && memcmp(line, "Features", 8) == 0)))
            continue;
        uint64_t b = 0;
        const char *p = colon + 1, *end = line + ll;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *t = p;
            while (p < end && *p != ' ' && *p != '\t')
                p++;
            if (p > t)
                b |= flag_bits(t, (size_t)(p - t));
        }
        return b; /* the first CPU's line speaks for all */
    }
    return 0;
}

#ifdef FY_ENV_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* cpuid, with the OS-support checks: AVX needs XCR0 bits 1-2 (SSE, AVX state),
 * AVX-512 also 5-7 (opmask, ZMM), AMX 17-18 (tile config, tile data). */
static uint64_t cpuid_features(char vendor[16])
{
    unsigned a, b, c, dx, max;
    uint64_t f = 0;
    if (!__get_cpuid(0, &max, &b, &c, &dx))
        return 0;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &dx, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    __cpuid(1, a, b, c, dx);
    uint64_t xcr0 = (c >> 27 & 1) ? xgetbv0() : 0; /* OSXSAVE */
    int os_avx = (xcr0 & 6) == 6, os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    int os_amx = (xcr0 & 0x60000) == 0x60000;
    struct {
        unsigned reg, bit;
        const char *name;
        int need; /* 0 none, 1 AVX state, 2 AVX-512 state, 3 AMX state */
    } l1[] = {{3, 25, "sse", 0},      {3, 26, "sse2", 0},   {2, 0, "sse3", 0},
              {2, 1, "pclmulqdq", 0}, {2, 9, "ssse3", 0},   {2, 12, "fma", 1},
              {2, 19, "sse4_1", 0},   {2, 20, "sse4_2", 0}, {2, 23, "popcnt", 0},
              {2, 25, "aes", 0},      {2, 28, "avx", 1},    {2, 29, "f16c", 1}};
    unsigned r1[4] = {a, b, c, dx};
    int ok[4] = {1, os_avx, os_avx512, os_amx};
    for (size_t k = 0; k < sizeof l1 / sizeof l1[0]; k++)
        if ((r1[l1[k].reg] >> l1[k].bit & 1) && ok[l1[k].need])
            f |= bit(l1[k].name);
    if (max >= 7) {
        unsigned s0[4], s1[4] = {0, 0, 0, 0};
        __cpuid_count(7, 0, s0[0], s0[1], s0[2], s0[3]);
        if (s0[0] >= 1)
            __cpuid_count(7, 1, s1[0], s1[1], s1[2], s1[3]);
        struct {
            int sub;
            unsigned reg, bit;
            const char *name;
            int need;
        } l7[] = {
            {0, 1, 3, "bmi1", 0},       {0, 1, 5, "avx2", 1},         {0, 1, 8, "bmi2", 0},
            {0, 1, 16, "avx512f", 2},   {0, 1, 17, "avx512dq", 2},    {0, 1, 21, "avx512ifma", 2},
            {0, 1, 28, "avx512cd", 2},  {0, 1, 30, "avx512bw", 2},    {0, 1, 31, "avx512vl", 2},
            {0, 2, 1, "avx512vbmi", 2}, {0, 2, 6, "avx512_vbmi2", 2}, {0, 2, 11, "avx512_vnni", 2},
            {0, 3, 22, "amx_bf16", 3},  {0, 3, 23, "avx512_fp16", 2}, {0, 3, 24, "amx_tile", 3},
            {0, 3, 25, "amx_int8", 3},  {1, 0, 4, "avx_vnni", 1},     {1, 0, 5, "avx512_bf16", 2}};
        for (size_t k = 0; k < sizeof l7 / sizeof l7[0]; k++) {
            unsigned *r = l7[k].sub ? s1 : s0;
            if ((r[l7[k].reg] >> l7[k].bit & 1) && ok[l7[k].need])
                f |= bit(l7[k].name);
        }
    }
    return f;
}
#endif

/* "key : value" from cpuinfo's first CPU block. */
static int cpuinfo_value(const char *text, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = text;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll == 0 && p != text)
            break; /* end of the first CPU's block */
        if (ll > kl && memcmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t' || p[kl] == ':')) {
            const char *c = memchr(p, ':', ll);
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                size_t vl = ll - (size_t)(c - p);
                size_t k = 0;
                for (size_t i = 0; i < vl && k + 1 < n; i++)
                    out[k++] = isprint((unsigned char)c[i]) ? c[i] : '?';
                out[k] = 0;
                return 1;
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* /etc/os-release: PRETTY_NAME="Debian GNU/Linux 12 (bookworm)" */
static void os_release(const char *root, char *out, size_t n)
{
    char buf[8192];
    long len = fy__env_read(root, "/etc/os-release", buf, sizeof buf);
    if (len < 0)
        len = fy__env_read(root, "/usr/lib/os-release", buf, sizeof buf);
    if (len <= 0)
        return;
    const char *p = buf;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > 12 && memcmp(p, "PRETTY_NAME=", 12) == 0) {
            const char *v = p + 12;
            size_t vl = ll - 12;
            if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                v++;
                vl -= 2;
            }
            size_t k = 0;
            for (size_t i = 0; i < vl && k + 1 < n; i++)
                if (isprint((unsigned char)v[i]) && v[i] != '\\')
                    out[k++] = v[i];
            out[k] = 0;
            return;
        }
        p = eol ? eol + 1 : p + ll;
    }
}

static void copy_printable(char *out, size_t n, const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < n; i++)
        out[k++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    out[k] = 0;
}

/* NVIDIA GPUs: /proc/driver/nvidia/gpus/BUS/information ("Model: ..."), else the
 * /dev/nvidiaN device nodes. */
static void nvidia(const char *root, fy_env *e)
{
    char path[512], buf[4096];
    long n = fy__env_read(root, "/proc/driver/nvidia/version", buf, sizeof buf);
    if (n > 0) {
        /* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug ..." */
        const char *km = strstr(buf, "Kernel Module");
        if (km) {
            km += 13;
            while (*km == ' ')
                km++;
            size_t vl = 0;
            while (km[vl] && km[vl] != ' ' && km[vl] != '\n')
                vl++;
            copy_printable(e->nvidia_driver, sizeof e->nvidia_driver, km, vl);
        }
    }
    snprintf(path, sizeof path, "%s/proc/driver/nvidia/gpus", root ? root : "");
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) && e->n_gpus < FY_ENV_MAX_GPUS) {
            if (de->d_name[0] == '.' || strlen(de->d_name) > 64)
                continue;
            fy_env_gpu *g = &e->gpus[e->n_gpus++];
            copy_printable(g->bus_id, sizeof g->bus_id, de->d_name, strlen(de->d_name));
            snprintf(path, sizeof path, "/proc/driver/nvidia/gpus/%s/information", de->d_name);
            if (fy__env_read(root, path, buf, sizeof buf) > 0)
                cpuinfo_value(buf, "Model", g->model, sizeof g->model);
        }
        closedir(dir);
    }
    if (e->n_gpus)
        return;
    snprintf(path, sizeof path, "%s/dev", root ? root : "");
    dir = opendir(path);
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir)) && e->n_gpus < FY_ENV_MAX_GPUS) {
        const char *s = de->d_name;
        if (strncmp(s, "nvidia", 6) != 0 || !s[6])
            continue;
        int digits = 1;
        for (const char *c = s + 6; *c; c++)
            digits &= isdigit((unsigned char)*c) != 0;
        if (!digits || strlen(s) > 12)
            continue;
        fy_env_gpu *g = &e->gpus[e->n_gpus++];
        snprintf(g->bus_id, sizeof g->bus_id, "/dev/%s", s);
    }
    closedir(dir);
}

static void add_lib(fy_env *e, const char *name, const char *version)
{
    if (e->n_libs >= FY_ENV_MAX_LIBS)
        return;
    fy_env_lib *l = &e->libs[e->n_libs++];
    snprintf(l->name, sizeof l->name, "%s", name);
    copy_printable(l->version, sizeof l->version, version ? version : "",
                   strlen(version ? version : ""));
}

int fy_env_detect(fy_env *out, const fy_env_opts *opts, fy_diag *d)
{
    fy_env_opts o = opts ? *opts : (fy_env_opts){0};
    const char *root = o.root && o.root[0] ? o.root : NULL;
    if (root && root[0] != '/')
        return fy__diag_set(d, FY_EINVAL, "environment root '%s' must be an absolute path", root);
    fy_env *e = out;
    memset(e, 0, sizeof *e);
    char *text = fy__malloc(FY_ENV_FILE_MAX);
    if (!text)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");

    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(e->arch, sizeof e->arch, "%s", u.machine);
        snprintf(e->kernel, sizeof e->kernel, "%s %s", u.sysname, u.release);
        snprintf(e->os_name, sizeof e->os_name, "%s", u.sysname);
    }
    os_release(root, e->os_name, sizeof e->os_name);
    snprintf(e->ferry_version, sizeof e->ferry_version, "%s", FERRY_VERSION);

    /* CPU */
    long n = fy__env_read(root, "/proc/cpuinfo", text, FY_ENV_FILE_MAX);
    if (n > 0) {
        if (!cpuinfo_value(text, "model name", e->cpu_model, sizeof e->cpu_model))
            if (!cpuinfo_value(text, "Model", e->cpu_model, sizeof e->cpu_model))
                cpuinfo_value(text, "cpu model", e->cpu_model, sizeof e->cpu_model);
        cpuinfo_value(text, "vendor_id", e->cpu_vendor, sizeof e->cpu_vendor);
    }
#ifdef FY_ENV_X86
    if (!root && !o.features_from_cpuinfo) {
        e->cpu_features = cpuid_features(e->cpu_vendor);
        e->cpu_features_from_cpuid = 1;
    }
#endif
    if (!e->cpu_features_from_cpuid && n > 0)
        e->cpu_features = fy__env_flags_from_cpuinfo(text, (size_t)n);

    /* cores */
    n = fy__env_read(root, "/sys/devices/system/cpu/online", text, 4096);
    if (n <= 0 || !fy_env_parse_cpu_list(text, (size_t)n, &e->cpus_online)) {
        long c = root ? 0 : sysconf(_SC_NPROCESSORS_ONLN);
        e->cpus_online = c > 0 && c < (1 << 20) ? (int)c : 0;
    }
    if (!root) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0)
            e->cpus_affinity = CPU_COUNT(&set);
    }
    fy__env_cgroup(root, e);
    int usable = e->cpus_online;
    if (e->cpus_affinity > 0 && (usable == 0 || e->cpus_affinity < usable))
        usable = e->cpus_affinity;
    if (e->cpu_quota > 0) {
        int q = (int)ceil(e->cpu_quota);
        if (q < 1)
            q = 1;
        if (usable == 0 || q < usable)
            usable = q;
    }
    e->cpus_usable = usable;

    /* memory */
    n = fy__env_read(root, "/proc/meminfo", text, FY_ENV_FILE_MAX);
    if (n > 0)
        fy_env_parse_meminfo(text, (size_t)n, &e->mem_total, &e->mem_available);
    e->mem_usable = e->mem_total;
    if (e->mem_limit && (!e->mem_usable || e->mem_limit < e->mem_usable))
        e->mem_usable = e->mem_limit;

    /* disk */
    const char *dp = o.disk_path ? o.disk_path : ".";
    snprintf(e->disk_path, sizeof e->disk_path, "%s", dp);
    struct statvfs sv;
    if (statvfs(dp, &sv) == 0) {
        e->disk_free = (uint64_t)sv.f_bavail * sv.f_frsize;
        e->disk_total = (uint64_t)sv.f_blocks * sv.f_frsize;
    }

    nvidia(root, e);

    add_lib(e, "libyaml", yaml_get_version_string());
    add_lib(e, "jansson", jansson_version_str());
    add_lib(e, "libsodium", sodium_version_string());
    add_lib(e, "libmicrohttpd", MHD_get_version());
    add_lib(e, "gnutls", gnutls_check_version(NULL));
    add_lib(e, "zlib", zlibVersion());
    add_lib(e, "protobuf-c", protobuf_c_version());
    fy__free(text);
    return FY_OK;
}

void fy_env_reqs_from_manifest(const fy_manifest *man, fy_env_reqs *out)
{
    memset(out, 0, sizeof *out);
    if (!man)
        return;
    out->n_archs = man->n_archs;
    out->archs = (const char *const *)man->archs;
    out->n_cpu_features = man->n_cpu_features;
    out->cpu_features = (const char *const *)man->cpu_features;
    out->min_memory_mb = man->min_memory_mb > 0 ? (uint64_t)man->min_memory_mb : 0;
    out->min_disk_mb = man->min_disk_mb > 0 ? (uint64_t)man->min_disk_mb : 0;
    out->threads = man->threads;
    out->ferry_version = man->ferry_version;
}

/* SemVer precedence for the range check: MAJOR.MINOR.PATCH[-pre]; pre-releases
 * compared as a whole string after the numbers (enough for ferry's own versions). */
typedef struct {
    unsigned long v[3];
    char pre[64];
} ver;

static int parse_ver(const char *s, size_t len, ver *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    for (int k = 0; k < 3; k++) {
        size_t st = i;
        unsigned long x = 0;
        while (i < len && isdigit((unsigned char)s[i]) && i - st < 9)
            x = x * 10 + (unsigned long)(s[i++] - '0');
        if (i == st || (i - st > 1 && s[st] == '0'))
            return 0;
        out->v[k] = x;
        if (k < 2) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] == '-') {
        size_t pl = len - i - 1;
        if (pl == 0 || pl >= sizeof out->pre)
            return 0;
        memcpy(out->pre, s + i + 1, pl);
        out->pre[pl] = 0;
        i = len;
    }
    return i == len;
}

static int ver_cmp(const ver *a, const ver *b)
{
    for (int k = 0; k < 3; k++)
        if (a->v[k] != b->v[k])
            return a->v[k] < b->v[k] ? -1 : 1;
    if (!a->pre[0] || !b->pre[0])
        return a->pre[0] ? -1 : b->pre[0] ? 1 : 0;
    int c = strcmp(a->pre, b->pre);
    return c < 0 ? -1 : c > 0;
}

/* Does version v satisfy the range? -1 when the range is malformed. */
static int in_range(const char *range, const char *version)
{
    ver v, c;
    if (!parse_ver(version, strlen(version), &v))
        return -1;
    const char *p = range;
    int count = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *t = p;
        while (*p && *p != ' ')
            p++;
        size_t tl = (size_t)(p - t), ol = 0;
        if (tl >= 2 && (t[0] == '>' || t[0] == '<') && t[1] == '=')
            ol = 2;
        else if (tl >= 1 && (t[0] == '>' || t[0] == '<' || t[0] == '='))
            ol = 1;
        if (!parse_ver(t + ol, tl - ol, &c))
            return -1;
        int r = ver_cmp(&v, &c);
        int ok = ol == 0 || (ol == 1 && t[0] == '=') ? r == 0
                 : t[0] == '>'                       ? (ol == 2 ? r >= 0 : r > 0)
                                                     : (ol == 2 ? r <= 0 : r < 0);
        if (!ok)
            return 0;
        count++;
    }
    return count ? 1 : -1;
}

static fy_env_check *add_check(fy_env_report *r, const char *name)
{
    if (r->n_checks >= FY_ENV_MAX_CHECKS)
        return NULL;
    fy_env_check *c = &r->checks[r->n_checks++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static void finish(fy_env_report *r, fy_env_check *c, fy_env_status st)
{
    c->status = st;
    if (st == FY_ENV_FAIL)
        r->n_failed++;
}

static void mib_text(char *out, size_t n, uint64_t bytes)
{
    uint64_t mib = bytes >> 20;
    if (mib >= 10240)
        snprintf(out, n, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else
        snprintf(out, n, "%llu MiB", (unsigned long long)mib);
}

int fy_env_check_reqs(const fy_env *env, const fy_env_reqs *reqs, fy_env_report *out, fy_diag *d)
{
    fy_env_report *r = out;
    memset(r, 0, sizeof *r);
    fy_env_check *c;
    char tmp[64], tmp2[64];
    if (reqs->n_archs > 0 && (c = add_check(r, "arch"))) {
        size_t k = 0;
        int ok = 0;
        for (int i = 0; i < reqs->n_archs; i++) {
            k +=
                (size_t)snprintf(c->want + k, k < sizeof c->want ? sizeof c->want - k : 0, "%s%s",
                                 i ? (i == reqs->n_archs - 1 ? " or " : ", ") : "", reqs->archs[i]);
            if (k >= sizeof c->want)
                k = sizeof c->want - 1;
            ok |= strcmp(reqs->archs[i], env->arch) == 0;
        }
        snprintf(c->have, sizeof c->have, "%s", env->arch[0] ? env->arch : "unknown");
        if (!env->arch[0]) {
            snprintf(c->why, sizeof c->why, "the machine's architecture is unknown");
            finish(r, c, FY_ENV_UNKNOWN);
        } else if (!ok) {
            snprintf(c->why, sizeof c->why,
                     "the package is built for %s; this machine is %s: run it on a %s host",
                     c->want, env->arch, reqs->archs[0]);
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    for (int i = 0; i < reqs->n_cpu_features; i++) {
        const char *f = reqs->cpu_features[i];
        int idx = fy_env_cpu_feature_index(f);
        if (idx < 0)
            return fy__diag_set(d, FY_EINVAL,
                                "requirements.cpu_features[%d]: unknown CPU feature '%.48s'", i, f);
        snprintf(tmp, sizeof tmp, "cpu_features.%s", f);
        if (!(c = add_check(r, tmp)))
            break;
        snprintf(c->want, sizeof c->want, "%s", f);
        int has = (int)(env->cpu_features >> idx & 1);
        snprintf(c->have, sizeof c->have, "%s", has ? "present" : "absent");
        if (!has) {
            snprintf(c->why, sizeof c->why,
                     "the CPU (%s) does not offer %s%s; choose a machine whose CPU has it, or a "
                     "package built without it",
                     env->cpu_model[0] ? env->cpu_model : "unknown model", f,
                     env->cpu_features_from_cpuid ? "" : " (per /proc/cpuinfo)");
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    if (reqs->min_memory_mb > 0 && (c = add_check(r, "memory"))) {
        uint64_t want = reqs->min_memory_mb << 20;
        uint64_t have = env->mem_available ? env->mem_available : env->mem_total;
        const char *src = env->mem_available ? "available" : "total";
        if (env->mem_limit && (!have || env->mem_limit < have)) {
            have = env->mem_limit;
            src = "cgroup limit";
        }
        snprintf(c->want, sizeof c->want, ">= %llu MiB", (unsigned long long)reqs->min_memory_mb);
        mib_text(tmp2, sizeof tmp2, have);
        snprintf(c->have, sizeof c->have, "%s (%s)", tmp2, src);
        if (!have) {
            snprintf(c->why, sizeof c->why, "memory could not be measured (/proc/meminfo)");
            finish(r, c, FY_ENV_UNKNOWN);
        } else if (have < want) {
            snprintf(c->why, sizeof c->why, "%s memory is %s, the package needs %llu MiB%s", src,
                     tmp2, (unsigned long long)reqs->min_memory_mb,
                     env->mem_limit == have ? ": raise the container's memory limit"
                                            : ": free memory or use a larger machine");
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    if (reqs->min_disk_mb > 0 && (c = add_check(r, "disk"))) {
        snprintf(c->want, sizeof c->want, ">= %llu MiB free",
                 (unsigned long long)reqs->min_disk_mb);
        mib_text(tmp2, sizeof tmp2, env->disk_free);
        snprintf(c->have, sizeof c->have, "%s free at %.60s", tmp2, env->disk_path);
        if (!env->disk_total) {
            snprintf(c->why, sizeof c->why, "free disk at %.100s could not be measured",
                     env->disk_path);
            finish(r, c, FY_ENV_UNKNOWN);
        } else if (env->disk_free < (reqs->min_disk_mb << 20)) {
            snprintf(c->why, sizeof c->why, "%s free at %.80s, the package needs %llu MiB", tmp2,
                     env->disk_path, (unsigned long long)reqs->min_disk_mb);
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    if (reqs->threads > 0 && (c = add_check(r, "threads"))) {
        snprintf(c->want, sizeof c->want, ">= %d CPUs", reqs->threads);
        snprintf(c->have, sizeof c->have, "%d usable", env->cpus_usable);
        if (env->cpus_usable <= 0) {
            snprintf(c->why, sizeof c->why, "usable CPUs could not be counted");
            finish(r, c, FY_ENV_UNKNOWN);
        } else if (env->cpus_usable < reqs->threads) {
            snprintf(c->why, sizeof c->why,
                     "%d CPUs usable (online %d, affinity %d, cgroup quota %.2f), the package "
                     "wants %d threads",
                     env->cpus_usable, env->cpus_online, env->cpus_affinity, env->cpu_quota,
                     reqs->threads);
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    if (reqs->ferry_version && reqs->ferry_version[0] && (c = add_check(r, "ferry"))) {
        snprintf(c->want, sizeof c->want, "%.90s", reqs->ferry_version);
        snprintf(c->have, sizeof c->have, "%s", FERRY_VERSION);
        int ok = in_range(reqs->ferry_version, FERRY_VERSION);
        if (ok < 0) {
            r->n_checks--;
            return fy__diag_set(d, FY_EINVAL, "requirements.ferry: invalid version range '%.64s'",
                                reqs->ferry_version);
        }
        if (!ok) {
            snprintf(c->why, sizeof c->why,
                     "this ferry is %s, the package wants %.64s: use a ferry in that range",
                     FERRY_VERSION, reqs->ferry_version);
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    if (reqs->min_gpus > 0 && (c = add_check(r, "gpus"))) {
        snprintf(c->want, sizeof c->want, ">= %d NVIDIA GPUs", reqs->min_gpus);
        snprintf(c->have, sizeof c->have, "%d", env->n_gpus);
        if (env->n_gpus < reqs->min_gpus) {
            snprintf(c->why, sizeof c->why,
                     "%d NVIDIA GPUs found (/proc/driver/nvidia, /dev/nvidia*), %d needed",
                     env->n_gpus, reqs->min_gpus);
            finish(r, c, FY_ENV_FAIL);
        } else {
            finish(r, c, FY_ENV_PASS);
        }
    }
    return FY_OK;
}

static const char *status_name(fy_env_status s)
{
    return s == FY_ENV_PASS ? "pass" : s == FY_ENV_FAIL ? "fail" : "unknown";
}

#define JSET(obj, key, val)                                                                        \
    do {                                                                                           \
        if (json_object_set_new(obj, key, val) != 0)                                               \
            goto oom;                                                                              \
    } while (0)

int fy_env_to_json(const fy_env *e, const fy_env_report *report, char **out, fy_diag *d)
{
    json_t *root = json_object(), *cpu = json_object(), *feats = json_array(), *mem = json_object(),
           *disk = json_object(), *gpus = json_array(), *os = json_object(), *libs = json_array();
    if (!root || !cpu || !feats || !mem || !disk || !gpus || !os || !libs) {
        json_decref(cpu);
        json_decref(feats);
        json_decref(mem);
        json_decref(disk);
        json_decref(gpus);
        json_decref(os);
        json_decref(libs);
        goto oom;
    }
    JSET(root, "cpu", cpu);
    JSET(root, "memory", mem);
    JSET(root, "disk", disk);
    JSET(root, "gpus", gpus);
    JSET(root, "os", os);
    JSET(root, "libraries", libs);
    JSET(cpu, "arch", json_string(e->arch));
    JSET(cpu, "vendor", json_string(e->cpu_vendor));
    JSET(cpu, "model", json_string(e->cpu_model));
    JSET(cpu, "features", feats);
    for (int i = 0; i < N_FEATURES; i++)
        if (e->cpu_features >> i & 1)
            if (json_array_append_new(feats, json_string(feature_names[i])) != 0)
                goto oom;
    JSET(cpu, "features_source", json_string(e->cpu_features_from_cpuid ? "cpuid" : "cpuinfo"));
    JSET(cpu, "online", json_integer(e->cpus_online));
    JSET(cpu, "affinity", json_integer(e->cpus_affinity));
    JSET(cpu, "cgroup_version", json_integer(e->cgroup_version));
    JSET(cpu, "quota_cpus", e->cpu_quota > 0 ? json_real(e->cpu_quota) : json_null());
    JSET(cpu, "usable", json_integer(e->cpus_usable));
    JSET(mem, "total_bytes", json_integer((json_int_t)e->mem_total));
    JSET(mem, "available_bytes", json_integer((json_int_t)e->mem_available));
    JSET(mem, "cgroup_limit_bytes",
         e->mem_limit ? json_integer((json_int_t)e->mem_limit) : json_null());
    JSET(mem, "usable_bytes", json_integer((json_int_t)e->mem_usable));
    JSET(disk, "path", json_string(e->disk_path));
    JSET(disk, "free_bytes", json_integer((json_int_t)e->disk_free));
    JSET(disk, "total_bytes", json_integer((json_int_t)e->disk_total));
    for (int i = 0; i < e->n_gpus; i++) {
        json_t *g = json_object();
        if (!g || json_array_append_new(gpus, g) != 0)
            goto oom;
        JSET(g, "vendor", json_string("nvidia"));
        JSET(g, "model", json_string(e->gpus[i].model));
        JSET(g, "bus_id", json_string(e->gpus[i].bus_id));
    }
    JSET(root, "nvidia_driver", e->nvidia_driver[0] ? json_string(e->nvidia_driver) : json_null());
    JSET(os, "name", json_string(e->os_name));
    JSET(os, "kernel", json_string(e->kernel));
    JSET(os, "ferry", json_string(e->ferry_version));
    for (int i = 0; i < e->n_libs; i++) {
        json_t *l = json_object();
        if (!l || json_array_append_new(libs, l) != 0)
            goto oom;
        JSET(l, "name", json_string(e->libs[i].name));
        JSET(l, "version", json_string(e->libs[i].version));
    }
    if (report) {
        json_t *req = json_object(), *checks = json_array();
        if (!req || !checks) {
            json_decref(req);
            json_decref(checks);
            goto oom;
        }
        JSET(root, "requirements", req);
        JSET(req, "checks", checks);
        JSET(req, "passed", json_boolean(report->n_failed == 0));
        JSET(req, "failed", json_integer(report->n_failed));
        for (int i = 0; i < report->n_checks; i++) {
            const fy_env_check *c = &report->checks[i];
            json_t *o = json_object();
            if (!o || json_array_append_new(checks, o) != 0)
                goto oom;
            JSET(o, "name", json_string(c->name));
            JSET(o, "status", json_string(status_name(c->status)));
            JSET(o, "want", json_string(c->want));
            JSET(o, "have", json_string(c->have));
            if (c->why[0])
                JSET(o, "why", json_string(c->why));
        }
    }
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory writing JSON");
    *out = s;
    return FY_OK;
oom:
    json_decref(root);
    return fy__diag_set(d, FY_ENOMEM, "out of memory writing JSON");
}
