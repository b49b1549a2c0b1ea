/* seqfile.c — reading Hadoop SequenceFiles (version 6, uncompressed records): the
 * records of one split of a file, as raw key and value bytes. pickleFile and
 * sequenceFile read through it in the workers; converting Writables to Python values
 * is the caller's business (python/ember/_hadoop.py).
 *
 * Design
 *  - Layout (big-endian): "SEQ", version 6, key and value class names (Hadoop vint
 *    length + UTF-8), a compression flag and a block-compression flag, an int count of
 *    metadata pairs of such strings, a 16-byte sync marker. Records follow:
 *    [int record length][int key length][key][value], with [int -1][sync] between
 *    records every 100 KiB. A compressed file opens (its header says how it is
 *    compressed) but reading its records fails with EMBER_EINVAL.
 *  - Splits. A split [start, end) holds the records that follow the last sync marker
 *    at or after `start` and before `end`; the split starting at 0 also holds the records
 *    before the first marker. A split that starts past 0 first scans for the marker.
 *  - Checksums. When Hadoop's ".NAME.crc" sits beside the file ("crc\0", int bytes per
 *    checksum, one big-endian CRC-32 per chunk), every chunk read is verified; a file
 *    whose size does not match its checksum count fails at open.
 *  - Buffering. buf holds file bytes [boff, boff + blen); boff is a multiple of the
 *    checksum chunk, so chunks are verified whole as they are read. The buffer grows
 *    to hold one record, whose length is checked against the file size first.
 *  - Every failure names the file and the byte offset (EMBER_ECORRUPT for damage).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SYNC_SIZE 16
#define MIN_READ ((size_t)64 << 10)
#define MAX_CLASS_NAME 4096

struct ember_seq_reader {
    char *path;
    int fd;
    int64_t size;
    int64_t start, end;
    char *key_class, *value_class;
    const char *compression; /* NULL, "record" or "block" */
    char *codec;             /* the codec class of a compressed file */
    uint8_t sync[SYNC_SIZE];
    uint8_t *buf;
    size_t cap, blen;
    int64_t boff;
    int64_t pos;    /* the next record (or sync escape) */
    int64_t owner;  /* offset of the sync marker the next records follow (0: header) */
    uint32_t *crcs; /* NULL: no checksum file */
    size_t ncrcs;
    uint32_t chunk; /* bytes per checksum (1 when there is no checksum file) */
    int state;      /* 0 reading, 1 finished, < 0 the error every later call returns */
};

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int corrupt(const ember_seq_reader *r, int64_t at, const char *why) {
    return emberE_set(EMBER_ECORRUPT, "corrupt SequenceFile %s at byte %lld: %s", r->path, (long long)at, why);
}

/* Reads the checksum file beside the data file, if any. */
static int load_crcs(ember_seq_reader *r) {
    int rc = 0;
    const char *slash = strrchr(r->path, '/');
    size_t dir = slash ? (size_t)(slash - r->path) + 1 : 0;
    size_t n = strlen(r->path);
    char *cpath = ember_malloc(n + 6);
    uint8_t *data = NULL;
    if (!cpath) return emberE_set(EMBER_ENOMEM, "out of memory opening %s", r->path);
    memcpy(cpath, r->path, dir);
    cpath[dir] = '.';
    memcpy(cpath + dir + 1, r->path + dir, n - dir);
    memcpy(cpath + n + 1, ".crc", 5);
    int fd = open(cpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) rc = emberE_errno(EMBER_EIO, errno, "cannot open checksum file %s", cpath);
        goto free_path;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot stat checksum file %s", cpath);
        goto close_fd;
    }
    if (st.st_size < 8 || (st.st_size - 8) % 4 != 0 || st.st_size > ((int64_t)1 << 40)) {
        rc = emberE_set(EMBER_ECORRUPT, "checksum file %s is damaged (size %lld); delete it to read %s unchecked",
                        cpath, (long long)st.st_size, r->path);
        goto close_fd;
    }
    data = ember_malloc((size_t)st.st_size);
    if (!data) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory reading checksum file %s", cpath);
        goto close_fd;
    }
    ssize_t got = pread(fd, data, (size_t)st.st_size, 0);
    if (got != (ssize_t)st.st_size) {
        rc = emberE_errno(EMBER_EIO, got < 0 ? errno : EIO, "error reading checksum file %s", cpath);
        goto close_fd;
    }
    uint32_t chunk = load_be32(data + 4);
    if (memcmp(data, "crc\0", 4) != 0 || chunk == 0 || chunk > (1u << 24)) {
        rc = emberE_set(EMBER_ECORRUPT, "checksum file %s is damaged (bad header); delete it to read %s unchecked",
                        cpath, r->path);
        goto close_fd;
    }
    size_t count = (size_t)(st.st_size - 8) / 4;
    int64_t need = (r->size + chunk - 1) / chunk;
    if ((int64_t)count != need) {
        rc = emberE_set(EMBER_ECORRUPT,
                        "%s does not match its checksum file %s (%lld bytes need %lld checksums, the file has %zu): "
                        "the file was changed or truncated, or extended, at byte %lld",
                        r->path, cpath, (long long)r->size, (long long)need, count,
                        (long long)((int64_t)count * chunk < r->size ? (int64_t)count * chunk : r->size));
        goto close_fd;
    }
    r->crcs = ember_malloc(count ? count * sizeof *r->crcs : 1);
    if (!r->crcs) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory reading checksum file %s", cpath);
        goto close_fd;
    }
    for (size_t i = 0; i < count; i++)
        r->crcs[i] = load_be32(data + 8 + 4 * i);
    r->ncrcs = count;
    r->chunk = chunk;
