/* SPDX-License-Identifier: MIT */
/* cgroup limits (v1 and v2) and the small /proc and /sys text formats detection
 * reads. Every parser takes hostile text: malformed input means "no value", never a
 * crash, and numbers are range-checked before use. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "env_int.h"

long fy__env_read(const char *root, const char *path, char *buf, size_t cap)
{
    char full[1024];
    if (cap == 0)
        return -1;
    buf[0] = 0;
    int n = snprintf(full, sizeof full, "%s%s", root ? root : "", path);
    if (n < 0 || (size_t)n >= sizeof full)
        return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            buf[0] = 0;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    return (long)got;
}

/* A decimal unsigned number spanning [s, s+len) exactly, at most max. */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t dgt = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return 0;
        v = v * 10 + dgt;
    }
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

/* Trim trailing newline and spaces; leading spaces. */
static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == '\n' || (*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

int fy_env_parse_cpu_max(const char *text, size_t len, double *cpus)
{
    if (!text)
        return 0;
    trim(&text, &len);
    const char *sp = memchr(text, ' ', len);
    if (!sp)
        return 0;
    size_t ql = (size_t)(sp - text);
    const char *p = sp + 1;
    size_t pl = len - ql - 1;
    uint64_t period, quota;
    /* kernel: period 1000..1000000 us; quota >= 1000 us or "max" */
    if (!parse_u64(p, pl, 1000000, &period) || period < 1000)
        return 0;
    if (ql == 3 && memcmp(text, "max", 3) == 0) {
        *cpus = 0;
        return 1;
    }
    if (!parse_u64(text, ql, (uint64_t)1 << 50, &quota) || quota == 0)
        return 0;
    *cpus = (double)quota / (double)period;
    return 1;
}

/* cgroup v1: cpu.cfs_quota_us ("-1" or microseconds) over cpu.cfs_period_us. */
static int parse_cfs(const char *q, size_t ql, const char *p, size_t pl, double *cpus)
{
    trim(&q, &ql);
    trim(&p, &pl);
    uint64_t period, quota;
    if (!parse_u64(p, pl, 1000000, &period) || period < 1000)
        return 0;
    if (ql == 2 && memcmp(q, "-1", 2) == 0) {
        *cpus = 0;
        return 1;
    }
    if (!parse_u64(q, ql, (uint64_t)1 << 50, &quota) || quota == 0)
        return 0;
    *cpus = (double)quota / (double)period;
    return 1;
}

int fy_env_parse_mem_limit(const char *text, size_t len, uint64_t *bytes)
{
    if (!text)
        return 0;
    trim(&text, &len);
    if (len == 3 && memcmp(text, "max", 3) == 0) {
        *bytes = 0;
        return 1;
    }
    uint64_t v;
    if (!parse_u64(text, len, UINT64_MAX, &v))
        return 0;
    /* v1 reports "no limit" as LONG_MAX rounded down to the page size; anything
     * from 2^62 up is no real limit. */
    *bytes = v >= ((uint64_t)1 << 62) ? 0 : v;
    return 1;
}

int fy_env_parse_cpu_list(const char *text, size_t len, int *count)
{
    if (!text)
        return 0;
    trim(&text, &len);
    if (len == 0)
        return 0;
    long total = 0;
    size_t i = 0;
    while (i < len) {
        size_t st = i;
        while (i < len && text[i] != ',')
            i++;
        const char *item = text + st;
        size_t il = i - st;
        const char *dash = memchr(item, '-', il);
        uint64_t a, b;
        if (dash) {
            if (!parse_u64(item, (size_t)(dash - item), 1 << 20, &a) ||
                !parse_u64(dash + 1, il - (size_t)(dash - item) - 1, 1 << 20, &b) || b < a)
                return 0;
        } else {
            if (!parse_u64(item, il, 1 << 20, &a))
                return 0;
            b = a;
        }
        total += (long)(b - a + 1);
        if (total > (1 << 20))
            return 0;
        if (i < len)
            i++; /* the comma */
        if (i == len && text[len - 1] == ',')
            return 0;
    }
    *count = (int)total;
    return 1;
}

/* The value of "KEY:   123 kB" lines. */
static int meminfo_field(const char *text, size_t len, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    size_t i = 0;
    while (i < len) {
        size_t st = i;
        while (i < len && text[i] != '\n')
            i++;
        const char *line = text + st;
        size_t ll = i - st;
        if (i < len)
            i++;
        if (ll <= kl || memcmp(line, key, kl) != 0 || line[kl] != ':')
            continue;
        const char *v = line + kl + 1;
        size_t vl = ll - kl - 1;
        trim(&v, &vl);
        uint64_t mult = 1;
        if (vl >= 3 && memcmp(v + vl - 3, " kB", 3) == 0) {
            mult = 1024;
            vl -= 3;
            trim(&v, &vl);
        }
        uint64_t n;
        if (!parse_u64(v, vl, UINT64_MAX / 1024, &n))
            return 0;
        *out = n * mult;
        return 1;
    }
    return 0;
}

int fy_env_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available)
{
    if (!text)
        return 0;
    uint64_t t = 0, a = 0;
    int ft = meminfo_field(text, len, "MemTotal", &t);
    int fa = meminfo_field(text, len, "MemAvailable", &a);
    *total = ft ? t : 0;
    *available = fa ? a : 0;
    return ft || fa;
}

