/* codec.c — compression codecs of text input and output: which codec a file name
 * asks for, what a file's first bytes look like, streaming decoders (read by the
 * line reader in textsplit.c) and streaming encoders (saveAsTextFile's
 * compressionCodecClass).
 *
 * Design
 *  - Codecs are Hadoop's, by file extension: ".gz" gzip, ".deflate" a zlib stream
 *    (Hadoop's DefaultCodec), ".bz2" bzip2, ".xz" xz, ".zst" zstd. gzip and deflate
 *    come with zlib (always present); the others are optional at build time
 *    (EMBER_HAVE_BZIP2, EMBER_HAVE_LZMA, EMBER_HAVE_ZSTD, set by meson when it finds the
 *    library). A codec built without its library fails when a file needs it, with an
 *    error naming the library to install. Hadoop's ".lz4" and ".snappy" files (its own
 *    block framing) are known by name only: reading one fails saying so.
 *  - Every stream may be several concatenated streams (gzip members, bzip2 streams
 *    written by pbzip2, xz streams, zstd frames), as the command-line tools read them.
 *  - A decoder owns an input buffer of compressed bytes read from its fd with read(2)
 *    and remembers the file offset of its first byte, so errors name the compressed
 *    byte offset where decoding stopped. End of file inside a stream is "truncated",
 *    never a silent end.
 *  - All memory, the libraries' included, comes from ember_malloc and friends.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef EMBER_HAVE_BZIP2
#include <bzlib.h>
#endif
#ifdef EMBER_HAVE_LZMA
#include <lzma.h>
#endif
#ifdef EMBER_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: the library allocates through ember_malloc */
#include <zstd.h>
#endif

#define IN_BUF_SIZE ((size_t)128 << 10)
#define OUT_BUF_SIZE ((size_t)128 << 10)

/* ---- names and magic bytes ------------------------------------------------------ */

static const struct {
    const char *ext, *name, *library;
    int available;
} codecs[] = {
    [EMBER_CODEC_NONE] = {"", "plain text", "", 1},
    [EMBER_CODEC_GZIP] = {".gz", "gzip", "zlib", 1},
    [EMBER_CODEC_DEFLATE] = {".deflate", "deflate (zlib)", "zlib", 1},
#ifdef EMBER_HAVE_BZIP2
    [EMBER_CODEC_BZIP2] = {".bz2", "bzip2", "libbz2 (Debian: libbz2-dev)", 1},
#else
    [EMBER_CODEC_BZIP2] = {".bz2", "bzip2", "libbz2 (Debian: libbz2-dev)", 0},
#endif
#ifdef EMBER_HAVE_LZMA
    [EMBER_CODEC_XZ] = {".xz", "xz", "liblzma (Debian: liblzma-dev)", 1},
#else
    [EMBER_CODEC_XZ] = {".xz", "xz", "liblzma (Debian: liblzma-dev)", 0},
#endif
#ifdef EMBER_HAVE_ZSTD
    [EMBER_CODEC_ZSTD] = {".zst", "zstd", "libzstd (Debian: libzstd-dev)", 1},
#else
    [EMBER_CODEC_ZSTD] = {".zst", "zstd", "libzstd (Debian: libzstd-dev)", 0},
#endif
    [EMBER_CODEC_LZ4] = {".lz4", "Hadoop lz4", NULL, 0},
    [EMBER_CODEC_SNAPPY] = {".snappy", "Hadoop snappy", NULL, 0},
};
#define NCODECS ((int)(sizeof codecs / sizeof codecs[0]))

int ember_codec_of_name(const char *path) {
    size_t n = path ? strlen(path) : 0;
    for (int c = 1; c < NCODECS; c++) {
        size_t e = strlen(codecs[c].ext);
        if (n > e && strcmp(path + n - e, codecs[c].ext) == 0) return c;
    }
    return EMBER_CODEC_NONE;
}

const char *ember_codec_name(int codec) { return codec >= 0 && codec < NCODECS ? codecs[codec].name : "unknown codec"; }

const char *ember_codec_extension(int codec) { return codec >= 0 && codec < NCODECS ? codecs[codec].ext : ""; }

int ember_codec_available(int codec) { return codec >= 0 && codec < NCODECS && codecs[codec].available; }

static int unavailable(int codec, const char *path) {
    if (!codecs[codec].library)
        return emberE_set(EMBER_EINVAL,
                          "cannot read or write %s: ember has no %s codec; decompress the file "
                          "first (or write it with another codec)",
                          path, codecs[codec].name);
    return emberE_set(EMBER_EINVAL,
                      "cannot read or write %s: it is %s-compressed and this ember was built without %s; "
                      "install it and rebuild ember",
                      path, codecs[codec].name, codecs[codec].library);
}

