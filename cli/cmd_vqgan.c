// lwm vqgan: make weights (init, import), turn frames into codes (encode) and
// codes back into a picture (decode). Frames come from the ingest stage.
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ingest/ingest.h"
#include "vqgan/vqgan.h"

static const char usage[] =
    "usage: lwm vqgan <subcommand> [options]\n\n"
    "  init --preset NAME --seed S --out W.safetensors\n"
    "      seeded random weights (marked untrained) for a preset in configs/vqgan/\n"
    "      (lwm, tiny, small) or a config JSON file\n"
    "  import SRC --out W.safetensors\n"
    "      LWM's pickle of the Flax tree (vqgan, from Hugging Face LargeWorldModel), or a\n"
    "      safetensors file in LWM or aMUSEd/diffusers layout (detected), into our weights file\n"
    "  encode --vqgan W (--image F | --video F [--fps F] [--max-frames N]) [--json]\n"
    "         [--batch N] [--threads N] [--precision fp32|bf16] [--quiet]\n"
    "      prints the codes of every frame (256 per frame, raster order);\n"
    "      --json prints {\"frames\": N, \"precision\": P, \"codes\": [[...], ...]};\n"
    "      --precision bf16 runs the encoder's convs on AVX512_BF16 dot products (faster,\n"
    "      codes 92-95 % equal to float64's; an error where the CPU lacks them)\n"
    "  decode --vqgan W --codes F.json --out F.png\n"
    "      pixels from codes (the JSON encode prints), frames side by side in one PNG\n"
    "  info --vqgan W [--json]\n"
    "      the config, tensor hash and untrained flag of a weights file, and the\n"
    "      encoder precisions this machine can run\n\n"
    "  --vqgan W        VQGAN weights (safetensors); the old name --weights still works\n"
    "  --json           print JSON on stdout (encode, info)\n"
    "  -q, --quiet      no progress line or notes\n"
    "  -v, --verbose    also show FFmpeg's and debug messages\n";

typedef struct opts {
    const char *weights, *image, *video, *codes, *out, *preset, *src;
    long long seed, max_frames, batch, threads;
    int precision; // enum lwm_vqgan_precision
    double fps;
    int json, quiet, verbose, have_seed;
    const char *cmd; // "vqgan encode", ... for messages
} opts;

static int parse_value(void *ctx, int c)
{
    opts *o = ctx;
    const char *cmd = o->cmd;
    switch (c) {
    case 'w': o->weights = optarg; return 0;
    case 'i': o->image = optarg; return 0;
    case 'V': o->video = optarg; return 0;
    case 'c': o->codes = optarg; return 0;
    case 'o': o->out = optarg; return 0;
    case 'p': o->preset = optarg; return 0;
    case 'f': return cli_parse_double(cmd, "--fps", optarg, &o->fps);
    case 'm': return cli_parse_int(cmd, "--max-frames", optarg, 1, &o->max_frames);
    case 'b': return cli_parse_int(cmd, "--batch", optarg, 1, &o->batch);
    case 't': return cli_parse_int(cmd, "--threads", optarg, 0, &o->threads);
    case 's': o->have_seed = 1; return cli_parse_int(cmd, "--seed", optarg, 0, &o->seed);
    case 'j': o->json = 1; return 0;
    case 'q': o->quiet = 1; return 0;
    case 'v': o->verbose = 1; return 0;
    case 'P':
        if ((o->precision = lwm_vqgan_precision_parse(optarg)) >= 0) return 0;
        cli_fail(cmd, "--precision %s: expected fp32 or bf16", optarg);
        return -1;
    default: return -1;
    }
}

// Options of every subcommand; the first positional word is SRC (import). 0, 1 after
// --help, or CLI_USAGE.
static int parse(const char *cmd, int argc, char **argv, opts *o)
{
    static const struct option longs[] = {{"vqgan", required_argument, NULL, 'w'},
                                          {"weights", required_argument, NULL, 'w'},
                                          {"image", required_argument, NULL, 'i'},
                                          {"video", required_argument, NULL, 'V'},
                                          {"codes", required_argument, NULL, 'c'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"preset", required_argument, NULL, 'p'},
                                          {"fps", required_argument, NULL, 'f'},
                                          {"max-frames", required_argument, NULL, 'm'},
                                          {"batch", required_argument, NULL, 'b'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"precision", required_argument, NULL, 'P'},
                                          {0, 0, 0, 0}};
    static const cli_alias aliases[] = {{"weights", "vqgan"}, {NULL, NULL}};
    cli_parser p = {cmd, usage, longs, "qv", aliases, 0};
    memset(o, 0, sizeof *o);
    o->batch = 1;
    o->cmd = cmd;
    int rc = cli_parse(&p, argc, argv, parse_value, o);
    if (rc) return rc == CLI_HELP ? 1 : rc;
    if (optind < argc) o->src = argv[optind];
    if (optind + 1 < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind + 1]);
    return 0;
}

