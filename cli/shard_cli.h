// Helpers shared by the store's commands (inspect, show, verify, ls, render).
#ifndef LWM_CLI_SHARD_CLI_H
#define LWM_CLI_SHARD_CLI_H

#include "shard/shard.h"

struct cJSON;

/** Opens DIR for reading; on failure prints "lwm <cmd>: <reason>" and returns NULL. */
lwm_shard_reader *shard_cli_open(const char *cmd, const char *dir);
/** The same with reader options (lwm verify: hash every shard, report damaged ones). */
lwm_shard_reader *shard_cli_open_with(const char *cmd, const char *dir,
                                      const lwm_shard_reader_options *opt);

/** One sample as a JSON object (codes as one array per frame when with_codes). */
struct cJSON *shard_cli_sample_json(const lwm_shard_sample *s, int with_codes);

/**
 * Parses "DIR [--json] [--quiet]" (argv[0] is the command name). Returns 0; 1 after
 * --help printed the usage; CLI_USAGE after printing a usage error.
 */
int shard_cli_dir_args(const char *cmd, const char *usage, int argc, char **argv, const char **dir,
                       int *json, int *quiet);

#endif