/* The codec whose magic bytes head[0, n) starts with, or -1. */
static int codec_of_magic(const uint8_t *h, size_t n) {
    if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b) return EMBER_CODEC_GZIP;
    if (n >= 4 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' && h[3] >= '1' && h[3] <= '9') return EMBER_CODEC_BZIP2;
    if (n >= 6 && memcmp(h,
                         "\xfd"
                         "7zXZ\0",
                         6) == 0)
        return EMBER_CODEC_XZ;
    if (n >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd) return EMBER_CODEC_ZSTD;
    /* zlib: deflate method, a window of at most 32 KiB, header check multiple of 31 */
    if (n >= 2 && (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0) return EMBER_CODEC_DEFLATE;
    return -1;
}

int emberC_check_magic(int codec, const char *path, const uint8_t *head, size_t n) {
    if (codec == EMBER_CODEC_NONE || n == 0) return 0; /* an empty file holds no lines */
    if (codec_of_magic(head, n) == codec) return 0;
    char what[96];
    emberC_describe(head, n, what, sizeof what);
    return emberE_set(EMBER_ECORRUPT,
                      "input file %s is named %s but is not %s data: it looks like %s; "
                      "rename it to what it holds",
                      path, codecs[codec].ext, codecs[codec].name, what);
}

void emberC_describe(const uint8_t *h, size_t n, char *out, size_t cap) {
    int c = codec_of_magic(h, n);
    if (c > 0) {
        snprintf(out, cap, "%s data", codecs[c].name);
        return;
    }
    if (n >= 4 && memcmp(h, "PK\3\4", 4) == 0) {
        snprintf(out, cap, "a zip archive");
        return;
    }
    if (n >= 3 && memcmp(h, "SEQ", 3) == 0) {
        snprintf(out, cap, "a Hadoop SequenceFile");
        return;
    }
    size_t text = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i] >= 0x20 || h[i] == '\n' || h[i] == '\r' || h[i] == '\t') text++;
    if (text == n) {
        snprintf(out, cap, "plain text");
        return;
    }
    size_t k = n < 8 ? n : 8, w = (size_t)snprintf(out, cap, "binary data starting");
    for (size_t i = 0; i < k && w + 4 < cap; i++)
        w += (size_t)snprintf(out + w, cap - w, " %02x", h[i]);
}

/* ---- allocators handed to the libraries ------------------------------------------ */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return ember_calloc(items, size);
}
static void z_free(voidpf opaque, voidpf p) {
    (void)opaque;
    ember_free(p);
}
#ifdef EMBER_HAVE_BZIP2
/* Not zeroed: libbz2 writes what it reads, and a split's decoder allocates a level-9
 * block's 3.6 MB for every block it reads (of which a smaller block touches little). */
static void *bz_alloc(void *opaque, int items, int size) {
    (void)opaque;
    if (items < 0 || size < 0 || (size && (size_t)items > SIZE_MAX / (size_t)size)) return NULL;
    return ember_malloc((size_t)items * (size_t)size);
}
static void bz_free(void *opaque, void *p) {
    (void)opaque;
    ember_free(p);
}
#endif
#ifdef EMBER_HAVE_LZMA
static void *xz_alloc(void *opaque, size_t items, size_t size) {
    (void)opaque;
    return ember_calloc(items ? items : 1, size ? size : 1);
}
static void xz_free(void *opaque, void *p) {
    (void)opaque;
    ember_free(p);
}
static const lzma_allocator xz_allocator = {xz_alloc, xz_free, NULL};
#endif
#ifdef EMBER_HAVE_ZSTD
static void *zs_alloc(void *opaque, size_t size) {
    (void)opaque;
    return ember_malloc(size);
}
static void zs_free(void *opaque, void *p) {
    (void)opaque;
    ember_free(p);
}
static const ZSTD_customMem zs_mem = {zs_alloc, zs_free, NULL};
#endif

/* ---- decoders ---------------------------------------------------------------------- */

struct emberC_decoder {
    int codec;
    int fd; /* borrowed */
    char *path;
    uint8_t *in;
    size_t in_pos, in_len;
    int64_t in_off; /* file offset of in[0] */
    int in_eof;
    int in_stream; /* inside a stream: its end has not been seen */
    int ended;     /* the last stream ended and the file has no more bytes */
    int live;      /* the library's state is initialised */
    /* bzip2 read block by block, from the block a split starts at (the section
     * "bzip2 splits" below); 0 for a decoder of whole streams */
    int by_block;
    int64_t file_size;   /* bytes, at open */
    int64_t next_bit;    /* where the search for the next block starts; -1 none */
    int64_t block_bit;   /* the current block's magic (bit offset in the file) */
    int64_t block_end;   /* where the current block's bits are taken to end */
    int64_t block_pos;   /* the current block's position (see emberC_decoder_block) */
    int64_t blocks_seen; /* blocks started */
    int block_output;    /* the current block has produced bytes */
    int split_start_zero;
    uint8_t *synth; /* the current block as a stream of its own */
    size_t synth_cap;
    union {
        z_stream z;
#ifdef EMBER_HAVE_BZIP2
        bz_stream bz;
#endif
#ifdef EMBER_HAVE_LZMA
        lzma_stream xz;
#endif
#ifdef EMBER_HAVE_ZSTD
        ZSTD_DCtx *zs;
#endif
    } s;
};

static int64_t consumed(const emberC_decoder *d) { return d->in_off + (int64_t)d->in_pos; }

static int corrupt(const emberC_decoder *d, const char *why) {
    return emberE_set(EMBER_ECORRUPT, "corrupt %s input file %s at compressed byte %lld: %s", codecs[d->codec].name,
                      d->path, (long long)consumed(d), why);
}

