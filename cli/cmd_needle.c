// lwm needle make: needle-in-a-haystack samples for lwm eval needle (eval/eval.h).
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval/eval.h"

static const char usage[] =
    "usage: lwm needle make --tokenizer T [--haystack FILE.txt] --lengths 1024,4096,16384\n"
    "                       --depths 0,0.25,0.5,0.75,1 [--per-cell K] [--seed S]\n"
    "                       [--needles N [--ask-all]] --out needles.jsonl\n\n"
    "Writes LWM JSONL samples (fields \"[haystack],[question],answer\"): haystack text with\n"
    "the needle \"The special magic {city} number is: {7-digit number}.\" at a sentence\n"
    "boundary at each depth, the question, and the answer (the loss falls on it only).\n"
    "Each sample is exactly LENGTH positions (LENGTH + 1 tokens of T) as the loader lays\n"
    "it out: one training row of seq_len LENGTH. Lines carry length, depth and answer.\n\n"
    "  --haystack F   filler text (default " LWM_NEEDLE_DEFAULT_HAYSTACK ")\n"
    "  --per-cell K   samples per (length, depth) (default 1)\n"
    "  --seed S       the same seed writes the same file (default 0)\n"
    "  --needles N    N needles of different cities per sample (default 1); the one asked\n"
    "                 for sits at the depth, the others at random depths\n"
    "  --ask-all      ask for all N numbers (answer \"n1, n2, ...\")\n"
    "  -q, --quiet    no progress line\n";

// Parses a comma-separated list of numbers into out (capacity cap); count or -1.
static int parse_list(const char *opt, const char *text, double *out, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || n == cap)
            return cli_fail("needle", "%s: cannot read '%s' as up to %d comma-separated numbers",
                            opt, text, cap) -
                   2;
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    return n > 0 ? n : cli_fail_status(-1, "needle", "%s: empty list", opt);
}

typedef struct needle_args {
    lwm_needle_options o;
    int64_t lengths[64];
    double depths[64];
    const char *out;
    int quiet;
} needle_args;

static int parse_lengths(needle_args *a, const char *text)
{
    double v[64];
    int n = parse_list("--lengths", text, v, 64);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (v[i] != (double)(int64_t)v[i] || v[i] < 1)
            return cli_fail_status(-1, "needle", "--lengths: %g is not a positive whole number",
                                   v[i]);
        a->lengths[i] = (int64_t)v[i];
    }
    a->o.lengths = a->lengths, a->o.n_lengths = n;
    return 0;
}

static int parse_option(void *ctx, int c)
{
    needle_args *a = ctx;
    long long v = 0;
    int rc = 0;
    switch (c) {
    case 't': a->o.tokenizer = optarg; return 0;
    case 'H': a->o.haystack = optarg; return 0;
    case 'l': return parse_lengths(a, optarg);
    case 'd': return (a->o.n_depths = parse_list("--depths", optarg, a->depths, 64)) < 0 ? -1 : 0;
    case 'k':
        rc = cli_parse_int("needle", "--per-cell", optarg, 1, &v);
        a->o.per_cell = (int)v;
        return rc;
    case 's':
        rc = cli_parse_int("needle", "--seed", optarg, 0, &v);
        a->o.seed = (uint64_t)v;
        return rc;
    case 'n':
        rc = cli_parse_int("needle", "--needles", optarg, 1, &v);
        a->o.needles = (int)v;
        return rc;
    case 'A': a->o.ask_all = 1; return 0;
    case 'o': a->out = optarg; return 0;
    case 'q': a->quiet = 1; return 0;
    default: return -1;
    }
}

// 0, 1 after --help, or CLI_USAGE.
static int parse(needle_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"tokenizer", required_argument, 0, 't'},
                                          {"haystack", required_argument, 0, 'H'},
                                          {"lengths", required_argument, 0, 'l'},
                                          {"depths", required_argument, 0, 'd'},
                                          {"per-cell", required_argument, 0, 'k'},
                                          {"seed", required_argument, 0, 's'},
                                          {"needles", required_argument, 0, 'n'},
                                          {"ask-all", no_argument, 0, 'A'},
                                          {"out", required_argument, 0, 'o'},
                                          {"quiet", no_argument, 0, 'q'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"needle make", usage, longs, "q", NULL, 0};
    int rc = cli_parse(&p, argc, argv, parse_option, a);
    if (rc) return rc == CLI_HELP ? 1 : rc;
    a->o.depths = a->depths;
    if (optind < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind]);
    if (!a->o.tokenizer || !a->out || !a->o.n_lengths || !a->o.n_depths)
        return cli_usage_error(&p, "--tokenizer, --lengths, --depths and --out are required");
    return 0;
}

int cmd_needle(int argc, char **argv)
{
    static const char *const subcommands[] = {"make", NULL};
    int sub = cli_subcommand("needle", usage, subcommands, argc, argv);
    if (sub < 0) return sub == CLI_HELP ? 0 : CLI_USAGE;
    needle_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(&a, argc - 1, argv + 1);
    if (rc) return rc == 1 ? 0 : rc;
    lwm_progress progress;
    cli_progress(&progress, a.quiet);
    a.o.progress = progress.fn ? &progress : NULL;
    lwm_error err = {0};
    int code = lwm_needle_make(&a.o, a.out, &err);
    if (code < 0) return cli_fail_err("needle make", &err, code);
    fprintf(stderr, "lwm needle: %d samples written to %s\n",
            a.o.n_lengths * a.o.n_depths * (a.o.per_cell > 0 ? a.o.per_cell : 1), a.out);
    return 0;
}
