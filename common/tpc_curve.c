/*  tpc_curve: CURVE certificate files and socket setup (format in
 *  tpc_curve.h).  Plain libzmq only, so that libtpc needs no czmq.      */
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_FILE_MAX 65536        /* a certificate is a few hundred bytes */
#define S_Z85 TPC_CURVE_KEY_Z85 /* zmq_setsockopt: Z85 text with its NUL */

static int
s_err (char *errbuf, size_t errlen, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_err (char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (errbuf, errlen, fmt, ap);
        va_end (ap);
    }
    return code;
}

bool
tpc_curve_key_valid (const char *z85)
{
    if (!z85 || strlen (z85) != TPC_CURVE_KEY_Z85 - 1)
        return false;
    uint8_t bin[32];
    return zmq_z85_decode (bin, z85) != NULL;
}

static bool
s_name_valid (const char *name)
{
    return name && tpc_name_valid (name, strlen (name), TPC_CURVE_NAME_MAX);
}

/*  Trim blanks at both ends of [*B, *E).                                */
static void
s_trim (const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'
                       || (*e)[-1] == '\r'))
        (*e)--;
}

/*  Copy the value [B, E), without surrounding double quotes, into OUT.  */
static void
s_value (const char *b, const char *e, char *out, size_t size)
{
    s_trim (&b, &e);
    if (e - b >= 2 && *b == '"' && e[-1] == '"') {
        b++;
        e--;
    }
    size_t n = (size_t) (e - b);
    if (n >= size)
        n = size - 1;       /* too long: cannot be a valid key anyway */
    memcpy (out, b, n);
    out[n] = '\0';
}

/*  Parse TEXT (NUL terminated) into OUT; keys are checked by the caller. */
static void
s_parse (const char *text, tpc_curve_cert_t *out, char *pub, char *sec,
         size_t keysize)
{
    char section[32] = "";
    const char *line = text;
    while (*line) {
        const char *end = strchr (line, '\n');
        if (!end)
            end = line + strlen (line);
        const char *b = line, *e = end;
        bool indented = b < e && (*b == ' ' || *b == '\t');
        s_trim (&b, &e);
        if (b < e && *b != '#') {
            const char *eq = memchr (b, '=', (size_t) (e - b));
            if (!indented) {
                size_t n = (size_t) ((eq ? eq : e) - b);
                if (n >= sizeof section)
                    n = sizeof section - 1;
                memcpy (section, b, n);
                section[n] = '\0';
                char *sp = section + strcspn (section, " \t");
                *sp = '\0';
            }
            else if (eq) {
                const char *kb = b, *ke = eq;
                s_trim (&kb, &ke);
                size_t kn = (size_t) (ke - kb);
                if (!strcmp (section, "curve") && kn == 10
                    && !memcmp (kb, "public-key", 10))
                    s_value (eq + 1, e, pub, keysize);
                else if (!strcmp (section, "curve") && kn == 10
                         && !memcmp (kb, "secret-key", 10))
                    s_value (eq + 1, e, sec, keysize);
                else if (!strcmp (section, "metadata") && kn == 4
                         && !memcmp (kb, "name", 4))
                    s_value (eq + 1, e, out->name, sizeof out->name);
            }
        }
        line = *end ? end + 1 : end;
    }
}

/*  The file's name without directories and a ".key"/".key_secret" end. */
static void
s_stem (const char *path, char *out, size_t size)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen (base);
    if (n > 11 && !strcmp (base + n - 11, ".key_secret"))
        n -= 11;
    else if (n > 4 && !strcmp (base + n - 4, ".key"))
        n -= 4;
    if (n >= size)
        n = size - 1;
    memcpy (out, base, n);
    out[n] = '\0';
}

