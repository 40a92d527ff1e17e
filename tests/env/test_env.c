/* SPDX-License-Identifier: MIT */
/* Environment detection: the cgroup, CPU list and meminfo parsers on good and
 * malformed text; cgroup v1 and v2 limits, CPU flags and GPUs read from fake /proc
 * and /sys trees (fy_env_opts.root); requirement checks that pass and fail with
 * reasons; the JSON report parses; cpuid agrees with the kernel's flags. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env_int.h"
#include "ferry/ferry.h"
#include "test.h"

static char root[64];

/* Write ROOT/rel with text, creating folders. */
static void put(const char *base, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    for (char *p = path + strlen(base) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    if (!f) {
        FY_CHECK(f != NULL);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static void make_root(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", root, name);
    mkdir(out, 0755);
}

TEST(cpu_max_parses)
{
    double c = -1;
    FY_CHECK(fy_env_parse_cpu_max("max 100000\n", 11, &c));
    FY_CHECK_NEAR(c, 0, 0);
    FY_CHECK(fy_env_parse_cpu_max("50000 100000\n", 13, &c));
    FY_CHECK_NEAR(c, 0.5, 1e-12);
    FY_CHECK(fy_env_parse_cpu_max("250000 100000", 13, &c));
    FY_CHECK_NEAR(c, 2.5, 1e-12);
    static const char *const bad[] = {"",
                                      "\n",
                                      "max",
                                      "max\n",
                                      "50000",
                                      "abc 100000",
                                      "50000 abc",
                                      "50000 0",
                                      "50000 999",
                                      "50000 2000000",
                                      "-1 100000",
                                      "0 100000",
                                      "50000 100000 7",
                                      "50000  100000",
                                      "99999999999999999999999 100000",
                                      "1e5 100000",
                                      "+5 100000",
                                      " max  "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = 42;
        int r = fy_env_parse_cpu_max(bad[i], strlen(bad[i]), &c);
        if (r)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        FY_CHECK_EQ(r, 0);
        FY_CHECK_NEAR(c, 42, 0); /* untouched */
    }
    FY_CHECK_EQ(fy_env_parse_cpu_max(NULL, 0, &c), 0);
    /* not NUL-terminated: only len bytes are read */
    char raw[4] = {'m', 'a', 'x', ' '};
    FY_CHECK_EQ(fy_env_parse_cpu_max(raw, sizeof raw, &c), 0);
}

TEST(mem_limit_parses)
{
    uint64_t b = 7;
    FY_CHECK(fy_env_parse_mem_limit("max\n", 4, &b));
    FY_CHECK_EQ(b, 0);
    FY_CHECK(fy_env_parse_mem_limit("536870912\n", 10, &b));
    FY_CHECK_EQ(b, 536870912);
    FY_CHECK(fy_env_parse_mem_limit("9223372036854771712\n", 20, &b)); /* v1 "unlimited" */
    FY_CHECK_EQ(b, 0);
    FY_CHECK(fy_env_parse_mem_limit("18446744073709551615", 20, &b));
    FY_CHECK_EQ(b, 0);
    static const char *const bad[] = {"",    "-1", "12abc",   "0x100", "18446744073709551616",
                                      "1 2", "ma", "maximum", "1.5G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = 7;
        FY_CHECK_EQ(fy_env_parse_mem_limit(bad[i], strlen(bad[i]), &b), 0);
        FY_CHECK_EQ(b, 7);
    }
}

TEST(cpu_list_parses)
{
    int n = -1;
    FY_CHECK(fy_env_parse_cpu_list("0-3\n", 4, &n));
    FY_CHECK_EQ(n, 4);
    FY_CHECK(fy_env_parse_cpu_list("0-3,8,10-11", 11, &n));
    FY_CHECK_EQ(n, 7);
    FY_CHECK(fy_env_parse_cpu_list("5", 1, &n));
    FY_CHECK_EQ(n, 1);
    static const char *const bad[] = {"",     "\n", "3-1", "0-",   "-3",         ",",
                                      "0,,1", "0,", "a",   "0-3x", "0-99999999", "1-2-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = -1;
        int r = fy_env_parse_cpu_list(bad[i], strlen(bad[i]), &n);
        if (r)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        FY_CHECK_EQ(r, 0);
    }
}

TEST(meminfo_parses)
{
    const char *t = "MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    8192 kB\n";
    uint64_t tot = 0, av = 0;
    FY_CHECK(fy_env_parse_meminfo(t, strlen(t), &tot, &av));
    FY_CHECK_EQ(tot, 16384ull * 1024);
    FY_CHECK_EQ(av, 8192ull * 1024);
    /* an old kernel without MemAvailable */
    t = "MemTotal: 2048 kB\n";
    FY_CHECK(fy_env_parse_meminfo(t, strlen(t), &tot, &av));
    FY_CHECK_EQ(tot, 2048ull * 1024);
    FY_CHECK_EQ(av, 0);
    /* malformed values are skipped, never trusted */
    t = "MemTotal: lots kB\nMemAvailable: 99999999999999999999 kB\nMemTotalX: 5 kB\n";
    FY_CHECK_EQ(fy_env_parse_meminfo(t, strlen(t), &tot, &av), 0);
    FY_CHECK_EQ(tot, 0);
    FY_CHECK_EQ(fy_env_parse_meminfo("", 0, &tot, &av), 0);
}

TEST(cpuinfo_flags)
{
    const char *t = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 pni "
                    "ssse3 avx avx2 fma avx512f avx512_vnni amx_tile\n\nprocessor\t: 1\nflags "
                    ": sse\n";
    uint64_t f = fy__env_flags_from_cpuinfo(t, strlen(t));
    FY_CHECK(f >> fy_env_cpu_feature_index("sse3") & 1); /* pni */
    FY_CHECK(f >> fy_env_cpu_feature_index("avx512_vnni") & 1);
    FY_CHECK(f >> fy_env_cpu_feature_index("amx_tile") & 1);
    FY_CHECK(!(f >> fy_env_cpu_feature_index("amx_int8") & 1));
    FY_CHECK(!(f >> fy_env_cpu_feature_index("sse4_2") & 1));
    const char *arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sve i8mm bf16\n";
    f = fy__env_flags_from_cpuinfo(arm, strlen(arm));
    FY_CHECK(f >> fy_env_cpu_feature_index("neon") & 1);
    FY_CHECK(f >> fy_env_cpu_feature_index("dotprod") & 1);
    FY_CHECK(f >> fy_env_cpu_feature_index("sve") & 1);
    FY_CHECK(!(f >> fy_env_cpu_feature_index("sve2") & 1));
    /* a key that merely starts with "flags" is not the flags line */
    const char *odd = "flagsy : avx2\nflags: \n";
    FY_CHECK_EQ(fy__env_flags_from_cpuinfo(odd, strlen(odd)), 0);
    FY_CHECK_EQ(fy_env_cpu_feature_index("avx1024"), -1);
    FY_CHECK(fy_env_cpu_feature_name(fy_env_cpu_feature_count()) == NULL);
}

TEST(cgroup_v2_nested_limits)
{
    char r[128];
    make_root(r, sizeof r, "v2");
    put(r, "proc/self/cgroup", "0::/kubepods/pod1/c1\n");
    put(r, "proc/cpuinfo", "processor : 0\nmodel name : Test CPU 9000\nflags : sse sse2 avx2\n");
    put(r, "proc/meminfo", "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n");
    put(r, "sys/devices/system/cpu/online", "0-7\n");
    put(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(r, "sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "150000 100000\n");
    put(r, "sys/fs/cgroup/kubepods/pod1/c1/memory.max", "268435456\n");
    put(r, "sys/fs/cgroup/kubepods/memory.max", "134217728\n"); /* the parent is tighter */
    put(r, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
    fy_env e;
    fy_env_opts o = {.root = r};
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_env_detect(&e, &o, &d), FY_OK);
    FY_CHECK_EQ(e.cgroup_version, 2);
    FY_CHECK_NEAR(e.cpu_quota, 1.5, 1e-9);
    FY_CHECK_EQ(e.cpus_online, 8);
    FY_CHECK_EQ(e.cpus_usable, 2); /* ceil(1.5) */
    FY_CHECK_EQ(e.mem_limit, 134217728);
    FY_CHECK_EQ(e.mem_total, 8388608ull * 1024);
    FY_CHECK_EQ(e.mem_usable, 134217728);
    FY_CHECK_STR(e.cpu_model, "Test CPU 9000");
    FY_CHECK_EQ(e.cpu_features_from_cpuid, 0);
    FY_CHECK(e.cpu_features >> fy_env_cpu_feature_index("avx2") & 1);
    FY_CHECK_EQ(e.n_gpus, 0);
}

TEST(cgroup_v2_namespaced_and_unlimited)
{
    char r[128];
    make_root(r, sizeof r, "v2ns");
    /* inside a cgroup namespace the path is "/" and the files sit at the mount root */
    put(r, "proc/self/cgroup", "0::/\n");
    put(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(r, "sys/fs/cgroup/cpu.max", "max 100000\n");
    put(r, "sys/fs/cgroup/memory.max", "max\n");
    fy_env e;
    fy_env_opts o = {.root = r};
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.cgroup_version, 2);
    FY_CHECK_NEAR(e.cpu_quota, 0, 0);
    FY_CHECK_EQ(e.mem_limit, 0);

    /* a path that does not exist under the mount (another namespace): the mount's root */
    make_root(r, sizeof r, "v2missing");
    put(r, "proc/self/cgroup", "0::/system.slice/other.service\n");
    put(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(r, "sys/fs/cgroup/cpu.max", "200000 100000\n");
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_NEAR(e.cpu_quota, 2.0, 1e-9);
}

TEST(cgroup_v1_limits)
{
    char r[128];
    make_root(r, sizeof r, "v1");
    put(r, "proc/self/cgroup",
        "12:pids:/docker/abc\n4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
    put(r, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
    put(r, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    put(r, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "1073741824\n");
    put(r, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(r, "sys/devices/system/cpu/online", "0-3\n");
    fy_env e;
    fy_env_opts o = {.root = r};
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.cgroup_version, 1);
    FY_CHECK_NEAR(e.cpu_quota, 0.5, 1e-9);
    FY_CHECK_EQ(e.cpus_usable, 1);
    FY_CHECK_EQ(e.mem_limit, 1073741824);

    /* no quota (-1) and v1's unlimited memory: no limits */
    make_root(r, sizeof r, "v1free");
    put(r, "proc/self/cgroup", "4:memory:/\n3:cpu:/\n");
    put(r, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
    put(r, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    put(r, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.cgroup_version, 1);
    FY_CHECK_NEAR(e.cpu_quota, 0, 0);
    FY_CHECK_EQ(e.mem_limit, 0);
}

TEST(cgroup_malformed_files_are_no_limit)
{
    char r[128];
    make_root(r, sizeof r, "bad");
    put(r, "proc/self/cgroup",
        "garbage\n::\n0::relative/path\n0::/../../etc\n4:memory:/a/../../b\n"
        "9999999999999999999999:cpu:\n0::/ok\n");
    put(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(r, "sys/fs/cgroup/ok/cpu.max", "lots 100000\n");
    put(r, "sys/fs/cgroup/ok/memory.max", "\x01\x02\xff");
    put(r, "proc/meminfo", "MemTotal: \xff\xfe kB\n");
    put(r, "sys/devices/system/cpu/online", "0-3,,");
    put(r, "proc/cpuinfo", "model name : \x01\x7f bad\xc3\n");
    fy_env e;
    fy_env_opts o = {.root = r};
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_NEAR(e.cpu_quota, 0, 0);
    FY_CHECK_EQ(e.mem_limit, 0);
    FY_CHECK_EQ(e.mem_total, 0);
    FY_CHECK_EQ(e.cpus_online, 0);
    for (const char *p = e.cpu_model; *p; p++)
        FY_CHECK(*p >= 0x20 && *p < 0x7f);
    /* an empty tree: everything unknown, nothing fails */
    make_root(r, sizeof r, "empty");
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.cgroup_version, 0);
    FY_CHECK_EQ(e.cpus_usable, 0);
    /* a relative root is refused */
    fy_env_opts rel = {.root = "relative"};
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_env_detect(&e, &rel, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "absolute");
}

TEST(nvidia_gpus)
{
    char r[128];
    make_root(r, sizeof r, "gpu");
    put(r, "proc/driver/nvidia/version",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC "
        "2023\nGCC version:  gcc version 12\n");
    put(r, "proc/driver/nvidia/gpus/0000:3b:00.0/information",
        "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 130\nBus Location: \t 0000:3b:00.0\n");
    put(r, "proc/driver/nvidia/gpus/0000:86:00.0/information", "Model: \t NVIDIA L4\n");
    fy_env e;
    fy_env_opts o = {.root = r};
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.n_gpus, 2);
    FY_CHECK_STR(e.nvidia_driver, "535.104.05");
    int h100 = strcmp(e.gpus[0].model, "NVIDIA H100 80GB HBM3") == 0 ||
               strcmp(e.gpus[1].model, "NVIDIA H100 80GB HBM3") == 0;
    FY_CHECK(h100);
    /* device nodes only (driver files hidden, e.g. in a container) */
    make_root(r, sizeof r, "gpudev");
    put(r, "dev/nvidia0", "");
    put(r, "dev/nvidia1", "");
    put(r, "dev/nvidiactl", "");
    put(r, "dev/nvidia-uvm", "");
    FY_CHECK_EQ(fy_env_detect(&e, &o, NULL), FY_OK);
    FY_CHECK_EQ(e.n_gpus, 2);
}

static fy_env fake_env(void)
{
    fy_env e;
    memset(&e, 0, sizeof e);
    snprintf(e.arch, sizeof e.arch, "x86_64");
    snprintf(e.cpu_model, sizeof e.cpu_model, "Test CPU");
    e.cpu_features = (uint64_t)1 << fy_env_cpu_feature_index("avx2");
    e.cpus_online = 8;
    e.cpus_usable = 2;
    e.cpu_quota = 1.5;
    e.mem_total = 8ull << 30;
    e.mem_available = 4ull << 30;
    e.mem_limit = 256ull << 20;
    e.disk_total = 100ull << 30;
    e.disk_free = 10ull << 20;
    snprintf(e.disk_path, sizeof e.disk_path, "/var/lib/ferry");
    return e;
}

TEST(requirements_pass_and_fail_with_reasons)
{
    fy_env e = fake_env();
    const char *archs[] = {"aarch64"}, *feats[] = {"avx2", "amx_tile"};
    fy_env_reqs q = {.n_archs = 1,
                     .archs = archs,
                     .n_cpu_features = 2,
                     .cpu_features = feats,
                     .min_memory_mb = 512,
                     .min_disk_mb = 8,
                     .threads = 4,
                     .ferry_version = ">=2.0.0",
                     .min_gpus = 1};
    fy_env_report *r = calloc(1, sizeof *r);
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_env_check_reqs(&e, &q, r, &d), FY_OK);
    FY_CHECK_EQ(r->n_checks, 8);
    FY_CHECK_EQ(r->n_failed, 6);
    FY_CHECK_STR(r->checks[0].name, "arch");
    FY_CHECK_EQ(r->checks[0].status, FY_ENV_FAIL);
    FY_CHECK_CONTAINS(r->checks[0].why, "x86_64");
    FY_CHECK_EQ(r->checks[1].status, FY_ENV_PASS); /* avx2 */
    FY_CHECK_STR(r->checks[2].name, "cpu_features.amx_tile");
    FY_CHECK_EQ(r->checks[2].status, FY_ENV_FAIL);
    FY_CHECK_STR(r->checks[3].name, "memory");
    FY_CHECK_EQ(r->checks[3].status, FY_ENV_FAIL);
    FY_CHECK_CONTAINS(r->checks[3].have, "cgroup limit");
    FY_CHECK_CONTAINS(r->checks[3].why, "memory limit");
    FY_CHECK_EQ(r->checks[4].status, FY_ENV_PASS); /* 10 MiB free >= 8 */
    FY_CHECK_STR(r->checks[5].name, "threads");
    FY_CHECK_EQ(r->checks[5].status, FY_ENV_FAIL);
    FY_CHECK_CONTAINS(r->checks[5].why, "quota 1.50");
    FY_CHECK_STR(r->checks[6].name, "ferry");
    FY_CHECK_EQ(r->checks[6].status, FY_ENV_FAIL);
    FY_CHECK_STR(r->checks[7].name, "gpus");
    FY_CHECK_EQ(r->checks[7].status, FY_ENV_FAIL);

    /* the same machine meets modest needs */
    const char *archs2[] = {"aarch64", "x86_64"};
    fy_env_reqs ok = {.n_archs = 2,
                      .archs = archs2,
                      .min_memory_mb = 64,
                      .threads = 2,
                      .ferry_version = ">=0.1.0 <1.0.0"};
    FY_CHECK_EQ(fy_env_check_reqs(&e, &ok, r, &d), FY_OK);
    FY_CHECK_EQ(r->n_failed, 0);
    FY_CHECK_EQ(r->n_checks, 4);
    FY_CHECK_STR(r->checks[0].want, "aarch64 or x86_64");

    /* unknown measurements are reported, not failed */
    fy_env blank;
    memset(&blank, 0, sizeof blank);
    fy_env_reqs mem = {.min_memory_mb = 1, .min_disk_mb = 1, .threads = 1};
    FY_CHECK_EQ(fy_env_check_reqs(&blank, &mem, r, &d), FY_OK);
    FY_CHECK_EQ(r->n_failed, 0);
    FY_CHECK_EQ(r->checks[0].status, FY_ENV_UNKNOWN);

    /* bad requirement text */
    const char *bogus[] = {"avx1024"};
    fy_env_reqs bad = {.n_cpu_features = 1, .cpu_features = bogus};
    FY_CHECK_EQ(fy_env_check_reqs(&e, &bad, r, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "avx1024");
    fy_env_reqs badr = {.ferry_version = ">=x"};
    FY_CHECK_EQ(fy_env_check_reqs(&e, &badr, r, &d), FY_EINVAL);
    static const char *const ranges[][2] = {
        {">=0.1.0 <1.0.0", "1"}, {"0.1.0", "1"},  {"=0.1.0", "1"},       {">0.1.0", "0"},
        {"<=0.1.0", "1"},        {"<0.1.0", "0"}, {">=0.1.0-rc.1", "1"}, {">=0.2.0 <1.0.0", "0"}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        fy_env_reqs v = {.ferry_version = ranges[i][0]};
        FY_CHECK_EQ(fy_env_check_reqs(&e, &v, r, &d), FY_OK);
        FY_CHECK_EQ(r->n_failed, ranges[i][1][0] == '1' ? 0 : 1);
    }
    free(r);
}

TEST(manifest_requirements_and_json)
{
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_load(&m, "examples/fashion-mnist/ferry.yaml", &d), FY_OK);
    if (!m)
        return;
    fy_env_reqs q;
    fy_env_reqs_from_manifest(m, &q);
    FY_CHECK_EQ(q.n_archs, 2);
    FY_CHECK_EQ(q.min_memory_mb, 64);
    FY_CHECK_EQ(q.threads, 1);
    fy_env e;
    FY_CHECK_EQ(fy_env_detect(&e, NULL, &d), FY_OK);
    fy_env_report *r = calloc(1, sizeof *r);
    FY_CHECK_EQ(fy_env_check_reqs(&e, &q, r, &d), FY_OK);
    char *s = NULL;
    FY_CHECK_EQ(fy_env_to_json(&e, r, &s, &d), FY_OK);
    json_error_t err;
    json_t *j = s ? json_loads(s, 0, &err) : NULL;
    FY_CHECK(j != NULL);
    if (j) {
        json_t *req = json_object_get(j, "requirements");
        FY_CHECK(json_is_array(json_object_get(req, "checks")));
        FY_CHECK_EQ(json_array_size(json_object_get(req, "checks")), (size_t)r->n_checks);
        FY_CHECK(json_is_string(json_object_get(json_object_get(j, "cpu"), "arch")));
        FY_CHECK(json_is_array(json_object_get(j, "libraries")));
        json_decref(j);
    }
    free(s);
    free(r);
    fy_manifest_free(m);
}

/* On x86 Linux, cpuid (with the OS checks) and the kernel's flags agree on every
 * feature name ferry knows: a wrong bit number would show here. */
TEST(cpuid_matches_kernel_flags)
{
#if defined(__x86_64__)
    fy_env a, b;
    fy_env_opts o = {.features_from_cpuinfo = 1};
    FY_CHECK_EQ(fy_env_detect(&a, NULL, NULL), FY_OK);
    FY_CHECK_EQ(fy_env_detect(&b, &o, NULL), FY_OK);
    FY_CHECK_EQ(a.cpu_features_from_cpuid, 1);
    for (int i = 0; i < fy_env_cpu_feature_count(); i++) {
        int x = (int)(a.cpu_features >> i & 1), y = (int)(b.cpu_features >> i & 1);
        if (x != y)
            fprintf(stderr, "%s: cpuid %d, /proc/cpuinfo %d\n", fy_env_cpu_feature_name(i), x, y);
        FY_CHECK_EQ(x, y);
    }
    FY_CHECK(a.cpu_features >> fy_env_cpu_feature_index("sse2") & 1);
#endif
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/ferry-env-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(cpu_max_parses);
    RUN(mem_limit_parses);
    RUN(cpu_list_parses);
    RUN(meminfo_parses);
    RUN(cpuinfo_flags);
    RUN(cgroup_v2_nested_limits);
    RUN(cgroup_v2_namespaced_and_unlimited);
    RUN(cgroup_v1_limits);
    RUN(cgroup_malformed_files_are_no_limit);
    RUN(nvidia_gpus);
    RUN(requirements_pass_and_fail_with_reasons);
    RUN(manifest_requirements_and_json);
    RUN(cpuid_matches_kernel_flags);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return TEST_SUMMARY();
}
