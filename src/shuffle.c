/* shuffle.c — shuffle files: a map task's output, split into one bucket per reduce
 * partition, and the reader a reduce task uses to stream its bucket back out of the
 * files of every map task.
 *
 * Design
 *  - Layout (integers little-endian):
 *        segment 0 | segment 1 | ... | index | trailer
 *    A segment holds, bucket after bucket, the records each bucket gathered since the
 *    previous segment, each record as [u32 len][len bytes]. The index is
 *    u32 nbuckets, u32 nsegments, then for each segment, for each bucket, the u64
 *    offset, the u64 length and the u32 CRC-32C of that bucket's bytes in the segment
 *    (length 0 and CRC 0 when it had none). The trailer is the file's last 16 bytes:
 *    u64 index offset, u32 magic "EMSH", u32 version (2).
 *  - The writer keeps one buffer per bucket. Once the buffered bytes pass
 *    buffer_limit it writes every bucket out as one segment, so memory stays bounded
 *    and a bucket's records keep their append order across segments. After a
 *    segment a bucket keeps its buffer only if it is no bigger than its share of
 *    buffer_limit, so idle capacity cannot add up past the limit either.
 *  - A big record (DIRECT_MIN bytes or more, and 16 times the index entries a
 *    segment adds) is not copied into its bucket's buffer: it is written from the
 *    caller's memory at once, after what its bucket buffered, as a segment in which
 *    the other buckets are empty (their buffers wait for a later one).
 *  - The writer writes "<path>.tmp.<pid>" and renames it to path at commit: a file
 *    at path is always whole. Nothing is fsync'ed; a lost shuffle file is recomputed.
 *  - The reader holds one file open at a time. On opening it checks the trailer and
 *    that the index exactly fills the space before the trailer; then for each
 *    segment it reads the bucket's index entry (checked to lie inside the data) and
 *    streams that range through one read buffer, 256 KiB, grown only to hold a
 *    bigger record. A record length is checked against the bytes left in its range
 *    before anything is allocated or returned, so a corrupt file gives
 *    EMBER_ECORRUPT, never a crash or an allocation larger than the file.
 *  - A record of MAP_MIN bytes or more that the read buffer does not hold whole is
 *    not copied into it: the reader maps the record's pages of the file (read-only,
 *    populated at once) and returns it from the mapping, which stays until the next
 *    call. So a reduce task's big values (map outputs written straight from the
 *    caller's memory, fetched buckets) reach it from the page cache without a copy
 *    through the buffer, and the buffer does not grow to the biggest record. If the
 *    file cannot be mapped, the record is read into the buffer as any other. (The
 *    index and record lengths are checked against the file's size first, so the
 *    mapping lies inside the file; shuffle files are never truncated in place.)
 *  - Every range is checksummed as it is loaded (a mapped record's bytes before it is
 *    returned); when its last byte is in, the CRC must be the index's, else the read
 *    fails with EMBER_ECORRUPT naming the file (records of a range larger than the
 *    read buffer may have been returned by then: the caller's task fails, nothing it
 *    made is kept; a range of one big record, as the writer makes them, is checked
 *    before the record is returned). A damaged index entry points at bytes whose CRC
 *    differs, so it is caught the same way.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHUFFLE_MAGIC 0x48534d45u /* the bytes "EMSH" read as a little-endian u32 */
#define SHUFFLE_VERSION 2u
#define TRAILER_SIZE 16u      /* u64 index offset, u32 magic, u32 version */
#define INDEX_HEADER_SIZE 8u  /* u32 nbuckets, u32 nsegments */
#define INDEX_ENTRY_SIZE 20u  /* u64 offset, u64 length, u32 CRC-32C */
#define RECORD_HEADER_SIZE 4u /* u32 len */
#define READ_BUFFER_SIZE ((size_t)256 * 1024)
#define DIRECT_MIN ((size_t)256 * 1024) /* a record this big is written without a copy */
#define MAP_MIN ((size_t)256 * 1024)    /* a record this big is read from a mapping of the file */

