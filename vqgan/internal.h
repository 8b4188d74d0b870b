// internal.h: declarations shared by the files of the vqgan stage (not public).
//
// Kernel notation: B frames, H×W pixels, C channels; activations are NHWC
// float32, a conv kernel is HWIO (kh, kw, C_in, C_out), which flattened is
// the [kh·kw·C_in × C_out] right-hand matrix of the im2col GEMM.
#ifndef LWM_VQGAN_INTERNAL_H
#define LWM_VQGAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vqgan.h"

#define VQ_GROUPS 32
#define VQ_GN_EPS 1e-6
#define VQ_MAX_RES_BLOCKS 8
#define VQ_MAX_NAME 128
#define VQ_MAX_DIMS 4

// ---------------------------------------------------------------- parameters

typedef struct vq_conv {
    const float *w, *b; // HWIO kernel, bias [cout]
    int k, cin, cout;
    // Winograd F(4,3) weights transformed and packed at load for one micro-kernel
    // (vqgan_winograd_weights); NULL where the layer runs as an im2col GEMM.
    const float *wino;
    const struct vq_ukernel *wino_kernel;
    // bf16 mode (bf16.c): the kernel, or its Winograd transform, rounded to bf16
    // and packed in k-pair panels at load; NULL where the layer stays fp32.
    const uint16_t *bf16, *wino_bf16;
} vq_conv;

typedef struct vq_norm {
    const float *scale, *bias; // [c]
    int c;
} vq_norm;

typedef struct vq_resblock {
    vq_norm norm0, norm1;
    vq_conv conv0, conv1, shortcut; // shortcut.w == NULL when cin == cout
    int cin, cout;
} vq_resblock;

typedef struct vq_level {
    vq_resblock res[VQ_MAX_RES_BLOCKS];
    int num_res;
    vq_conv resample; // Downsample_0 / Upsample_0 conv; .w NULL when absent
    int has_resample;
} vq_level;

typedef struct vq_model {
    vq_conv enc_in, enc_out, quant_conv, post_quant_conv, dec_in, dec_out;
    vq_level enc[LWM_VQGAN_MAX_LEVELS]; // enc[i] = DownsamplingBlock_i = level i
    vq_level dec[LWM_VQGAN_MAX_LEVELS]; // dec[i] = UpsamplingBlock_i = level L-1-i
    vq_resblock enc_mid[2], dec_mid[2];
    vq_norm enc_norm, dec_norm;
    const float *codebook; // [num_embeddings × embed_dim]
} vq_model;

// The walk over every parameter in canonical order (the file order, the hash
// order). visit() gets the LWM name, the shape and the slot to bind; it
// returns 0 or a negative code to stop the walk.
typedef int (*vq_visit_fn)(void *opaque, const char *name, int ndim, const int64_t *shape,
                           const float **slot);
int vqgan_model_walk(vq_model *m, const lwm_vqgan_config *cfg, vq_visit_fn visit, void *opaque);

// Largest activation (floats per frame) the encoder / decoder hold.
size_t vqgan_max_activation(const lwm_vqgan_config *cfg, int decoder);

// Config to/from JSON text (the weights file keeps it in its metadata).
struct cJSON;
int vqgan_config_from_json(lwm_vqgan_config *cfg, const struct cJSON *obj, const char *what,
                           lwm_error *err);
char *vqgan_config_to_json(const lwm_vqgan_config *cfg); // cJSON_free the result

// ---------------------------------------------------------------- safetensors

typedef struct vq_tensor {
    char name[VQ_MAX_NAME];
    int ndim;
    int64_t shape[VQ_MAX_DIMS];
    const float *data; // into the mapping
    size_t count;      // elements
    int used;          // set by whoever consumes it
} vq_tensor;

typedef struct vq_file {
    lwm_st_file st; // the mapping and its parsed header (common/safetensors.c)
    vq_tensor *tensors;
    int num_tensors;
    const lwm_mem *mem;
} vq_file;

