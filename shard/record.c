// Record encoding: one sample ⇄ one stored value (header + zstd payload), and
// the 13-bit code packing.
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int shard_buf_reserve(const lwm_mem *mem, shard_buf *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *p = lwm_malloc(mem, cap);
    if (!p) return -ENOMEM;
    if (b->size) memcpy(p, b->data, b->size);
    lwm_free(mem, b->data);
    b->data = p;
    b->cap = cap;
    return 0;
}

void shard_buf_release(const lwm_mem *mem, shard_buf *b)
{
    lwm_free(mem, b->data);
    memset(b, 0, sizeof *b);
}

const char *lwm_shard_modality_name(int modality)
{
    static const char *names[] = {"text", "image", "video"};
    return modality >= 0 && modality < 3 ? names[modality] : "?";
}

int lwm_shard_modality_parse(const char *name)
{
    for (int m = 0; m < 3; m++)
        if (strcmp(name, lwm_shard_modality_name(m)) == 0) return m;
    return LWM_EINVAL;
}

/* ---- 13-bit packing ---- */

size_t lwm_shard_packed_size(size_t n)
{
    return (n * 13 + 7) / 8;
}

void lwm_shard_pack13(uint8_t *out, const uint16_t *codes, size_t n)
{
    uint64_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)(codes[i] & 0x1fff) << bits;
        bits += 13;
        while (bits >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
    if (bits) out[o] = (uint8_t)acc;
}

void lwm_shard_unpack13(uint16_t *out, const uint8_t *in, size_t n)
{
    // 8 codes = 104 bits = 13 bytes: two unaligned 64-bit loads cover a group,
    // so the loop has no data-dependent branches and vectorises well.
    size_t i = 0;
    for (; i + 8 <= n; i += 8, in += 13) {
        uint64_t a = lwm_le_get64(in), b = lwm_le_get64(in + 5); // b holds bits 40..103
        out[i + 0] = (uint16_t)(a & 0x1fff);
        out[i + 1] = (uint16_t)((a >> 13) & 0x1fff);
        out[i + 2] = (uint16_t)((a >> 26) & 0x1fff);
        out[i + 3] = (uint16_t)((a >> 39) & 0x1fff);
        out[i + 4] = (uint16_t)((b >> 12) & 0x1fff);
        out[i + 5] = (uint16_t)((b >> 25) & 0x1fff);
        out[i + 6] = (uint16_t)((b >> 38) & 0x1fff);
        out[i + 7] = (uint16_t)((b >> 51) & 0x1fff);
    }
    for (size_t k = 0; i < n; i++, k++) {
        size_t bit = k * 13;
        uint32_t w = (uint32_t)in[bit / 8] | (uint32_t)in[bit / 8 + 1] << 8 |
                     (uint32_t)in[bit / 8 + 2] << 16;
        out[i] = (uint16_t)((w >> (bit % 8)) & 0x1fff);
    }
}

/* ---- encoding ---- */

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

static size_t string_size(const char *s)
{
    return 4 + strlen(str_or_empty(s)) + 1;
}

static uint8_t *put_string(uint8_t *p, const char *s)
{
    s = str_or_empty(s);
    size_t n = strlen(s);
    lwm_le_put32(p, (uint32_t)n);
    memcpy(p + 4, s, n + 1);
    return p + 4 + n + 1;
}

// modality, n_texts, frames, line, duration, fps, width, height, and (layout
// 2 on; zero before) the source's size in bytes
#define FIXED_BYTES 56