static int refill(emberC_decoder *d) {
    if (d->in_pos < d->in_len || d->in_eof) return 0;
    d->in_off += (int64_t)d->in_len;
    d->in_pos = d->in_len = 0;
    ssize_t got;
    do {
        got = read(d->fd, d->in, IN_BUF_SIZE);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return emberE_errno(EMBER_EIO, errno, "error reading input file %s", d->path);
    if (got == 0) d->in_eof = 1;
    d->in_len = (size_t)got;
    return 0;
}

static int start_stream(emberC_decoder *d) {
    switch (d->codec) {
    case EMBER_CODEC_GZIP:
    case EMBER_CODEC_DEFLATE: {
        int zrc;
        if (d->live) {
            zrc = inflateReset(&d->s.z);
        } else {
            d->s.z.zalloc = z_alloc;
            d->s.z.zfree = z_free;
            zrc = inflateInit2(&d->s.z, d->codec == EMBER_CODEC_GZIP ? 15 + 16 : 15);
        }
        if (zrc != Z_OK) return emberE_set(EMBER_ENOMEM, "out of memory starting to decompress %s", d->path);
        break;
    }
#ifdef EMBER_HAVE_BZIP2
    case EMBER_CODEC_BZIP2:
        if (d->live) BZ2_bzDecompressEnd(&d->s.bz);
        memset(&d->s.bz, 0, sizeof d->s.bz);
        d->s.bz.bzalloc = bz_alloc;
        d->s.bz.bzfree = bz_free;
        d->live = 0;
        if (BZ2_bzDecompressInit(&d->s.bz, 0, 0) != BZ_OK)
            return emberE_set(EMBER_ENOMEM, "out of memory starting to decompress %s", d->path);
        break;
#endif
#ifdef EMBER_HAVE_LZMA
    case EMBER_CODEC_XZ: {
        /* One decoder reads concatenated streams (LZMA_CONCATENATED). */
        lzma_stream init = LZMA_STREAM_INIT;
        d->s.xz = init;
        d->s.xz.allocator = &xz_allocator;
        if (lzma_stream_decoder(&d->s.xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
            return emberE_set(EMBER_ENOMEM, "out of memory starting to decompress %s", d->path);
        break;
    }
#endif
#ifdef EMBER_HAVE_ZSTD
    case EMBER_CODEC_ZSTD:
        if (!d->live) d->s.zs = ZSTD_createDCtx_advanced(zs_mem);
        if (!d->s.zs) return emberE_set(EMBER_ENOMEM, "out of memory starting to decompress %s", d->path);
        break;
#endif
    default:
        return unavailable(d->codec, d->path);
    }
    d->live = 1;
    return 0;
}

int emberC_decoder_open(int codec, int fd, const char *path, emberC_decoder **out) {
    int rc;
    *out = NULL;
    if (codec <= EMBER_CODEC_NONE || codec >= NCODECS)
        return emberE_set(EMBER_EINVAL, "no decoder for codec %d (file %s)", codec, path);
    if (!codecs[codec].available) return unavailable(codec, path);
    emberC_decoder *d = ember_calloc(1, sizeof *d);
    if (!d) return emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
    d->codec = codec;
    d->fd = fd;
    d->path = ember_strdup(path);
    d->in = ember_malloc(IN_BUF_SIZE);
    if (!d->path || !d->in) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
        goto close_decoder;
    }
    d->in_off = lseek(fd, 0, SEEK_CUR);
    if (d->in_off < 0) d->in_off = 0;
    *out = d;
    return 0;
close_decoder:
    emberC_decoder_close(d);
    return rc;
}

/* One step of the library: decompresses from in[in_pos, in_len) into out. Sets
 * *stream_end when the current stream ended. */
static int step(emberC_decoder *d, uint8_t *out, size_t want, size_t *got, int *stream_end) {
    size_t avail = d->in_len - d->in_pos;
    *got = 0;
    *stream_end = 0;
    switch (d->codec) {
    case EMBER_CODEC_GZIP:
    case EMBER_CODEC_DEFLATE: {
        z_stream *z = &d->s.z;
        uInt in_n = avail > UINT32_MAX ? UINT32_MAX : (uInt)avail, out_n = want > UINT32_MAX ? UINT32_MAX : (uInt)want;
        z->next_in = d->in + d->in_pos;
        z->avail_in = in_n;
        z->next_out = out;
        z->avail_out = out_n;
        int zrc = inflate(z, Z_NO_FLUSH);
        d->in_pos += in_n - z->avail_in;
        *got = out_n - z->avail_out;
        if (zrc == Z_STREAM_END)
            *stream_end = 1;
        else if (zrc == Z_MEM_ERROR)
            return emberE_set(EMBER_ENOMEM, "out of memory decompressing %s", d->path);
        else if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return corrupt(d, z->msg ? z->msg : "invalid data");
        return 0;
    }
#ifdef EMBER_HAVE_BZIP2
    case EMBER_CODEC_BZIP2: {
        bz_stream *b = &d->s.bz;
        unsigned in_n = avail > UINT32_MAX ? UINT32_MAX : (unsigned)avail,
                 out_n = want > UINT32_MAX ? UINT32_MAX : (unsigned)want;
        b->next_in = (char *)(d->in + d->in_pos);
        b->avail_in = in_n;
        b->next_out = (char *)out;
        b->avail_out = out_n;
        int brc = BZ2_bzDecompress(b);
        d->in_pos += in_n - b->avail_in;
        *got = out_n - b->avail_out;
        if (brc == BZ_STREAM_END)
            *stream_end = 1;
        else if (brc == BZ_MEM_ERROR)
            return emberE_set(EMBER_ENOMEM, "out of memory decompressing %s", d->path);
        else if (brc != BZ_OK)
            return corrupt(d, brc == BZ_DATA_ERROR_MAGIC ? "not a bzip2 stream" : "invalid data");
        return 0;
    }
#endif
#ifdef EMBER_HAVE_LZMA
    case EMBER_CODEC_XZ: {
        lzma_stream *x = &d->s.xz;
        x->next_in = d->in + d->in_pos;
        x->avail_in = avail;
        x->next_out = out;
        x->avail_out = want;
        lzma_ret xrc = lzma_code(x, d->in_eof ? LZMA_FINISH : LZMA_RUN);
        d->in_pos += avail - x->avail_in;
        *got = want - x->avail_out;
        if (xrc == LZMA_STREAM_END)
            *stream_end = 1;
        else if (xrc == LZMA_MEM_ERROR)
            return emberE_set(EMBER_ENOMEM, "out of memory decompressing %s", d->path);
        else if (xrc == LZMA_BUF_ERROR && d->in_eof)
            return corrupt(d, "the file ends inside a stream (truncated)");
        else if (xrc != LZMA_OK && xrc != LZMA_BUF_ERROR)
            return corrupt(d, xrc == LZMA_FORMAT_ERROR ? "not an xz stream" : "invalid data");
        return 0;
    }
#endif
#ifdef EMBER_HAVE_ZSTD
    case EMBER_CODEC_ZSTD: {
        ZSTD_inBuffer zin = {d->in + d->in_pos, avail, 0};
        ZSTD_outBuffer zout = {out, want, 0};
        size_t zrc = ZSTD_decompressStream(d->s.zs, &zout, &zin);
        d->in_pos += zin.pos;
        *got = zout.pos;
        if (ZSTD_isError(zrc)) return corrupt(d, ZSTD_getErrorName(zrc));
        if (zrc == 0) *stream_end = 1;
        return 0;
    }
#endif
    default:
        return unavailable(d->codec, d->path);
    }
}

/* ---- bzip2 splits: decoding from a block in the middle of a file ------------------
 * Hadoop splits a bzip2 file at its blocks. Each block starts with the 48-bit magic
 * 0x314159265359 at any bit offset (blocks are not byte-aligned); a stream ends with
 * 0x177245385090 and the CRC of its blocks. A split [start, end) reads from the first
 * block whose magic starts at or after byte start (byte 5 for start 1 to 4, past the
 * first block), to the end of the file or until the line reader stops it.
 *
 * libbz2 decodes whole streams only, so each block is decoded as a stream of its own:
 * "BZh9", the block's bits shifted to a byte boundary, the end-of-stream magic and,
 * as the CRC of a one-block stream, the block's own CRC. So every block's CRC is
 * checked (a split does not check the CRC of a whole stream; the file read whole
 * does). A block ends where the next magic of either kind starts. Those 48 bits can
 * also occur inside a block's data; the block then fails to decode before giving any
 * byte, and the next candidate end is tried.
 *
 * Each block has a position, the one Hadoop's BYBLOCK stream reports while its bytes
 * are read: the byte holding the block's first magic bit, plus one for every block but
 * the first of a split; 0 for the first block of the split at 0. The line reader
 * (textsplit.c) stops a split with them. */

#define BZ_BLOCK_MAGIC 0x314159265359ULL
#define BZ_EOS_MAGIC 0x177245385090ULL
#define BZ_MAGIC_BITS 48
#define BZ_HEADER_BITS (BZ_MAGIC_BITS + 32) /* magic and block CRC */

/* Longest extent tried for one block: bzip2 writes blocks of at most 900 kB before
 * compression, which never take 4 MiB. */
#define BZ_MAX_BLOCK_BITS ((int64_t)8 << 22)

static int block_corrupt(const emberC_decoder *d, const char *why) {
    return emberE_set(EMBER_ECORRUPT,
                      "corrupt bzip2 input file %s at compressed byte %lld (the block starting there): %s", d->path,
                      (long long)(d->block_bit >> 3), why);
}

/* Reads the file byte at `off` through the window d->in[0, in_len) at d->in_off. */
static int byte_at(emberC_decoder *d, int64_t off, uint8_t *b) {
    if (off < d->in_off || off >= d->in_off + (int64_t)d->in_len) {
        ssize_t got;
        do {
            got = pread(d->fd, d->in, IN_BUF_SIZE, (off_t)off);
        } while (got < 0 && errno == EINTR);
        if (got < 0) return emberE_errno(EMBER_EIO, errno, "error reading input file %s", d->path);
        if (got == 0)
            return emberE_set(EMBER_ECORRUPT, "input file %s became shorter while it was read (at byte %lld)", d->path,
                              (long long)off);
        d->in_off = off;
        d->in_len = (size_t)got;
    }
    *b = d->in[off - d->in_off];
    return 0;
}

/* Finds the first magic at a bit offset >= from: a block's, or with `eos` also an
 * end of stream's. Returns 1 with *at (and *is_eos), 0 when the file has none, or a
 * negative code. */
static int find_magic(emberC_decoder *d, int64_t from, int eos, int64_t *at, int *is_eos) {
    const uint64_t mask = ((uint64_t)1 << BZ_MAGIC_BITS) - 1;
    uint64_t window = 0;
    int64_t have = 0;
    for (int64_t off = from >> 3; off < d->file_size; off++) {
        uint8_t b = 0;
        int rc = byte_at(d, off, &b);
        if (rc) return rc;
        for (int k = off == from >> 3 ? (int)(from & 7) : 0; k < 8; k++) {
            window = (window << 1 | (uint64_t)(b >> (7 - k) & 1)) & mask;
            if (++have < BZ_MAGIC_BITS) continue;
            if (window == BZ_BLOCK_MAGIC || (eos && window == BZ_EOS_MAGIC)) {
                *at = off * 8 + k + 1 - BZ_MAGIC_BITS;
                *is_eos = window == BZ_EOS_MAGIC;
                return 1;
            }
        }
    }
    return 0;
}

#ifdef EMBER_HAVE_BZIP2
/* Writes the n low bits of v, most significant first, at bit `bit` of p. */
static void put_bits(uint8_t *p, size_t bit, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--, bit++) {
        uint8_t m = (uint8_t)(0x80 >> (bit & 7));
        if (v >> i & 1)
            p[bit >> 3] |= m;
        else
            p[bit >> 3] &= (uint8_t)~m;
    }
}
#endif

/* Makes d->synth the stream of the block whose bits are [d->block_bit, d->block_end)
 * and starts libbz2 on it. */
static int start_block_stream(emberC_decoder *d) {
#ifdef EMBER_HAVE_BZIP2
    int64_t nbits = d->block_end - d->block_bit;
    if (nbits < BZ_HEADER_BITS) return block_corrupt(d, "it ends inside its header");
    if (nbits > BZ_MAX_BLOCK_BITS) return block_corrupt(d, "no block or stream end follows it within 4 MiB");
    size_t first = (size_t)(d->block_bit >> 3), nraw = (size_t)((d->block_end + 7) >> 3) - first;
    size_t nsynth = 4 + ((size_t)nbits + 2 * BZ_MAGIC_BITS + 7) / 8 + 1;
    if (nsynth + nraw + 1 > d->synth_cap) {
        uint8_t *p = ember_realloc(d->synth, nsynth + nraw + 1);
        if (!p) return emberE_set(EMBER_ENOMEM, "out of memory reading a block of %s", d->path);
        d->synth = p;
        d->synth_cap = nsynth + nraw + 1;
    }
    /* the raw bytes go behind the stream being built, which never overtakes them */
    uint8_t *out = d->synth, *raw = d->synth + nsynth;
    for (size_t done = 0; done < nraw;) {
        ssize_t got = pread(d->fd, raw + done, nraw - done, (off_t)(first + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return emberE_errno(EMBER_EIO, errno, "error reading input file %s", d->path);
        if (got == 0) return block_corrupt(d, "the file became shorter while it was read");
        done += (size_t)got;
    }
    raw[nraw] = 0;
    int shift = (int)(d->block_bit & 7);
    memcpy(out, "BZh9", 4);
    for (size_t i = 0; i < ((size_t)nbits + 7) / 8; i++)
        out[4 + i] = (uint8_t)(raw[i] << shift | (shift ? raw[i + 1] >> (8 - shift) : 0));
    uint64_t crc = 0;
    for (int i = 0; i < 4; i++)
        crc = crc << 8 | out[4 + 6 + i];
    size_t bit = 32 + (size_t)nbits;
    put_bits(out, bit, BZ_EOS_MAGIC, BZ_MAGIC_BITS);
    put_bits(out, bit + BZ_MAGIC_BITS, crc, 32);
    bit += BZ_MAGIC_BITS + 32;
    put_bits(out, bit, 0, (int)(-bit & 7)); /* padding */
    if (d->live) BZ2_bzDecompressEnd(&d->s.bz);
    memset(&d->s.bz, 0, sizeof d->s.bz);
    d->live = 0;
    d->s.bz.bzalloc = bz_alloc;
    d->s.bz.bzfree = bz_free;
    if (BZ2_bzDecompressInit(&d->s.bz, 0, 0) != BZ_OK)
        return emberE_set(EMBER_ENOMEM, "out of memory starting to decompress %s", d->path);
    d->live = 1;
    d->s.bz.next_in = (char *)out;
    d->s.bz.avail_in = (unsigned)((bit + 7) / 8);
    d->block_output = 0;
    return 0;
#else
    return unavailable(d->codec, d->path);
#endif
}

/* Moves to the block whose magic is the first at or after d->next_bit: finds it, and
 * where its bits end. Sets d->ended when there is none. */
static int next_block(emberC_decoder *d) {
    int64_t at, end;
    int is_eos;
    int rc = d->next_bit < 0 ? 0 : find_magic(d, d->next_bit, 0, &at, &is_eos);
    if (rc < 0) return rc;
    if (rc == 0) {
        d->ended = 1;
        return 0;
    }
    rc = find_magic(d, at + BZ_HEADER_BITS, 1, &end, &is_eos);
    if (rc < 0) return rc;
    d->block_bit = at;
    d->block_end = rc ? end : d->file_size * 8;
    d->block_pos = d->blocks_seen == 0 ? (d->split_start_zero ? 0 : at >> 3) : (at >> 3) + 1;
    d->blocks_seen++;
    d->in_stream = 1;
    return start_block_stream(d);
}

/* The block read did not decode before giving a byte: its bits may end at a later
 * magic (the one taken was data). Tries the next candidate, or fails with `why`. */
static int extend_block(emberC_decoder *d, const char *why) {
    int64_t end;
    int is_eos;
    if (d->block_end == d->file_size * 8 || d->block_end - d->block_bit > BZ_MAX_BLOCK_BITS)
        return block_corrupt(d, why);
    int rc = find_magic(d, d->block_end + 1, 1, &end, &is_eos);
    if (rc < 0) return rc;
    d->block_end = rc ? end : d->file_size * 8;
    return start_block_stream(d);
}

static int blocks_read(emberC_decoder *d, uint8_t *buf, size_t want, size_t *got) {
#ifdef EMBER_HAVE_BZIP2
    for (;;) {
        if (!d->in_stream) {
            int rc = next_block(d);
            if (rc || d->ended) return rc;
        }
        bz_stream *b = &d->s.bz;
        unsigned out_n = want > UINT32_MAX ? UINT32_MAX : (unsigned)want;
        b->next_out = (char *)buf;
        b->avail_out = out_n;
        int brc = BZ2_bzDecompress(b);
        *got = out_n - b->avail_out;
        if (brc == BZ_MEM_ERROR) return emberE_set(EMBER_ENOMEM, "out of memory decompressing %s", d->path);
        if (brc != BZ_OK && brc != BZ_STREAM_END) {
            if (d->block_output)
                return block_corrupt(d, brc == BZ_DATA_ERROR ? "its CRC does not match its data" : "invalid data");
            int rc = extend_block(d, "invalid data");
            if (rc) return rc;
            continue;
        }
        if (*got == 0 && brc == BZ_OK) {
            /* all of the block's stream was given: it needs bits past the end taken */
            if (d->block_output) return block_corrupt(d, "the decoder made no progress");
            int rc = extend_block(d, "the file ends inside a block (truncated)");
            if (rc) return rc;
            continue;
        }
        if (*got) d->block_output = 1;
        if (brc == BZ_STREAM_END) {
            d->in_stream = 0;
            d->next_bit = d->block_end; /* an end of stream there is skipped by the search */
        }
        if (*got) return 0;
    }
#else
    (void)buf;
    (void)want;
    *got = 0;
    return unavailable(d->codec, d->path);
#endif
}

int emberC_decoder_open_split(int codec, int fd, const char *path, int64_t start, emberC_decoder **out) {
    *out = NULL;
    if (codec != EMBER_CODEC_BZIP2)
        return emberE_set(EMBER_EINVAL, "a %s-compressed file is read whole, not from byte %lld (file %s)",
                          ember_codec_name(codec), (long long)start, path);
    struct stat st;
    if (fstat(fd, &st) != 0) return emberE_errno(EMBER_EIO, errno, "cannot stat input file %s", path);
    int rc = emberC_decoder_open(codec, fd, path, out);
    if (rc) return rc;
    emberC_decoder *d = *out;
    d->by_block = 1;
    d->file_size = (int64_t)st.st_size;
    d->split_start_zero = start == 0;
    d->in_len = 0; /* the window of byte_at, empty */
    d->next_bit = 8 * (start == 0 ? 4 : start < 5 ? 5 : start);
    /* the first block's position, before anything is decoded */
    int64_t at;
    int is_eos;
    rc = find_magic(d, d->next_bit, 0, &at, &is_eos);
    if (rc < 0) goto close_decoder;
    d->block_pos = rc == 0 ? INT64_MAX : start == 0 ? 0 : at >> 3;
    d->next_bit = rc ? at : -1;
    return 0;
close_decoder:
    emberC_decoder_close(d);
    *out = NULL;
    return rc;
}

int64_t emberC_decoder_block(const emberC_decoder *d, int64_t *pos) {
    *pos = d->block_pos;
    return d->blocks_seen;
}

int emberC_decoder_read(emberC_decoder *d, void *buf, size_t want, size_t *got) {
    *got = 0;
    if (d->ended || want == 0) return 0;
    if (d->by_block) return blocks_read(d, buf, want, got);
    for (;;) {
        int rc = refill(d);
        if (rc) return rc;
        if (!d->in_stream) {
            /* Between streams: the file may end here, or another stream begins. */
            if (d->in_pos == d->in_len && d->in_eof) {
                d->ended = 1;
                return 0;
            }
            if ((rc = start_stream(d))) return rc;
            d->in_stream = 1;
        }
        if (d->in_pos == d->in_len && d->in_eof && d->codec != EMBER_CODEC_XZ)
            return corrupt(d, "the file ends inside a stream (truncated)");
        size_t before = d->in_pos, n;
        int stream_end;
        if ((rc = step(d, buf, want, &n, &stream_end))) return rc;
        if (stream_end) {
            d->in_stream = 0;
            if (d->codec == EMBER_CODEC_XZ) d->ended = 1; /* LZMA_CONCATENATED read them all */
        }
        if (n > 0) {
            *got = n;
            return 0;
        }
        if (d->ended) return 0;
        if (!stream_end && d->in_pos == before && d->in_pos < d->in_len)
            return corrupt(d, "the decoder made no progress");
    }
}

void emberC_decoder_close(emberC_decoder *d) {
    if (!d) return;
    if (d->live) {
        switch (d->codec) {
        case EMBER_CODEC_GZIP:
        case EMBER_CODEC_DEFLATE:
            inflateEnd(&d->s.z);
            break;
#ifdef EMBER_HAVE_BZIP2
        case EMBER_CODEC_BZIP2:
            BZ2_bzDecompressEnd(&d->s.bz);
            break;
#endif
#ifdef EMBER_HAVE_LZMA
        case EMBER_CODEC_XZ:
            lzma_end(&d->s.xz);
            break;
#endif
#ifdef EMBER_HAVE_ZSTD
        case EMBER_CODEC_ZSTD:
            ZSTD_freeDCtx(d->s.zs);
            break;
#endif
        default:
            break;
        }
    }
    ember_free(d->synth);
    ember_free(d->in);
    ember_free(d->path);
    ember_free(d);
}

/* ---- encoders ---------------------------------------------------------------------- */

struct ember_compressed_writer {
    int codec;
    int fd;
    char *path;
    uint8_t *out;
    int live;
    int failed;
    union {
        z_stream z;
#ifdef EMBER_HAVE_BZIP2
        bz_stream bz;
#endif
#ifdef EMBER_HAVE_LZMA
        lzma_stream xz;
#endif
#ifdef EMBER_HAVE_ZSTD
        ZSTD_CCtx *zs;
#endif
    } s;
};

static int write_all(ember_compressed_writer *w, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t put = write(w->fd, p, n);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return emberE_errno(EMBER_EIO, errno, "error writing %s", w->path);
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

int ember_compressed_writer_open(int codec, const char *path, ember_compressed_writer **out) {
    int rc;
    if (!out || !path) return emberE_set(EMBER_EINVAL, "ember_compressed_writer_open: NULL argument");
    *out = NULL;
    if (codec <= EMBER_CODEC_NONE || codec >= NCODECS)
        return emberE_set(EMBER_EINVAL, "no encoder for codec %d (file %s)", codec, path);
    if (!codecs[codec].available) return unavailable(codec, path);
    ember_compressed_writer *w = ember_calloc(1, sizeof *w);
    if (!w) return emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
    w->codec = codec;
    w->fd = -1;
    w->path = ember_strdup(path);
    w->out = ember_malloc(OUT_BUF_SIZE);
    if (!w->path || !w->out) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
        goto close_writer;
    }
    switch (codec) {
    case EMBER_CODEC_GZIP:
    case EMBER_CODEC_DEFLATE:
        w->s.z.zalloc = z_alloc;
        w->s.z.zfree = z_free;
        rc = deflateInit2(&w->s.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, codec == EMBER_CODEC_GZIP ? 15 + 16 : 15, 8,
                          Z_DEFAULT_STRATEGY) == Z_OK
                 ? 0
                 : -1;
        break;
#ifdef EMBER_HAVE_BZIP2
    case EMBER_CODEC_BZIP2:
        w->s.bz.bzalloc = bz_alloc;
        w->s.bz.bzfree = bz_free;
        rc = BZ2_bzCompressInit(&w->s.bz, 9, 0, 0) == BZ_OK ? 0 : -1;
        break;
#endif
#ifdef EMBER_HAVE_LZMA
    case EMBER_CODEC_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        w->s.xz = init;
        w->s.xz.allocator = &xz_allocator;
        rc = lzma_easy_encoder(&w->s.xz, 6, LZMA_CHECK_CRC64) == LZMA_OK ? 0 : -1;
        break;
    }
#endif
#ifdef EMBER_HAVE_ZSTD
    case EMBER_CODEC_ZSTD:
        /* with a content checksum, so a damaged frame fails instead of decoding wrong */
        w->s.zs = ZSTD_createCCtx_advanced(zs_mem);
        rc = w->s.zs && !ZSTD_isError(ZSTD_CCtx_setParameter(w->s.zs, ZSTD_c_checksumFlag, 1)) ? 0 : -1;
        break;
#endif
    default:
        rc = -1;
    }
    if (rc) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory starting %s compression of %s", codecs[codec].name, path);
        goto close_writer;
    }
    w->live = 1;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot create %s", path);
        goto close_writer;
    }
    *out = w;
    return 0;
close_writer:
    ember_compressed_writer_close(w);
    return rc;
}