// Finds a file shipped in the source tree (configs/, vqgan/): under $LWM_ROOT,
// else beside the program (build/lwm or build/san/lwm).
static int find_shipped(char *out, size_t cap, const char *rel)
{
    const char *root = getenv("LWM_ROOT");
    if (root && *root && lwm_format(out, cap, "%s/%s", root, rel) == 0 && access(out, R_OK) == 0)
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    const char *dir = dirname(exe);
    static const char *const ups[] = {"..", "../.."};
    for (int i = 0; i < 2; i++)
        if (lwm_format(out, cap, "%s/%s/%s", dir, ups[i], rel) == 0 && access(out, R_OK) == 0)
            return 0;
    return -1;
}

static int cmd_init(const opts *o)
{
    if (!o->preset || !o->out || !o->have_seed)
        return cli_fail_status(CLI_USAGE, "vqgan init",
                               "needs --preset NAME --seed S --out W.safetensors");
    char path[PATH_MAX], rel[256];
    if (strchr(o->preset, '/') || strstr(o->preset, ".json"))
        lwm_format(path, sizeof path, "%s", o->preset);
    else if (lwm_format(rel, sizeof rel, "configs/vqgan/%s.json", o->preset) < 0 ||
             find_shipped(path, sizeof path, rel) < 0)
        return cli_fail("vqgan init", "unknown preset '%s' (no configs/vqgan/%s.json)", o->preset,
                        o->preset);
    lwm_vqgan_config cfg;
    lwm_error err = {0};
    int rc = lwm_vqgan_config_load(&cfg, path, &err);
    if (rc == 0) rc = lwm_vqgan_init_weights(o->out, &cfg, (uint64_t)o->seed, &err);
    if (rc < 0) return cli_fail_err("vqgan init", &err, rc);
    return 0;
}