static int validate(const lwm_shard_sample *s, lwm_error *err)
{
    size_t id_len = s->id ? strlen(s->id) : 0;
    LWM_CHECK(err, id_len > 0 && id_len <= LWM_SHARD_MAX_ID, LWM_EINVAL,
              "sample id must have 1..%d bytes (has %zu)", LWM_SHARD_MAX_ID, id_len);
    const char *id = s->id;
    LWM_CHECK(err, s->modality >= 0 && s->modality <= 2, LWM_EINVAL, "%s: bad modality %d", id,
              s->modality);
    LWM_CHECK(err, s->frames >= 0 && s->frames < (1 << 24), LWM_EINVAL,
              "%s: frame count %lld out of range", id, (long long)s->frames);
    LWM_CHECK(err, s->frames == 0 || s->codes, LWM_EINVAL, "%s: %lld frames but no codes", id,
              (long long)s->frames);
    LWM_CHECK(err, s->n_texts >= 0 && (s->n_texts == 0 || s->texts), LWM_EINVAL,
              "%s: bad text field list", id);
    LWM_CHECK(err, s->source_bytes >= 0 && strlen(str_or_empty(s->source_xxh3)) <= 32, LWM_EINVAL,
              "%s: bad source size or hash", id);
    size_t n = (size_t)s->frames * LWM_SHARD_CODES_PER_FRAME;
    for (size_t i = 0; i < n; i++)
        LWM_CHECK(err, s->codes[i] < LWM_SHARD_CODEBOOK_SIZE, LWM_EINVAL,
                  "%s: frame %zu: code %u at position %zu is not a VQ code (must be < %d)", id,
                  i / LWM_SHARD_CODES_PER_FRAME, s->codes[i], i % LWM_SHARD_CODES_PER_FRAME,
                  LWM_SHARD_CODEBOOK_SIZE);
    for (int t = 0; t < s->n_texts; t++) {
        LWM_CHECK(err, s->texts[t].name && s->texts[t].name[0], LWM_EINVAL,
                  "%s: text field %d has no name", id, t);
        LWM_CHECK(err, s->texts[t].n_tokens >= 0 && (!s->texts[t].n_tokens || s->texts[t].tokens),
                  LWM_EINVAL, "%s: text field \"%s\": bad token list", id, s->texts[t].name);
    }
    return 0;
}

static size_t raw_size_of(const lwm_shard_sample *s)
{
    size_t n = FIXED_BYTES + string_size(s->id) + string_size(s->source) + string_size(s->fields) +
               string_size(s->vision_name) + string_size(s->codec) + string_size(s->source_xxh3);
    for (int t = 0; t < s->n_texts; t++) {
        n += string_size(s->texts[t].name) + string_size(s->texts[t].text) + 4;
        n = align_up(n, 4) + 4 * (size_t)s->texts[t].n_tokens;
    }
    n = align_up(n, 8) + 8 * (size_t)s->frames;
    return n + (size_t)s->frames * SHARD_PACKED_FRAME;
}

static void write_raw(uint8_t *base, const lwm_shard_sample *s)
{
    uint8_t *p = base;
    memset(p, 0, FIXED_BYTES);
    p[0] = (uint8_t)s->modality;
    lwm_le_put32(p + 4, (uint32_t)s->n_texts);
    lwm_le_put64(p + 8, (uint64_t)s->frames);
    lwm_le_put64(p + 16, (uint64_t)s->manifest_line);
    memcpy(p + 24, &s->duration, 8);
    memcpy(p + 32, &s->fps, 8);
    lwm_le_put32(p + 40, (uint32_t)s->width);
    lwm_le_put32(p + 44, (uint32_t)s->height);
    lwm_le_put64(p + 48, (uint64_t)s->source_bytes);
    p += FIXED_BYTES;
    p = put_string(p, s->id);
    p = put_string(p, s->source);
    p = put_string(p, s->fields);
    p = put_string(p, s->vision_name);
    p = put_string(p, s->codec);
    p = put_string(p, s->source_xxh3); // layout 2 on
    for (int t = 0; t < s->n_texts; t++) {
        p = put_string(p, s->texts[t].name);
        p = put_string(p, s->texts[t].text);
        lwm_le_put32(p, (uint32_t)s->texts[t].n_tokens);
        p += 4;
        while ((size_t)(p - base) % 4) *p++ = 0;
        if (s->texts[t].n_tokens) memcpy(p, s->texts[t].tokens, 4 * (size_t)s->texts[t].n_tokens);
        p += 4 * (size_t)s->texts[t].n_tokens;
    }
    while ((size_t)(p - base) % 8) *p++ = 0;
    for (int64_t f = 0; f < s->frames; f++) {
        double ts = s->timestamps ? s->timestamps[f] : 0.0;
        memcpy(p, &ts, 8);
        p += 8;
    }
    if (s->frames) lwm_shard_pack13(p, s->codes, (size_t)s->frames * LWM_SHARD_CODES_PER_FRAME);
}

