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


/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Return codes. 0 (or a count) is success. Negative errno values (-ENOENT,
 * -ENOMEM, ...) pass through unchanged; the project's own codes live in a
 * range below -30000 so that lwm_strerror() can name either kind.
 */
enum {
    LWM_EOF = -30000,       /**< end of stream: no more frames, records, rows */
    LWM_EINVAL = -30001,    /**< bad argument or bad input value */
    LWM_EFORMAT = -30002,   /**< file or record does not have the expected format */
    LWM_EDECODE = -30003,   /**< media could not be decoded */
    LWM_ECHECKSUM = -30004, /**< stored checksum does not match the data */
    LWM_EVERSION = -30005,  /**< written by an unknown (newer) format version */
    LWM_ENOTFOUND = -30006, /**< id, tensor, field or file not present */
    LWM_EEXISTS = -30007,   /**< id or file already present */
    LWM_EFULL = -30008,     /**< store or buffer is full */
    LWM_ENUMERIC = -30009,  /**< NaN/Inf or other numerical failure */
    LWM_EMPI = -30010,      /**< an MPI call failed or a peer rank failed */
    LWM_EINTERNAL = -30011, /**< a bug: an invariant did not hold */
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
    int code;       /**< set by lwm_error_set: the code last returned, 0 if none */
    char msg[768];  /**< set by lwm_error_set: "file: frame 212: invalid data" */
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
int lwm_error_prefix(lwm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Clears err to "no error". */
void lwm_error_clear(lwm_error *err);

/**
 * LWM_CHECK(err, cond, code, fmt, ...): if cond is false, record the message in
 * err and return code from the current function. The message is for users:
 * name the file, sample or field, not the C condition.
 */
#define LWM_CHECK(err, cond, code, ...)                                        \
    do {                                                                       \
        if (!(cond)) return lwm_error_set((err), (code), __VA_ARGS__);        \
    } while (0)

/**
 * LWM_TRY(expr): evaluate expr (an int-returning call that has already filled
 * the relevant lwm_error on failure) and return its value if negative.
 */
#define LWM_TRY(expr)                                                          \
    do {                                                                       \
        int lwm_try_rc_ = (expr);                                              \
        if (lwm_try_rc_ < 0) return lwm_try_rc_;                               \
    } while (0)

/**
 * LWM_TRY_GOTO(rc, expr, label): for functions with one cleanup label: store
 * expr's value in rc and jump to label if it is negative.
 */
#define LWM_TRY_GOTO(rc, expr, label)                                          \
    do {                                                                       \
        (rc) = (expr);                                                         \
        if ((rc) < 0) goto label;                                              \
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
    void (*free)(void *opaque, void *ptr);      /**< set by caller; NULL = free */
    void *opaque;                                /**< passed back to both */
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
    int level;          /**< set by caller: lines above this level are dropped */
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
    void *opaque;         /**< set by caller */
    double interval;      /**< set by caller: min seconds between reports; 0 = 0.5 */
    /* state below: set by lwm_progress_* */
    const char *task, *unit;
    double t_start, t_last;
    int64_t total;
} lwm_progress;

void lwm_progress_start(lwm_progress *p, const char *task, const char *unit, int64_t total);
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
 * Reads a whole file into a new NUL-terminated buffer (owned by the caller,
 * freed with lwm_free(mem, ...)). *size gets the byte count without the NUL.
 */
int lwm_read_file(const lwm_mem *mem, const char *path, char **data, size_t *size,
                  lwm_error *err);

/**
 * Writes data to path atomically: a temporary file in the same directory,
 * fsync, then rename. A crash leaves either the old file or the new one.
 */
int lwm_write_file_atomic(const char *path, const void *data, size_t size, lwm_error *err);

/** mkdir -p. Returns 0 or a negative errno with err filled. */
int lwm_mkdirs(const char *path, lwm_error *err);

/** Joins dir and name with one '/', into out (capacity cap). -ENAMETOOLONG if it does not fit. */
int lwm_path_join(char *out, size_t cap, const char *dir, const char *name);

/** snprintf that reports truncation: returns 0 or -ENAMETOOLONG. */
int lwm_format(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Peak resident set size of this process in bytes (from getrusage). */
int64_t lwm_peak_rss(void);

/**
 * 64-bit hash (XXH3) of a byte range: used for record checksums. Stable
 * across versions and machines (part of the on-disk formats).
 */
uint64_t lwm_hash64(const void *data, size_t size);

/**
 * Streaming 128-bit content hash (XXH3-128), printed as 32 hex digits: used to
 * name weights files (the "tokenizer identity" of a corpus).
 */
typedef struct lwm_hasher { void *state; } lwm_hasher;
int lwm_hasher_init(lwm_hasher *h);
void lwm_hasher_update(lwm_hasher *h, const void *data, size_t size);
/** Writes 32 lowercase hex digits and a NUL into hex[33]; releases the state. */
void lwm_hasher_final(lwm_hasher *h, char hex[33]);

/** XXH3-128 hex of a whole file's bytes (a tokenizer's identity). 0 or < 0 with err naming it. */
int lwm_file_hash(const char *path, char hex[33], lwm_error *err);

/* ------------------------------------------------------------------------ */
/* JSON helpers (cJSON)                                                     */
/* ------------------------------------------------------------------------ */

struct cJSON;

/**
 * Field readers that name the field in their error. what names the object
 * for the message ("manifest line 12", "config tiny.json").
 * Missing optional fields leave *out unchanged and return 0.
 */
int lwm_json_get_string(const struct cJSON *obj, const char *key, int required,
                        const char **out, const char *what, lwm_error *err);
int lwm_json_get_int(const struct cJSON *obj, const char *key, int required,
                     int64_t *out, const char *what, lwm_error *err);
int lwm_json_get_double(const struct cJSON *obj, const char *key, int required,
                        double *out, const char *what, lwm_error *err);

/** Parses a JSON file; *out owned by the caller (cJSON_Delete). */
int lwm_json_load_file(const char *path, struct cJSON **out, lwm_error *err);

#endif /* LWM_COMMON_H */
