/**
 * common.h: the small pieces every stage shares.
 *
 * Errors, logging and progress reporting, the allocation hook, clocks, file
 * helpers and cJSON helpers. Every stage may include this header; nothing here
 * depends on any stage.
 *
 * Caveats
 * - No global mutable state: loggers, progress sinks and allocators are values
 *   that a caller puts into a stage's context. A zeroed struct means "default"
 *   (no logging, no progress, libc allocation).
 * - Library code never prints or exits; it logs through an lwm_logger and
 *   returns negative codes. Only cli/ prints and chooses exit statuses.
 */
#ifndef LWM_COMMON_H
#define LWM_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Return codes. 0 (or a count) is success. Negative errno values (-ENOENT,
 * -ENOMEM, ...) pass through unchanged; the project's own codes live in a
 * range below -30000 so that lwm_strerror() can name either kind.
 */
enum {
    LWM_EOF = -30000,          /**< end of stream: no more frames, records, rows */
    LWM_EINVAL = -30001,       /**< bad argument or bad input value */
    LWM_EFORMAT = -30002,      /**< file or record does not have the expected format */
    LWM_EDECODE = -30003,      /**< media could not be decoded */
    LWM_ECHECKSUM = -30004,    /**< stored checksum does not match the data */
    LWM_EVERSION = -30005,     /**< written by an unknown (newer) format version */
    LWM_ENOTFOUND = -30006,    /**< id, tensor, field or file not present */
    LWM_EEXISTS = -30007,      /**< id or file already present */
    LWM_EFULL = -30008,        /**< store or buffer is full */
    LWM_ENUMERIC = -30009,     /**< NaN/Inf or other numerical failure */
    LWM_EMPI = -30010,         /**< an MPI call failed or a peer rank failed */
    LWM_EINTERNAL = -30011,    /**< a bug: an invariant did not hold */
    LWM_EUNSUPPORTED = -30012, /**< valid input this build cannot handle */
};

/** Names any return code: a project code, a negative errno, or 0. Static string. */
const char *lwm_strerror(int code);

/**
 * The detailed message of the last failure of one context. Each stage's
 * context embeds one; lwm_<stage>_errmsg() returns its text. Context-free
 * helpers take an lwm_error * supplied by the caller.
 */
typedef struct lwm_error {
    int code;      /**< set by lwm_error_set: the code last returned, 0 if none */
    char msg[768]; /**< set by lwm_error_set: "file: frame 212: invalid data" */
} lwm_error;

/**
 * Records code and a printf-style message in err (err may be NULL) and
 * returns code, so a failure path reads `return lwm_error_set(err, LWM_EINVAL, ...)`.
 */
