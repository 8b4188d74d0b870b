// lwm: the subcommand table. Every command lives in cli/cmd_<name>.c.
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"help", cmd_help, "list the commands, or show one command's usage"},
    {"version", cmd_version, "print the version and the libraries in use"},
    {"vqgan", cmd_vqgan, "VQGAN tokenizer: init/import weights, encode frames to codes, decode"},
    {"pack", cmd_pack, "packed training rows of a dataset (LWM layout or best-fit)"},
    {"inspect", cmd_inspect, "summarise a dataset: samples, frames, tokens, codebook, compression"},
    {"show", cmd_show, "print one sample of a dataset: fields, text, timestamps, codes"},
    {"verify", cmd_verify, "check every record and shard of a dataset; non-zero if any is bad"},
    {"ls", cmd_ls, "list the sample ids of a dataset, optionally by modality"},
    {"train", cmd_train, "train the model with ring attention across MPI ranks"},
    {"export", cmd_export, "a run's weights as Hugging Face LLaMA or lwm, a dataset as LWM JSONL"},
    {"render", cmd_render, "decode a sample's codes into a contact sheet (PNG) or video (MP4)"},
    {"frames", cmd_frames, "write a video's sampled 256x256 frames as PNGs"},
    {"ingest", cmd_ingest, "decode every sample of a JSONL manifest, reporting each failure"},
    {"merge", cmd_merge, "make one dataset of the parts that 'ingest --part K/N' built"},
    {"needle", cmd_needle, "needle-in-a-haystack prompts of exact token lengths and depths"},
    {"eval", cmd_eval, "evaluate a trained model: needle retrieval by context length and depth"},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int cmd_help(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
        const command *c = find_command(argv[1]);
        if (!c)
            return cli_fail_status(CLI_USAGE, "help", "unknown command '%s' (see 'lwm help')",
                                   argv[1]);
        char *sub[] = {argv[1], "--help", NULL};
        return c->run(2, sub);
    }
    printf("usage: lwm <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
    printf("\n'lwm <command> --help' shows a command's options.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(1, argv);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    if (strcmp(name, "--version") == 0) name = "version";
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "lwm: unknown command '%s' (see 'lwm help')\n", name);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
