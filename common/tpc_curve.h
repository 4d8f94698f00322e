/*  tpc_curve: CurveZMQ key pairs in files, and the socket options that
 *  turn CURVE on for a ZeroMQ socket.
 *
 *  FILE FORMAT (czmq's zcert files, a subset of ZPL, so `zcert_load` and
 *  this module read each other's files):
 *
 *      #   any comment line (first non-blank character '#')
 *      metadata
 *          name = "db1"
 *      curve
 *          public-key = "<40 Z85 characters>"
 *          secret-key = "<40 Z85 characters>"     (secret file only)
 *
 *  A line starting in column 0 opens a section; an indented `key = value`
 *  line belongs to the last section; a value may be in double quotes.
 *  Unknown sections and keys are ignored.  A key is exactly 40 characters
 *  of Z85 that decode to 32 bytes.  `tpc_curve_keygen (DIR, NAME)` writes
 *  DIR/NAME.key (public, mode 0644) and DIR/NAME.key_secret (both keys,
 *  mode 0600, created with O_EXCL: never overwritten).  A secret file
 *  that group or others may read is refused, as ssh refuses its keys.
 *
 *  A certificate's name is its metadata name, or else the file's name
 *  without a trailing ".key" / ".key_secret".  The coordinator's ZAP
 *  handler uses it to name the peer in logs and to bind an agent's key to
 *  the agent's name.
 */
#ifndef TPC_CURVE_H
#define TPC_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#define TPC_CURVE_KEY_Z85 41    /* 40 Z85 characters + NUL */
#define TPC_CURVE_NAME_MAX 64   /* name buffer, NUL included */

typedef struct {
    char public_key[TPC_CURVE_KEY_Z85];
    char secret_key[TPC_CURVE_KEY_Z85];     /* "" in a public certificate */
    char name[TPC_CURVE_NAME_MAX];
} tpc_curve_cert_t;

/*  True if Z85 is 40 characters of Z85 that decode to a 32-byte key.     */
bool tpc_curve_key_valid (const char *z85);

/*  Read the certificate at PATH into *OUT.  NEED_SECRET: the file must
 *  hold a secret key too (and must not be readable by group or others).
 *  Returns 0, TPC_ENOENT (no such file), TPC_EIO (unreadable), TPC_EPERM
 *  (secret file too open) or TPC_ECONFIG (not a certificate, bad key), with
 *  a sentence naming the file in ERRBUF.                                 */
int tpc_curve_cert_load (const char *path, bool need_secret,
                         tpc_curve_cert_t *out, char *errbuf, size_t errlen);

/*  A new key pair named NAME ([A-Za-z0-9_-]{1,63}) written to DIR as
 *  NAME.key and NAME.key_secret.  Returns 0, TPC_EINVAL (bad name),
 *  TPC_EEXIST (a file is there already: nothing written), TPC_EIO.
 *  On success PUBLIC_OUT (if not NULL, TPC_CURVE_KEY_Z85 bytes) gets the
 *  public key.                                                           */
int tpc_curve_keygen (const char *dir, const char *name, char *public_out,
                      char *errbuf, size_t errlen);

/*  Make SOCK a CURVE server with CERT's keys (secret needed); DOMAIN is
 *  the ZAP domain its handshakes are authenticated under.  Call before
 *  bind.  Returns 0 or TPC_EINVAL (errno from zmq_setsockopt).           */
int tpc_curve_server_setup (void *sock, const tpc_curve_cert_t *cert,
                            const char *domain);

/*  Make SOCK a CURVE client with CERT's keys that only completes a
 *  handshake with the server whose public key is SERVER_PUBLIC (Z85).
 *  Call before connect.  Returns 0 or TPC_EINVAL.                        */
int tpc_curve_client_setup (void *sock, const tpc_curve_cert_t *cert,
                            const char *server_public);

/*  Load SECRET_FILE (this side's key pair) and SERVER_FILE (the server's
 *  public certificate) and make SOCK a CURVE client with them: the two
 *  calls above in one.  Returns 0 or the code of the failing step, with a
 *  sentence in ERRBUF.                                                   */
int tpc_curve_client_files (void *sock, const char *secret_file,
                            const char *server_file, char *errbuf,
                            size_t errlen);

#endif
