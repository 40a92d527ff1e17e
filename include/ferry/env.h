/* SPDX-License-Identifier: MIT */
/* The environment: what this machine (or container) offers to a model, and whether
 * a package's requirements are met. CPU model and features (cpuid on x86, the
 * kernel's list elsewhere), cores and the cgroup CPU quota, memory and its cgroup
 * limit, free disk, NVIDIA GPUs (from /proc and /dev, without CUDA), the OS and the
 * versions of the libraries ferry links. Used by `ferry doctor` and by the deploy
 * pipeline's environment stage. See docs/doctor.md. */
#ifndef FERRY_ENV_H
#define FERRY_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/package.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FY_ENV_MAX_GPUS 16
#define FY_ENV_MAX_LIBS 16
#define FY_ENV_MAX_CHECKS 96 /* 64 CPU features + arch, memory, disk, threads, ferry, gpus */

/* CPU feature names are the manifest's (requirements.cpu_features), which are the
 * names /proc/cpuinfo prints. fy_env_cpu_feature_name(i) for i in
 * [0, fy_env_cpu_feature_count()) lists them; bit i of fy_env.cpu_features says
 * whether the CPU (and, for AVX/AVX-512/AMX state, the OS) supports feature i. */
int fy_env_cpu_feature_count(void);
const char *fy_env_cpu_feature_name(int i); /* NULL when out of range */
/* Index of a feature name, or -1 if it is not one ferry knows. */
int fy_env_cpu_feature_index(const char *name);

typedef struct fy_env_gpu {
    char model[96];  /* "NVIDIA H100 80GB HBM3", or "" when only a device node was seen */
    char bus_id[32]; /* "0000:3b:00.0" */
} fy_env_gpu;

typedef struct fy_env_lib {
    char name[24];    /* "libyaml", "jansson", ... */
    char version[32]; /* the linked library's run-time version where it reports one */
} fy_env_lib;

/* A snapshot of the machine. Plain data, safe to copy and share. Sizes are bytes;
 * 0 in a limit means "no limit found". */
typedef struct fy_env {
    char arch[32];               /* uname -m: "x86_64" */
    char cpu_vendor[16];         /* "GenuineIntel", "AuthenticAMD", "" */
    char cpu_model[128];         /* /proc/cpuinfo "model name" (x86) or a CPU part line */
    uint64_t cpu_features;       /* bit i: fy_env_cpu_feature_name(i) is present */
    int cpu_features_from_cpuid; /* 1: x86 cpuid + xgetbv; 0: /proc/cpuinfo flags */

    int cpus_online;    /* /sys/devices/system/cpu/online (or sysconf) */
    int cpus_affinity;  /* CPUs this process may run on (sched_getaffinity); 0: unknown */
    int cgroup_version; /* 0: none found, 1 or 2 */
    double cpu_quota;   /* cgroup CPU quota in CPUs (cpu.max / cfs_quota), 0: none */
    int cpus_usable;    /* min(online, affinity, ceil(quota)): threads worth running */

    uint64_t mem_total;     /* /proc/meminfo MemTotal */
    uint64_t mem_available; /* MemAvailable */
    uint64_t mem_limit;     /* cgroup memory.max / memory.limit_in_bytes; 0: none */
    uint64_t mem_usable;    /* min(total, limit) */

    char disk_path[256]; /* where disk was measured */
    uint64_t disk_free;  /* bytes available to an unprivileged writer (statvfs f_bavail) */
    uint64_t disk_total;

    int n_gpus;
    fy_env_gpu gpus[FY_ENV_MAX_GPUS];
    char nvidia_driver[64]; /* /proc/driver/nvidia/version's driver version, or "" */

    char os_name[128];      /* /etc/os-release PRETTY_NAME, or uname -s */
    char kernel[128];       /* uname -r */
    char ferry_version[32]; /* FERRY_VERSION */
    int n_libs;
    fy_env_lib libs[FY_ENV_MAX_LIBS];
} fy_env;

/* All-zero means the defaults shown. */
typedef struct fy_env_opts {
    /* Prefix for every file read (/proc, /sys, /etc): NULL or "" reads the real
     * ones. Tests point it at a fake tree. With a root set, CPU features come from
     * ROOT/proc/cpuinfo, not from cpuid, and affinity, uname and statvfs are
     * still the real ones unless overridden below. */
    const char *root;
    const char *disk_path;     /* measure free disk here; NULL: "." */
    int features_from_cpuinfo; /* 1: use /proc/cpuinfo flags even on x86 */
} fy_env_opts;

