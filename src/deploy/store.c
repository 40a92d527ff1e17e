/* SPDX-License-Identifier: MIT */
/* The deploy state store: one SQLite file (STATE_DIR/ferry.db, WAL journal,
 * synchronous=FULL) with services, versions, deployments, their stage results and
 * an audit log. Each change is one transaction, so a killed deployer or a full disk
 * leaves either the old or the new state. */
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "deploy_int.h"

struct fy_store {
    sqlite3 *db;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS services(name TEXT PRIMARY KEY, host TEXT, port INTEGER,"
    " replicas INTEGER, serve_args TEXT, live_version TEXT, updated TEXT);"
    "CREATE TABLE IF NOT EXISTS versions(service TEXT NOT NULL, version TEXT NOT NULL,"
    " digest TEXT, package TEXT, replicas INTEGER, serve_args TEXT, created TEXT,"
    " PRIMARY KEY(service, version));"
    "CREATE TABLE IF NOT EXISTS deployments(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " service TEXT NOT NULL, version TEXT, previous TEXT, kind TEXT, strategy TEXT,"
    " status TEXT NOT NULL, who TEXT, pid INTEGER, started TEXT, finished TEXT, detail TEXT);"
    "CREATE TABLE IF NOT EXISTS stages(deploy_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " stage TEXT, outcome TEXT, seconds REAL, detail TEXT, at TEXT);"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, who TEXT,"
    " service TEXT, action TEXT, outcome TEXT, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS deployments_service ON deployments(service, id);"
    "CREATE INDEX IF NOT EXISTS stages_deploy ON stages(deploy_id, seq);";

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

static int db_fail(fy_store *s, fy_diag *d, int src, const char *what)
{
    int code = src == SQLITE_NOMEM ? FY_ENOMEM : FY_EIO;
    const char *hint = src == SQLITE_FULL       ? " (disk full)"
                       : src == SQLITE_BUSY     ? " (the state store is locked by another process)"
                       : src == SQLITE_READONLY ? " (read-only)"
                                                : "";
    return fy__diag_set(d, code, "state store: %s: %s%s", what,
                        s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src), hint);
}

int fy_state_dir(char *out, size_t n, const char *dir)
{
    if (!dir || !*dir)
        dir = getenv("FERRY_STATE_DIR");
    if (!dir || !*dir)
        dir = ".ferry";
    if ((size_t)snprintf(out, n, "%s", dir) >= n)
        return FY_ELIMIT;
    return FY_OK;
}

int fy__deploy_mkdirs(const char *path, fy_diag *d)
{
    char p[FY_DEPLOY_PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s", path) >= sizeof p)
        return fy__diag_set(d, FY_ELIMIT, "path too long: %.80s...", path);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return fy__diag_set(d, FY_EIO, "cannot create %s: %s", p, strerror(errno));
        *q = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return fy__diag_set(d, FY_EIO, "cannot create %s: %s", p, strerror(errno));
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return fy__diag_set(d, FY_EIO, "%s is not a folder", p);
    return FY_OK;
}

int fy__deploy_service_path(char *out, size_t n, const char *state_dir, const char *service,
                            const char *leaf)
{
    if (!fy__deploy_valid_name(service))
        return FY_EINVAL;
    int w = snprintf(out, n, "%s/services/%s%s%s", state_dir, service, leaf ? "/" : "",
                     leaf ? leaf : "");
    return w < 0 || (size_t)w >= n ? FY_ELIMIT : FY_OK;
}

int fy__deploy_valid_version(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 63)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return strstr(s, "..") == NULL;
}

double fy__deploy_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fy__deploy_who(char *out, size_t n)
{
    uid_t uid = getuid();
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, n, "%s(%u)", res->pw_name, (unsigned)uid);
    else
        snprintf(out, n, "uid %u", (unsigned)uid);
}

