/*  tpcctl: the operator's command line for tpc.
 *
 *  Subcommands are dispatched from here to one module each; see --help.
 */
#include <stdio.h>
#include <string.h>

#include "tpc_error.h"
#include "tpcctl_log.h"

static void
s_usage (FILE *f)
{
    fprintf (f,
             "usage: tpcctl COMMAND [ARGS]\n"
             "\n"
             "commands:\n"
             "  help              this text\n"
             "  log dump|verify DIR   read a decision log (tpcctl log --help)\n"
             "\n"
             "exit codes: 0 success, 1 failure reported by tpc, 2 usage error\n");
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    if (!strcmp (argv[1], "help") || !strcmp (argv[1], "--help")
        || !strcmp (argv[1], "-h")) {
        s_usage (stdout);
        return 0;
    }
    if (!strcmp (argv[1], "log"))
        return tpcctl_log_main (argc - 1, argv + 1);
    fprintf (stderr, "tpcctl: unknown command '%s'\n", argv[1]);
    s_usage (stderr);
    return 2;
}
