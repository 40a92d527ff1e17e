/* SPDX-License-Identifier: MIT */
/* Internals of the env module shared between its files. */
#ifndef FERRY_ENV_INT_H
#define FERRY_ENV_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/env.h"

/* Ceiling on one /proc, /sys or /etc file read by detection: larger files are cut
 * here (cpuinfo of a 256-core machine is ~400 KiB; we need its first CPU only). */
#define FY_ENV_FILE_MAX (64 * 1024)

/* Read ROOT+path (root may be NULL or "") into buf (NUL-terminated, at most cap-1
 * bytes; longer files are truncated). Returns the length, or -1 if unreadable.
 * Reads until EOF, because /proc and /sys files report size 0. */
long fy__env_read(const char *root, const char *path, char *buf, size_t cap);

/* Set bits for the feature names in a /proc/cpuinfo "flags" / "Features" line. */
uint64_t fy__env_flags_from_cpuinfo(const char *text, size_t len);

/* The cgroup limits of the process described by ROOT/proc/self/cgroup. */
void fy__env_cgroup(const char *root, fy_env *e);

#endif
