/* SPDX-License-Identifier: MIT */
/* fy__read_file: whole regular files only, bounded, never blocking on FIFOs or
 * devices, and errors that name the path and the problem. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "test.h"

static char dir[64];

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n)
            fwrite(data, 1, n, f);
        fclose(f);
    }
}

TEST(reads_whole_file_nul_terminated)
{
    char p[256];
    path_in(p, sizeof p, "hello.txt");
    write_file(p, "hello\0world", 11);
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, &d), FY_OK);
    FY_CHECK_EQ(len, 11);
    FY_CHECK(buf && memcmp(buf, "hello\0world", 11) == 0 && buf[11] == 0);
    fy__free(buf);

    /* exactly at the limit is allowed */
    buf = NULL;
    FY_CHECK_EQ(fy__read_file(p, 11, &buf, &len, &d), FY_OK);
    fy__free(buf);
    unlink(p);
}

TEST(empty_file_gives_empty_buffer)
{
    char p[256];
    path_in(p, sizeof p, "empty");
    write_file(p, "", 0);
    unsigned char *buf = NULL;
    size_t len = 99;
    fy_diag d;
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, &d), FY_OK);
    FY_CHECK_EQ(len, 0);
    FY_CHECK(buf != NULL && buf[0] == 0);
    fy__free(buf);
    unlink(p);
}

TEST(missing_file_is_not_found)
{
    char p[256];
    path_in(p, sizeof p, "does-not-exist");
    unsigned char *buf = (unsigned char *)"untouched";
    size_t len = 7;
    fy_diag d;
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, p);
    FY_CHECK_CONTAINS(d.msg, "cannot open");
    FY_CHECK_STR((const char *)buf, "untouched"); /* outs set only on success */
    FY_CHECK_EQ(len, 7);
    /* a missing folder on the way is also not-found */
    FY_CHECK_EQ(fy__read_file("/nonexistent-ferry/x/y", 1024, &buf, &len, &d), FY_ENOTFOUND);
    /* a file used as a folder is an I/O error, not a crash */
    char f[256], below[300];
    path_in(f, sizeof f, "plain");
    write_file(f, "x", 1);
    snprintf(below, sizeof below, "%s/child", f);
    FY_CHECK_EQ(fy__read_file(below, 1024, &buf, &len, &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "Not a directory");
    unlink(f);
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, NULL), FY_ENOTFOUND);
}

TEST(directory_is_refused)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    FY_CHECK_EQ(fy__read_file(dir, 1 << 20, &buf, &len, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK_CONTAINS(d.msg, dir);
    FY_CHECK(buf == NULL);
}

TEST(devices_are_refused)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    /* /dev/zero would never end if read; /dev/null reports size 0 */
    FY_CHECK_EQ(fy__read_file("/dev/zero", 1 << 20, &buf, &len, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK_EQ(fy__read_file("/dev/null", 1 << 20, &buf, &len, &d), FY_EINVAL);
    FY_CHECK(buf == NULL);
}

/* Run fy__read_file on a FIFO with nobody writing in a child process, so a
 * blocking open or read shows up as a timeout here instead of hanging the suite. */
TEST(fifo_is_refused_without_blocking)
{
    char p[256];
    path_in(p, sizeof p, "fifo");
    FY_CHECK_EQ(mkfifo(p, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        unsigned char *buf = NULL;
        size_t len = 0;
        fy_diag d;
        int rc = fy__read_file(p, 1024, &buf, &len, &d);
        _exit(rc == FY_EINVAL && strstr(d.msg, "not a regular file") ? 0 : 1);
    }
    int status = 0;
    FY_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    FY_CHECK(WIFEXITED(status)); /* killed by SIGALRM means it blocked */
    FY_CHECK_EQ(WEXITSTATUS(status), 0);
    unlink(p);
}

TEST(symlink_to_fifo_is_refused_too)
{
    char fifo[256], link[256];
    path_in(fifo, sizeof fifo, "fifo2");
    path_in(link, sizeof link, "fifo2.link");
    FY_CHECK_EQ(mkfifo(fifo, 0600), 0);
    FY_CHECK_EQ(symlink(fifo, link), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        unsigned char *buf = NULL;
        size_t len = 0;
        _exit(fy__read_file(link, 1024, &buf, &len, NULL) == FY_EINVAL ? 0 : 1);
    }
    int status = 0;
    FY_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    FY_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(link);
    unlink(fifo);
}

TEST(over_limit_is_refused_before_reading)
{
    char p[256];
    path_in(p, sizeof p, "big");
    char data[4096];
    memset(data, 'x', sizeof data);
    write_file(p, data, sizeof data);
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    long before = fy__alloc_count();
    FY_CHECK_EQ(fy__read_file(p, 4095, &buf, &len, &d), FY_ELIMIT);
    FY_CHECK_EQ(fy__alloc_count(), before); /* refused from the size alone */
    FY_CHECK_CONTAINS(d.msg, "4096 bytes");
    FY_CHECK_CONTAINS(d.msg, "limit of 4095");
    FY_CHECK(buf == NULL);
    FY_CHECK_EQ(fy__read_file(p, 0, &buf, &len, &d), FY_ELIMIT);

    /* a sparse file claiming a huge size is refused without allocating it */
    FILE *f = fopen(p, "r+b");
    FY_CHECK(f != NULL);
    if (f) {
        FY_CHECK_EQ(ftruncate(fileno(f), (off_t)1 << 40), 0);
        fclose(f);
    }
    FY_CHECK_EQ(fy__read_file(p, (size_t)1 << 30, &buf, &len, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "1099511627776 bytes");
    unlink(p);
}

TEST(unreadable_file_is_an_io_error)
{
    if (geteuid() == 0)
        return; /* root reads anything */
    char p[256];
    path_in(p, sizeof p, "secret");
    write_file(p, "x", 1);
    chmod(p, 0);
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "Permission denied");
    unlink(p);
}

TEST(allocation_failure_is_enomem)
{
    char p[256];
    path_in(p, sizeof p, "small");
    write_file(p, "abc", 3);
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_diag d;
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy__read_file(p, 1024, &buf, &len, &d), FY_ENOMEM);
    fy__alloc_fail_at(0);
    FY_CHECK_CONTAINS(d.msg, "out of memory");
    FY_CHECK(buf == NULL);
    unlink(p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-fileXXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(reads_whole_file_nul_terminated);
    RUN(empty_file_gives_empty_buffer);
    RUN(missing_file_is_not_found);
    RUN(directory_is_refused);
    RUN(devices_are_refused);
    RUN(fifo_is_refused_without_blocking);
    RUN(symlink_to_fifo_is_refused_too);
    RUN(over_limit_is_refused_before_reading);
    RUN(unreadable_file_is_an_io_error);
    RUN(allocation_failure_is_enomem);
    rmdir(dir);
    return TEST_SUMMARY();
}
