// shard/internal.h: declarations shared by the files of the shard stage.
//
// On-disk pieces (all integers little-endian):
//
//   record value  = header (24 bytes) + payload
//     u32 magic "LWMr" | u16 layout version | u16 flags | u32 raw size
//     u32 payload size | u64 XXH3-64 of the raw (uncompressed) record
//   payload       = u32 head raw size | u32 head stored size | head | codes
//     head: the raw record up to the packed codes (zstd when flags bit 0)
//     codes: the packed codes (zstd when flags bit 1: only if that saves enough)
//   raw record    = fixed part, then strings (u32 length, bytes, NUL), token ids
//                   (4-byte aligned), timestamps (8-byte aligned), packed codes
//   LMDB key      = be64(dense index) + u8 part: a value is split into one head
//                   of whole overflow pages and small tail parts kept inside leaf
//                   pages, so no record wastes most of a page (see shard_put_value)
//   shard meta    = key "shard" in the meta database (shard_meta below)
#ifndef LWM_SHARD_INTERNAL_H
#define LWM_SHARD_INTERNAL_H

#include <lmdb.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>

#include "shard.h"

#define SHARD_RECORD_MAGIC 0x724d574cu /* bytes "LWMr" */
#define SHARD_RECORD_VERSION 2         /* 2: source size and XXH3-128 */
#define SHARD_RECORD_HEADER 24
#define SHARD_FLAG_ZSTD 1u           /* head is zstd */
#define SHARD_FLAG_CODES_ZSTD 2u     /* codes are zstd */
#define SHARD_META_MAGIC 0x534d574cu /* bytes "LWMS" */
#define SHARD_META_VERSION 1
#define SHARD_META_BYTES 128
#define SHARD_MANIFEST_MAGIC "lwm-dataset"
#define SHARD_KEY_BYTES 9
#define SHARD_TAIL_PART 1000   /* largest value part stored inside a leaf page */
#define SHARD_PACKED_FRAME 416 /* 256 codes × 13 bits / 8 */
#define SHARD_UNPACK_PAD 8

/* ---- growable byte buffer ---- */
typedef struct shard_buf {
    uint8_t *data;
    size_t size, cap;
} shard_buf;
int shard_buf_reserve(const lwm_mem *mem, shard_buf *b, size_t need);
void shard_buf_release(const lwm_mem *mem, shard_buf *b);

/* ---- records (record.c) ---- */

typedef struct shard_encode_options {
    int level;               /* zstd level */
    double codes_min_saving; /* compress codes only when that saves this fraction */
} shard_encode_options;

/** Validates s and encodes it into out (header + payload). raw is scratch. */
int shard_record_encode(ZSTD_CCtx *cctx, const shard_encode_options *opt, const lwm_mem *mem,
                        shard_buf *raw, shard_buf *out, const lwm_shard_sample *s, lwm_error *err);

/** Decoded record buffers; the sample's pointers point into them. */
typedef struct shard_decoder {
    ZSTD_DCtx *dctx;
    shard_buf raw, codes, texts;
    lwm_shard_sample sample;
} shard_decoder;
void shard_decoder_release(const lwm_mem *mem, shard_decoder *d);
/** Checks and decodes one stored value. Errors say what is wrong (caller names the record). */
int shard_record_decode(shard_decoder *d, const lwm_mem *mem, const uint8_t *value, size_t size,
                        lwm_error *err);

/* ---- shard environments (env.c) ---- */

/** Per-shard counters stored in its meta database and in the manifest. */
typedef struct shard_meta {
    int64_t number;      /* shard number: file shard-<number> */
    char dataset_id[33]; /* the dataset this shard belongs to */
    int64_t first_index, records, failed, frames, vision_tokens, stored_bytes, raw_bytes;
} shard_meta;

enum shard_open_mode {
    SHARD_READ_SEALED, /* immutable file: no lock file, no reader slots */
    SHARD_READ_OPEN,   /* the shard a writer appends to: shared lock table */
    SHARD_WRITE,       /* the writer */
};

typedef struct shard_env {
    MDB_env *env;
    MDB_dbi records, ids, failed, meta;
    unsigned page_size;
    int mode;
    char path[4096];
    const char *name; /* file name part of path */
} shard_env;

int shard_env_open(shard_env *e, const char *dir, const char *file, int mode, size_t map_bytes,
                   lwm_error *err);
void shard_env_close(shard_env *e);
/** Translates an LMDB/errno code into ours with "what: lmdb's text" as the message. */
int shard_mdb_error(lwm_error *err, int rc, const char *what);

int shard_meta_get(MDB_txn *txn, const shard_env *e, shard_meta *m, lwm_error *err);
int shard_meta_put(MDB_txn *txn, const shard_env *e, const shard_meta *m, lwm_error *err);

/** Stores value of record index as parts (head of whole pages + leaf-sized tails). */
int shard_put_value(MDB_txn *txn, const shard_env *e, int64_t index, const uint8_t *value,
                    size_t size);
