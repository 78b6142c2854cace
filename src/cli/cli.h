/* cli.h — subcommands of the `kaiyuan` command line tool (layer: cli; uses kaiyuan.h only).
 *
 * Each subcommand lives in its own cmd_<name>.c and returns the process exit status
 * (0 success, 1 runtime failure, 2 usage error). Errors go to stderr prefixed "kaiyuan <cmd>: ".
 */
#ifndef KY_CLI_CLI_H
#define KY_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "kaiyuan.h"

typedef int (*cli_cmd_fn)(int argc, char **argv);

/* Subcommands (argv[0] is the subcommand name). */
int cmd_inspect(int argc, char **argv);

/* Shared helpers (cli_util.c). */
/* Parses a decimal integer in [lo, hi]; prints "kaiyuan CMD: OPTION: ..." on error. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                   long long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, double *out);
/* Formats a byte count as "123 B", "4.50 KiB", "1.20 MiB", "3.41 GiB" into buf. */
const char *cli_human_bytes(uint64_t n, char buf[32]);

#endif