/* ---- writer ----------------------------------------------------------------- */

struct ember_shuffle_writer {
    char *path;
    char *tmp_path; /* what is written until commit renames it to path */
    int fd;         /* open on tmp_path, or -1 */
    uint32_t nbuckets;
    size_t buffer_limit;
    emberB_buf *buckets;    /* [nbuckets] framed records not yet written */
    size_t buffered;        /* sum of buckets[i].len */
    uint64_t *bucket_bytes; /* [nbuckets] framed bytes appended to each bucket */
    emberB_buf index;       /* index entries of the segments written so far */
    uint32_t nsegments;
    uint64_t offset;   /* bytes written to the file so far */
    uint64_t raw_left; /* bytes a raw segment still waits for (emberF_writer_raw) */
    int err;           /* first failure that broke the file; then only abort */
};

static int write_all(int fd, const void *p, size_t n, const char *path) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return emberE_errno(EMBER_EIO, errno, "cannot write shuffle file %s", path);
        }
        if (k == 0) return emberE_set(EMBER_EIO, "cannot write shuffle file %s: no progress", path);
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes every bucket's buffer as one segment and records its index entries. */
static int write_segment(ember_shuffle_writer *w) {
    if (w->nsegments == UINT32_MAX) return emberE_set(EMBER_EINVAL, "shuffle file %s: too many segments", w->path);
    int rc = emberB_reserve(&w->index, (size_t)w->nbuckets * INDEX_ENTRY_SIZE);
    if (rc) return emberE_set(rc, "shuffle file %s: out of memory growing the index", w->path);
    size_t keep = w->buffer_limit / w->nbuckets; /* nbuckets > 0: something was buffered */
    for (uint32_t i = 0; i < w->nbuckets; i++) {
        emberB_buf *b = &w->buckets[i];
        uint8_t *entry = w->index.data + w->index.len;
        emberB_store_u64(entry, w->offset);
        emberB_store_u64(entry + 8, b->len);
        emberB_store_u32(entry + 16, b->len ? emberK_crc32c(0, b->data, b->len) : 0);
        w->index.len += INDEX_ENTRY_SIZE;
        if (b->len) {
            rc = write_all(w->fd, b->data, b->len, w->tmp_path);
            if (rc) return rc;
            w->offset += b->len;
        }
        if (b->cap > keep)
            emberB_free(b);
        else
            b->len = 0;
    }
    w->nsegments++;
    w->buffered = 0;
    return 0;
}

/* Adds the index rows of a segment at w->offset whose only bytes are `bytes` of
 * bucket's (checksum crc), the other buckets empty; the caller writes the bytes and
 * counts the segment. */
static int index_one_bucket(ember_shuffle_writer *w, uint32_t bucket, uint64_t bytes, uint32_t crc) {
    if (w->nsegments == UINT32_MAX) return emberE_set(EMBER_EINVAL, "shuffle file %s: too many segments", w->path);
    if (emberB_reserve(&w->index, (size_t)w->nbuckets * INDEX_ENTRY_SIZE))
        return emberE_set(EMBER_ENOMEM, "shuffle file %s: out of memory growing the index", w->path);
    for (uint32_t i = 0; i < w->nbuckets; i++) {
        uint8_t *entry = w->index.data + w->index.len;
        emberB_store_u64(entry, w->offset);
        emberB_store_u64(entry + 8, i == bucket ? bytes : 0);
        emberB_store_u32(entry + 16, i == bucket ? crc : 0);
        w->index.len += INDEX_ENTRY_SIZE;
    }
    return 0;
}

/* Writes a segment holding bucket's buffered records and then the record data[0,
 * len) straight from the caller's memory; the other buckets are empty in it. */