int fy_store_open(fy_store **out, const char *state_dir, fy_diag *d)
{
    char path[FY_DEPLOY_PATH_MAX];
    int rc = fy__deploy_mkdirs(state_dir, d);
    if (rc)
        return rc;
    if ((size_t)snprintf(path, sizeof path, "%s/ferry.db", state_dir) >= sizeof path)
        return fy__diag_set(d, FY_ELIMIT, "state folder path too long");
    fy_store *s = fy__calloc(1, sizeof *s);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    int src = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(s, d, src, path);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *err = NULL;
    src = sqlite3_exec(s->db,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                       NULL, NULL, &err);
    sqlite3_free(err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(s, d, src, "creating the schema");
        goto fail;
    }
    *out = s;
    return FY_OK;
fail:
    sqlite3_close(s->db);
    fy__free(s);
    return rc;
}

void fy_store_close(fy_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    fy__free(s);
}

/* Run one statement with text/int parameters given as a format: 't' text, 'i' int64,
 * 'd' double. */
static int exec(fy_store *s, fy_diag *d, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt && fmt[i]; i++) {
        if (fmt[i] == 't') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else if (fmt[i] == 'i') {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else {
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
        }
    }
    va_end(ap);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return db_fail(s, d, src, "write");
    return FY_OK;
}

static int begin(fy_store *s, fy_diag *d)
{
    int src = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return src == SQLITE_OK ? FY_OK : db_fail(s, d, src, "begin");
}

static int commit(fy_store *s, fy_diag *d, int rc)
{
    if (rc == FY_OK) {
        int src = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (src == SQLITE_OK)
            return FY_OK;
        rc = db_fail(s, d, src, "commit");
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* One text column of the first row, into out ("" when no row). */
static int query_text(fy_store *s, fy_diag *d, const char *sql, const char *a, const char *b,
                      char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, n, "%s", t ? (const char *)t : "");
    } else if (src != SQLITE_DONE) {
        sqlite3_finalize(st);
        return db_fail(s, d, src, "read");
    }
    sqlite3_finalize(st);
    return FY_OK;
}

static int audit_locked(fy_store *s, const char *service, const char *action, const char *outcome,
                        const char *detail, fy_diag *d)
{
    char who[128];
    fy__deploy_who(who, sizeof who);
    return exec(s, d,
                "INSERT INTO audit(at, who, service, action, outcome, detail) VALUES(" NOW
                ", ?, ?, ?, ?, ?)",
                "ttttt", who, service, action, outcome, detail);
}

int fy_store_audit(fy_store *s, const char *service, const char *action, const char *outcome,
                   const char *detail, fy_diag *d)
{
    return audit_locked(s, service, action, outcome, detail, d);
}

int fy_store_deploy_begin(fy_store *s, const char *service, const char *version, const char *kind,
                          const char *strategy, int64_t *id, int *n_interrupted, fy_diag *d)
{
    char who[128], live[64];
    fy__deploy_who(who, sizeof who);
    int rc = begin(s, d);
    if (rc)
        return rc;
    /* The caller holds the service's deploy lock, so a deployment still 'running'
     * belongs to a deployer that died (killed, machine lost) before recording its end. */
    if ((rc = exec(s, d,
                   "UPDATE deployments SET status='interrupted', finished=" NOW
                   ", detail='the deployer stopped before finishing (killed or crashed); the "
                   "live version was kept' WHERE service=? AND status='running'",
                   "t", service)))
        return commit(s, d, rc);
    int changes = sqlite3_changes(s->db);
    if (n_interrupted)
        *n_interrupted = changes;
    if (changes > 0 &&
        (rc = audit_locked(s, service, "deploy", "interrupted",
                           "found a deployment left running by a stopped deployer", d)))
        return commit(s, d, rc);
    if ((rc = query_text(s, d, "SELECT live_version FROM services WHERE name=?", service, NULL,
                         live, sizeof live)))
        return commit(s, d, rc);
    rc = exec(s, d,
              "INSERT INTO deployments(service, version, previous, kind, strategy, status, who, "
              "pid, started) VALUES(?, ?, ?, ?, ?, 'running', ?, ?, " NOW ")",
              "tttttti", service, version, live[0] ? live : NULL, kind, strategy, who,
              (int64_t)getpid());
    if (rc == FY_OK)
        *id = sqlite3_last_insert_rowid(s->db);
    return commit(s, d, rc);
}

