/**
 * vqgan.h: LWM's VQGAN tokenizer (the aMUSEd f16 VQ-GAN): 256×256 RGB frames
 * to 16×16 = 256 codes out of an 8192-entry codebook, and codes back to pixels.
 *
 * A *frame* here is what ingest produces, scaled to float: 256×256×3 float32,
 * NHWC (row-major rows, then columns, then R, G, B), values in [-1, 1]
 * (lwm_ingest_to_float). *Codes* are uint16 codebook indices, `codes_per_frame`
 * per frame (256 for every preset whose latent grid is 16×16), in raster
 * order (row by row of the latent grid), exactly as LWM flattens them.
 *
 * The architecture follows ../shared/spec/lwm-format.md §7 and is driven by an
 * lwm_vqgan_config (presets in configs/vqgan/<name>.json: `lwm` is LWM's
 * tokenizer, `tiny` and `small` are for tests). Weights are one fp32
 * safetensors file holding the tensors under LWM's Flax names
 * ("encoder/DownsamplingBlock_0/ResnetBlock_0/Conv_0/kernel", HWIO kernels)
 * plus the config in its metadata, so a weights file alone says what it is.
 *
 * Lifecycle: lwm_vqgan_create → lwm_vqgan_load → (lwm_vqgan_encode |
 * lwm_vqgan_decode)* → lwm_vqgan_free. The weights are memory-mapped, not
 * copied; they stay mapped until lwm_vqgan_free.
 *
 * The quantizer is a squared-L2 argmin with ties to the lowest index:
 * distances come from a GEMM in float32, and every latent whose best and
 * second-best distances lie within float32 rounding of each other is settled
 * again in float64 over all close candidates. The returned code therefore
 * equals the float64 argmin for the latent the encoder computed.
 *
 * Caveats
 * - One encode or decode at a time per context: a context owns its scratch
 *   arena. Inside a call the work is spread over OpenMP threads (options.threads).
 *   Use one context per calling thread (they share nothing but may map the
 *   same file).
 * - Codes from weights made by lwm_vqgan_init_weights (seeded random) are
 *   meaningless; lwm_vqgan_untrained() says so, and every corpus encoded
 *   with such weights must carry that flag along with lwm_vqgan_weights_hash().
 * - Encoding is not bit-identical across thread counts or conv kernels
 *   (summation order), but codes agree wherever the argmin is not a near-tie
 *   at float32 precision of the latent.
 */
#ifndef LWM_VQGAN_H
#define LWM_VQGAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define LWM_VQGAN_MAX_LEVELS 8

typedef struct lwm_vqgan lwm_vqgan;

/**
 * The architecture. Every field is set by the caller (or by
 * lwm_vqgan_config_load / lwm_vqgan_load); LWM's values in brackets.
 */
typedef struct lwm_vqgan_config {
    char name[32];                          /**< preset name, informational ["lwm"] */
    int resolution;                         /**< frame side in pixels [256] */
    int in_channels;                        /**< colour channels [3] */
    int hidden_channels;                    /**< channels of level 0 [128] */
    int num_levels;                         /**< resolution levels, ≤ LWM_VQGAN_MAX_LEVELS [5] */
    int channel_mult[LWM_VQGAN_MAX_LEVELS]; /**< channels of level i = mult × hidden [1,2,2,4,6] */
    int num_res_blocks; /**< resnet blocks per encoder level; decoder has one more [2] */
    int z_channels;     /**< encoder output channels [64] */
    int num_embeddings; /**< codebook entries, ≤ 65536 [8192] */
    int embed_dim;      /**< codebook vector size = z_channels [64] */
} lwm_vqgan_config;

/**
 * Reads a config from a JSON file: {"name": ..., "resolution": 256,
 * "in_channels": 3, "hidden_channels": 128, "channel_mult": [1,2,2,4,6],
 * "num_res_blocks": 2, "z_channels": 64, "num_embeddings": 8192,
 * "embed_dim": 64}. Returns 0, or a negative code with err naming the file
 * and field. The result is checked with lwm_vqgan_config_check.
 */
int lwm_vqgan_config_load(lwm_vqgan_config *cfg, const char *path, lwm_error *err);

