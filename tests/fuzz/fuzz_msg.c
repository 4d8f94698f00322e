/*  fuzz_msg: fuzz target for the wire decoder (tpc_msg_decode).
 *
 *  Input: any bytes, taken as one ZeroMQ frame.  Properties in
 *  fuzz_target.h.  With -DFUZZ_ENTRY this file is a libFuzzer target
 *  (scripts/fuzz, tests/fuzz/README.md).                                    */
#include "fuzz_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_msg.h"

static int
s_broken (const char *what, int rc, const char *err)
{
    fprintf (stderr, "fuzz_msg: property broken: %s (%s: %s)\n", what,
             tpc_errname (rc), err ? err : "");
    return -1;
}

/*  A refused input: an EMSG code (or ENOMEM), no message, a sentence.    */
static int
s_check_refusal (int rc, const tpc_msg_t *msg, const char *err)
{
    if (msg)
        return s_broken ("refused, yet a message came back", rc, err);
    if (!((rc <= TPC_EMSG_TOO_BIG && rc >= TPC_EMSG_BAD_GID) || rc == TPC_ENOMEM))
        return s_broken ("refused with a code outside TPC_EMSG_*", rc, err);
    if (!err[0] || !memchr (err, 0, 256))
        return s_broken ("refused without a sentence", rc, err);
    return 0;
}

int
fuzz_msg_one (const uint8_t *data, size_t size)
{
    int result = -1;
    tpc_msg_t *msg = NULL, *again = NULL;
    char *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    char err[256];
    memset (err, 0, sizeof err);
    int rc = tpc_msg_decode (data, size, NULL, &msg, err, sizeof err);
    if (rc) {
        result = s_check_refusal (rc, msg, err);
        goto cleanup;
    }
    if (!msg || msg->type <= TPC_MSG_NONE || msg->type >= TPC_MSG_TYPE_COUNT) {
        s_broken ("accepted without a typed message", rc, err);
        goto cleanup;
    }
    rc = tpc_msg_encode (msg, &enc, &len);
    if (rc) {
        s_broken ("accepted by the decoder, refused by the encoder", rc, "");
        goto cleanup;
    }
    if (strlen (enc) != len) {
        s_broken ("encoding length differs from its string length", 0, enc);
        goto cleanup;
    }
    /* the encoding may be longer than the input ("1e15"), so no size
     * limit short of the largest a message may hold */
    tpc_msg_limits_t big = { .max_size = len + 1 };
    rc = tpc_msg_decode (enc, len, &big, &again, err, sizeof err);
    if (rc) {
        s_broken ("the encoding of an accepted message does not decode", rc, err);
        fprintf (stderr, "fuzz_msg: encoding: %s\n", enc);
        goto cleanup;
    }
    if (again->type != msg->type) {
        s_broken ("the type changed across encode and decode", 0, enc);
        goto cleanup;
    }
    rc = tpc_msg_encode (again, &enc2, &len2);
    if (rc || len2 != len || memcmp (enc, enc2, len)) {
        s_broken ("re-encoding gives other bytes", rc, enc);
        fprintf (stderr, "fuzz_msg: then: %s\n", enc2 ? enc2 : "(none)");
        goto cleanup;
    }
    result = 0;
cleanup:
    free (enc);
    free (enc2);
    tpc_msg_destroy (&msg);
    tpc_msg_destroy (&again);
    return result;
}

#ifdef FUZZ_ENTRY
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (fuzz_msg_one (data, size))
        abort ();
    return 0;
}
#endif
