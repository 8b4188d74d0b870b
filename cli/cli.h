/**
 * cli.h: the subcommand table and the few helpers every cmd_<name>.c shares.
 *
 * Adding a command: write cli/cmd_<name>.c with `int cmd_<name>(int argc, char **argv)`
 * (parse options, call lwm_<stage>_*, print, return an exit status), declare it
 * below, and add one row to the table in cli/lwm.c. Pipeline logic belongs in
 * the stage libraries, never here.
 */
#ifndef LWM_CLI_H
#define LWM_CLI_H

#include <stdio.h>

#include "common/common.h"

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_vqgan(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_frames(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_export(int argc, char **argv);

/** Prints "lwm <cmd>: message" to stderr and returns exit status 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints "lwm <cmd>: <err->msg>" (or the code's name when no message was set); returns 1. */
int cli_fail_err(const char *cmd, const lwm_error *err, int code);

/** A logger that writes "lwm: level: msg" lines to stderr; verbose adds debug lines. */
void cli_logger(lwm_logger *log, int verbose);

/**
 * A progress sink: a self-rewriting status line when stderr is a terminal,
 * plain log lines every 10 s (and at the end) otherwise. quiet disables it.
 */
void cli_progress(lwm_progress *p, int quiet);

/** Parses a non-negative integer / positive finite double option; 0 or -1 (with message). */
int cli_parse_int(const char *cmd, const char *opt, const char *text, long long min,
                  long long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out);

/** Writes a cJSON value to stdout followed by a newline (and frees it when own is set). */
struct cJSON;
int cli_print_json(struct cJSON *value, int own);

/**
 * Writes s (ids, paths, text from a dataset) to out with control characters escaped:
 * \\, \n, \t, \r, \xHH for other C0 controls and DEL, \uHHHH for C1 controls, so a stored
 * string cannot move the cursor, recolour or rewrite the terminal, or pass for two lines.
 */
void cli_put_escaped(FILE *out, const char *s);

/** The JSON of a merge result (cmd_merge.c; lwm ingest under mpirun prints it too). */
struct lwm_shard_merge_result;
struct cJSON *merge_result_json(const struct lwm_shard_merge_result *r);

#endif /* LWM_CLI_H */
