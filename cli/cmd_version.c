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

int cmd_version(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: lwm version\n\nPrints the version of lwm and of the libraries it uses.\n");
        return 0;
    }
    unsigned av = avcodec_version();
    printf("lwm %s\n", LWM_VERSION);
    printf("libavcodec %u.%u.%u, libavformat %u.%u.%u\n", av >> 16, (av >> 8) & 255, av & 255,
           avformat_version() >> 16, (avformat_version() >> 8) & 255, avformat_version() & 255);
    printf("%s, zstd %s, cJSON %s\n", mdb_version(NULL, NULL, NULL), ZSTD_versionString(),
           cJSON_Version());
    return 0;
}