int fy_store_stage(fy_store *s, int64_t deploy_id, const char *stage, const char *outcome,
                   double seconds, const char *detail, fy_diag *d)
{
    return exec(s, d,
                "INSERT INTO stages(deploy_id, seq, stage, outcome, seconds, detail, at) VALUES(?,"
                " (SELECT COUNT(*) FROM stages WHERE deploy_id=?), ?, ?, ?, ?, " NOW ")",
                "iittdt", deploy_id, deploy_id, stage, outcome, seconds, detail);
}

int fy_store_deploy_end(fy_store *s, int64_t deploy_id, const char *outcome, const char *detail,
                        fy_diag *d)
{
    char service[128], version[64], kind[32], idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", (long long)deploy_id);
    int rc = begin(s, d);
    if (rc)
        return rc;
    if ((rc = query_text(s, d, "SELECT service FROM deployments WHERE id=CAST(? AS INTEGER)",
                         idtext, NULL, service, sizeof service)) ||
        (rc = query_text(s, d, "SELECT version FROM deployments WHERE id=CAST(? AS INTEGER)",
                         idtext, NULL, version, sizeof version)) ||
        (rc = query_text(s, d, "SELECT kind FROM deployments WHERE id=CAST(? AS INTEGER)", idtext,
                         NULL, kind, sizeof kind)))
        return commit(s, d, rc);
    if (!service[0])
        return commit(s, d,
                      fy__diag_set(d, FY_ENOTFOUND, "no deployment %lld", (long long)deploy_id));
    rc = exec(s, d, "UPDATE deployments SET status=?, detail=?, finished=" NOW " WHERE id=?", "tti",
              outcome, detail, deploy_id);
    if (rc == FY_OK && !strcmp(outcome, "promoted"))
        rc = exec(s, d, "UPDATE services SET live_version=?, updated=" NOW " WHERE name=?", "tt",
                  version, service);
    if (rc == FY_OK) {
        char what[200];
        snprintf(what, sizeof what, "%s %s: %s", kind, version, detail ? detail : "");
        rc = audit_locked(s, service, kind, outcome, what, d);
    }
    return commit(s, d, rc);
}

int fy_store_version_add(fy_store *s, const char *service, const char *version, const char *digest,
                         const char *package_path, int replicas, const char *serve_args_json,
                         fy_diag *d)
{
    return exec(s, d,
                "INSERT INTO versions(service, version, digest, package, replicas, serve_args, "
                "created) VALUES(?, ?, ?, ?, ?, ?, " NOW ") ON CONFLICT(service, version) DO "
                "UPDATE SET digest=excluded.digest, package=excluded.package, "
                "replicas=excluded.replicas, serve_args=excluded.serve_args",
                "ttttit", service, version, digest, package_path, (int64_t)replicas,
                serve_args_json);
}

int fy_store_version_settings(fy_store *s, const char *service, const char *version, int *replicas,
                              char **serve_args_json, fy_diag *d)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(
        s->db, "SELECT replicas, serve_args FROM versions WHERE service=? AND version=?", -1, &st,
        NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    sqlite3_bind_text(st, 1, service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, version, -1, SQLITE_TRANSIENT);
    int rc = FY_OK;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text(st, 1);
        *replicas = sqlite3_column_int(st, 0) > 0 ? sqlite3_column_int(st, 0) : 1;
        *serve_args_json = fy__strdup(a ? (const char *)a : "[]");
        if (!*serve_args_json)
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = fy__diag_set(d, FY_ENOTFOUND, "no version %s of %s in the state store", version,
                          service);
    } else {
        rc = db_fail(s, d, src, "read");
    }
    sqlite3_finalize(st);
    return rc;
}