/* Compresses p[0, n) (finish: and ends the stream), writing what comes out. */
static int encode(ember_compressed_writer *w, const uint8_t *p, size_t n, int finish) {
    for (;;) {
        size_t made = 0;
        int done = 0;
        switch (w->codec) {
        case EMBER_CODEC_GZIP:
        case EMBER_CODEC_DEFLATE: {
            uInt in_n = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
            w->s.z.next_in = (Bytef *)p;
            w->s.z.avail_in = in_n;
            w->s.z.next_out = w->out;
            w->s.z.avail_out = (uInt)OUT_BUF_SIZE;
            int zrc = deflate(&w->s.z, finish && in_n == n ? Z_FINISH : Z_NO_FLUSH);
            if (zrc == Z_STREAM_ERROR) return emberE_set(EMBER_EIO, "zlib failed compressing %s", w->path);
            p += in_n - w->s.z.avail_in;
            n -= in_n - w->s.z.avail_in;
            made = OUT_BUF_SIZE - w->s.z.avail_out;
            done = finish ? zrc == Z_STREAM_END : n == 0 && w->s.z.avail_out > 0;
            break;
        }
#ifdef EMBER_HAVE_BZIP2
        case EMBER_CODEC_BZIP2: {
            unsigned in_n = n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
            w->s.bz.next_in = (char *)p;
            w->s.bz.avail_in = in_n;
            w->s.bz.next_out = (char *)w->out;
            w->s.bz.avail_out = (unsigned)OUT_BUF_SIZE;
            int brc = BZ2_bzCompress(&w->s.bz, finish && in_n == n ? BZ_FINISH : BZ_RUN);
            if (brc < 0) return emberE_set(EMBER_EIO, "libbz2 failed compressing %s (error %d)", w->path, brc);
            p += in_n - w->s.bz.avail_in;
            n -= in_n - w->s.bz.avail_in;
            made = OUT_BUF_SIZE - w->s.bz.avail_out;
            done = finish ? brc == BZ_STREAM_END : n == 0;
            break;
        }
#endif
#ifdef EMBER_HAVE_LZMA
        case EMBER_CODEC_XZ: {
            w->s.xz.next_in = p;
            w->s.xz.avail_in = n;
            w->s.xz.next_out = w->out;
            w->s.xz.avail_out = OUT_BUF_SIZE;
            lzma_ret xrc = lzma_code(&w->s.xz, finish ? LZMA_FINISH : LZMA_RUN);
            if (xrc != LZMA_OK && xrc != LZMA_STREAM_END)
                return emberE_set(EMBER_EIO, "liblzma failed compressing %s (error %d)", w->path, (int)xrc);
            p += n - w->s.xz.avail_in;
            n = w->s.xz.avail_in;
            made = OUT_BUF_SIZE - w->s.xz.avail_out;
            done = finish ? xrc == LZMA_STREAM_END : n == 0;
            break;
        }
#endif
#ifdef EMBER_HAVE_ZSTD
        case EMBER_CODEC_ZSTD: {
            ZSTD_inBuffer zin = {p, n, 0};
            ZSTD_outBuffer zout = {w->out, OUT_BUF_SIZE, 0};
            size_t left = ZSTD_compressStream2(w->s.zs, &zout, &zin, finish ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left))
                return emberE_set(EMBER_EIO, "libzstd failed compressing %s: %s", w->path, ZSTD_getErrorName(left));
            p += zin.pos;
            n -= zin.pos;
            made = zout.pos;
            done = finish ? left == 0 : n == 0;
            break;
        }
#endif
        default:
            return unavailable(w->codec, w->path);
        }
        if (made) {
            int rc = write_all(w, w->out, made);
            if (rc) return rc;
        }
        if (done) return 0;
    }
}

