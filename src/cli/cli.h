/* cli.h — subcommands of the `kaiyuan` command line tool (layer: cli; uses kaiyuan.h only).
 *
 * Each subcommand lives in its own cmd_<name>.c and returns the process exit status:
 *   0  success
 *   1  runtime or model error: the file cannot be opened or loaded, a decode fails, out of memory
 *   2  usage error or bad arguments: unknown option, malformed or out-of-range value, token ids
 *      outside the model's vocabulary, a prompt or -n that does not fit the context
 * Errors go to stderr prefixed "kaiyuan <cmd>: ".
 */
#ifndef KY_CLI_CLI_H
#define KY_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kaiyuan.h"

typedef int (*cli_cmd_fn)(int argc, char **argv);

/* Subcommands (argv[0] is the subcommand name). */
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_show(int argc, char **argv);

/* `kaiyuan inspect` without argument parsing: opens the GGUF file at path and prints its human
 * report (json false) or its JSON object (json true) to out. On a file the reader rejects, prints
 * "kaiyuan inspect: <message naming the file>" to err, nothing to out, and returns 1; also 1 when
 * out cannot be written; else 0. Nothing is kept open afterwards. */
int cli_inspect_file(const char *path, bool json, FILE *out, FILE *err);

/* Shared helpers (cli_util.c). */
/* Parses a decimal integer in [lo, hi]; prints "kaiyuan CMD: OPTION: ..." on error. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                   long long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, double *out);
/* Parses "1,2,3" into a malloc'd array (*ids, caller frees) of *n ids; each must be an integer
 * in [0, INT32_MAX]. Prints an error naming the option and the bad item (and for an
 * out-of-range integer the id itself) on failure. */
bool cli_parse_ids(const char *cmd, const char *opt, const char *s, ky_token **ids, size_t *n);
/* Checks that every id is in [0, n_vocab); prints "kaiyuan CMD: prompt token I of N: id X is
 * outside the vocabulary [0, V)" (I counted from 1) for the first that is not (a bad argument:
 * exit status 2). */
bool cli_check_ids(const char *cmd, const ky_token *ids, size_t n, int32_t n_vocab);
/* Parses "f32" / "f16" into a ky_type. */
bool cli_parse_kv_type(const char *cmd, const char *s, uint32_t *out);
/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees) of *len bytes; NULL
 * after printing "kaiyuan CMD: cannot open/read 'PATH'" on failure. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* Formats a byte count as "123 B", "4.50 KiB", "1.20 MiB", "3.41 GiB" into buf. */
const char *cli_human_bytes(uint64_t n, char buf[32]);

/* Model and context helpers (cli_model.c). */
/* Resolves MODEL to a file path into path (cap bytes): an existing file, or anything that looks
 * like a path (absolute, ./, ../, *.gguf), is taken as is; otherwise MODEL is a REF looked up in
 * the store (and ollama's), and pulled with progress on stderr when missing. Prints
 * "kaiyuan CMD: <message>" and returns false on failure. */
bool cli_resolve_model(const char *cmd, const char *model, char *path, size_t cap, bool quiet);
/* Loads a model given as a path or a REF (cli_resolve_model), printing "kaiyuan CMD: <message>"
 * on failure and, unless quiet, a summary line (architecture, size, parameters, type) on
 * stderr. */
bool cli_load_model(const char *cmd, const char *model, bool vocab_only, bool quiet,
                    ky_model **out);
/* cli_load_model with every model parameter (e.g. a pipeline stage's layer range). */
bool cli_load_model_params(const char *cmd, const char *model, const ky_model_params *params,
                           bool quiet, ky_model **out);

/* Pull helpers (cmd_pull.c). */
/* Pulls one REF with the environment's store parameters, drawing progress on stderr (a bar on a
 * terminal, periodic lines otherwise; nothing but errors when quiet). Ctrl-C stops it cleanly
 * (the partial file is kept for a resume). Prints "kaiyuan CMD: <message>" on failure. */
/* retries: automatic resumes of a broken transfer, -1 = the library's default. */
bool cli_pull_one(const char *cmd, const char *ref, bool quiet, int retries, ky_store_entry *out);
/* Creates a context, printing the error on failure and (unless quiet) KV cache and thread facts. */
bool cli_create_context(const char *cmd, ky_model *model, const ky_context_params *p, bool quiet,
                        ky_context **out);

#endif