int
tpc_curve_cert_load (const char *path, bool need_secret,
                     tpc_curve_cert_t *out, char *errbuf, size_t errlen)
{
    int rc = 0;
    char *text = NULL;
    char pub[64] = "", sec[64] = "";
    memset (out, 0, sizeof *out);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s_err (errbuf, errlen, errno == ENOENT ? TPC_ENOENT : TPC_EIO,
                      "cannot open key file %s: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        rc = s_err (errbuf, errlen, TPC_EIO, "key file %s is not a regular "
                    "file", path);
        goto cleanup;
    }
    if (need_secret && (st.st_mode & 077)) {
        rc = s_err (errbuf, errlen, TPC_EPERM, "secret key file %s may be "
                    "read by others (mode %04o): chmod 600 %s", path,
                    (unsigned) (st.st_mode & 07777), path);
        goto cleanup;
    }
    if (st.st_size > S_FILE_MAX) {
        rc = s_err (errbuf, errlen, TPC_ECONFIG, "key file %s is too large "
                    "to be a certificate", path);
        goto cleanup;
    }
    text = calloc (1, (size_t) st.st_size + 1);
    if (!text) {
        rc = s_err (errbuf, errlen, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    ssize_t got = read (fd, text, (size_t) st.st_size);
    if (got < 0) {
        rc = s_err (errbuf, errlen, TPC_EIO, "cannot read key file %s: %s",
                    path, strerror (errno));
        goto cleanup;
    }
    text[got] = '\0';
    s_parse (text, out, pub, sec, sizeof pub);
    if (!tpc_curve_key_valid (pub)) {
        rc = s_err (errbuf, errlen, TPC_ECONFIG, "key file %s: %s",
                    path, *pub ? "public-key is not 40 characters of Z85"
                               : "no curve public-key (not a certificate)");
        goto cleanup;
    }
    if (need_secret && !tpc_curve_key_valid (sec)) {
        rc = s_err (errbuf, errlen, TPC_ECONFIG, "key file %s: %s", path,
                    *sec ? "secret-key is not 40 characters of Z85"
                         : "no curve secret-key (a public certificate: "
                           "give the NAME.key_secret file)");
        goto cleanup;
    }
    memcpy (out->public_key, pub, TPC_CURVE_KEY_Z85);
    if (need_secret)
        memcpy (out->secret_key, sec, TPC_CURVE_KEY_Z85);
    if (!*out->name)
        s_stem (path, out->name, sizeof out->name);
cleanup:
    explicit_bzero (sec, sizeof sec);
    if (text) {
        explicit_bzero (text, strlen (text));
        free (text);
    }
    close (fd);
    if (rc)
        explicit_bzero (out, sizeof *out);
    return rc;
}

/*  Write TEXT to a new file PATH with MODE; fsync'd.  0 or errno.       */
static int
s_write_new (const char *path, const char *text, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return errno;
    size_t len = strlen (text), off = 0;
    int err = 0;
    while (off < len && !err) {
        ssize_t n = write (fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            off += (size_t) n;
    }
    /* the umask may have narrowed MODE; never widened */
    if (!err && (fchmod (fd, mode) != 0 || fsync (fd) != 0))
        err = errno;
    if (close (fd) != 0 && !err)
        err = errno;
    if (err)
        unlink (path);
    return err;
}

int
tpc_curve_keygen (const char *dir, const char *name, char *public_out,
                  char *errbuf, size_t errlen)
{
    if (!dir || !*dir || !s_name_valid (name))
        return s_err (errbuf, errlen, TPC_EINVAL, "a key name is 1 to 63 of "
                      "A-Z a-z 0-9 _ -");
    char pub[TPC_CURVE_KEY_Z85], sec[TPC_CURVE_KEY_Z85];
    char ppath[4096], spath[4096], text[1024], stamp[32];
    int rc = 0;
    if (zmq_curve_keypair (pub, sec) != 0)
        return s_err (errbuf, errlen, TPC_EIO, "cannot make a key pair: %s "
                      "(libzmq without CURVE?)", zmq_strerror (errno));
    snprintf (ppath, sizeof ppath, "%s/%s.key", dir, name);
    snprintf (spath, sizeof spath, "%s/%s.key_secret", dir, name);
    if (access (ppath, F_OK) == 0 || access (spath, F_OK) == 0) {
        rc = s_err (errbuf, errlen, TPC_EEXIST, "%s or %s exists already: "
                    "nothing written", ppath, spath);
        goto cleanup;
    }
    time_t now = time (NULL);
    struct tm tm;
    strftime (stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S",
              gmtime_r (&now, &tm));
    snprintf (text, sizeof text,
              "#   ZeroMQ CURVE **Secret** Certificate, made by tpcctl keygen"
              " on %s UTC\n"
              "#   Keep it private: whoever holds it is \"%s\".\n"
              "\nmetadata\n    name = \"%s\"\ncurve\n"
              "    public-key = \"%s\"\n    secret-key = \"%s\"\n",
              stamp, name, name, pub, sec);
    int err = s_write_new (spath, text, 0600);
    if (err) {
        rc = s_err (errbuf, errlen, err == EEXIST ? TPC_EEXIST : TPC_EIO,
                    "cannot write %s: %s", spath, strerror (err));
        goto cleanup;
    }
    snprintf (text, sizeof text,
              "#   ZeroMQ CURVE Public Certificate, made by tpcctl keygen on "
              "%s UTC\n"
              "#   Give it to the peers that must accept \"%s\" (an allow-list"
              " directory).\n"
              "\nmetadata\n    name = \"%s\"\ncurve\n"
              "    public-key = \"%s\"\n", stamp, name, name, pub);
    err = s_write_new (ppath, text, 0644);
    if (err) {
        unlink (spath);
        rc = s_err (errbuf, errlen, err == EEXIST ? TPC_EEXIST : TPC_EIO,
                    "cannot write %s: %s", ppath, strerror (err));
        goto cleanup;
    }
    if (public_out)
        memcpy (public_out, pub, TPC_CURVE_KEY_Z85);
cleanup:
    explicit_bzero (sec, sizeof sec);
    explicit_bzero (text, sizeof text);
    return rc;
}

int
tpc_curve_server_setup (void *sock, const tpc_curve_cert_t *cert,
                        const char *domain)
{
    int one = 1;
    if (!cert || !tpc_curve_key_valid (cert->secret_key)
        || zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, domain, strlen (domain))
        || zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one)
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, cert->secret_key,
                           S_Z85))
        return TPC_EINVAL;
    return 0;
}