static int write_direct(ember_shuffle_writer *w, uint32_t bucket, const void *data, size_t len) {
    emberB_buf *b = &w->buckets[bucket];
    uint8_t head[RECORD_HEADER_SIZE];
    emberB_store_u32(head, (uint32_t)len);
    uint32_t crc = b->len ? emberK_crc32c(0, b->data, b->len) : 0;
    crc = emberK_crc32c(crc, head, sizeof head);
    crc = emberK_crc32c(crc, data, len);
    uint64_t range = b->len + sizeof head + len;
    int rc = index_one_bucket(w, bucket, range, crc);
    if (rc) return rc;
    if ((b->len && (rc = write_all(w->fd, b->data, b->len, w->tmp_path))) ||
        (rc = write_all(w->fd, head, sizeof head, w->tmp_path)) || (rc = write_all(w->fd, data, len, w->tmp_path)))
        return rc;
    w->offset += range;
    w->buffered -= b->len;
    b->len = 0;
    w->bucket_bytes[bucket] += sizeof head + len;
    w->nsegments++;
    return 0;
}

/* Frees w and closes its file; the temporary file, if any, stays. */
static void writer_free(ember_shuffle_writer *w) {
    if (w->fd >= 0) close(w->fd);
    if (w->buckets)
        for (uint32_t i = 0; i < w->nbuckets; i++)
            emberB_free(&w->buckets[i]);
    emberB_free(&w->index);
    ember_free(w->buckets);
    ember_free(w->bucket_bytes);
    ember_free(w->tmp_path);
    ember_free(w->path);
    ember_free(w);
}

int ember_shuffle_writer_open(const char *path, uint32_t nbuckets, size_t buffer_limit, ember_shuffle_writer **out) {
    if (!out) return emberE_set(EMBER_EINVAL, "ember_shuffle_writer_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return emberE_set(EMBER_EINVAL, "ember_shuffle_writer_open: no path given");

    int rc;
    ember_shuffle_writer *w = ember_calloc(1, sizeof *w);
    if (!w) return emberE_set(EMBER_ENOMEM, "out of memory opening shuffle file %s", path);
    w->fd = -1;
    w->nbuckets = nbuckets;
    w->buffer_limit = buffer_limit;
    int n = snprintf(NULL, 0, "%s.tmp.%ld", path, (long)getpid());
    w->path = ember_strdup(path);
    w->tmp_path = n > 0 ? ember_malloc((size_t)n + 1) : NULL;
    w->buckets = ember_calloc(nbuckets, sizeof *w->buckets);
    w->bucket_bytes = ember_calloc(nbuckets, sizeof *w->bucket_bytes);
    if (!w->path || !w->tmp_path || !w->buckets || !w->bucket_bytes) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening shuffle file %s with %" PRIu32 " buckets", path, nbuckets);
        goto free_writer;
    }
    snprintf(w->tmp_path, (size_t)n + 1, "%s.tmp.%ld", path, (long)getpid());

    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        int e = errno;
        rc = emberE_errno(e == ENOENT ? EMBER_ENOENT : EMBER_EIO, e, "cannot create shuffle file %s", w->tmp_path);
        goto free_writer;
    }
    *out = w;
    return 0;

free_writer:
    writer_free(w);
    return rc;
}