// zstd into out at *pos; returns the stored size, or 0 when zstd would not
// save at least min_saving of n (then the caller stores the bytes as they are).
static size_t try_zstd(ZSTD_CCtx *cctx, int level, uint8_t *out, size_t cap, const uint8_t *in,
                       size_t n, double min_saving)
{
    if (n == 0) return 0;
    size_t z = ZSTD_compressCCtx(cctx, out, cap, in, n, level);
    if (ZSTD_isError(z) || (double)z > (1.0 - min_saving) * (double)n) return 0;
    return z;
}

int shard_record_encode(ZSTD_CCtx *cctx, const shard_encode_options *opt, const lwm_mem *mem,
                        shard_buf *raw, shard_buf *out, const lwm_shard_sample *s, lwm_error *err)
{
    LWM_TRY(validate(s, err));
    size_t n = raw_size_of(s);
    LWM_CHECK(err, n < UINT32_MAX / 2, LWM_EINVAL, "%s: record too large (%zu bytes)", s->id, n);
    if (shard_buf_reserve(mem, raw, n) < 0) return lwm_error_set(err, -ENOMEM, "out of memory");
    write_raw(raw->data, s);
    raw->size = n;
    size_t codes_n = (size_t)s->frames * SHARD_PACKED_FRAME, head_n = n - codes_n;
    size_t cap = SHARD_RECORD_HEADER + 8 + ZSTD_compressBound(head_n) + ZSTD_compressBound(codes_n);
    if (shard_buf_reserve(mem, out, cap) < 0) return lwm_error_set(err, -ENOMEM, "out of memory");
    uint8_t *p = out->data + SHARD_RECORD_HEADER + 8, *end = out->data + cap;
    uint16_t flags = 0;
    // Text and metadata compress well; 13-bit codes rarely do, and zstd's
    // entropy decoder would then dominate read time (see bench/RESULTS.md).
    size_t head_z = try_zstd(cctx, opt->level, p, (size_t)(end - p), raw->data, head_n, 0.0);
    if (head_z)
        flags |= SHARD_FLAG_ZSTD;
    else
        memcpy(p, raw->data, head_z = head_n);
    p += head_z;
    size_t codes_z = try_zstd(cctx, opt->level, p, (size_t)(end - p), raw->data + head_n, codes_n,
                              opt->codes_min_saving);
    if (codes_z)
        flags |= SHARD_FLAG_CODES_ZSTD;
    else
        memcpy(p, raw->data + head_n, codes_z = codes_n);
    p += codes_z;
    uint8_t *h = out->data;
    lwm_le_put32(h, SHARD_RECORD_MAGIC);
    uint16_t version = SHARD_RECORD_VERSION;
    memcpy(h + 4, &version, 2);
    memcpy(h + 6, &flags, 2);
    lwm_le_put32(h + 8, (uint32_t)n);
    lwm_le_put32(h + 12, (uint32_t)(p - h - SHARD_RECORD_HEADER));
    lwm_le_put64(h + 16, lwm_hash64(raw->data, n));
    lwm_le_put32(h + 24, (uint32_t)head_n);
    lwm_le_put32(h + 28, (uint32_t)head_z);
    out->size = (size_t)(p - h);
    return 0;
}

/* ---- decoding ---- */

void shard_decoder_release(const lwm_mem *mem, shard_decoder *d)
{
    ZSTD_freeDCtx(d->dctx);
    shard_buf_release(mem, &d->raw);
    shard_buf_release(mem, &d->codes);
    shard_buf_release(mem, &d->texts);
    memset(d, 0, sizeof *d);
}

typedef struct cursor {
    const uint8_t *base, *p, *end;
} cursor;

static int take_string(cursor *c, const char **out)
{
    if (c->end - c->p < 5) return -1;
    uint32_t n = lwm_le_get32(c->p);
    if ((size_t)(c->end - c->p - 4) < (size_t)n + 1 || c->p[4 + n] != 0) return -1;
    *out = (const char *)c->p + 4;
    c->p += 4 + (size_t)n + 1;
    return 0;
}