int
tpc_curve_client_setup (void *sock, const tpc_curve_cert_t *cert,
                        const char *server_public)
{
    if (!cert || !tpc_curve_key_valid (server_public)
        || zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_public, S_Z85)
        || zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, cert->public_key, S_Z85)
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, cert->secret_key,
                           S_Z85))
        return TPC_EINVAL;
    return 0;
}

int
tpc_curve_client_files (void *sock, const char *secret_file,
                        const char *server_file, char *errbuf, size_t errlen)
{
    tpc_curve_cert_t mine, server;
    if (!secret_file || !server_file)
        return s_err (errbuf, errlen, TPC_EINVAL, "CURVE needs both this "
                      "side's key pair (--curve-secret) and the server's "
                      "public key (--coordinator-public)");
    int rc = tpc_curve_cert_load (secret_file, true, &mine, errbuf, errlen);
    if (rc)
        goto cleanup;
    rc = tpc_curve_cert_load (server_file, false, &server, errbuf, errlen);
    if (rc)
        goto cleanup;
    rc = tpc_curve_client_setup (sock, &mine, server.public_key);
    if (rc)
        s_err (errbuf, errlen, rc, "cannot set the CURVE keys: %s",
               zmq_strerror (errno));
cleanup:
    explicit_bzero (&mine, sizeof mine);
    return rc;
}
