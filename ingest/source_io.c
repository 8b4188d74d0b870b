// The bytes of a source file, read for libavformat through our own AVIOContext
// so that the file's XXH3-128 is computed from the reads the demuxer makes
// anyway, with no second pass. The hash must run over the file in order, so
// it trails the demuxer: bytes it skipped (a seek forward: MP4's index at the
// end, a keyframe jump) are read and hashed when the reads move past them,
// bytes it reads again (a seek back) are not hashed twice, and what it never
// read is hashed when the source finishes.
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avio.h>
#include <libavutil/mem.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define IO_BUFFER (64 << 10) // libavformat's reads come through this

struct source_io {
    int fd;
    int64_t size;   // file size at open
    int64_t pos;    // where the demuxer reads next
    int64_t hashed; // bytes [0, hashed) are in the hash
    lwm_hasher hash;
    AVIOContext *avio;
    const lwm_mem *mem;
    uint8_t scratch[IO_BUFFER]; // catch-up reads of skipped bytes
};

// Feeds [from, to) by reading the file; 0, or a negative errno.
static int hash_gap(source_io *io, int64_t to)
{
    while (io->hashed < to) {
        size_t want = (size_t)(to - io->hashed < IO_BUFFER ? to - io->hashed : IO_BUFFER);
        ssize_t n = pread(io->fd, io->scratch, want, io->hashed);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EIO; // the file shrank
        lwm_hasher_update(&io->hash, io->scratch, (size_t)n);
        io->hashed += n;
    }
    return 0;
}

// The demuxer read n bytes at offset off into data: hash what is new.
static void hash_read(source_io *io, int64_t off, const uint8_t *data, int64_t n)
{
    if (off > io->hashed && hash_gap(io, off) < 0) return; // a short file: hashed at finish
    if (off + n <= io->hashed || off > io->hashed) return;
    lwm_hasher_update(&io->hash, data + (io->hashed - off), (size_t)(off + n - io->hashed));
    io->hashed = off + n;
}

static int read_packet(void *opaque, uint8_t *buf, int size)
{
    source_io *io = opaque;
    ssize_t n;
    do n = pread(io->fd, buf, (size_t)size, io->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0) return AVERROR(errno);
    if (n == 0) return AVERROR_EOF;
    hash_read(io, io->pos, buf, n);
    io->pos += n;
    return (int)n;
}

static int64_t seek(void *opaque, int64_t offset, int whence)
{
    source_io *io = opaque;
    int64_t to;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return io->size;
    case SEEK_SET: to = offset; break;
    case SEEK_CUR: to = io->pos + offset; break;
    case SEEK_END: to = io->size + offset; break;
    default: return AVERROR(EINVAL);
    }
    if (to < 0) return AVERROR(EINVAL);
    io->pos = to;
    return to;
}

int source_io_open(source_io **out, const char *path, const lwm_mem *mem)
{
    *out = NULL;
    source_io *io = lwm_calloc(mem, 1, sizeof *io);
    if (!io) return -ENOMEM;
    io->mem = mem;
    io->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = io->fd < 0 || fstat(io->fd, &st) != 0 ? -errno : 0;
    if (rc == 0) {
        io->size = st.st_size;
        uint8_t *buf = av_malloc(IO_BUFFER);
        io->avio = buf ? avio_alloc_context(buf, IO_BUFFER, 0, io, read_packet, NULL, seek) : NULL;
        if (!io->avio) av_free(buf);
        if (!io->avio || lwm_hasher_init(&io->hash) < 0) rc = -ENOMEM;
    }
    if (rc < 0) {
        source_io_close(&io);
        return rc;
    }
    *out = io;
    return 0;
}

AVIOContext *source_io_avio(source_io *io)
{
    return io->avio;
}

int source_io_rewind(source_io *io)
{
    io->pos = 0;
    return avio_seek(io->avio, 0, SEEK_SET) < 0 ? -EIO : 0;
}

int source_io_finish(source_io *io, int64_t *bytes, char hex[33])
{
    int rc = io->hash.state ? hash_gap(io, io->size) : -EINVAL;
    if (rc < 0) return rc;
    *bytes = io->size;
    lwm_hasher_final(&io->hash, hex);
    return 0;
}

void source_io_close(source_io **pio)
{
    source_io *io = *pio;
    if (!io) return;
    if (io->avio) av_freep(&io->avio->buffer);
    avio_context_free(&io->avio);
    if (io->hash.state) {
        char unused[33];
        lwm_hasher_final(&io->hash, unused); // frees the state
    }
    if (io->fd >= 0) close(io->fd);
    lwm_free(io->mem, io);
    *pio = NULL;
}
