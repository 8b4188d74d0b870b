// The one option parser of every command: getopt_long plus what each command would
// otherwise repeat: --help, a message and the usage on a bad option (exit status 2),
// and deprecated spellings that still work after a warning.
#include <stdarg.h>
#include <string.h>

#include "cli.h"

enum { MAX_LONGS = 64 };

// The command's table with --help appended (getopt_long wants one array).
static int build_table(const cli_parser *p, struct option *out, char *shorts, size_t cap)
{
    int n = 0;
    for (const struct option *o = p->longs; o && o->name && n < MAX_LONGS - 2; o++) out[n++] = *o;
    out[n++] = (struct option){"help", no_argument, NULL, 'h'};
    out[n] = (struct option){0, 0, 0, 0};
    // ':' first: a missing value returns ':' rather than '?', so the two messages differ.
    return lwm_format(shorts, cap, ":h%s", p->shorts ? p->shorts : "");
}

static const char *alias_of(const cli_parser *p, const char *name)
{
    for (const cli_alias *a = p->aliases; a && a->old_name; a++)
        if (strcmp(a->old_name, name) == 0) return a->new_name;
    return NULL;
}

int cli_usage_error(const cli_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vfail(p->cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", p->usage);
    return CLI_USAGE;
}

int cli_subcommand(const char *cmd, const char *usage, const char *const *names, int argc,
                   char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_BAD : CLI_HELP;
    }
    for (int i = 0; names[i]; i++)
        if (strcmp(argv[1], names[i]) == 0) return i;
    cli_parser p = {cmd, usage, NULL, NULL, NULL, 0};
    cli_usage_error(&p, "unknown subcommand '%s'", argv[1]);
    return CLI_BAD;
}

int cli_parse(cli_parser *p, int argc, char **argv, int (*on_option)(void *ctx, int c), void *ctx)
{
    for (int c; (c = cli_getopt(p, argc, argv)) != CLI_END;) {
        if (c == CLI_HELP) return CLI_HELP;
        if (c == CLI_BAD || on_option(ctx, c) < 0) return CLI_USAGE;
    }
    return 0;
}

int cli_getopt(cli_parser *p, int argc, char **argv)
{
    struct option table[MAX_LONGS];
    char shorts[128];
    if (build_table(p, table, shorts, sizeof shorts) < 0) return CLI_BAD;
    if (!p->started) optind = 0, p->started = 1; // 0: glibc re-initialises its scan
    opterr = 0;
    int index = -1, c = getopt_long(argc, argv, shorts, table, &index);
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (c == -1) return CLI_END;
    if (c == 'h') {
        fputs(p->usage, stdout);
        return CLI_HELP;
    }
    if (c == ':') {
        cli_usage_error(p, "%s needs a value", arg);
        return CLI_BAD;
    }
    if (c == '?') {
        if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=')) {
            cli_usage_error(p, "'%s': unknown option, or a value for an option that takes none",
                            arg);
            return CLI_BAD;
        }
        if (strncmp(arg, "--", 2) != 0 && optopt) {
            cli_usage_error(p, "unknown option '-%c'", optopt);
            return CLI_BAD;
        }
        cli_usage_error(p, "unknown option '%s'", arg);
        return CLI_BAD;
    }
    const char *now = index >= 0 ? alias_of(p, table[index].name) : NULL;
    if (now)
        fprintf(stderr, "lwm %s: warning: --%s is an old name; use --%s\n", p->cmd,
                table[index].name, now);
    return c;
}