static int take_align(cursor *c, size_t a)
{
    size_t off = align_up((size_t)(c->p - c->base), a);
    if (off > (size_t)(c->end - c->base)) return -1;
    c->p = c->base + off;
    return 0;
}

static int parse_texts(shard_decoder *d, const lwm_mem *mem, cursor *c, uint32_t n_texts)
{
    if (n_texts > (uint32_t)(c->end - c->p)) return -1;
    if (shard_buf_reserve(mem, &d->texts, (size_t)n_texts * sizeof(lwm_shard_text) + 1) < 0)
        return -ENOMEM;
    lwm_shard_text *texts = (lwm_shard_text *)d->texts.data;
    for (uint32_t t = 0; t < n_texts; t++) {
        if (take_string(c, &texts[t].name) || take_string(c, &texts[t].text) || c->end - c->p < 4)
            return -1;
        uint32_t nt = lwm_le_get32(c->p);
        c->p += 4;
        if (take_align(c, 4) || (size_t)(c->end - c->p) / 4 < nt) return -1;
        texts[t].tokens = nt ? (const int32_t *)(const void *)c->p : NULL;
        texts[t].n_tokens = nt;
        c->p += 4 * (size_t)nt;
    }
    d->sample.texts = texts;
    d->sample.n_texts = (int)n_texts;
    return 0;
}