int ember_compressed_writer_write(ember_compressed_writer *w, const void *p, size_t n) {
    if (!w || (!p && n)) return emberE_set(EMBER_EINVAL, "ember_compressed_writer_write: NULL argument");
    if (w->failed) return emberE_set(EMBER_EINVAL, "%s: an earlier write failed", w->path);
    if (n == 0) return 0;
    int rc = encode(w, p, n, 0);
    if (rc) w->failed = 1;
    return rc;
}

int ember_compressed_writer_finish(ember_compressed_writer *w) {
    if (!w) return emberE_set(EMBER_EINVAL, "ember_compressed_writer_finish: NULL argument");
    if (w->failed) return emberE_set(EMBER_EINVAL, "%s: an earlier write failed", w->path);
    int rc = encode(w, (const uint8_t *)"", 0, 1);
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0 && !rc) rc = emberE_errno(EMBER_EIO, errno, "error closing %s", w->path);
    if (rc) w->failed = 1;
    return rc;
}

void ember_compressed_writer_close(ember_compressed_writer *w) {
    if (!w) return;
    if (w->live) {
        switch (w->codec) {
        case EMBER_CODEC_GZIP:
        case EMBER_CODEC_DEFLATE:
            deflateEnd(&w->s.z);
            break;
#ifdef EMBER_HAVE_BZIP2
        case EMBER_CODEC_BZIP2:
            BZ2_bzCompressEnd(&w->s.bz);
            break;
#endif
#ifdef EMBER_HAVE_LZMA
        case EMBER_CODEC_XZ:
            lzma_end(&w->s.xz);
            break;
#endif
#ifdef EMBER_HAVE_ZSTD
        case EMBER_CODEC_ZSTD:
            ZSTD_freeCCtx(w->s.zs);
            break;
#endif
        default:
            break;
        }
    }
    if (w->fd >= 0) close(w->fd);
    ember_free(w->out);
    ember_free(w->path);
    ember_free(w);
}