// Maps and parses a safetensors file (F32 tensors only) with lwm_st_parse, which checks
// offsets, shapes and overlaps against the file size. The file's name appears in every message.
int vqgan_file_open(vq_file *f, const char *path, const lwm_mem *mem, lwm_error *err);
void vqgan_file_close(vq_file *f);
vq_tensor *vqgan_file_find(vq_file *f, const char *name);
// Metadata string value or NULL.
const char *vqgan_file_meta(const vq_file *f, const char *key);

// Weights are written with the common streaming writer (lwm_st_writer_*, common.h).
typedef lwm_st_entry vq_writer_entry;

// Infers a config from tensor shapes found by lookup (LWM names, HWIO).
typedef const vq_tensor *(*vq_lookup_fn)(void *opaque, const char *lwm_name, int64_t *shape_hwio,
                                         int *ndim);
int vqgan_infer_config(lwm_vqgan_config *cfg, vq_lookup_fn lookup, void *opaque, const char *what,
                       lwm_error *err);

// ---------------------------------------------------------------- kernels

// Where a conv reads its input: stride, zero padding per side, and an optional
// nearest ×2 upsampling applied to the input before padding (fused, never stored).
typedef struct vq_geom {
    int stride, pad_top, pad_left, pad_bottom, pad_right, upsample;
} vq_geom;

extern const vq_geom VQ_SAME, VQ_DOWN, VQ_UP, VQ_POINT;

// Per-call workspace of the kernels: one im2col tile per thread.
typedef struct vq_scratch {
    float *tiles;       // threads × tile_floats
    size_t tile_floats; // per thread
    int threads;
} vq_scratch;

// out[B,Ho,Wo,cout] (=, or += when accumulate) conv(in[B,H,W,cin]) + bias.
typedef void (*vq_conv_fn)(float *out, const float *in, const vq_conv *p, int B, int H, int W,
                           vq_geom g, int accumulate, vq_scratch *s);
typedef struct vq_kernels {
    const char *name;
    vq_conv_fn conv;
} vq_kernels;
extern const vq_kernels vqgan_kernels_gemm, vqgan_kernels_direct, vqgan_kernels_winograd,
    vqgan_kernels_bf16;

// A register-blocked GEMM micro-kernel (ukernel.c): C[mr×nr] (=, or += when acc)
// A[mr×K] (rows lda apart) · B[K×nr] (packed, 64-byte aligned rows), C rows ldc apart.
typedef void (*vq_ukernel_fn)(int K, const float *A, ptrdiff_t lda, const float *B, float *C,
                              ptrdiff_t ldc, int acc);
typedef struct vq_ukernel {
    int level, mr, nr; // LWM_SIMD_* level, rows, columns
    vq_ukernel_fn fn;
} vq_ukernel;
// The kernel of a vector level (LWM_SIMD_*; lwm_simd_level() picks it at run time).
const vq_ukernel *vqgan_ukernel(int level);

// Winograd F(4,3) for stride-1 3×3 SAME convs (winograd.c). A conv qualifies when
// cout is a multiple of the kernel's nr and cin of 16; its weights U = G·g·Gᵀ
// (computed in float64, 36 × cin × cout floats) are packed in nr-wide panels.
int vqgan_winograd_fits(const vq_conv *p, const vq_ukernel *uk);
size_t vqgan_winograd_weight_floats(const vq_conv *p);
void vqgan_winograd_weights(float *U, const vq_conv *p, const vq_ukernel *uk);

void vqgan_conv_out_size(int H, int W, int k, vq_geom g, int *Ho, int *Wo);
// Gathers output rows [r0, r1) (flattened over B, Ho, Wo) into A [rows × k·k·cin].
void vqgan_im2col(float *A, const float *in, int r0, int r1, int H, int W, int cin, int k,
                  vq_geom g, int Ho, int Wo);