int ember_shuffle_writer_append(ember_shuffle_writer *w, uint32_t bucket, const void *data, size_t len) {
    if (!w) return emberE_set(EMBER_EINVAL, "ember_shuffle_writer_append: writer is NULL");
    if (w->err) return emberE_set(w->err, "shuffle file %s: cannot append after an earlier write failed", w->path);
    if (bucket >= w->nbuckets)
        return emberE_set(EMBER_EINVAL, "shuffle file %s: bucket %" PRIu32 " out of range (%" PRIu32 " buckets)",
                          w->path, bucket, w->nbuckets);
    if ((uint64_t)len > UINT32_MAX)
        return emberE_set(EMBER_EINVAL, "shuffle file %s: a record of %zu bytes is over the 4 GiB - 1 limit", w->path,
                          len);
    if (!data && len) return emberE_set(EMBER_EINVAL, "shuffle file %s: record data is NULL", w->path);
    if (w->raw_left)
        return emberE_set(EMBER_EINVAL, "shuffle file %s: a record appended inside a raw segment", w->path);

    if (len >= DIRECT_MIN && len / 16 >= (uint64_t)w->nbuckets * INDEX_ENTRY_SIZE) {
        int rc = write_direct(w, bucket, data, len);
        if (rc) w->err = rc;
        return rc;
    }
    emberB_buf *b = &w->buckets[bucket];
    size_t framed = RECORD_HEADER_SIZE + len;
    if (emberB_reserve(b, framed))
        return emberE_set(EMBER_ENOMEM, "shuffle file %s: out of memory buffering a record of %zu bytes", w->path, len);
    emberB_store_u32(b->data + b->len, (uint32_t)len);
    if (len) memcpy(b->data + b->len + RECORD_HEADER_SIZE, data, len);
    b->len += framed;
    w->buffered += framed;
    w->bucket_bytes[bucket] += framed;

    if (w->buffered <= w->buffer_limit) return 0;
    int rc = write_segment(w);
    if (rc) w->err = rc;
    return rc;
}

int ember_shuffle_writer_commit(ember_shuffle_writer *w, uint64_t *bucket_bytes) {
    if (!w) return emberE_set(EMBER_EINVAL, "ember_shuffle_writer_commit: writer is NULL");
    int rc = w->err;
    if (rc) {
        emberE_set(rc, "shuffle file %s not written: an earlier write failed (%s)", w->path, ember_strerror(rc));
        goto free_writer;
    }
    if (w->raw_left) {
        rc = emberE_set(EMBER_EPROTO, "shuffle file %s not written: its last raw segment lacks %" PRIu64 " bytes",
                        w->path, w->raw_left);
        goto free_writer;
    }
    if (w->buffered) {
        rc = write_segment(w);
        if (rc) goto free_writer;
    }

    uint8_t head[INDEX_HEADER_SIZE], trailer[TRAILER_SIZE];
    emberB_store_u32(head, w->nbuckets);
    emberB_store_u32(head + 4, w->nsegments);
    emberB_store_u64(trailer, w->offset);
    emberB_store_u32(trailer + 8, SHUFFLE_MAGIC);
    emberB_store_u32(trailer + 12, SHUFFLE_VERSION);
    if ((rc = write_all(w->fd, head, sizeof head, w->tmp_path)) ||
        (rc = write_all(w->fd, w->index.data, w->index.len, w->tmp_path)) ||
        (rc = write_all(w->fd, trailer, sizeof trailer, w->tmp_path)))
        goto free_writer;

    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0 && errno != EINTR) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot write shuffle file %s", w->tmp_path);
        goto free_writer;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot rename %s to shuffle file %s", w->tmp_path, w->path);
        goto free_writer;
    }
    if (bucket_bytes && w->nbuckets) memcpy(bucket_bytes, w->bucket_bytes, w->nbuckets * sizeof *bucket_bytes);

free_writer:
    if (rc) unlink(w->tmp_path);
    writer_free(w);
    return rc;
}

void ember_shuffle_writer_abort(ember_shuffle_writer *w) {
    if (!w) return;
    unlink(w->tmp_path);
    writer_free(w);
}

/* ---- raw segments ----------------------------------------------------------- */

