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

#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
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
int cmd_needle(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);

/** Prints "lwm <cmd>: message" to stderr and returns exit status 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** cli_fail returning status instead of 1: CLI_USAGE for a usage error, -1 inside a command. */
int cli_fail_status(int status, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** cli_fail with a va_list. */
int cli_vfail(const char *cmd, const char *fmt, va_list ap);

/** Prints "lwm <cmd>: <err->msg>" (or the code's name when no message was set); returns 1. */
int cli_fail_err(const char *cmd, const lwm_error *err, int code);

/** A logger that writes "lwm: level: msg" lines to stderr; verbose adds debug lines. */
void cli_logger(lwm_logger *log, int verbose);

/**
 * FFmpeg's log (and x264's, which goes through it) off, or at warnings with verbose. Its
 * level is process-wide state, so only the CLI sets it.
 */
void cli_quiet_ffmpeg(int verbose);

/**
 * A progress sink: a self-rewriting status line when stderr is a terminal,
 * plain log lines every 10 s (and at the end) otherwise. quiet disables it.
 */
void cli_progress(lwm_progress *p, int quiet);

/** Exit status of every usage error: a bad or unknown option, a missing argument. */
enum { CLI_USAGE = 2 };

/** What cli_getopt returns besides an option's val. */
enum {
    CLI_END = -1,  /**< no options left: positional arguments are argv[optind..argc) */
    CLI_HELP = -2, /**< --help or -h: the usage went to stdout; exit 0 */
    CLI_BAD = -3,  /**< a usage error was printed with the usage (stderr); exit CLI_USAGE */
};

/** An old spelling kept working: --old_name acts as --new_name after a warning. */
typedef struct cli_alias {
    const char *old_name, *new_name;
} cli_alias;

/**
 * One command's options for cli_getopt. The longs table lists the old spellings too
 * (same val as the new one, see aliases); 'h' and "help" are added, so no val may be 'h'.
 *
 *   static const struct option longs[] = {{"out", required_argument, 0, 'o'}, {0}};
 *   cli_parser p = {"frames", usage, longs, "q", NULL};
 *   for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;)
 *       switch (c) {
 *       case 'o': out = optarg; break;
 *       case CLI_HELP: return 0;
 *       default: return CLI_USAGE;
 *       }
 */
typedef struct cli_parser {
    const char *cmd;            /**< "pack", "vqgan encode": messages read "lwm <cmd>: ..." */
    const char *usage;          /**< printed on --help (stdout) and after a usage error (stderr) */
    const struct option *longs; /**< getopt_long's table, terminated by a zeroed entry */
    const char *shorts;         /**< short options ("qv", "o:"); NULL = none */
    const cli_alias *aliases;   /**< deprecated names, terminated by {NULL, NULL}; NULL = none */
    int started;                /**< set by cli_getopt */
} cli_parser;

/**
 * getopt_long over argv (argv[0] is the command name; options and positional arguments
 * may mix). Returns the next option's val with optarg set, or CLI_END, CLI_HELP, CLI_BAD.
 */
int cli_getopt(cli_parser *p, int argc, char **argv);

/**
 * cli_getopt to the end, each option handed to on_option (which returns 0, or -1 after
 * printing why the value is bad). Returns 0, CLI_HELP after --help, or CLI_USAGE.
 */
int cli_parse(cli_parser *p, int argc, char **argv, int (*on_option)(void *ctx, int c), void *ctx);

/**
 * The subcommand of "lwm <cmd> SUB ...": its index in names (NULL-terminated); CLI_HELP after
 * --help or -h (usage on stdout); CLI_BAD when it is missing or unknown (usage on stderr).
 */
int cli_subcommand(const char *cmd, const char *usage, const char *const *names, int argc,
                   char **argv);

/** Prints "lwm <cmd>: message", then the usage, to stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Parses a non-negative integer / positive finite double option; 0 or -1 (with message). */
int cli_parse_int(const char *cmd, const char *opt, const char *text, long long min,
                  long long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out);

/**
 * Draws text (digits, '#', '.', 's', '-', ' ') white on a black box whose top-left corner is
 * (x0, y0) in an RGB image of width x height, glyphs scale times 5x7 pixels; clipped.
 */
void cli_draw_label(uint8_t *rgb, int width, int height, int x0, int y0, const char *text,
                    int scale);

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