// Runs vqgan/import_pickle.py SRC TMP (python3 + numpy); 0 on success.
static int convert_pickle(const char *src, const char *tmp)
{
    char script[PATH_MAX];
    if (find_shipped(script, sizeof script, "vqgan/import_pickle.py") < 0)
        return cli_fail("vqgan import", "cannot find vqgan/import_pickle.py (set LWM_ROOT)");
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    pid_t pid = fork();
    if (pid < 0) return cli_fail("vqgan import", "fork: %s", strerror(errno));
    if (pid == 0) {
        execlp(py, py, script, src, tmp, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cli_fail("vqgan import", "%s: the pickle converter failed (see above)", src);
    return 0;
}

static int is_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char b[9] = {0};
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    return n == 9 && b[8] == '{'; // u64 header length, then the JSON header
}

static int cmd_import(const opts *o)
{
    if (!o->src || !o->out)
        return cli_fail_status(CLI_USAGE, "vqgan import", "needs SRC and --out W.safetensors");
    if (access(o->src, R_OK) != 0)
        return cli_fail("vqgan import", "%s: %s", o->src, strerror(errno));
    char tmp[PATH_MAX];
    const char *from = o->src;
    int pickled = !is_safetensors(o->src);
    if (pickled) {
        if (lwm_format(tmp, sizeof tmp, "%s.pickle-tmp.%ld", o->out, (long)getpid()) < 0)
            return cli_fail("vqgan import", "%s: path too long", o->out);
        if (convert_pickle(o->src, tmp)) return 1;
        from = tmp;
    }
    lwm_error err = {0};
    int layout = 0, rc = lwm_vqgan_import(o->out, from, &layout, &err);
    if (pickled) unlink(tmp);
    if (rc < 0) return cli_fail_err("vqgan import", &err, rc);
    if (!o->quiet)
        fprintf(stderr, "lwm vqgan import: %s (%s layout) -> %s\n", o->src,
                pickled                                ? "LWM pickle"
                : layout == LWM_VQGAN_LAYOUT_DIFFUSERS ? "diffusers"
                                                       : "LWM",
                o->out);
    return 0;
}

static lwm_vqgan *open_weights(const char *cmd, const opts *o)
{
    if (!o->weights) {
        cli_fail(cmd, "needs --vqgan W.safetensors");
        return NULL;
    }
    lwm_vqgan_options vo = {
        .threads = (int)o->threads, .max_batch = (int)o->batch, .precision = o->precision};
    cli_logger(&vo.log, o->verbose);
    lwm_vqgan *v = lwm_vqgan_create(&vo);
    if (!v) {
        cli_fail(cmd, "out of memory");
        return NULL;
    }
    int rc = lwm_vqgan_load(v, o->weights);
    if (rc < 0) {
        cli_fail(cmd, "%s", lwm_vqgan_errmsg(v));
        lwm_vqgan_free(v);
        return NULL;
    }
    if (lwm_vqgan_untrained(v))
        fprintf(stderr,
                "lwm %s: warning: %s holds untrained (random) weights; codes are meaningless\n",
                cmd, o->weights);
    return v;
}

// ---------------------------------------------------------------- encode

typedef struct code_list {
    uint16_t *codes;
    size_t n, cap; // codes
} code_list;

static int print_codes(const code_list *l, int per, int json, const char *hash, int precision)
{
    int frames = (int)(l->n / (size_t)per);
    if (!json) {
        printf("# %d frames, %d codes each, weights %s, %s\n", frames, per, hash,
               lwm_vqgan_precision_name(precision));
        for (int f = 0; f < frames; f++) {
            printf("frame %d:", f);
            for (int i = 0; i < per; i++) printf(" %u", l->codes[(size_t)f * per + i]);
            printf("\n");
        }
        return 0;
    }
    cJSON *root = cJSON_CreateObject(), *all = cJSON_CreateArray();
    int *row = malloc((size_t)per * sizeof *row);
    if (!root || !all || !row) {
        free(row);
        cJSON_Delete(root);
        cJSON_Delete(all);
        return -ENOMEM;
    }
    cJSON_AddNumberToObject(root, "frames", frames);
    cJSON_AddStringToObject(root, "precision", lwm_vqgan_precision_name(precision));
    for (int f = 0; f < frames; f++) {
        for (int i = 0; i < per; i++) row[i] = l->codes[(size_t)f * per + i];
        cJSON_AddItemToArray(all, cJSON_CreateIntArray(row, per));
    }
    cJSON_AddItemToObject(root, "codes", all);
    free(row);
    return cli_print_json(root, 1);
}

// Encodes the frames gathered in rgb (count of them) and appends their codes.
static int flush_batch(lwm_vqgan *v, code_list *l, const uint8_t *rgb, int count, int per)
{
    size_t need = l->n + (size_t)count * per;
    if (lwm_grow(NULL, (void **)&l->codes, &l->cap, need, sizeof *l->codes) < 0) return -ENOMEM;
    int rc = lwm_vqgan_encode_rgb(v, l->codes + l->n, rgb, count);
    if (rc == 0) l->n = need;
    return rc;
}

static int encode_source(const opts *o, lwm_vqgan *v, lwm_ingest *in, code_list *l)
{
    const char *path = o->image ? o->image : o->video;
    int per = lwm_vqgan_config_codes_per_frame(lwm_vqgan_config_of(v));
    if (lwm_ingest_open(in, path) < 0) return cli_fail("vqgan encode", "%s", lwm_ingest_errmsg(in));
    if (o->image && !lwm_ingest_info(in)->is_image)
        return cli_fail("vqgan encode", "%s: not an image (use --video)", path);
    uint8_t *rgb = malloc((size_t)o->batch * LWM_FRAME_BYTES);
    lwm_frame *fr = malloc(sizeof *fr);
    lwm_progress prog;
    cli_progress(&prog, o->quiet);
    lwm_progress_start(&prog, "encode", "frames", o->max_frames > 0 ? o->max_frames : 0);
    int rc = rgb && fr ? 0 : -ENOMEM, count = 0, status = 0;
    while (rc == 0) {
        int r = lwm_ingest_read(in, fr);
        if (r == LWM_EOF) break;
        if (r < 0) {
            status = cli_fail("vqgan encode", "%s", lwm_ingest_errmsg(in));
            break;
        }
        memcpy(rgb + (size_t)count * LWM_FRAME_BYTES, fr->rgb, LWM_FRAME_BYTES);
        if (++count == o->batch) rc = flush_batch(v, l, rgb, count, per), count = 0;
        lwm_progress_update(&prog, (int64_t)(l->n / (size_t)per), NULL);
    }
    if (rc == 0 && !status && count) rc = flush_batch(v, l, rgb, count, per);
    lwm_progress_finish(&prog, (int64_t)(l->n / (size_t)per), NULL);
    if (rc < 0 && !status) status = cli_fail("vqgan encode", "%s: %s", path, lwm_vqgan_errmsg(v));
    if (!status && l->n == 0) status = cli_fail("vqgan encode", "%s: no frames", path);
    free(rgb), free(fr);
    return status;
}

static int cmd_vqgan_encode(const opts *o, lwm_vqgan *v)
{
    const lwm_vqgan_config *c = lwm_vqgan_config_of(v);
    if (c->resolution != LWM_FRAME_SIDE || c->in_channels != 3)
        return cli_fail("vqgan encode", "%s: weights take %d×%d×%d frames; ingest makes %d×%d×3",
                        o->weights, c->resolution, c->resolution, c->in_channels, LWM_FRAME_SIDE,
                        LWM_FRAME_SIDE);
    lwm_ingest_options io = {.fps = o->fps, .max_frames = o->max_frames};
    cli_logger(&io.log, o->verbose);
    lwm_ingest *in = lwm_ingest_create(&io);
    if (!in) return cli_fail("vqgan encode", "out of memory");
    code_list l = {0};
    int status = encode_source(o, v, in, &l);
    if (!status && print_codes(&l, lwm_vqgan_config_codes_per_frame(c), o->json,
                               lwm_vqgan_weights_hash(v), o->precision) < 0)
        status = cli_fail("vqgan encode", "out of memory");
    free(l.codes);
    lwm_ingest_free(in);
    return status;
}

// ---------------------------------------------------------------- decode

// Reads {"frames": N, "codes": [[...], ...]} into *codes (N × per), checking every id.
static int read_codes(const char *path, int per, int K, uint16_t **codes, int *frames)
{
    cJSON *root = NULL;
    lwm_error err = {0};
    int rc = lwm_json_load_file(path, &root, &err);
    if (rc < 0) {
        cli_fail_err("vqgan decode", &err, rc);
        return -1;
    }
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(root, "codes");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "frames");
    int n = cJSON_IsArray(all) ? cJSON_GetArraySize(all) : -1, status = 0;
    if (n <= 0)
        status = cli_fail("vqgan decode", "%s: field codes missing, empty or not a list", path);
    else if (cJSON_IsNumber(nf) && nf->valuedouble != n)
        status = cli_fail("vqgan decode", "%s: frames is %g but codes holds %d frames", path,
                          nf->valuedouble, n);
    *codes = status ? NULL : malloc((size_t)n * per * sizeof **codes);
    if (!status && !*codes)
        status = cli_fail("vqgan decode", "%s: out of memory for %d frames", path, n);
    for (int f = 0; !status && f < n; f++) {
        const cJSON *row = cJSON_GetArrayItem(all, f);
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != per) {
            status =
                cli_fail("vqgan decode", "%s: frame %d: expected a list of %d codes", path, f, per);
            break;
        }
        for (int i = 0; i < per && !status; i++) {
            const cJSON *c = cJSON_GetArrayItem(row, i);
            double x = cJSON_IsNumber(c) ? c->valuedouble : -1;
            if (!cJSON_IsNumber(c))
                status =
                    cli_fail("vqgan decode", "%s: frame %d, position %d: not a number", path, f, i);
            else if (x < 0 || x >= K || x != (double)(int)x)
                status = cli_fail("vqgan decode",
                                  "%s: frame %d, position %d: code %g is not an "
                                  "integer in 0..%d (codebook size %d)",
                                  path, f, i, x, K - 1, K);
            else
                (*codes)[(size_t)f * per + i] = (uint16_t)x;
        }
    }
    cJSON_Delete(root);
    if (status) free(*codes), *codes = NULL;
    *frames = n;
    return status ? -1 : 0;
}

