// bench_vqgan: encoder throughput of the C tokenizer against the machine's
// register-only FMA peak (widest vector units, no BLAS) and OpenBLAS's SGEMM
// peak, both measured in the same run.
//
//   bench_vqgan WEIGHTS FRAMES.rgb N_FRAMES BATCH THREADS [direct|im2col|default|bf16 [CODES_OUT]]
//
// bf16: the default kernels with --precision bf16 (AVX512_BF16).
//
// FRAMES.rgb holds raw 256×256 RGB24 frames (cycled). Prints one JSON line:
// frames/s, GFLOP/s (216.3 GFLOP per frame for the lwm preset, spec §7.8),
// the FMA peak, the SGEMM peak and the ratios, (CODES_OUT: the codes as raw uint16) the arena
// per frame and the peak RSS.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "vqgan/vqgan.h"

#define ENCODE_GFLOP 216.3

// CPU seconds (user + system, all threads) of this process: on a shared machine
// work per CPU-second is steadier than work per wall-second.
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// SGEMM peak: the best of a few square products big enough to hit the kernel's
// steady state, with the same thread count as the encoder.
static double sgemm_peak(int threads, double *per_cpu)
{
    int n = 3072;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 13) * 1e-3f;
    openblas_set_num_threads(threads);
    double best = 0;
    *per_cpu = 0;
    for (int r = 0; r < 4; r++) {
        double t = lwm_now(), cpu = cpu_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = lwm_now() - t, cpu = cpu_seconds() - cpu;
        double g = 2.0 * n * n * (double)n / 1e9;
        if (g / t > best) best = g / t;
        if (g / cpu > *per_cpu) *per_cpu = g / cpu;
    }
    free(a), free(b), free(c);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_vqgan WEIGHTS FRAMES.rgb N_FRAMES BATCH THREADS "
                        "[direct|im2col|default|bf16 [CODES_OUT]]\n");
        return 2;
    }
    int n = atoi(argv[3]), batch = atoi(argv[4]), threads = atoi(argv[5]);
    char *data = NULL;
    size_t size = 0;
    lwm_error err = {0};
    if (lwm_read_file(NULL, argv[2], &data, &size, &err) < 0 || size < 256 * 256 * 3) {
        fprintf(stderr, "%s: %s\n", argv[2], err.msg);
        return 1;
    }
    size_t fb = 256 * 256 * 3, have = size / fb;
    uint8_t *frames = malloc(fb * (size_t)n);
    for (int i = 0; i < n; i++) memcpy(frames + fb * i, data + fb * (i % have), fb);
    lwm_vqgan_options o = {.threads = threads,
                           .max_batch = batch,
                           .conv_kind = argc < 7                         ? LWM_VQGAN_CONV_GEMM
                                        : strcmp(argv[6], "direct") == 0 ? LWM_VQGAN_CONV_DIRECT
                                        : strcmp(argv[6], "im2col") == 0 ? LWM_VQGAN_CONV_IM2COL
                                                                         : LWM_VQGAN_CONV_GEMM,
                           .precision = argc > 6 && strcmp(argv[6], "bf16") == 0 ? LWM_VQGAN_BF16
                                                                                 : LWM_VQGAN_FP32};
    lwm_vqgan *v = lwm_vqgan_create(&o);
    if (lwm_vqgan_load(v, argv[1]) < 0) {
        fprintf(stderr, "%s\n", lwm_vqgan_errmsg(v));
        return 1;
    }
    uint16_t *codes = malloc(sizeof(uint16_t) * 256 * (size_t)n);
    int64_t rss0 = lwm_peak_rss();
    lwm_vqgan_encode_rgb(v, codes, frames, batch < n ? batch : n); // warm-up: arena, page faults
    double peak_cpu0, peak0 = sgemm_peak(threads, &peak_cpu0); // before and after: keep the best
    int level = lwm_simd_level();
    double fma0 = lwm_fma_peak_gflops(level, threads, 10);
    double t = lwm_now(), cpu = cpu_seconds();
    if (lwm_vqgan_encode_rgb(v, codes, frames, n) < 0) {
        fprintf(stderr, "%s\n", lwm_vqgan_errmsg(v));
        return 1;
    }
    t = lwm_now() - t, cpu = cpu_seconds() - cpu;
    if (argc > 7) { // the codes, for bench/vqgan/agreement.sh
        FILE *f = fopen(argv[7], "wb");
        size_t want = 256 * (size_t)n;
        if (!f || fwrite(codes, sizeof *codes, want, f) != want || fclose(f) != 0) {
            fprintf(stderr, "%s: cannot write the codes\n", argv[7]);
            return 1;
        }
    }
    double peak_cpu, peak = sgemm_peak(threads, &peak_cpu);
    if (peak0 > peak) peak = peak0;
    if (peak_cpu0 > peak_cpu) peak_cpu = peak_cpu0;
    double fma = lwm_fma_peak_gflops(level, threads, 10);
    if (fma0 > fma) fma = fma0;
    // One thread's peak: what a CPU-second can do (for the per-CPU-second ratio,
    // steadier than wall-clock ones on a shared machine).
    double fma1 = lwm_fma_peak_gflops(level, 1, 10);
    double fps = n / t, gflops = fps * ENCODE_GFLOP, per_cpu = n * ENCODE_GFLOP / cpu;
    printf("{\"frames\": %d, \"batch\": %d, \"threads\": %d, \"seconds\": %.3f, "
           "\"frames_per_s\": %.4f, \"gflops\": %.1f, \"sgemm_peak_gflops\": %.1f, "
           "\"peak_fraction\": %.3f, \"gflop_per_cpu_s\": %.1f, \"sgemm_gflop_per_cpu_s\": %.1f, "
           "\"peak_fraction_cpu\": %.3f, \"arena_mib_per_frame\": %.1f, \"peak_rss_mib\": %.1f, "
           "\"rss_before_encode_mib\": %.1f, \"simd\": \"%s\", \"fma_peak_gflops\": %.1f, "
           "\"fma_fraction\": %.3f, \"fma_peak_1thread_gflops\": %.1f, \"precision\": \"%s\"}\n",
           n, batch, threads, t, fps, gflops, peak, gflops / peak, per_cpu, peak_cpu,
           per_cpu / peak_cpu, lwm_vqgan_scratch_bytes(v, batch, 0) / (double)batch / 1048576.0,
           lwm_peak_rss() / 1048576.0, rss0 / 1048576.0, lwm_simd_name(level), fma, gflops / fma,
           fma1, lwm_vqgan_precision_name(o.precision));
    lwm_vqgan_free(v);
    free(codes), free(frames), free(data);
    return 0;
}
