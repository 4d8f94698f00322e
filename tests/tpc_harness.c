/*  tpc_harness: processes and PostgreSQL clusters for tests (see .h).     */
#include "tpc_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include "tpc_crash.h"
#include "tpc_log.h"
#include "tpc_record.h"

extern char **environ;

const char *
tpc_harness_srcdir (void)
{
    const char *s = getenv ("abs_top_srcdir");
    if (s && *s)
        return s;
#ifdef TPC_TOP_SRCDIR
    return TPC_TOP_SRCDIR;
#else
    s = getenv ("srcdir");
    return s && *s ? s : ".";
#endif
}

const char *
tpc_harness_builddir (void)
{
#ifdef TPC_TOP_BUILDDIR
    return TPC_TOP_BUILDDIR;
#else
    return ".";
#endif
}

int
tpc_harness_pg_start (const char *dir, char *conninfo, size_t size)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/pgtmp' start '%s'",
              tpc_harness_srcdir (), dir);
    FILE *f = popen (cmd, "r");
    if (!f)
        return -1;
    conninfo[0] = '\0';
    if (!fgets (conninfo, (int) size, f))
        conninfo[0] = '\0';
    int st = pclose (f);
    conninfo[strcspn (conninfo, "\n")] = '\0';
    if (st != 0 || !*conninfo) {
        fprintf (stderr, "harness: cannot start PostgreSQL in %s\n", dir);
        return -1;
    }
    return 0;
}

int
tpc_harness_pg_cmd (const char *what, const char *dir)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/pgtmp' %s '%s'",
              tpc_harness_srcdir (), what, dir);
    return system (cmd) == 0 ? 0 : -1;
}

/*  Run SQL on a new connection to CONNINFO.  The result if it succeeded
 *  (and, when ROW, returned a row), else NULL with the error printed.    */
static PGresult *
s_query (const char *conninfo, const char *sql, bool row)
{
    PGconn *c = PQconnectdb (conninfo);
    PGresult *r = NULL;
    if (PQstatus (c) != CONNECTION_OK) {
        fprintf (stderr, "harness: connect: %s", PQerrorMessage (c));
        goto cleanup;
    }
    r = PQexec (c, sql);
    ExecStatusType st = PQresultStatus (r);
    bool ok = row ? st == PGRES_TUPLES_OK && PQntuples (r) >= 1
                  : st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        fprintf (stderr, "harness: %s: %s", sql, PQresultErrorMessage (r));
        PQclear (r);
        r = NULL;
    }
cleanup:
    PQfinish (c);
    return r;
}

int
tpc_harness_sql (const char *conninfo, const char *sql)
{
    PGresult *r = s_query (conninfo, sql, false);
    int rc = r ? 0 : -1;
    PQclear (r);
    return rc;
}

int64_t
tpc_harness_sql_int (const char *conninfo, const char *sql)
{
    PGresult *r = s_query (conninfo, sql, true);
    int64_t v = !r ? INT64_MIN
              : PQgetisnull (r, 0, 0) ? 0
              : strtoll (PQgetvalue (r, 0, 0), NULL, 10);
    PQclear (r);
    return v;
}

int
tpc_proc_spawn (tpc_proc_t *p, char *const argv[], char *const env[],
                const char *logpath)
{
    memset (p, 0, sizeof *p);
    snprintf (p->log, sizeof p->log, "%s", logpath);
    /* a suite that arms a crash point needs a test build: fail, never
     * skip, with what to do */
    for (int i = 0; env && env[i] && !tpc_crash_compiled_in (); i++)
        if (!strncmp (env[i], "TPC_CRASH_POINT=", 16)) {
            fprintf (stderr, "harness: %s armed with %s, but this build "
                     "ignores crash points: configure with "
                     "--enable-crash-points (scripts/test does)\n",
                     argv[0], env[i]);
            CU_FAIL ("crash points not compiled in (--enable-crash-points)");
            return -1;
        }
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open (logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
            close (fd);
        }
        for (int i = 0; env && env[i]; i++)
            putenv (env[i]);
        setpgid (0, 0);
        execv (argv[0], argv);
        fprintf (stderr, "harness: exec %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    p->pid = pid;
    return 0;
}

long
tpc_proc_log_size (const tpc_proc_t *p)
{
    struct stat st;
    return stat (p->log, &st) == 0 ? (long) st.st_size : 0;
}

static int
s_log_has (const char *path, const char *needle, long offset)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    if (offset > 0)
        fseek (f, offset, SEEK_SET);
    char line[4096];
    int found = 0;
    while (!found && fgets (line, sizeof line, f))
        found = strstr (line, needle) != NULL;
    fclose (f);
    return found;
}

int
tpc_proc_wait_log (const tpc_proc_t *p, const char *needle, long offset,
                   int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms;
    while (tpc_now_ms () < end) {
        if (s_log_has (p->log, needle, offset))
            return 0;
        if (p->pid > 0 && waitpid (p->pid, NULL, WNOHANG) == p->pid) {
            /* exited: one last look */
            ((tpc_proc_t *) p)->pid = 0;
            return s_log_has (p->log, needle, offset) ? 0 : -1;
        }
        usleep (20 * 1000);
    }
    return -1;
}

int
tpc_proc_wait (tpc_proc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    int64_t end = tpc_now_ms () + timeout_ms;
    int status;
    do {
        pid_t r = waitpid (p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return status;
        }
        usleep (10 * 1000);
    } while (tpc_now_ms () < end);
    return -1;
}

int
tpc_proc_kill (tpc_proc_t *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill (p->pid, sig);
    int st = tpc_proc_wait (p, timeout_ms);
    if (st == -1 && p->pid > 0) {
        kill (p->pid, SIGKILL);
        st = tpc_proc_wait (p, 5000);
    }
    return st;
}

int
tpc_harness_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset (&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &a, sizeof a) == 0
        && getsockname (fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs (a.sin_port);
    close (fd);
    return port;
}

typedef struct { const char *gid; int type; int n; } s_count_t;

static int
s_count_cb (void *arg, const tpc_log_rec_t *rec, const void *p, size_t len)
{
    s_count_t *c = arg;
    tpc_record_t r;
    if (rec->type == c->type && tpc_record_decode (rec->type, p, len, &r) == 0
        && !strcmp (r.gid, c->gid))
        c->n++;
    return 0;
}

int
tpc_harness_log_count (const char *logdir, const char *gid, int type)
{
    s_count_t c = { gid, type, 0 };
    char err[256];
    if (tpc_log_scan (logdir, s_count_cb, &c, NULL, err, sizeof err))
        return -1;
    return c.n;
}

bool
tpc_harness_file_has (const char *path, const char *needle)
{
    FILE *f = fopen (path, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets (line, sizeof line, f))
        found = strstr (line, needle) != NULL;
    if (f)
        fclose (f);
    return found;
}