static int cmd_vqgan_decode(const opts *o, lwm_vqgan *v)
{
    const lwm_vqgan_config *c = lwm_vqgan_config_of(v);
    int per = lwm_vqgan_config_codes_per_frame(c), side = c->resolution, n = 0;
    uint16_t *codes = NULL;
    if (c->in_channels != 3)
        return cli_fail("vqgan decode", "%s: weights do not make RGB", o->weights);
    if (read_codes(o->codes, per, c->num_embeddings, &codes, &n) < 0) return 1;
    size_t fb = (size_t)side * side * 3;
    uint8_t *px = malloc(fb * n), *img = malloc(fb * n);
    int status = 0;
    if (!px || !img)
        status = cli_fail("vqgan decode", "out of memory");
    else if (lwm_vqgan_decode_rgb(v, px, codes, n) < 0)
        status = cli_fail("vqgan decode", "%s: %s", o->codes, lwm_vqgan_errmsg(v));
    for (int y = 0; !status && y < side; y++) // frames left to right
        for (int f = 0; f < n; f++)
            memcpy(img + ((size_t)y * n + f) * side * 3, px + f * fb + (size_t)y * side * 3,
                   (size_t)side * 3);
    lwm_error err = {0};
    int rc = status ? 0 : lwm_ingest_write_png(o->out, img, side * n, side, &err);
    if (rc < 0) status = cli_fail_err("vqgan decode", &err, rc);
    free(px), free(img), free(codes);
    return status;
}