/** Gathers the parts of record index into out. MDB_NOTFOUND when absent. */
int shard_get_value(MDB_txn *txn, const shard_env *e, int64_t index, const lwm_mem *mem,
                    shard_buf *out);
void shard_key(uint8_t key[SHARD_KEY_BYTES], int64_t index, unsigned part);

/** Shard file names: "shard-00003.mdb" (sealed) / "shard-00003.open.mdb". */
int shard_file_name(char *out, size_t cap, int64_t number, int open);

/** fsyncs a directory so renames in it are durable. */
int shard_sync_dir(const char *dir, lwm_error *err);

/* ---- manifest (manifest.c) ---- */
typedef struct shard_manifest {
    int schema;
    char dataset_id[33];
    char vqgan_hash[33], vqgan_preset[64], tokenizer_hash[33], tokenizer_name[128];
    int vqgan_untrained;
    char *settings_json; /* owned; "" never NULL after load/init */
    lwm_shard_origin origin;
    char *parts_json;       /* owned; "" (not merged) never NULL after load/init */
    lwm_shard_file *shards; /* sealed shards in order */
    int n_shards, cap_shards;
} shard_manifest;

int shard_manifest_init(shard_manifest *m, const lwm_mem *mem);
/** -ENOENT (no message) when DIR/manifest.json does not exist. */
int shard_manifest_load(shard_manifest *m, const lwm_mem *mem, const char *dir, lwm_error *err);
int shard_manifest_save(const shard_manifest *m, const char *dir, lwm_error *err);
int shard_manifest_add(shard_manifest *m, const lwm_mem *mem, const lwm_shard_file *f);
int shard_manifest_set_info(shard_manifest *m, const lwm_mem *mem, const lwm_shard_info *info);
void shard_manifest_info(const shard_manifest *m, lwm_shard_info *out);
void shard_manifest_release(shard_manifest *m, const lwm_mem *mem);
/** The dataset id that wrote shard f (its own, or the manifest's). */
static inline const char *shard_file_owner(const shard_manifest *m, const lwm_shard_file *f)
{
    return f->dataset_id[0] ? f->dataset_id : m->dataset_id;
}

/* ---- writer (writer.c: open, batches; seal.c: commit, seal, close) ---- */
typedef struct batch_item {
    char *id;
    uint8_t *value; /* encoded record; NULL for a failure */
    size_t size;
    int64_t frames, raw_bytes;
    char *reason; /* non-NULL: a failed sample */
    int64_t line;
} batch_item;

struct lwm_shard_writer {
    lwm_shard_writer_options opt;
    const lwm_mem *mem; /* &opt.mem */
    lwm_error err;
    char dir[4096];
    int lock_fd;
    shard_manifest man;
    int man_loaded;
    shard_env *sealed; /* read-only handles of sealed shards, for lwm_shard_writer_has */
    int n_sealed, cap_sealed;
    shard_env open; /* the shard being appended */
    int have_open;
    shard_meta open_meta;
    ZSTD_CCtx *cctx;
    shard_buf raw, enc;
    batch_item *items;
    int n_items, cap_items;
    int64_t batch_records, committed;
};

/** Seals the open shard when it is past shard_bytes. */
int writer_maybe_seal(lwm_shard_writer *w);

/* ---- reader internals shared with inspect.c ---- */
int shard_reader_env(lwm_shard_reader *r, int file, shard_env **env);
const char *shard_reader_dir(const lwm_shard_reader *r);
/** Sizes of the record the view read last: as stored (compressed) and raw. */
void shard_view_sizes(const lwm_shard_view *v, int64_t *stored, int64_t *raw);
/** 1 when r hashed every sealed shard at open (check_files): no need to again. */
int shard_reader_hashed_at_open(const lwm_shard_reader *r);
/** Index of the shard file holding record index. */
int shard_reader_file_of(const lwm_shard_reader *r, int64_t index);
/** The key record index has inside shard file `file` (see lwm_shard_file.key_base). */
int64_t shard_reader_key_of(const lwm_shard_reader *r, int file, int64_t index);

/** 1 when name is the temporary file of a manifest save that was killed before its rename. */
int shard_is_manifest_tmp(const char *name);

/* ---- verified.c ---- */
/**
 * Checks sealed shard f of DIR before LMDB may open it: a regular file of the
 * recorded size whose XXH3-128 equals the manifest's (LWM_ECHECKSUM naming the
 * file if not). A file hashed right before, unchanged since, is not read again
 * unless rehash is set (see verified.c for the cache).
 */
int shard_check_sealed_file(const char *dir, const lwm_shard_file *f, int rehash, lwm_error *err);
/** Remembers that the file at path hashes to checksum (the writer just computed it). */
void shard_verified_remember(const char *path, const char *checksum);

/* ---- merge.c / writer.c ---- */
/** Takes DIR/writer.lock (flock, not waiting); *fd is the open lock file. */
int shard_lock_dir(const char *dir, int *fd, lwm_error *err);

#endif /* LWM_SHARD_INTERNAL_H */