/**
 * Checks a config for consistency (positive sizes, channels divisible by the
 * 32 GroupNorm groups, resolution divisible by 2^(levels-1), embed_dim ==
 * z_channels, codebook fits uint16). Returns 0 or LWM_EINVAL with err filled.
 */
int lwm_vqgan_config_check(const lwm_vqgan_config *cfg, lwm_error *err);

/** Codes per frame for a config: (resolution / 2^(num_levels-1))². */
int lwm_vqgan_config_codes_per_frame(const lwm_vqgan_config *cfg);

/** Conv implementations (STYLE §6: reference beside fast kernel, chosen at create). */
enum lwm_vqgan_conv_kind {
    /** The default: Winograd F(4,3) on the widest vector units for the encoder's
        stride-1 3×3 convs of up to 256 channels (weights transformed at load),
        im2col tiles + lwm_sgemm (oneDNN, AVX-512 where cpuid has it) elsewhere. */
    LWM_VQGAN_CONV_GEMM = 0,
    LWM_VQGAN_CONV_DIRECT = 1, /**< naive direct convolution: the reference, slow */
    LWM_VQGAN_CONV_IM2COL = 2, /**< im2col GEMM everywhere (no Winograd) */
};

/**
 * Arithmetic of the encoder's convolutions. bf16 rounds each conv's inputs and
 * weights to bfloat16 and multiplies them with AVX512_BF16 dot products (fp32
 * sums): 1.4-1.7x faster on CPUs that have them, codes 92-95 % equal to the
 * float64 reference instead of 100 % (Winograd's transforms amplify bf16
 * rounding; bench/RESULTS.md). The decoder and
 * the quantizer stay fp32. bf16 needs AVX512_BF16 and the AVX-512 level (not
 * LWM_SIMD=avx2): lwm_vqgan_load refuses it otherwise (no emulation).
 */
enum lwm_vqgan_precision { LWM_VQGAN_FP32 = 0, LWM_VQGAN_BF16 = 1 };

/** "fp32" or "bf16"; NULL for anything else. */
const char *lwm_vqgan_precision_name(int precision);
/** The precision called name ("fp32", "bf16"), or -1. */
int lwm_vqgan_precision_parse(const char *name);

/** Options for lwm_vqgan_create. Zeroed = defaults. */
typedef struct lwm_vqgan_options {
    int threads;    /**< set by caller: OpenMP threads per call; 0 = OpenMP default */
    int max_batch;  /**< set by caller: frames processed together; 0 = 1. Memory grows
                            linearly with it (lwm_vqgan_scratch_bytes). */
    int conv_kind;  /**< set by caller: enum lwm_vqgan_conv_kind; default GEMM */
    int precision;  /**< set by caller: enum lwm_vqgan_precision; default fp32. bf16
                            applies to the default conv kind only */
    lwm_logger log; /**< set by caller: where info lines go (zeroed = nowhere) */
    lwm_mem mem;    /**< set by caller: allocator for the context and its arena */
} lwm_vqgan_options;

/** Creates a context without weights; NULL when out of memory. opt may be NULL. */
lwm_vqgan *lwm_vqgan_create(const lwm_vqgan_options *opt);

/** Frees a context (NULL is fine), unmapping its weights and freeing its arena. */
void lwm_vqgan_free(lwm_vqgan *ctx);

/**
 * Maps a weights file (safetensors, fp32, LWM names, config in metadata) and
 * checks it: every expected tensor present with its shape, no extra tensor,
 * data inside the file, no NaN/Inf. Computes the weights hash. Returns 0, or
 * LWM_EFORMAT (truncated, bad header, missing/extra/mis-shaped tensor),
 * LWM_ENUMERIC (NaN/Inf in a named tensor), LWM_EINVAL (bf16 precision asked
 * where the CPU or LWM_SIMD rules it out), -errno (open/mmap); the message
 * names the file and tensor. A context may load once.
 */
int lwm_vqgan_load(lwm_vqgan *ctx, const char *weights_path);

/** The loaded config; NULL before a successful load. Valid until free. */
const lwm_vqgan_config *lwm_vqgan_config_of(const lwm_vqgan *ctx);

/**
 * The identity of the loaded weights: XXH3-128 over every tensor's name,
 * shape and fp32 data in canonical order, as 32 hex digits ("" before load).
 * It does not depend on the file's byte layout or metadata, so the same
 * weights imported from either public layout hash the same. Valid until free.
 */