int emberF_writer_segment(ember_shuffle_writer *w, uint32_t bucket, uint64_t len, uint32_t crc) {
    if (w->err) return emberE_set(w->err, "shuffle file %s: cannot go on after an earlier write failed", w->path);
    if (bucket >= w->nbuckets)
        return emberE_set(EMBER_EINVAL, "shuffle file %s: bucket %" PRIu32 " out of range (%" PRIu32 " buckets)",
                          w->path, bucket, w->nbuckets);
    if (w->raw_left)
        return emberE_set(EMBER_EPROTO,
                          "shuffle file %s: a raw segment began while the one before lacks %" PRIu64 " bytes", w->path,
                          w->raw_left);
    int rc = w->buffered ? write_segment(w) : 0;
    if (rc) return w->err = rc;
    if ((rc = index_one_bucket(w, bucket, len, crc))) return rc;
    w->nsegments++;
    w->raw_left = len;
    w->bucket_bytes[bucket] += len;
    return 0;
}

int emberF_writer_raw(ember_shuffle_writer *w, const void *p, size_t n) {
    if (w->err) return emberE_set(w->err, "shuffle file %s: cannot go on after an earlier write failed", w->path);
    if (n > w->raw_left)
        return w->err = emberE_set(EMBER_EPROTO, "shuffle file %s: %zu raw bytes where the segment lacks only %" PRIu64,
                                   w->path, n, w->raw_left);
    int rc = n ? write_all(w->fd, p, n, w->tmp_path) : 0;
    if (rc) return w->err = rc;
    w->offset += n;
    w->raw_left -= n;
    return 0;
}

/* ---- reader ----------------------------------------------------------------- */

struct ember_shuffle_reader {
    char **paths;
    size_t npaths;
    size_t cur; /* the open file, or the next one to open */
    uint32_t bucket;
    int fd;             /* open on paths[cur], or -1 */
    uint64_t index_off; /* of the open file: its data is [0, index_off) */
    uint32_t nbuckets;
    uint32_t nsegments;
    uint32_t seg;       /* next segment whose range to read */
    uint64_t range_pos; /* next byte of the current range to load */
    uint64_t range_end;
    uint32_t range_crc;  /* CRC-32C of the range's bytes loaded so far */
    uint32_t range_want; /* the index's CRC-32C of the whole range */
    uint8_t *buf;        /* bytes loaded from the range; [start, end) not yet consumed */
    size_t cap, start, end;
    void *map; /* the pages of the record returned last, when it was mapped (MAP_MIN) */
    size_t map_len;
    int err; /* a failure sticks: next keeps returning it */
};