int fy_store_service_set(fy_store *s, const char *service, const char *host, int port, int replicas,
                         const char *serve_args_json, fy_diag *d)
{
    return exec(
        s, d,
        "INSERT INTO services(name, host, port, replicas, serve_args, updated) VALUES(?, ?, "
        "?, ?, ?, " NOW ") ON CONFLICT(name) DO UPDATE SET host=excluded.host, "
        "port=excluded.port, replicas=excluded.replicas, serve_args=excluded.serve_args, "
        "updated=excluded.updated",
        "ttiit", service, host, (int64_t)port, (int64_t)replicas, serve_args_json);
}

int fy_store_live(fy_store *s, const char *service, char *version, size_t n, fy_diag *d)
{
    return query_text(s, d, "SELECT live_version FROM services WHERE name=?", service, NULL,
                      version, n);
}

int fy_store_version_package(fy_store *s, const char *service, const char *version, char *path,
                             size_t n_path, char *digest, size_t n_digest, fy_diag *d)
{
    int rc = query_text(s, d, "SELECT package FROM versions WHERE service=? AND version=?", service,
                        version, path, n_path);
    if (rc == FY_OK && digest)
        rc = query_text(s, d, "SELECT digest FROM versions WHERE service=? AND version=?", service,
                        version, digest, n_digest);
    return rc;
}

int fy_store_previous(fy_store *s, const char *service, char *version, size_t n, fy_diag *d)
{
    char live[64];
    int rc = fy_store_live(s, service, live, sizeof live, d);
    if (rc)
        return rc;
    return query_text(s, d,
                      "SELECT version FROM deployments WHERE service=? AND status='promoted' AND "
                      "version IS NOT ? ORDER BY id DESC LIMIT 1",
                      service, live, version, n);
}

int fy_store_service_get(fy_store *s, const char *service, char *host, size_t n_host, int *port,
                         int *replicas, char **serve_args_json, fy_diag *d)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(
        s->db, "SELECT host, port, replicas, serve_args FROM services WHERE name=?", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    sqlite3_bind_text(st, 1, service, -1, SQLITE_TRANSIENT);
    src = sqlite3_step(st);
    int rc = FY_OK;
    if (src == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 0), *a = sqlite3_column_text(st, 3);
        snprintf(host, n_host, "%s", h ? (const char *)h : "127.0.0.1");
        *port = sqlite3_column_int(st, 1);
        *replicas = sqlite3_column_int(st, 2);
        if (serve_args_json) {
            *serve_args_json = fy__strdup(a ? (const char *)a : "[]");
            if (!*serve_args_json)
                rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        }
    } else if (src == SQLITE_DONE) {
        rc = fy__diag_set(d, FY_ENOTFOUND, "no service '%s' in the state store", service);
    } else {
        rc = db_fail(s, d, src, "read");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* JSON documents                                                             */
/* ------------------------------------------------------------------------- */

/* Rows of a query as JSON objects keyed by column name. */
static int rows_json(fy_store *s, fy_diag *d, const char *sql, const char *a, int64_t limit,
                     json_t **out)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    int p = 1;
    if (strchr(sql, '?')) {
        if (a)
            sqlite3_bind_text(st, p, a, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, p);
        p++;
        if (strchr(strchr(sql, '?') + 1, '?'))
            sqlite3_bind_int64(st, p, limit);
    }
    json_t *arr = json_array();
    int rc = arr ? FY_OK : FY_ENOMEM;
    while (rc == FY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        if (!o) {
            rc = FY_ENOMEM;
            break;
        }
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            json_t *v;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER: v = json_integer(sqlite3_column_int64(st, i)); break;
            case SQLITE_FLOAT: v = json_real(sqlite3_column_double(st, i)); break;
            case SQLITE_NULL: v = json_null(); break;
            default: v = json_string((const char *)sqlite3_column_text(st, i));
            }
            if (!v)
                v = json_null(); /* text that is not UTF-8: shown as null, never invalid JSON */
            json_object_set_new(o, name, v);
        }
        json_array_append_new(arr, o);
    }
    if (rc == FY_OK && src != SQLITE_DONE)
        rc = db_fail(s, d, src, "read");
    sqlite3_finalize(st);
    if (rc) {
        json_decref(arr);
        if (rc == FY_ENOMEM)
            fy__diag_set(d, rc, "out of memory");
        return rc;
    }
    *out = arr;
    return FY_OK;
}

