/*  tpc_opts: one option table for both daemons (tpc-coordinator,
 *  tpc-participant): the command line and a --config JSON file, read the
 *  same way.
 *
 *  A program describes its settings once, in a table of tpc_opt_t (long
 *  name, kind, where the value goes, help).  From it tpc_opts reads
 *
 *    the command line   --NAME VALUE, --NAME=VALUE, --FLAG, -X for a flag
 *                       with a short letter; -h / --help; --version;
 *                       --config FILE
 *    the config file    one JSON object whose keys are the long names
 *                       without "--", spelled exactly like the flags
 *                       (kebab-case): {"log-dir": "/var/lib/tpc",
 *                       "txn-timeout-ms": 30000, "verbose": true}
 *
 *  Flags win over the file.  Kinds and what they accept:
 *    TPC_OPT_STR   a string (JSON string)
 *    TPC_OPT_UINT  a decimal integer in [min, max] (JSON number, integral)
 *    TPC_OPT_FLAG  no value on the command line; JSON true or false
 *
 *  Deprecated spellings (read for one release, each with a warning
 *  "key X is deprecated, use Y"): a config key in snake_case (pg_file for
 *  pg-file), and an option's OLD name (as a flag or a key) when it was
 *  renamed.  An unknown flag or key, a value of the wrong type or out of
 *  range, a flag given a value: an error naming the option; the program
 *  then refuses to start.  Config file errors say where: "config
 *  FILE:LINE:COL: not valid JSON", "config FILE:LINE: \"pool\" must be
 *  ..." (LINE: where the key is written).
 */
#ifndef TPC_OPTS_H
#define TPC_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { TPC_OPT_STR, TPC_OPT_UINT, TPC_OPT_FLAG } tpc_opt_kind_t;

typedef struct {
    const char *name;           /* long flag without "--" = config key;
                                   NULL ends the table */
    char letter;                /* short flag (-v), flags only; 0 = none */
    tpc_opt_kind_t kind;
    void *target;               /* STR: const char ** (valid until
                                   tpc_opts_destroy), UINT: uint64_t *,
                                   FLAG: bool * */
    const char *arg;            /* the value's word in --help ("DIR") */
    const char *help;           /* may hold '\n' for more lines */
    uint64_t min, max;          /* UINT: accepted range; max 0 = no limit */
    const char *old;            /* renamed from (flag and key), or NULL */
} tpc_opt_t;

typedef struct tpc_opts tpc_opts_t;

/*  A reader for TABLE (borrowed: it must outlive the reader) in program
 *  PROG (for messages).  NULL on no memory.                               */
tpc_opts_t *tpc_opts_new (const char *prog, const tpc_opt_t *table);

/*  Free the reader and the strings it stored (zeroed first: a connection
 *  string may hold a password); *self_p becomes NULL.  Idempotent.       */
void tpc_opts_destroy (tpc_opts_t **self_p);

/*  Read ARGV, then the --config file if one was named, into the targets.
 *  Warnings (deprecated spellings) go to MSGS (may be NULL: dropped).
 *  0; TPC_EINVAL for a bad flag or value, TPC_ECONFIG for a config file
 *  that cannot be read or holds a bad key or value, TPC_ENOMEM: each with
 *  a sentence in ERRBUF.  After -h / --help, 0 and tpc_opts_help() is
 *  true (nothing else is read); after --version the same with
 *  tpc_opts_version().                                                    */
int tpc_opts_parse (tpc_opts_t *self, int argc, char **argv, FILE *msgs,
                    char *errbuf, size_t errlen);

/*  True when -h or --help was given.                                      */
bool tpc_opts_help (const tpc_opts_t *self);

/*  True when --version was given: print the version and exit 0.          */
bool tpc_opts_version (const tpc_opts_t *self);

/*  True when option NAME was set by a flag or the config file.            */
bool tpc_opts_given (const tpc_opts_t *self, const char *name);

/*  Print "usage: SYNOPSIS", then one entry per option (and --config,
 *  --version, -h), to OUT.                                             */
void tpc_opts_usage (const tpc_opts_t *self, FILE *out,
                     const char *synopsis);

#endif