static int corrupt(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(const char *path, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return emberE_set(EMBER_ECORRUPT, "corrupt shuffle file %s: %s", path, what);
}

static int pread_all(int fd, void *p, size_t n, uint64_t off, const char *path) {
    uint8_t *b = p;
    while (n > 0) {
        ssize_t k = pread(fd, b, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return emberE_errno(EMBER_EIO, errno, "cannot read shuffle file %s", path);
        }
        if (k == 0) return corrupt(path, "file ends early, at byte %" PRIu64, off);
        b += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static void unmap_record(ember_shuffle_reader *r) {
    if (r->map) munmap(r->map, r->map_len);
    r->map = NULL;
}

static void close_file(ember_shuffle_reader *r) {
    unmap_record(r);
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    r->start = r->end = 0;
    r->range_pos = r->range_end = 0;
}

/* Opens paths[cur] and checks its trailer and index. */
static int open_file(ember_shuffle_reader *r) {
    const char *path = r->paths[r->cur];
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return emberE_errno(e == ENOENT ? EMBER_ENOENT : EMBER_EIO, e, "cannot open shuffle file %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "cannot stat shuffle file %s", path);
        goto close_fd;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < INDEX_HEADER_SIZE + TRAILER_SIZE) {
        rc = corrupt(path, "%" PRIu64 " bytes is too short for an index and trailer", size);
        goto close_fd;
    }

    uint8_t trailer[TRAILER_SIZE], head[INDEX_HEADER_SIZE];
    rc = pread_all(fd, trailer, sizeof trailer, size - TRAILER_SIZE, path);
    if (rc) goto close_fd;
    uint64_t index_off = emberB_load_u64(trailer);
    uint32_t magic = emberB_load_u32(trailer + 8), version = emberB_load_u32(trailer + 12);
    if (magic != SHUFFLE_MAGIC) {
        rc = corrupt(path, "bad magic 0x%08" PRIx32 " in the trailer (truncated?)", magic);
        goto close_fd;
    }
    if (version != SHUFFLE_VERSION) {
        rc = corrupt(path, "unsupported version %" PRIu32, version);
        goto close_fd;
    }
    uint64_t index_room = size - TRAILER_SIZE; /* the index must end here */
    if (index_off > index_room - INDEX_HEADER_SIZE) {
        rc = corrupt(path, "index offset %" PRIu64 " is past the end of the file (%" PRIu64 " bytes)", index_off, size);
        goto close_fd;
    }
    rc = pread_all(fd, head, sizeof head, index_off, path);
    if (rc) goto close_fd;
    uint32_t nbuckets = emberB_load_u32(head), nsegments = emberB_load_u32(head + 4);
    uint64_t entry_bytes = index_room - INDEX_HEADER_SIZE - index_off;
    if (entry_bytes % INDEX_ENTRY_SIZE || entry_bytes / INDEX_ENTRY_SIZE != (uint64_t)nbuckets * nsegments) {
        rc = corrupt(path,
                     "an index of %" PRIu32 " segments x %" PRIu32 " buckets does not fit the %" PRIu64
                     " bytes between offset %" PRIu64 " and the trailer",
                     nsegments, nbuckets, entry_bytes, index_off);
        goto close_fd;
    }
    if (r->bucket >= nbuckets) {
        rc = emberE_set(EMBER_EINVAL, "bucket %" PRIu32 " out of range: shuffle file %s has %" PRIu32 " buckets",
                        r->bucket, path, nbuckets);
        goto close_fd;
    }

    r->fd = fd;
    r->index_off = index_off;
    r->nbuckets = nbuckets;
    r->nsegments = nsegments;
    r->seg = 0;
    r->start = r->end = 0;
    r->range_pos = r->range_end = 0;
    return 0;

close_fd:
    close(fd);
    return rc;
}

/* The current range is wholly loaded: its CRC must be the index's. */
static int check_range(ember_shuffle_reader *r) {
    if (r->range_crc == r->range_want) return 0;
    return corrupt(r->paths[r->cur],
                   "bucket %" PRIu32 " of segment %" PRIu32 " fails its checksum (CRC-32C 0x%08" PRIx32
                   ", the index says 0x%08" PRIx32 ")",
                   r->bucket, r->seg - 1, r->range_crc, r->range_want);
}

/* Reads the bucket's index entry for segment `seg` and makes it the current range. */
static int load_range(ember_shuffle_reader *r) {
    const char *path = r->paths[r->cur];
    uint8_t entry[INDEX_ENTRY_SIZE];
    uint64_t at = r->index_off + INDEX_HEADER_SIZE + ((uint64_t)r->seg * r->nbuckets + r->bucket) * INDEX_ENTRY_SIZE;
    int rc = pread_all(r->fd, entry, sizeof entry, at, path);
    if (rc) return rc;
    uint64_t off = emberB_load_u64(entry), len = emberB_load_u64(entry + 8);
    uint32_t want = emberB_load_u32(entry + 16);
    if (off > r->index_off || len > r->index_off - off)
        return corrupt(path,
                       "segment %" PRIu32 " of bucket %" PRIu32 " claims %" PRIu64 " bytes at offset %" PRIu64
                       ", outside the data (%" PRIu64 " bytes)",
                       r->seg, r->bucket, len, off, r->index_off);
    r->range_pos = off;
    r->range_end = off + len;
    r->range_crc = 0;
    r->range_want = want;
    r->seg++;
    return len ? 0 : check_range(r);
}

/* Makes buf[start, end) hold at least `need` bytes. The caller has checked that the
 * current range holds them: need <= (end - start) + (range_end - range_pos). */
static int fill(ember_shuffle_reader *r, size_t need) {
    size_t have = r->end - r->start;
    if (r->start) {
        memmove(r->buf, r->buf + r->start, have);
        r->start = 0;
        r->end = have;
    }
    size_t want = need > READ_BUFFER_SIZE ? need : READ_BUFFER_SIZE;
    if (r->cap < want) {
        uint8_t *b = ember_realloc(r->buf, want);
        if (!b)
            return emberE_set(EMBER_ENOMEM, "out of memory growing the read buffer of shuffle file %s to %zu bytes",
                              r->paths[r->cur], want);
        r->buf = b;
        r->cap = want;
    }
    uint64_t left = r->range_end - r->range_pos;
    size_t n = r->cap - r->end;
    if (left < n) n = (size_t)left; /* n >= need - have, by the caller's check */
    int rc = pread_all(r->fd, r->buf + r->end, n, r->range_pos, r->paths[r->cur]);
    if (rc) return rc;
    r->range_crc = emberK_crc32c(r->range_crc, r->buf + r->end, n);
    r->end += n;
    r->range_pos += n;
    return r->range_pos == r->range_end ? check_range(r) : 0;
}

/* The record of n bytes whose first `got` bytes the buffer holds after its length
 * (the rest is the range's next bytes, which the caller checked it holds): maps its
 * pages, checksums the bytes not loaded yet and points *data at it. 1 when the file
 * could not be mapped (the caller reads it into the buffer), else 0 or the range's
 * checksum failure. */
static int map_record(ember_shuffle_reader *r, size_t got, size_t n, const void **data) {
    long page = sysconf(_SC_PAGESIZE); /* no static: readers run on several threads */
    uint64_t at = r->range_pos - got, base = at & ~(uint64_t)(page - 1);
    size_t len = (size_t)(at - base) + n;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, r->fd, (off_t)base);
    if (m == MAP_FAILED) return 1;
    const uint8_t *rec = (const uint8_t *)m + (at - base);
    r->range_crc = emberK_crc32c(r->range_crc, rec + got, n - got);
    r->range_pos = at + n;
    r->start = r->end = 0;
    r->map = m;
    r->map_len = len;
    *data = rec;
    return r->range_pos == r->range_end ? check_range(r) : 0;
}

int ember_shuffle_reader_open(const char *const *paths, size_t npaths, uint32_t bucket, ember_shuffle_reader **out) {
    if (!out) return emberE_set(EMBER_EINVAL, "ember_shuffle_reader_open: out is NULL");
    *out = NULL;
    if (npaths && !paths) return emberE_set(EMBER_EINVAL, "ember_shuffle_reader_open: paths is NULL");

    int rc;
    ember_shuffle_reader *r = ember_calloc(1, sizeof *r);
    if (!r) return emberE_set(EMBER_ENOMEM, "out of memory opening a shuffle reader");
    r->fd = -1;
    r->bucket = bucket;
    r->paths = ember_calloc(npaths, sizeof *r->paths);
    if (!r->paths) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening a shuffle reader over %zu files", npaths);
        goto free_reader;
    }
    for (size_t i = 0; i < npaths; i++) {
        if (!paths[i]) {
            rc = emberE_set(EMBER_EINVAL, "ember_shuffle_reader_open: path %zu is NULL", i);
            goto free_reader;
        }
        r->paths[i] = ember_strdup(paths[i]);
        if (!r->paths[i]) {
            rc = emberE_set(EMBER_ENOMEM, "out of memory opening shuffle file %s", paths[i]);
            goto free_reader;
        }
        r->npaths = i + 1;
    }
    *out = r;
    return 0;

free_reader:
    ember_shuffle_reader_close(r);
    return rc;
}

int ember_shuffle_reader_next(ember_shuffle_reader *r, const void **data, size_t *len) {
    if (!r || !data || !len) return emberE_set(EMBER_EINVAL, "ember_shuffle_reader_next: NULL argument");
    if (r->err) return r->err;
    unmap_record(r); /* the record returned last is given up */
    int rc;
    for (;;) {
        if (r->fd < 0) {
            if (r->cur == r->npaths) return 0;
            rc = open_file(r);
            if (rc) goto fail;
            continue;
        }
        size_t have = r->end - r->start;
        uint64_t left = r->range_end - r->range_pos;
        if (have == 0 && left == 0) {
            if (r->seg < r->nsegments) {
                rc = load_range(r);
                if (rc) goto fail;
            } else {
                close_file(r);
                r->cur++;
            }
            continue;
        }

        uint64_t at = r->range_pos - have; /* file offset of the record */
        if (have < RECORD_HEADER_SIZE) {
            if (left < RECORD_HEADER_SIZE - have) {
                rc = corrupt(r->paths[r->cur], "bucket %" PRIu32 " ends inside a record length at byte %" PRIu64,
                             r->bucket, at);
                goto fail;
            }
            rc = fill(r, RECORD_HEADER_SIZE);
            if (rc) goto fail;
            have = r->end - r->start;
            left = r->range_end - r->range_pos;
        }
        uint32_t n = emberB_load_u32(r->buf + r->start);
        if ((uint64_t)n > have - RECORD_HEADER_SIZE + left) {
            rc = corrupt(r->paths[r->cur],
                         "record of %" PRIu32 " bytes at byte %" PRIu64 " overruns bucket %" PRIu32 " (segment %" PRIu32
                         " ends at byte %" PRIu64 ")",
                         n, at, r->bucket, r->seg - 1, r->range_end);
            goto fail;
        }
        if (have - RECORD_HEADER_SIZE < n && n >= MAP_MIN) {
            rc = map_record(r, have - RECORD_HEADER_SIZE, n, data);
            if (rc == 0) {
                *len = n;
                return 1;
            }
            if (rc != 1) goto fail;
        }
        if (have - RECORD_HEADER_SIZE < n) {
            rc = fill(r, RECORD_HEADER_SIZE + (size_t)n);
            if (rc) goto fail;
        }
        *data = r->buf + r->start + RECORD_HEADER_SIZE;
        *len = n;
        r->start += RECORD_HEADER_SIZE + (size_t)n;
        return 1;
    }

fail:
    r->err = rc;
    return rc;
}

int emberF_bucket_ranges(const char *path, uint32_t bucket, int *fd, emberF_range **ranges, size_t *n) {
    *fd = -1;
    *ranges = NULL;
    *n = 0;
    ember_shuffle_reader *r;
    int rc = ember_shuffle_reader_open(&path, 1, bucket, &r);
    if (rc) return rc;
    if ((rc = open_file(r))) goto close_reader;
    emberF_range *out = NULL;
    size_t count = 0, cap = 0;
    while (r->seg < r->nsegments) {
        if ((rc = load_range(r))) break; /* an entry outside the data, or empty with a CRC */
        if (r->range_end == r->range_pos) continue;
        if ((rc = emberB_grow(&out, &cap, count + 1, sizeof *out, 8))) break;
        out[count++] = (emberF_range){r->range_pos, r->range_end - r->range_pos, r->range_want};
    }
    if (rc) {
        ember_free(out);
        goto close_reader;
    }
    *fd = r->fd;
    r->fd = -1;
    *ranges = out;
    *n = count;
close_reader:
    ember_shuffle_reader_close(r);
    return rc;
}

const char *ember_shuffle_reader_file(const ember_shuffle_reader *r) {
    if (!r || r->npaths == 0) return NULL;
    return r->paths[r->cur < r->npaths ? r->cur : r->npaths - 1];
}

void ember_shuffle_reader_close(ember_shuffle_reader *r) {
    if (!r) return;
    close_file(r);
    for (size_t i = 0; i < r->npaths; i++)
        ember_free(r->paths[i]);
    ember_free(r->paths);
    ember_free(r->buf);
    ember_free(r);
}