static int dump(json_t *j, char **out, fy_diag *d)
{
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!t)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    *out = t;
    return FY_OK;
}

int fy_store_services_json(fy_store *s, char **out, fy_diag *d)
{
    json_t *svcs = NULL;
    int rc = rows_json(s, d,
                       "SELECT name, host, port, replicas, live_version, updated FROM services "
                       "ORDER BY name",
                       NULL, 0, &svcs);
    if (rc)
        return rc;
    size_t i;
    json_t *sv;
    json_array_foreach(svcs, i, sv)
    {
        json_t *vers = NULL;
        const char *name = json_string_value(json_object_get(sv, "name"));
        if ((rc =
                 rows_json(s, d,
                           "SELECT version, digest, package, replicas, created FROM versions WHERE "
                           "service=? ORDER BY created",
                           name, 0, &vers))) {
            json_decref(svcs);
            return rc;
        }
        json_object_set_new(sv, "versions", vers);
    }
    return dump(svcs, out, d);
}

int fy_store_history_json(fy_store *s, const char *service, int limit, char **out, fy_diag *d)
{
    json_t *deps = NULL;
    int rc = rows_json(s, d,
                       "SELECT id, service, version, previous, kind, strategy, status, who, "
                       "started, finished, detail FROM deployments WHERE (?1 IS NULL OR "
                       "service=?1) ORDER BY id DESC LIMIT ?",
                       service, limit > 0 ? limit : 50, &deps);
    if (rc)
        return rc;
    size_t i;
    json_t *dep;
    json_array_foreach(deps, i, dep)
    {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->db,
                                     "SELECT stage, outcome, seconds, detail FROM stages WHERE "
                                     "deploy_id=? ORDER BY seq",
                                     -1, &st, NULL);
        if (src != SQLITE_OK) {
            json_decref(deps);
            return db_fail(s, d, src, "prepare");
        }
        sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(dep, "id")));
        json_t *stages = json_array();
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *det = sqlite3_column_text(st, 3);
            json_t *o = json_pack(
                "{s:s?, s:s?, s:f, s:s?}", "stage", (const char *)sqlite3_column_text(st, 0),
                "outcome", (const char *)sqlite3_column_text(st, 1), "seconds",
                sqlite3_column_double(st, 2), "detail", det ? (const char *)det : NULL);
            if (o)
                json_array_append_new(stages, o);
        }
        sqlite3_finalize(st);
        json_object_set_new(dep, "stages", stages ? stages : json_array());
    }
    return dump(deps, out, d);
}

int fy_store_audit_json(fy_store *s, const char *service, int limit, char **out, fy_diag *d)
{
    json_t *rows = NULL;
    int rc = rows_json(s, d,
                       "SELECT id, at, who, service, action, outcome, detail FROM audit WHERE (?1 "
                       "IS NULL OR service=?1) ORDER BY id DESC LIMIT ?",
                       service, limit > 0 ? limit : 50, &rows);
    if (rc)
        return rc;
    return dump(rows, out, d);
}

int fy_store_default_service(fy_store *s, char *out, size_t n, fy_diag *d)
{
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(s->db, "SELECT name FROM services ORDER BY name LIMIT 3", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_fail(s, d, src, "prepare");
    char names[3][128];
    int k = 0;
    while (k < 3 && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(names[k++], sizeof names[0], "%s", t ? (const char *)t : "");
    }
    sqlite3_finalize(st);
    if (k == 0)
        return fy__diag_set(d, FY_ENOTFOUND,
                            "no service has been deployed here (state folder "
                            "has none): run 'ferry deploy deploy.yaml' first");
    if (k > 1)
        return fy__diag_set(d, FY_EINVAL, "several services are deployed here (%s, %s%s): name one",
                            names[0], names[1], k > 2 ? ", ..." : "");
    snprintf(out, n, "%s", names[0]);
    return FY_OK;
}