// bf16 mode (bf16.c): AVX512_BF16 dot products (vdpbf16ps: pairs of bf16
// products summed into fp32 lanes), fp32 accumulation. Weights are packed as
// panels of 64 (then 16) output channels, each [K/2][width][2]: a k-pair of one
// channel is one 32-bit lane. A conv qualifies when cout is a multiple of 16.
int vqgan_bf16_fits(const vq_conv *p);
// Elements (uint16) of the packed weights: Kp·cout (Kp = k·k·cin rounded up to
// even), or 36·cin·cout for the Winograd transform (wino set; work then holds
// 36·cin·cout floats).
size_t vqgan_bf16_weight_count(const vq_conv *p, int wino);
void vqgan_bf16_pack(uint16_t *dst, const vq_conv *p, int wino, float *work);
// n floats to bf16 (round to nearest even); dst may be src itself (in place).
void vqgan_bf16_convert(uint16_t *dst, const float *src, size_t n);
// C[rows × cout] (=, or += when acc) A[rows × Kp] (bf16, rows lda apart, rows a
// multiple of 6, Kp even) · packed weights Bp, C rows ldc apart.
void vqgan_bf16_gemm(int rows, int Kp, const uint16_t *A, ptrdiff_t lda, const uint16_t *Bp,
                     int cout, float *C, ptrdiff_t ldc, int acc);
// Floats of im2col scratch per thread that conv_gemm needs for this config.
size_t vqgan_conv_tile_floats(int max_cin, int k);

// out = GroupNorm(in) (32 groups, eps 1e-6), then SiLU when silu is set.
// Statistics per frame and group in float64. out may equal in.
void vqgan_group_norm_forward(float *out, const float *in, const vq_norm *p, int B, int HW,
                              int silu, int threads);

// Quantizer: codes[N] = argmin_k ‖z_n − e_k‖², ties to the lowest k, close
// calls settled in float64. e_norm[K] = ‖e_k‖² (float32). scores: N_tile×K floats
// per thread, z [N×D].
typedef struct vq_codebook {
    const float *e;      // [K × D]
    const float *e_norm; // [K]
    float e_max_norm;    // max ‖e_k‖ (not squared)
    int K, D;
} vq_codebook;
#define VQ_QUANT_TILE 32
void vqgan_quantize_forward(uint16_t *codes, const float *z, int N, const vq_codebook *cb,
                            float *scores, int threads);

// ---------------------------------------------------------------- model

typedef struct vq_buffers {
    float *x, *t, *u, *y; // four activations of max_activation × B floats
    vq_scratch scratch;
    const vq_kernels *k;
    int threads;
} vq_buffers;

// Encoder up to quant_conv: z[B,h,w,embed_dim] from frames[B,res,res,3]; z
// lands in one of the buffers and is returned.
float *vqgan_encoder_forward(const vq_model *m, const lwm_vqgan_config *cfg, const float *frames,
                             int B, vq_buffers *b);
// Decoder from quantized latents zq[B,h,w,D] (already looked up) to pixels
// out[B,res,res,3] clipped to [-1, 1].
void vqgan_decoder_forward(const vq_model *m, const lwm_vqgan_config *cfg, float *out,
                           const float *zq, int B, vq_buffers *b);

// One resnet block on x [B,H,W,cin] (spare: a second buffer of the same size);
// returns whichever of x / spare holds the result. For the layer tests.
float *vqgan_resnet_forward(const vq_resblock *r, float *x, float *spare, int B, int H, int W,
                            vq_buffers *b);

// lwm_vqgan_encode that also hands back the latents before quantization
// (z: n × codes_per_frame × embed_dim). For the reference tests.
int vqgan_encode_latents(lwm_vqgan *ctx, float *z, uint16_t *codes, const float *frames, int n);

#endif /* LWM_VQGAN_INTERNAL_H */