/* Detect. Never fails on a missing or malformed /proc, /sys or /etc file: the
 * field stays 0/"" (unknown) and detection goes on; a malformed cgroup file
 * counts as no limit. FY_EINVAL only for bad opts. Thread-safe. */
int fy_env_detect(fy_env *out, const fy_env_opts *opts, fy_diag *d);

/* What a service needs; all-zero means "nothing". Filled from a manifest with
 * fy_env_reqs_from_manifest, or by a caller (deploy.yaml may override). Borrowed
 * strings, valid while the struct is used. */
typedef struct fy_env_reqs {
    int n_archs;
    const char *const *archs; /* any one of them must be this machine's */
    int n_cpu_features;
    const char *const *cpu_features; /* every one must be present */
    uint64_t min_memory_mb;          /* against min(available memory, cgroup limit) */
    uint64_t min_disk_mb;            /* against free disk at fy_env.disk_path */
    int threads;                     /* against cpus_usable */
    const char *ferry_version;       /* a range, ">=0.1.0 <1.0.0", against FERRY_VERSION */
    int min_gpus;                    /* NVIDIA GPUs present */
} fy_env_reqs;

/* Borrow the requirements of a manifest (the pointers point into man). */
void fy_env_reqs_from_manifest(const fy_manifest *man, fy_env_reqs *out);

typedef enum fy_env_status {
    FY_ENV_PASS = 0,
    FY_ENV_FAIL = 1,
    FY_ENV_UNKNOWN = 2, /* could not be measured here: reported, does not fail */
} fy_env_status;

typedef struct fy_env_check {
    char name[48]; /* "arch", "cpu_features.avx2", "memory", "disk", "threads", "ferry", "gpus" */
    fy_env_status status;
    char want[96]; /* "x86_64 or aarch64", ">= 64 MiB" */
    char have[96]; /* "x86_64", "512 MiB (cgroup limit)" */
    char why[192]; /* for a failure: what is missing and what to do */
} fy_env_check;

typedef struct fy_env_report {
    int n_checks;
    int n_failed;
    fy_env_check checks[FY_ENV_MAX_CHECKS];
} fy_env_report;

/* Check reqs against env: one entry per requirement given (in the order of the
 * fy_env_reqs fields; each CPU feature its own entry). Never fails for a requirement
 * that is not met (that is n_failed > 0); FY_EINVAL for a malformed version range
 * or an unknown CPU feature name (which a validated manifest cannot hold). */
int fy_env_check_reqs(const fy_env *env, const fy_env_reqs *reqs, fy_env_report *out, fy_diag *d);

/* JSON of the snapshot and, when report is non-NULL, the checks:
 * {"cpu": {...}, "memory": {...}, "disk": {...}, "gpus": [...], "os": {...},
 *  "libraries": [...], "requirements": {"passed": BOOL, "checks": [...]}}.
 * *out is malloc'd (free()). Used by `ferry doctor --json` and the deploy record. */
int fy_env_to_json(const fy_env *env, const fy_env_report *report, char **out, fy_diag *d);

/* Internal parsers, public for tests and the fuzz target. Each returns 1 when it
 * found a value, 0 when the text holds none or is malformed (never crashes). */
/* cgroup v2 cpu.max ("max 100000", "50000 100000"): quota in CPUs, 0 for "max". */
int fy_env_parse_cpu_max(const char *text, size_t len, double *cpus);
/* A cgroup byte limit (memory.max "max"/"12345", memory.limit_in_bytes): 0 for none.
 * v1's "no limit" (a number near 2^63, rounded to pages) counts as none. */
int fy_env_parse_mem_limit(const char *text, size_t len, uint64_t *bytes);
/* A CPU list ("0-3,8,10-11") as in /sys/devices/system/cpu/online: its count. */
int fy_env_parse_cpu_list(const char *text, size_t len, int *count);
/* /proc/meminfo: MemTotal and MemAvailable in bytes (either may be 0). */
int fy_env_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available);

#ifdef __cplusplus
}
#endif
#endif