close_fd:
    close(fd);
free_path:
    ember_free(data);
    ember_free(cpath);
    return rc;
}

/* Makes file bytes [p, p + n) available at buf + (p - boff); fewer at end of file
 * (the caller checks against r->size first). Verifies the chunks read. */
static int need(ember_seq_reader *r, int64_t p, size_t n) {
    if (p >= r->boff && p + (int64_t)n <= r->boff + (int64_t)r->blen) return 0;
    int64_t from = p / r->chunk * r->chunk;
    int64_t to = p + (int64_t)n;
    if (to - from < (int64_t)MIN_READ) to = from + (int64_t)MIN_READ;
    if (to % r->chunk) to += r->chunk - to % r->chunk;
    if (to > r->size) to = r->size;
    size_t want = (size_t)(to - from);
    if (want > r->cap) {
        uint8_t *nb = ember_realloc(r->buf, want);
        if (!nb) return emberE_set(EMBER_ENOMEM, "out of memory reading a record of %zu bytes from %s", n, r->path);
        r->buf = nb;
        r->cap = want;
    }
    size_t have = 0;
    while (have < want) {
        ssize_t got = pread(r->fd, r->buf + have, want - have, (off_t)(from + (int64_t)have));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return emberE_errno(EMBER_EIO, errno, "error reading %s", r->path);
        if (got == 0)
            return emberE_set(EMBER_EIO, "%s shrank while being read (at byte %lld)", r->path,
                              (long long)(from + (int64_t)have));
        have += (size_t)got;
    }
    r->boff = from;
    r->blen = want;
    if (r->crcs) {
        for (size_t i = 0; i < want; i += r->chunk) {
            size_t len = want - i < r->chunk ? want - i : r->chunk;
            size_t k = (size_t)((from + (int64_t)i) / r->chunk);
            if (k >= r->ncrcs || (uint32_t)crc32(0, r->buf + i, (uInt)len) != r->crcs[k])
                return emberE_set(EMBER_ECORRUPT,
                                  "checksum error in %s at byte %lld (the %u-byte chunk there does not match its "
                                  ".crc file): the file is damaged",
                                  r->path, (long long)(from + (int64_t)i), r->chunk);
        }
    }
    return 0;
}

/* Reads a Hadoop vint at *p (advancing it). */
static int read_vint(ember_seq_reader *r, int64_t *p, int64_t *out) {
    if (*p >= r->size) return corrupt(r, *p, "truncated header (a length is missing)");
    int rc = need(r, *p, 9 < r->size - *p ? 9 : (size_t)(r->size - *p));
    if (rc) return rc;
    const uint8_t *b = r->buf + (*p - r->boff);
    int8_t first = (int8_t)b[0];
    if (first >= -112) {
        *out = first;
        *p += 1;
        return 0;
    }
    int neg = first < -120;
    int size = neg ? -(first + 120) : -(first + 112);
    if (*p + 1 + size > r->size) return corrupt(r, *p, "truncated header (a length runs past the end)");
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v = v << 8 | b[1 + i];
    *out = neg ? (int64_t)~v : (int64_t)v;
    *p += 1 + size;
    return 0;
}

static int read_text(ember_seq_reader *r, int64_t *p, char **out) {
    int64_t n = 0;
    int64_t at = *p;
    int rc = read_vint(r, p, &n);
    if (rc) return rc;
    if (n < 0 || n > MAX_CLASS_NAME || *p + n > r->size)
        return corrupt(r, at, "truncated or damaged header (a class name's length)");
    if ((rc = need(r, *p, (size_t)n))) return rc;
    char *s = ember_malloc((size_t)n + 1);
    if (!s) return emberE_set(EMBER_ENOMEM, "out of memory reading %s", r->path);
    memcpy(s, r->buf + (*p - r->boff), (size_t)n);
    s[n] = '\0';
    *p += n;
    if (out)
        *out = s;
    else
        ember_free(s);
    return 0;
}

