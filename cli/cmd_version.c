// lwm version: the program version and the library versions it runs with.
#include <cjson/cJSON.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "cli.h"

#define LWM_VERSION "0.1.0"

static void version_text(char *out, size_t cap, unsigned v)
{
    snprintf(out, cap, "%u.%u.%u", v >> 16, (v >> 8) & 255, v & 255);
}

static int print_json(void)
{
    char av[32], fmt[32];
    version_text(av, sizeof av, avcodec_version());
    version_text(fmt, sizeof fmt, avformat_version());
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "lwm", LWM_VERSION);
    cJSON_AddStringToObject(o, "libavcodec", av);
    cJSON_AddStringToObject(o, "libavformat", fmt);
    cJSON_AddStringToObject(o, "lmdb", mdb_version(NULL, NULL, NULL));
    cJSON_AddStringToObject(o, "zstd", ZSTD_versionString());
    cJSON_AddStringToObject(o, "cjson", cJSON_Version());
    return cli_print_json(o, 1) < 0 ? 1 : 0;
}

int cmd_version(int argc, char **argv)
{
    static const char usage[] =
        "usage: lwm version [--json]\n\n"
        "Prints the version of lwm and of the libraries it uses.\n\n"
        "  --json  print {\"lwm\", \"libavcodec\", \"libavformat\", \"lmdb\", \"zstd\", "
        "\"cjson\"}\n";
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'}, {0, 0, 0, 0}};
    cli_parser p = {"version", usage, longs, NULL, NULL, 0};
    int json = 0;
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        if (c == 'j')
            json = 1;
        else
            return c == CLI_HELP ? 0 : CLI_USAGE;
    }
    if (optind < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind]);
    if (json) return print_json();
    unsigned av = avcodec_version();
    printf("lwm %s\n", LWM_VERSION);
    printf("libavcodec %u.%u.%u, libavformat %u.%u.%u\n", av >> 16, (av >> 8) & 255, av & 255,
           avformat_version() >> 16, (avformat_version() >> 8) & 255, avformat_version() & 255);
    printf("%s, zstd %s, cJSON %s\n", mdb_version(NULL, NULL, NULL), ZSTD_versionString(),
           cJSON_Version());
    return 0;
}