/* Path components are kept as they are, but a path from /proc/self/cgroup must be
 * absolute and hold no ".." so it cannot walk out of the cgroup mount. */
static int safe_cgroup_path(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/' || len > 512)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.' && i + 1 < len && p[i + 1] == '.' && (i == 0 || p[i - 1] == '/') &&
            (i + 2 == len || p[i + 2] == '/'))
            return 0;
        if ((unsigned char)p[i] < 0x20)
            return 0;
    }
    return 1;
}

/* Remove the last component of an absolute path: "/a/b" -> "/a", "/a" -> "". */
static void parent_of(char *p)
{
    char *s = strrchr(p, '/');
    if (s)
        *s = 0;
}

/* Walk from dir/cg up to dir, reading file; the tightest limit found wins (a
 * parent's limit bounds its children). kind 0: cpu.max, 1: memory limit, 2: v1 cfs. */
static void walk(const char *root, const char *mount, const char *cg, int kind, double *cpus,
                 uint64_t *bytes, int *found)
{
    char path[700], buf[256], buf2[256];
    char cur[600];
    snprintf(cur, sizeof cur, "%s", strcmp(cg, "/") == 0 ? "" : cg);
    for (int depth = 0; depth < 64; depth++) {
        int ok = 0;
        double c = 0;
        uint64_t b = 0;
        if (kind == 0) {
            snprintf(path, sizeof path, "%s%s/cpu.max", mount, cur);
            long n = fy__env_read(root, path, buf, sizeof buf);
            ok = n >= 0 && fy_env_parse_cpu_max(buf, (size_t)n, &c);
        } else if (kind == 1) {
            snprintf(path, sizeof path, "%s%s/memory.max", mount, cur);
            long n = fy__env_read(root, path, buf, sizeof buf);
            if (n < 0) {
                snprintf(path, sizeof path, "%s%s/memory.limit_in_bytes", mount, cur);
                n = fy__env_read(root, path, buf, sizeof buf);
            }
            ok = n >= 0 && fy_env_parse_mem_limit(buf, (size_t)n, &b);
        } else {
            snprintf(path, sizeof path, "%s%s/cpu.cfs_quota_us", mount, cur);
            long n = fy__env_read(root, path, buf, sizeof buf);
            snprintf(path, sizeof path, "%s%s/cpu.cfs_period_us", mount, cur);
            long m = fy__env_read(root, path, buf2, sizeof buf2);
            ok = n >= 0 && m >= 0 && parse_cfs(buf, (size_t)n, buf2, (size_t)m, &c);
        }
        if (ok) {
            *found = 1;
            if (kind == 1) {
                if (b && (!*bytes || b < *bytes))
                    *bytes = b;
            } else if (c > 0 && (*cpus <= 0 || c < *cpus)) {
                *cpus = c;
            }
        }
        if (!cur[0])
            break;
        parent_of(cur);
    }
}