static int read_header(ember_seq_reader *r) {
    int rc;
    int64_t p = 0;
    if (r->size >= 4 && (rc = need(r, 0, 4))) return rc;
    if (r->size < 4 || memcmp(r->buf, "SEQ", 3) != 0) {
        uint8_t head[16] = {0};
        size_t n = r->size < 16 ? (size_t)r->size : 16;
        if (n && (rc = need(r, 0, n))) return rc;
        if (n) memcpy(head, r->buf, n);
        char what[96];
        emberC_describe(head, n, what, sizeof what);
        return emberE_set(EMBER_EINVAL, "%s is not a Hadoop SequenceFile (it looks like %s)", r->path,
                          n ? what : "an empty file");
    }
    if (r->buf[3] != 6)
        return emberE_set(EMBER_EINVAL, "%s: SequenceFile version %d at byte 3; ember reads version 6", r->path,
                          r->buf[3]);
    p = 4;
    if ((rc = read_text(r, &p, &r->key_class)) || (rc = read_text(r, &p, &r->value_class))) return rc;
    if (p + 2 > r->size) return corrupt(r, p, "truncated header");
    if ((rc = need(r, p, 2))) return rc;
    int compressed = r->buf[p - r->boff], block = r->buf[p - r->boff + 1];
    p += 2;
    if (compressed || block) {
        /* Known, not read: the header is kept for ember_seq_reader_compression(). */
        r->compression = block ? "block" : "record";
        if ((rc = read_text(r, &p, &r->codec))) return rc;
        r->state = emberE_set(EMBER_EINVAL,
                              "%s is a %s-compressed SequenceFile (%s); ember reads uncompressed "
                              "SequenceFiles only",
                              r->path, r->compression, r->codec);
        return 0;
    }
    if (p + 4 > r->size) return corrupt(r, p, "truncated header");
    if ((rc = need(r, p, 4))) return rc;
    int32_t nmeta = (int32_t)load_be32(r->buf + (p - r->boff));
    if (nmeta < 0 || nmeta > 1 << 20) return corrupt(r, p, "damaged header (metadata count)");
    p += 4;
    for (int32_t i = 0; i < 2 * nmeta; i++)
        if ((rc = read_text(r, &p, NULL))) return rc;
    if (p + SYNC_SIZE > r->size) return corrupt(r, p, "truncated header (no sync marker)");
    if ((rc = need(r, p, SYNC_SIZE))) return rc;
    memcpy(r->sync, r->buf + (p - r->boff), SYNC_SIZE);
    r->pos = p + SYNC_SIZE;
    return 0;
}

/* Moves r->pos to the first sync escape at or after `from` (or to the end). */
static int seek_sync(ember_seq_reader *r, int64_t from) {
    uint8_t pattern[4 + SYNC_SIZE] = {0xff, 0xff, 0xff, 0xff};
    memcpy(pattern + 4, r->sync, SYNC_SIZE);
    for (int64_t p = from; p + (int64_t)sizeof pattern <= r->size;) {
        size_t n = (size_t)(r->size - p < (int64_t)MIN_READ ? r->size - p : (int64_t)MIN_READ);
        int rc = need(r, p, n);
        if (rc) return rc;
        const uint8_t *b = r->buf + (p - r->boff);
        for (size_t i = 0; i + sizeof pattern <= n; i++) {
            if (b[i] == 0xff && memcmp(b + i, pattern, sizeof pattern) == 0) {
                r->pos = r->owner = p + (int64_t)i;
                return 0;
            }
        }
        if (n < sizeof pattern) break;
        p += (int64_t)(n - sizeof pattern + 1);
    }
    r->pos = r->owner = r->size;
    return 0;
}

