/*  tpcctl_log: `tpcctl log dump|verify DIR`, the operator's view of a
 *  coordinator's decision log (read-only: it takes no lock and changes
 *  nothing, so it is safe beside a running coordinator).
 */
#ifndef TPCCTL_LOG_H
#define TPCCTL_LOG_H

/*  ARGV[0] is "log"; "--json" may stand anywhere after it.  Prints to
 *  stdout (records, summary; under --json errors too) and stderr
 *  (warnings, errors).  Returns the process exit status: 0 success (a
 *  torn tail is only a warning), 1 corruption, undecodable payload, I/O
 *  error or a DIR that holds no segment file, 2 usage error.             */
int tpcctl_log_main (int argc, char **argv);

#endif