int lwm_error_set(lwm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Prefixes the message already in err with "prefix: " (for example the
 * sample id). Returns err->code.
 */
int lwm_error_prefix(lwm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Clears err to "no error". */
void lwm_error_clear(lwm_error *err);

/**
 * LWM_CHECK(err, cond, code, fmt, ...): if cond is false, record the message in
 * err and return code from the current function. The message is for users:
 * name the file, sample or field, not the C condition.
 */
#define LWM_CHECK(err, cond, code, ...)                                                            \
    do {                                                                                           \
        if (!(cond)) return lwm_error_set((err), (code), __VA_ARGS__);                             \
    } while (0)

/**
 * LWM_TRY(expr): evaluate expr (an int-returning call that has already filled
 * the relevant lwm_error on failure) and return its value if negative.
 */
#define LWM_TRY(expr)                                                                              \
    do {                                                                                           \
        int lwm_try_rc_ = (expr);                                                                  \
        if (lwm_try_rc_ < 0) return lwm_try_rc_;                                                   \
    } while (0)

/**
 * LWM_TRY_GOTO(rc, expr, label): for functions with one cleanup label: store
 * expr's value in rc and jump to label if it is negative.
 */
#define LWM_TRY_GOTO(rc, expr, label)                                                              \
    do {                                                                                           \
        (rc) = (expr);                                                                             \
        if ((rc) < 0) goto label;                                                                  \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Allocation hook                                                          */
/* ------------------------------------------------------------------------ */

/**
 * A custom allocator, as zstd's ZSTD_customMem: a context created with one
 * uses it for everything it owns. All fields zero = libc malloc/free. Tests
 * install one that fails the Nth allocation to prove clean failure paths.
 */
typedef struct lwm_mem {
    void *(*alloc)(void *opaque, size_t size); /**< set by caller; NULL = malloc */
    void (*free)(void *opaque, void *ptr);     /**< set by caller; NULL = free */
    void *opaque;                              /**< passed back to both */
} lwm_mem;

/** Allocates size bytes (uninitialised) through mem (NULL = libc). NULL on failure. */
void *lwm_malloc(const lwm_mem *mem, size_t size);
/** Allocates n*size zeroed bytes, checking the product for overflow. */
void *lwm_calloc(const lwm_mem *mem, size_t n, size_t size);
/** Frees ptr (NULL is fine) through the allocator that made it. */
void lwm_free(const lwm_mem *mem, void *ptr);
/** Copies a NUL-terminated string through mem; NULL on failure or if s is NULL. */
char *lwm_strdup(const lwm_mem *mem, const char *s);
/**
 * Grows *buf (capacity *cap elements of elem bytes) to hold at least need
 * elements, doubling. Returns 0 or -ENOMEM (then *buf is unchanged).
 */
int lwm_grow(const lwm_mem *mem, void **buf, size_t *cap, size_t need, size_t elem);

/** 64-byte aligned allocation for kernels through mem (NULL = libc); NULL on failure. */
void *lwm_aligned_alloc(const lwm_mem *mem, size_t size);
/** Frees a lwm_aligned_alloc block (NULL is fine) with the same mem. */
void lwm_aligned_free(const lwm_mem *mem, void *ptr);

/* ------------------------------------------------------------------------ */
/* Logging and progress                                                     */
/* ------------------------------------------------------------------------ */

enum lwm_log_level {
    LWM_LOG_ERROR = 0,
    LWM_LOG_WARN = 1,
    LWM_LOG_INFO = 2,
    LWM_LOG_DEBUG = 3,
};

/**
 * Where a library's log lines go. fn NULL = discard. The CLI installs a writer
 * to stderr; the Python binding installs its own.
 */
typedef struct lwm_logger {
    void (*fn)(void *opaque, int level, const char *msg); /**< set by caller */
    void *opaque;                                         /**< set by caller */
    int level; /**< set by caller: lines above this level are dropped */
} lwm_logger;

/** Formats and emits one log line (no trailing newline needed). */
void lwm_log(const lwm_logger *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** One progress report. Every field is filled by lwm_progress_update. */
typedef struct lwm_progress_info {
    const char *task;   /**< what is running: "ingest", "encode", ... */
    const char *unit;   /**< what is counted: "frames", "samples", "tokens" */
    int64_t done;       /**< units finished so far */
    int64_t total;      /**< units expected in all; <= 0 when unknown */
    double elapsed;     /**< seconds since lwm_progress_start */
    double rate;        /**< units per second, averaged over the run */
    double eta;         /**< seconds left; < 0 when unknown */
    const char *detail; /**< free text, e.g. "samples 12/40, failed 1"; may be NULL */
    int final;          /**< 1 on the last report of a task */
} lwm_progress_info;

/**
 * A progress sink plus its throttle state. The caller sets fn/opaque and
 * interval; the library calls lwm_progress_start/update/finish. Reports
 * are throttled to one per interval seconds (default 0.5).
 */
typedef struct lwm_progress {
    void (*fn)(void *opaque, const lwm_progress_info *info); /**< set by caller */
    void *opaque;                                            /**< set by caller */
    double interval; /**< set by caller: min seconds between reports; 0 = 0.5 */
    /* state below: set by lwm_progress_* */
    const char *task, *unit;
    double t_start, t_last;
    int64_t total, done_before;
} lwm_progress;

void lwm_progress_start(lwm_progress *p, const char *task, const char *unit, int64_t total);
/** After start: done units were finished earlier (a resumed job); rate and ETA count the rest. */
void lwm_progress_resume(lwm_progress *p, int64_t done);
/** Reports done units (throttled); detail may be NULL. */
void lwm_progress_update(lwm_progress *p, int64_t done, const char *detail);
/** Always reports, marked final. */
void lwm_progress_finish(lwm_progress *p, int64_t done, const char *detail);

/* ------------------------------------------------------------------------ */
/* Clocks, files, small utilities                                           */
/* ------------------------------------------------------------------------ */

/** Monotonic seconds. */
double lwm_now(void);

/**
 * Bounds on what one input may make the project hold (README, "Limits"): a
 * JSONL line (an ingest manifest's or an LWM JSONL file's) and one text field
 * to tokenize (about a million tokens).
 */
#define LWM_MAX_LINE_BYTES ((size_t)16 << 20)
#define LWM_MAX_TEXT_BYTES ((size_t)4 << 20)

/**
 * Reads a whole regular file into a new NUL-terminated buffer (owned by the
 * caller, freed with lwm_free(mem, ...)). *size gets the byte count without
 * the NUL. A directory, device or pipe is refused (LWM_EINVAL), as is a file
 * over max_bytes (LWM_EINVAL naming both sizes; 0 = no bound but memory).
 */
int lwm_read_file_max(const lwm_mem *mem, const char *path, size_t max_bytes, char **data,
                      size_t *size, lwm_error *err);
/** lwm_read_file_max with no bound. */
int lwm_read_file(const lwm_mem *mem, const char *path, char **data, size_t *size, lwm_error *err);
/** 0 when path is a regular file (following links), else an error naming it. */
int lwm_check_regular_file(const char *path, lwm_error *err);

/**
 * A file that replaces path atomically, written in pieces: a temporary file in the
 * same directory (path.tmp.PID), then fsync and rename on commit. A crash, a failed
 * write or an abort leaves the old file (or none); commit and abort remove the
 * temporary file whatever happens. The one implementation of this in the project.
 */
typedef struct lwm_atomic_file {
    FILE *f;         /**< write through this (or lwm_atomic_write) until commit */
    char path[4096]; /**< the file being replaced */
    char tmp[4200];  /**< the temporary file, for messages */
} lwm_atomic_file;
int lwm_atomic_open(lwm_atomic_file *af, const char *path, lwm_error *err);
/** fwrite of size bytes; 0, or -EIO naming the temporary file. */
int lwm_atomic_write(lwm_atomic_file *af, const void *data, size_t size, lwm_error *err);
/** Flushes, fsyncs, closes and renames over path; 0 or a negative errno with err filled. */
int lwm_atomic_commit(lwm_atomic_file *af, lwm_error *err);
/** Closes and removes the temporary file; path is untouched. Safe after a failed open. */
void lwm_atomic_abort(lwm_atomic_file *af);

/** Writes data to path atomically (lwm_atomic_open, write, commit). */
int lwm_write_file_atomic(const char *path, const void *data, size_t size, lwm_error *err);

/** mkdir -p. Returns 0 or a negative errno with err filled. */
int lwm_mkdirs(const char *path, lwm_error *err);

/** Joins dir and name with one '/', into out (capacity cap). -ENAMETOOLONG if it does not fit. */
int lwm_path_join(char *out, size_t cap, const char *dir, const char *name);

/** snprintf that reports truncation: returns 0 or -ENAMETOOLONG. */
int lwm_format(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Peak resident set size of this process in bytes (from getrusage). */
int64_t lwm_peak_rss(void);

/**
 * splitmix64 (Steele, Lea, Flood 2014): the project's one seeded generator, tiny and the
 * same numbers on every machine. lwm_mix64 is its finalizer, a bijective 64-bit
 * avalanche (a hash of an integer); lwm_splitmix64 advances the state *s and returns
 * the next number; lwm_splitmix64_of(x) is the number it returns from state x.
 */
static inline uint64_t lwm_mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static inline uint64_t lwm_splitmix64_of(uint64_t x)
{
    return lwm_mix64(x + 0x9e3779b97f4a7c15ull);
}
static inline uint64_t lwm_splitmix64(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return lwm_mix64(*s);
}

/**
 * Little-endian integers in file bytes, at any alignment and on any host: the
 * one way every on-disk format of the project reads and writes them (the
 * compiler turns the byte loops into single moves on x86-64 and arm64).
 */
static inline uint32_t lwm_le_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lwm_le_get64(const uint8_t *p)
{
    return (uint64_t)lwm_le_get32(p) | (uint64_t)lwm_le_get32(p + 4) << 32;
}
static inline void lwm_le_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void lwm_le_put64(uint8_t *p, uint64_t v)
{
    lwm_le_put32(p, (uint32_t)v);
    lwm_le_put32(p + 4, (uint32_t)(v >> 32));
}

/**
 * 64-bit hash (XXH3) of a byte range: used for record checksums. Stable
 * across versions and machines (part of the on-disk formats).
 */
uint64_t lwm_hash64(const void *data, size_t size);

/**
 * Streaming 128-bit content hash (XXH3-128), printed as 32 hex digits: used to
 * name weights files (the "tokenizer identity" of a corpus).
 */
typedef struct lwm_hasher {
    void *state;
} lwm_hasher;
int lwm_hasher_init(lwm_hasher *h);
void lwm_hasher_update(lwm_hasher *h, const void *data, size_t size);
/** Writes 32 lowercase hex digits and a NUL into hex[33]; releases the state. */
void lwm_hasher_final(lwm_hasher *h, char hex[33]);

/**
 * XXH3-128 hex of a regular file's bytes, read in 1 MiB chunks (a tokenizer's
 * identity, a sealed shard's checksum); *size (may be NULL) gets the byte
 * count. 0 or < 0 with err naming the file (LWM_ENOTFOUND when missing).
 */
int lwm_file_hash(const char *path, char hex[33], int64_t *size, lwm_error *err);

/* ------------------------------------------------------------------------ */
/* JSON helpers (cJSON)                                                     */
/* ------------------------------------------------------------------------ */

struct cJSON;

/**
 * Field readers that name the field in their error. what names the object
 * for the message ("manifest line 12", "config tiny.json").
 * Missing optional fields leave *out unchanged and return 0.
 */
int lwm_json_get_string(const struct cJSON *obj, const char *key, int required, const char **out,
                        const char *what, lwm_error *err);
int lwm_json_get_int(const struct cJSON *obj, const char *key, int required, int64_t *out,
                     const char *what, lwm_error *err);
int lwm_json_get_double(const struct cJSON *obj, const char *key, int required, double *out,
                        const char *what, lwm_error *err);

/**
 * 1 when the JSON text holds a NUL: a raw 0 byte or a \u0000 escape (cJSON cuts the string
 * there, so two distinct ids or paths would read the same). 0 otherwise.
 */
int lwm_json_text_has_nul(const char *text, size_t len);

/**
 * 1 when obj has a key twice (cJSON keeps both; lookups see only the first), with *dup set
 * to that key (valid while obj lives); 0 when every key is distinct; -ENOMEM.
 */
int lwm_json_duplicate_key(const struct cJSON *obj, const char **dup);

/** Parses a JSON file; *out owned by the caller (cJSON_Delete). */
int lwm_json_load_file(const char *path, struct cJSON **out, lwm_error *err);

/* ------------------------------------------------------------------------ */
/* safetensors headers                                                      */
/* ------------------------------------------------------------------------ */

/** Most dimensions a safetensors tensor may declare. */
enum { LWM_ST_MAX_DIMS = 8 };

/** Element types lwm_st_parse_any accepts (lwm_st_parse: F32 only). */
enum { LWM_ST_F32 = 0, LWM_ST_BF16 = 1, LWM_ST_F16 = 2 };

/** One tensor of a parsed safetensors header. Every field is set by lwm_st_parse. */
typedef struct lwm_st_tensor {
    const char *name; /**< points into the header's JSON; valid until lwm_st_release */
    int dtype;        /**< LWM_ST_F32, or LWM_ST_BF16 / LWM_ST_F16 (lwm_st_parse_any) */
    int ndim;         /**< 0..LWM_ST_MAX_DIMS */
    int64_t shape[LWM_ST_MAX_DIMS]; /**< each in [0, 2^53) */
    size_t count;                   /**< elements: the product of shape (checked for overflow) */
    size_t offset;                  /**< byte offset of the data from the start of the FILE */
    size_t bytes; /**< count * 4 (2 for BF16, F16); offset + bytes <= the file size */
} lwm_st_tensor;

/** A parsed safetensors header. Filled by lwm_st_parse, released by lwm_st_release. */
typedef struct lwm_st_header {
    lwm_st_tensor *tensors; /**< n tensors, in file order */
    int n;
    const struct cJSON *metadata; /**< the "__metadata__" object, or NULL when absent */
    size_t data_start;            /**< 8 + header length */
    size_t file_size;             /**< the size passed to lwm_st_parse */
    struct cJSON *root;           /**< the header JSON (owned) */
    const lwm_mem *mem;           /**< allocator of tensors */
    int allow_16bit;              /**< BF16 and F16 tensors accepted (lwm_st_parse_any) */
} lwm_st_header;

/**
 * Parses the header of a safetensors file whose size bytes are at file (mapped or read; the
 * data is not read). Refuses, with a one-line error naming path and the tensor: a header
 * length past the file or above 64 MiB, a header that is not a JSON object, an entry without
 * dtype/shape/data_offsets, a dtype other than F32, shapes and offsets that are not integers
 * in [0, 2^53) (16.5, -1, 1e300), a shape whose product overflows or disagrees with the byte
 * span, data past the end of the file, overlapping tensors, a name used twice, and a
 * __metadata__ that is not one object. Nothing is computed before it is checked, so no
 * value wraps. On failure h holds nothing to release. mem may be NULL (libc).
 */
int lwm_st_parse(lwm_st_header *h, const void *file, size_t size, const char *path,
                 const lwm_mem *mem, lwm_error *err);
/** lwm_st_parse that also accepts BF16 and F16 tensors when allow_16bit (pretrained imports). */
int lwm_st_parse_any(lwm_st_header *h, const void *file, size_t size, const char *path,
                     const lwm_mem *mem, int allow_16bit, lwm_error *err);
/** A safetensors file mapped read-only, with its parsed header. */
typedef struct lwm_st_file {
    void *map; /**< the whole file (tensor offsets are from its start) */
    size_t size;
    lwm_st_header hdr;
} lwm_st_file;
/**
 * Maps a regular file (a directory, device or pipe is refused) and parses its header with
 * lwm_st_parse_any. On failure f holds nothing to close.
 */
int lwm_st_file_open(lwm_st_file *f, const char *path, const lwm_mem *mem, int allow_16bit,
                     lwm_error *err);
/** Unmaps and releases (a zeroed or closed f is fine). */
void lwm_st_file_close(lwm_st_file *f);
/** count elements of a tensor's dtype at data (little-endian, any alignment) as floats. */
void lwm_st_to_float(float *out, const void *data, size_t count, int dtype);
/** Frees what lwm_st_parse allocated; h may be zeroed or already released. */
void lwm_st_release(lwm_st_header *h);
/** The tensor called name, or NULL. */
const lwm_st_tensor *lwm_st_find(const lwm_st_header *h, const char *name);

/** One tensor the writer will write: its name, rank and shape (F32). */
typedef struct lwm_st_entry {
    char name[128];
    int ndim;
    int64_t shape[LWM_ST_MAX_DIMS];
} lwm_st_entry;

/**
 * A streaming safetensors writer: lwm_st_writer_begin writes the header (entries in order,
 * meta_kv a NULL-terminated list of key, value strings for __metadata__, may be NULL) into
 * path's temp file; lwm_st_writer_put appends data in entry order; lwm_st_writer_commit checks
 * every declared byte was written and renames into place; lwm_st_writer_abort removes the temp
 * file. Commit and abort free the writer.
 */
typedef struct lwm_st_writer lwm_st_writer;
int lwm_st_writer_begin(lwm_st_writer **w, const char *path, const lwm_st_entry *entries, int n,
                        const char *const *meta_kv, lwm_error *err);
int lwm_st_writer_put(lwm_st_writer *w, const float *data, size_t count, lwm_error *err);
int lwm_st_writer_commit(lwm_st_writer *w, lwm_error *err);
void lwm_st_writer_abort(lwm_st_writer *w);

/* ------------------------------------------------------------------------ */
/* Vector units and the project's SGEMM (simd.c)                            */
/* ------------------------------------------------------------------------ */

enum { LWM_SIMD_SCALAR = 0, LWM_SIMD_AVX2 = 1, LWM_SIMD_AVX512 = 2 };

/**
 * The widest vector level this CPU has (cpuid), capped by the environment
 * variable LWM_SIMD ("avx2" or "scalar"; anything else means no cap). The
 * project's kernels and its SGEMM use this level. The first call (or the first
 * lwm_sgemm) fixes the cap of oneDNN for the whole process.
 */
int lwm_simd_level(void);
/** "avx512", "avx2" or "scalar". Static string. */
const char *lwm_simd_name(int level);
/**
 * 1 when bf16 dot products (AVX512_BF16's vdpbf16ps) may be used: the CPU has
 * them and the level (after the LWM_SIMD cap) is AVX-512; else 0.
 */
int lwm_simd_bf16(void);

/**
 * Row-major C = alpha·op(A)·op(B) + beta·C (op = transpose when trans_* is set)
 * on the widest vector units the level allows (oneDNN's JIT kernels), on the
 * calling thread's OpenMP thread count (one thread inside a parallel region).
 * 0 or LWM_EINTERNAL.
 */
int lwm_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);

/**
 * Register-only FMA throughput of the given level (LWM_SIMD_AVX512 or _AVX2)
 * on threads threads, best of reps runs of about 10 ms-100 ms each; no memory,
 * no BLAS. 0 when the CPU lacks the level. The peak every benchmark compares with.
 */
double lwm_fma_peak_gflops(int level, int threads, int reps);

#endif /* LWM_COMMON_H */