const char *lwm_vqgan_weights_hash(const lwm_vqgan *ctx);

/** 1 when the weights were made by lwm_vqgan_init_weights (random), else 0. */
int lwm_vqgan_untrained(const lwm_vqgan *ctx);

/**
 * Bytes of scratch memory (the arena: four activation buffers per frame plus
 * one im2col tile per thread) that encoding (decode = 0) or decoding
 * (decode = 1) a batch of `frames` frames needs; 0 before load. The mapped
 * weights come on top (pages of the file, shared between processes).
 */
size_t lwm_vqgan_scratch_bytes(const lwm_vqgan *ctx, int frames, int decode);

/**
 * Encodes n frames (n × res × res × 3 floats, NHWC, in [-1, 1]) into
 * codes (n × codes_per_frame uint16, raster order). Processes max_batch frames
 * at a time. Returns 0, LWM_EINVAL (no weights, n < 0), LWM_ENUMERIC (a NaN/Inf
 * input pixel, or a non-finite latent: the message names the frame), -ENOMEM.
 * On failure codes may be partly written.
 */
int lwm_vqgan_encode(lwm_vqgan *ctx, uint16_t *codes, const float *frames, int n);

/** As lwm_vqgan_encode, from RGB24 bytes (n × res × res × 3), scaled x/127.5 − 1. */
int lwm_vqgan_encode_rgb(lwm_vqgan *ctx, uint16_t *codes, const uint8_t *rgb, int n);

/**
 * Decodes n frames of codes (n × codes_per_frame) into pixels (n × res × res
 * × 3 floats, NHWC), clipped to [-1, 1]. Returns 0, LWM_EINVAL (a code ≥
 * num_embeddings: the message names the frame and position), -ENOMEM.
 */
int lwm_vqgan_decode(lwm_vqgan *ctx, float *frames, const uint16_t *codes, int n);

/** As lwm_vqgan_decode, then to RGB24 as LWM does: uint8((x + 1) · 127.5), truncated. */
int lwm_vqgan_decode_rgb(lwm_vqgan *ctx, uint8_t *rgb, const uint16_t *codes, int n);

/** The last failure's message ("w.safetensors: tensor encoder/Conv_0/kernel: ..."). */
const char *lwm_vqgan_errmsg(const lwm_vqgan *ctx);

/* ------------------------------------------------------------------------ */
/* Weights files                                                            */
/* ------------------------------------------------------------------------ */

/**
 * Writes seeded random weights for cfg to out_path (atomically): conv kernels
 * uniform in ±1/sqrt(fan_in), biases uniform in ±0.05, GroupNorm scale 1 ± 0.1
 * and bias ±0.1, codebook uniform with standard deviation 0.2 (about the
 * latent scale such an encoder produces, so codes are diverse). Same (cfg, seed) → same bytes on
 * every machine.
 * The file is marked untrained. Returns 0 or a negative code with err filled.
 */
int lwm_vqgan_init_weights(const char *out_path, const lwm_vqgan_config *cfg, uint64_t seed,
                           lwm_error *err);

/** Source layouts lwm_vqgan_import understands. */
enum lwm_vqgan_layout {
    LWM_VQGAN_LAYOUT_UNKNOWN = 0,
    LWM_VQGAN_LAYOUT_LWM = 1,       /**< LWM Flax names, HWIO (from vqgan/import_pickle.py) */
    LWM_VQGAN_LAYOUT_DIFFUSERS = 2, /**< aMUSEd/diffusers VQModel names, OIHW */
};

/**
 * Converts a safetensors file in either layout (detected from its tensor
 * names; *layout receives which, may be NULL) into a weights file at
 * out_path: the config is inferred from the tensor shapes, kernels become
 * HWIO, names become LWM's, every tensor is checked as lwm_vqgan_load does.
 * LWM's own checkpoint is a pickle: vqgan/import_pickle.py turns it into an
 * LWM-layout safetensors first (`lwm vqgan import` does that for you).
 * Returns 0 or a negative code with err naming the file and tensor.
 */
int lwm_vqgan_import(const char *out_path, const char *src_path, int *layout, lwm_error *err);

#endif /* LWM_VQGAN_H */