int ember_seq_reader_open(const char *path, int64_t start, int64_t end, ember_seq_reader **out) {
    int rc;
    if (!out || !path) return emberE_set(EMBER_EINVAL, "ember_seq_reader_open: NULL argument");
    *out = NULL;
    if (start < 0 || end < -1 || (end >= 0 && end < start))
        return emberE_set(EMBER_EINVAL, "invalid split [%lld, %lld) of %s", (long long)start, (long long)end, path);
    ember_seq_reader *r = ember_calloc(1, sizeof *r);
    if (!r) return emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
    r->fd = -1;
    r->chunk = 1;
    r->path = ember_strdup(path);
    if (!r->path) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening %s", path);
        goto close_reader;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = errno == ENOENT ? emberE_set(EMBER_ENOENT, "input file does not exist: %s", path)
                             : emberE_errno(EMBER_EIO, errno, "cannot open %s", path);
        goto close_reader;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot stat %s", path);
        goto close_reader;
    }
    r->size = st.st_size;
    r->start = start;
    r->end = end < 0 || end > r->size ? r->size : end;
    if ((rc = load_crcs(r)) || (rc = read_header(r))) goto close_reader;
    if (!r->state && start > 0 && (rc = seek_sync(r, start > r->pos ? start : r->pos))) goto close_reader;
    *out = r;
    return 0;
close_reader:
    ember_seq_reader_close(r);
    return rc;
}

const char *ember_seq_reader_key_class(const ember_seq_reader *r) { return r ? r->key_class : NULL; }
const char *ember_seq_reader_value_class(const ember_seq_reader *r) { return r ? r->value_class : NULL; }
const char *ember_seq_reader_compression(const ember_seq_reader *r, const char **codec) {
    if (codec) *codec = r ? r->codec : NULL;
    return r ? r->compression : NULL;
}

int ember_seq_reader_next(ember_seq_reader *r, ember_seq_record *rec) {
    int rc;
    if (!r || !rec) return emberE_set(EMBER_EINVAL, "ember_seq_reader_next: NULL argument");
    if (r->state) return r->state < 0 ? r->state : 0;
    for (;;) {
        int64_t p = r->pos;
        if (p >= r->size) {
            r->state = 1;
            return 0;
        }
        if (p + 4 > r->size) {
            rc = emberE_set(EMBER_ECORRUPT,
                            "truncated SequenceFile %s: a record starts at byte %lld but the file "
                            "ends at byte %lld",
                            r->path, (long long)p, (long long)r->size);
            goto fail;
        }
        if ((rc = need(r, p, p + 8 <= r->size ? 8 : 4))) goto fail;
        int32_t rec_len = (int32_t)load_be32(r->buf + (p - r->boff));
        if (rec_len == -1) {
            if (p >= r->end) {
                r->state = 1;
                return 0;
            }
            if (p + 4 + SYNC_SIZE > r->size) {
                rc = emberE_set(EMBER_ECORRUPT, "truncated SequenceFile %s: a sync marker at byte %lld is cut short",
                                r->path, (long long)p);
                goto fail;
            }
            if ((rc = need(r, p, 4 + SYNC_SIZE))) goto fail;
            if (memcmp(r->buf + (p - r->boff) + 4, r->sync, SYNC_SIZE) != 0) {
                rc = corrupt(r, p, "a sync marker that does not match the header's");
                goto fail;
            }
            r->owner = p;
            r->pos = p + 4 + SYNC_SIZE;
            continue;
        }
        if (r->owner > 0 && r->owner >= r->end) {
            r->state = 1;
            return 0;
        }
        if (p + 8 > r->size) {
            rc = emberE_set(EMBER_ECORRUPT,
                            "truncated SequenceFile %s: the record at byte %lld is cut short by the "
                            "end of the file at byte %lld",
                            r->path, (long long)p, (long long)r->size);
            goto fail;
        }
        int32_t key_len = (int32_t)load_be32(r->buf + (p - r->boff) + 4);
        if (rec_len < 0 || key_len < 0 || key_len > rec_len) {
            char why[96];
            snprintf(why, sizeof why, "record length %d, key length %d", (int)rec_len, (int)key_len);
            rc = corrupt(r, p, why);
            goto fail;
        }
        if (p + 8 + rec_len > r->size) {
            rc = emberE_set(EMBER_ECORRUPT,
                            "truncated SequenceFile %s: the record at byte %lld needs %d bytes but "
                            "the file ends at byte %lld",
                            r->path, (long long)p, (int)rec_len, (long long)r->size);
            goto fail;
        }
        if ((rc = need(r, p, 8 + (size_t)rec_len))) goto fail;
        const uint8_t *b = r->buf + (p - r->boff) + 8;
        rec->key = b;
        rec->key_len = (size_t)key_len;
        rec->value = b + key_len;
        rec->value_len = (size_t)(rec_len - key_len);
        rec->offset = p;
        r->pos = p + 8 + rec_len;
        return 1;
    }
fail:
    r->state = rc;
    return rc;
}

void ember_seq_reader_close(ember_seq_reader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    ember_free(r->crcs);
    ember_free(r->buf);
    ember_free(r->key_class);
    ember_free(r->value_class);
    ember_free(r->codec);
    ember_free(r->path);
    ember_free(r);
}