static int cmd_info(const opts *o, lwm_vqgan *v)
{
    const lwm_vqgan_config *c = lwm_vqgan_config_of(v);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "weights", o->weights);
    cJSON_AddStringToObject(j, "hash", lwm_vqgan_weights_hash(v));
    cJSON_AddBoolToObject(j, "untrained", lwm_vqgan_untrained(v));
    cJSON_AddStringToObject(j, "preset", c->name);
    cJSON_AddNumberToObject(j, "resolution", c->resolution);
    cJSON_AddNumberToObject(j, "hidden_channels", c->hidden_channels);
    cJSON_AddItemToObject(j, "channel_mult", cJSON_CreateIntArray(c->channel_mult, c->num_levels));
    cJSON_AddNumberToObject(j, "num_res_blocks", c->num_res_blocks);
    cJSON_AddNumberToObject(j, "z_channels", c->z_channels);
    cJSON_AddNumberToObject(j, "num_embeddings", c->num_embeddings);
    cJSON_AddNumberToObject(j, "codes_per_frame", lwm_vqgan_config_codes_per_frame(c));
    const char *precisions = lwm_simd_bf16() ? "fp32,bf16" : "fp32";
    cJSON_AddStringToObject(j, "precisions", precisions);
    if (o->json) return cli_print_json(j, 1) ? 1 : 0;
    printf("weights     %s\nhash        %s%s\npreset      %s\nresolution  %d\nchannels    %d × [",
           o->weights, lwm_vqgan_weights_hash(v), lwm_vqgan_untrained(v) ? " (untrained)" : "",
           c->name, c->resolution, c->hidden_channels);
    for (int i = 0; i < c->num_levels; i++) printf("%s%d", i ? "," : "", c->channel_mult[i]);
    printf("], %d res blocks\ncodebook    %d × %d\nprecisions  %s (encoder, on this machine)\n",
           c->num_res_blocks, c->num_embeddings, c->embed_dim, precisions);
    cJSON_Delete(j);
    return 0;
}

int cmd_vqgan(int argc, char **argv)
{
    enum { ENCODE, DECODE, INFO, INIT, IMPORT };
    static const char *const subcommands[] = {"encode", "decode", "info", "init", "import", NULL};
    int which = cli_subcommand("vqgan", usage, subcommands, argc, argv);
    if (which < 0) return which == CLI_HELP ? 0 : CLI_USAGE;
    const char *sub = argv[1];
    int enc = which == ENCODE, dec = which == DECODE, init = which == INIT, imp = which == IMPORT;
    char cmd[32];
    lwm_format(cmd, sizeof cmd, "vqgan %s", sub);
    opts o;
    int parsed = parse(cmd, argc - 1, argv + 1, &o);
    if (parsed) return parsed == 1 ? 0 : parsed;
    cli_quiet_ffmpeg(o.verbose);
    if (init) return cmd_init(&o);
    if (imp) return cmd_import(&o);
    if (enc && !o.image == !o.video)
        return cli_fail_status(CLI_USAGE, cmd, "needs exactly one of --image F or --video F");
    if (dec && (!o.codes || !o.out))
        return cli_fail_status(CLI_USAGE, cmd, "needs --codes F.json and --out F.png");
    if (!o.weights) return cli_fail_status(CLI_USAGE, cmd, "needs --vqgan W.safetensors");
    lwm_vqgan *v = open_weights(cmd, &o);
    if (!v) return 1;
    int rc = enc ? cmd_vqgan_encode(&o, v) : dec ? cmd_vqgan_decode(&o, v) : cmd_info(&o, v);
    lwm_vqgan_free(v);
    return rc;
}
