/*  fuzz_target: the checks behind tpc's libFuzzer targets.
 *
 *  Each function takes one input, runs it through a reader of untrusted
 *  bytes and checks what must hold whatever the bytes are.  It returns 0,
 *  or -1 after printing to stderr which property broke.  Memory errors are
 *  left to the sanitizers.  Built with -DFUZZ_ENTRY, fuzz_msg.c and
 *  fuzz_log.c also define libFuzzer's entry point, which aborts on -1 so
 *  that libFuzzer keeps the input as a crash; the
 *  CUnit program tests/test_fuzz_corpus runs the same functions over the
 *  seed corpora and every input a fuzzer ever crashed on.
 */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

/*  The wire decoder.  Any input: tpc_msg_decode() returns 0 with a message
 *  or a TPC_EMSG_* code with no message and a sentence.  An accepted
 *  message encodes; its encoding decodes; that re-encodes to the same
 *  bytes (the encoder is canonical).                                     */
int fuzz_msg_one (const uint8_t *data, size_t size);

/*  The log reader.  DATA is written as the one segment file of a fresh
 *  directory (named after the segment number in its header), once as
 *  given and once with its CRCs made right (so the fuzzer gets past the
 *  checksums to the structure).  For each:
 *    - tpc_log_scan() returns 0 (records in LSN order, one after the
 *      other, inside the file), TPC_ELOG_CORRUPT or TPC_ELOG_VERSION;
 *    - every owner record's payload that tpc_record_decode() accepts
 *      re-encodes to the same bytes;
 *    - tpc_log_open() agrees: same records replayed; on corruption it
 *      fails and leaves the file byte for byte as it was;
 *    - after open, one record appended and synced is there on the next
 *      scan, after all the records seen before.
 *  And DATA[0] as a record type with DATA[1..] as its payload goes through
 *  tpc_record_decode() and, if accepted, re-encodes to the same bytes.   */
int fuzz_log_one (const uint8_t *data, size_t size);

#endif