/* Does the comma-separated controller list hold name? */
static int has_controller(const char *list, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        size_t st = i;
        while (i < len && list[i] != ',')
            i++;
        if (i - st == nl && memcmp(list + st, name, nl) == 0)
            return 1;
        i++;
    }
    return 0;
}

void fy__env_cgroup(const char *root, fy_env *e)
{
    char buf[8192];
    long n = fy__env_read(root, "/proc/self/cgroup", buf, sizeof buf);
    char v2path[600] = "", cpu1[600] = "", mem1[600] = "";
    int has_v2 = 0, has_cpu1 = 0, has_mem1 = 0;
    for (long i = 0; n > 0 && i < n;) {
        long st = i;
        while (i < n && buf[i] != '\n')
            i++;
        const char *line = buf + st;
        size_t ll = (size_t)(i - st);
        i++;
        const char *c1 = memchr(line, ':', ll);
        if (!c1)
            continue;
        const char *c2 = memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line));
        if (!c2)
            continue;
        const char *ctl = c1 + 1, *path = c2 + 1;
        size_t cl = (size_t)(c2 - ctl), pl = ll - (size_t)(path - line);
        if (!safe_cgroup_path(path, pl) || pl >= sizeof v2path)
            continue;
        if (c1 - line == 1 && line[0] == '0' && cl == 0) {
            memcpy(v2path, path, pl);
            v2path[pl] = 0;
            has_v2 = 1;
        } else {
            if (has_controller(ctl, cl, "cpu")) {
                memcpy(cpu1, path, pl);
                cpu1[pl] = 0;
                has_cpu1 = 1;
            }
            if (has_controller(ctl, cl, "memory")) {
                memcpy(mem1, path, pl);
                mem1[pl] = 0;
                has_mem1 = 1;
            }
        }
    }
    double cpus = 0;
    uint64_t bytes = 0;
    int found_cpu = 0, found_mem = 0;
    if (has_cpu1) {
        static const char *const mounts[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct",
                                             "/sys/fs/cgroup/cpuacct,cpu"};
        for (size_t k = 0; k < 3 && !found_cpu; k++) {
            walk(root, mounts[k], cpu1, 2, &cpus, &bytes, &found_cpu);
            if (!found_cpu) /* a cgroup namespace hides the path: the mount's root is ours */
                walk(root, mounts[k], "/", 2, &cpus, &bytes, &found_cpu);
        }
    }
    if (has_mem1) {
        walk(root, "/sys/fs/cgroup/memory", mem1, 1, &cpus, &bytes, &found_mem);
        if (!found_mem)
            walk(root, "/sys/fs/cgroup/memory", "/", 1, &cpus, &bytes, &found_mem);
    }
    if (found_cpu || found_mem)
        e->cgroup_version = 1;
    if (has_v2 && (!found_cpu || !found_mem)) {
        int fc = 0, fm = 0;
        if (!found_cpu) {
            walk(root, "/sys/fs/cgroup", v2path, 0, &cpus, &bytes, &fc);
            if (!fc)
                walk(root, "/sys/fs/cgroup", "/", 0, &cpus, &bytes, &fc);
        }
        if (!found_mem) {
            walk(root, "/sys/fs/cgroup", v2path, 1, &cpus, &bytes, &fm);
            if (!fm)
                walk(root, "/sys/fs/cgroup", "/", 1, &cpus, &bytes, &fm);
        }
        if ((fc || fm) && !e->cgroup_version)
            e->cgroup_version = 2;
        /* v2 under a v1 hierarchy ("unified") holds no cpu or memory files: fine */
        if (!e->cgroup_version) {
            char probe[64];
            if (fy__env_read(root, "/sys/fs/cgroup/cgroup.controllers", probe, sizeof probe) >= 0)
                e->cgroup_version = 2;
        }
    }
    e->cpu_quota = cpus;
    e->mem_limit = bytes;
}