static int parse_raw(shard_decoder *d, const lwm_mem *mem, size_t n, unsigned version,
                     lwm_error *err)
{
    cursor c = {d->raw.data, d->raw.data + FIXED_BYTES, d->raw.data + n};
    lwm_shard_sample *s = &d->sample;
    memset(s, 0, sizeof *s);
    LWM_CHECK(err, n >= FIXED_BYTES, LWM_EFORMAT, "record shorter than its fixed part");
    const uint8_t *p = d->raw.data;
    s->modality = p[0];
    uint32_t n_texts = lwm_le_get32(p + 4);
    s->frames = (int64_t)lwm_le_get64(p + 8);
    s->manifest_line = (int64_t)lwm_le_get64(p + 16);
    memcpy(&s->duration, p + 24, 8);
    memcpy(&s->fps, p + 32, 8);
    s->width = (int)lwm_le_get32(p + 40);
    s->height = (int)lwm_le_get32(p + 44);
    LWM_CHECK(err, s->modality <= 2 && s->frames >= 0 && s->frames < (1 << 24), LWM_EFORMAT,
              "record has a bad modality or frame count");
    s->source_xxh3 = "";
    if (version >= 2) s->source_bytes = (int64_t)lwm_le_get64(p + 48);
    if (take_string(&c, &s->id) || take_string(&c, &s->source) || take_string(&c, &s->fields) ||
        take_string(&c, &s->vision_name) || take_string(&c, &s->codec) ||
        (version >= 2 && take_string(&c, &s->source_xxh3)))
        return lwm_error_set(err, LWM_EFORMAT, "record strings are truncated");
    LWM_CHECK(err, s->source_bytes >= 0, LWM_EFORMAT, "record %s: bad source size", s->id);
    int rc = parse_texts(d, mem, &c, n_texts);
    if (rc == -ENOMEM) return lwm_error_set(err, rc, "out of memory");
    LWM_CHECK(err, rc == 0, LWM_EFORMAT, "record %s: text fields are truncated", s->id);
    size_t frames = (size_t)s->frames, ncodes = frames * LWM_SHARD_CODES_PER_FRAME;
    LWM_CHECK(
        err, take_align(&c, 8) == 0 && (size_t)(c.end - c.p) == frames * (8 + SHARD_PACKED_FRAME),
        LWM_EFORMAT, "record %s: frame data has the wrong size for %zu frames", s->id, frames);
    s->timestamps = frames ? (const double *)(const void *)c.p : NULL;
    c.p += 8 * frames;
    if (shard_buf_reserve(mem, &d->codes, 2 * ncodes + 2) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    lwm_shard_unpack13((uint16_t *)(void *)d->codes.data, c.p, ncodes);
    s->codes = frames ? (const uint16_t *)(const void *)d->codes.data : NULL;
    return 0;
}

// Restores n bytes at dst from a block stored compressed (zstd) or as is.
static int restore(shard_decoder *d, uint8_t *dst, size_t n, const uint8_t *src, size_t stored,
                   int zstd, const char *what, lwm_error *err)
{
    if (!zstd) {
        LWM_CHECK(err, stored == n, LWM_EFORMAT, "%s: stored size %zu, expected %zu", what, stored,
                  n);
        memcpy(dst, src, n);
        return 0;
    }
    if (!d->dctx && !(d->dctx = ZSTD_createDCtx()))
        return lwm_error_set(err, -ENOMEM, "out of memory");
    size_t got = ZSTD_decompressDCtx(d->dctx, dst, n, src, stored);
    LWM_CHECK(err, !ZSTD_isError(got), LWM_ECHECKSUM, "%s do not decompress: %s", what,
              ZSTD_getErrorName(got));
    LWM_CHECK(err, got == n, LWM_ECHECKSUM, "%s decompress to %zu bytes, not %zu", what, got, n);
    return 0;
}

// Whether z stored bytes can restore n raw bytes: the same count when stored plain; with zstd at
// most one 128 KiB RLE block per 4 stored bytes (its best ratio). A record's header cannot then
// make the reader allocate gigabytes for a few bytes of input.
static int can_hold(size_t n, size_t z, unsigned zstd)
{
    return zstd ? n <= (z / 4 + 1) * ((size_t)128 << 10) : n == z;
}

int shard_record_decode(shard_decoder *d, const lwm_mem *mem, const uint8_t *value, size_t size,
                        lwm_error *err)
{
    LWM_CHECK(err, size >= SHARD_RECORD_HEADER + 8 && lwm_le_get32(value) == SHARD_RECORD_MAGIC,
              LWM_EFORMAT, "not a record (bad magic or %zu bytes)", size);
    uint16_t version, flags;
    memcpy(&version, value + 4, 2);
    memcpy(&flags, value + 6, 2);
    LWM_CHECK(err, version <= SHARD_RECORD_VERSION, LWM_EVERSION,
              "record layout version %u is newer than this build reads (%d)", version,
              SHARD_RECORD_VERSION);
    size_t raw_n = lwm_le_get32(value + 8), stored_n = lwm_le_get32(value + 12);
    size_t head_n = lwm_le_get32(value + 24), head_z = lwm_le_get32(value + 28);
    LWM_CHECK(err,
              stored_n == size - SHARD_RECORD_HEADER && head_n <= raw_n && head_z + 8 <= stored_n,
              LWM_EFORMAT, "record sizes are inconsistent (payload %zu bytes, header says %zu)",
              size - SHARD_RECORD_HEADER, stored_n);
    LWM_CHECK(err,
              can_hold(head_n, head_z, flags & SHARD_FLAG_ZSTD) &&
                  can_hold(raw_n - head_n, stored_n - 8 - head_z, flags & SHARD_FLAG_CODES_ZSTD),
              LWM_EFORMAT, "record sizes are inconsistent (%zu raw bytes from %zu stored)", raw_n,
              stored_n);
    // The padding lets the unpack loop read 8 bytes past the last packed code.
    if (shard_buf_reserve(mem, &d->raw, raw_n + SHARD_UNPACK_PAD) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    const uint8_t *head = value + SHARD_RECORD_HEADER + 8, *codes = head + head_z;
    LWM_TRY(restore(d, d->raw.data, head_n, head, head_z, flags & SHARD_FLAG_ZSTD,
                    "text and metadata", err));
    LWM_TRY(restore(d, d->raw.data + head_n, raw_n - head_n, codes, stored_n - 8 - head_z,
                    flags & SHARD_FLAG_CODES_ZSTD, "codes", err));
    memset(d->raw.data + raw_n, 0, SHARD_UNPACK_PAD);
    d->raw.size = raw_n;
    uint64_t want = lwm_le_get64(value + 16), got = lwm_hash64(d->raw.data, raw_n);
    LWM_CHECK(err, want == got, LWM_ECHECKSUM,
              "checksum mismatch (stored %016llx, computed %016llx)", (unsigned long long)want,
              (unsigned long long)got);
    return parse_raw(d, mem, raw_n, version, err);
}
