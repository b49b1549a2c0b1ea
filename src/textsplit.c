/* textsplit.c — text input: expands the `paths` of textFile() into byte-range splits
 * the way Hadoop's FileInputFormat does, and reads the lines of one split.
 *
 * Design
 *  - Listing. `paths` is cut at commas outside braces (so a glob like "{a,b}.txt" stays
 *    whole). An entry with glob metacharacters is expanded with glob(3) (GLOB_BRACE);
 *    matches are sorted and, as in Hadoop, names starting with '_' or '.' are dropped;
 *    a matched directory is listed as a directory. An entry without metacharacters (or
 *    a pattern that matched nothing but names an existing file literally) is a file or
 *    a directory: its regular files, sorted by name, '_' and '.' names skipped, no
 *    descent. Anything that yields no match at all is EMBER_ENOENT.
 *  - Cutting. total = bytes of all the files; goal = total / max(min_partitions, 1);
 *    size = max(1, min(goal, 32 MiB)); each plain file is cut into pieces of `size`
 *    while remaining / size > 1.1, the rest being the last piece; an empty file is one
 *    empty split. A compressed file (codec by extension: .gz .deflate .xz .zst,
 *    codec.c) is one split [0, -1) read whole; bzip2, splittable, is cut like plain
 *    text (below). All files count in the total, as in Hadoop. One departure from
 *    Hadoop: when the 32 MiB cap applies, a file is cut into the same number of pieces
 *    but of equal size, so that its tasks take equal time (Hadoop's rule leaves a small
 *    last piece: a 100 MB file on two cores would run as 32+32 MB on one core and
 *    32+4 MB on the other). Counts, and the layout of smaller inputs, are Hadoop's.
 *  - Reading. A reader works in offsets of the uncompressed bytes. Line starts are
 *    offset 0 and every offset just past a terminator ("\n", "\r\n", lone "\r"); a line
 *    belongs to the split [s, e) with s < start <= e (the first split, unless empty,
 *    also holds the line at 0), as Hadoop's LineRecordReader gives them: a split starting at s > 0
 *    reads from s and discards up to and including the first terminator found there
 *    (the split before has read that line), then returns lines while their start is
 *    at most `end`, reading past `end` to finish the last one. A pair "\r\n" cut
 *    between its bytes is one terminator: the split before reads it whole, and the
 *    "\n" the next split finds first ends the line it discards.
 *  - bzip2 splits. A .bz2 file is cut like a plain one, by its compressed bytes; a
 *    split starts at the first block whose magic starts in it (codec.c, "bzip2
 *    splits"), and offsets count from that block's first byte. As in Hadoop, a split
 *    starting at s > 0 discards the first line of that block, and returns lines while
 *    the position of the block holding the byte before the line (codec.c) is at most
 *    `end`; so every line is read once, and by the same split as in PySpark. A
 *    bzip2 file of one piece is read whole, as the other codecs' files are.
 *  - A UTF-8 byte order mark at the start of a file is dropped, as Hadoop drops it.
 *  - Buffering. buf[pos, len) holds the bytes not yet returned, buf[0] being at file
 *    offset `off`. Bytes come from pread() for plain files and from a codec.c decoder
 *    (sequential) for compressed ones, into a buffer of emberT_buffer_size bytes that
 *    doubles whenever one line does not fit. The file is never mapped or read whole.
 *  - Checking. Before decoding, a compressed file's first bytes must be its codec's
 *    magic bytes: a ".gz" holding bzip2 or text fails, saying what it looks like,
 *    instead of reading as lines of garbage.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SPLIT_SIZE ((int64_t)32 << 20) /* Hadoop's block size for local files */
#define SPLIT_SLOP 1.1                     /* the last split may be up to 10% larger */

/* The reader's initial buffer size. A test hook: tests shrink it, before opening any
 * reader, to put buffer boundaries at every offset. */
size_t emberT_buffer_size = (size_t)1 << 20;

/* ---- listing -------------------------------------------------------------- */

typedef struct infile {
    char *path;
    int64_t size;
    int codec;
} infile;

typedef struct filelist {
    infile *v;
    size_t n, cap;
} filelist;

static void filelist_free(filelist *fl) {
    for (size_t i = 0; i < fl->n; i++)
        ember_free(fl->v[i].path);
    ember_free(fl->v);
    fl->v = NULL;
    fl->n = fl->cap = 0;
}

static int is_hidden_name(const char *name) { return name[0] == '_' || name[0] == '.'; }

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int has_glob_magic(const char *s) { return strpbrk(s, "*?[{") != NULL; }

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends a copy of `path` to the list. */
static int filelist_add(filelist *fl, const char *path, int64_t size) {
    if (emberB_grow(&fl->v, &fl->cap, fl->n + 1, sizeof *fl->v, 16))
        return emberE_set(EMBER_ENOMEM, "out of memory listing input files");
    char *copy = ember_strdup(path);
    if (!copy) return emberE_set(EMBER_ENOMEM, "out of memory listing input files");
    fl->v[fl->n].path = copy;
    fl->v[fl->n].size = size;
    fl->v[fl->n].codec = ember_codec_of_name(path);
    fl->n++;
    return 0;
}

/* Returns dir + "/" + name, allocated, or NULL when out of memory. */
static char *join_path(const char *dir, const char *name) {
    size_t dl = strlen(dir), nl = strlen(name);
    size_t slash = dl > 0 && dir[dl - 1] != '/';
    char *p = ember_malloc(dl + slash + nl + 1);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    if (slash) p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

/* Adds the regular files directly inside `dir`, sorted by name, skipping names that
 * start with '_' or '.'. Entries that vanish while listing are skipped. */
static int add_directory(filelist *fl, const char *dir) {
    int rc = 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) return emberE_errno(EMBER_EIO, errno, "cannot list input directory %s", dir);
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = emberE_errno(EMBER_EIO, errno, "cannot list input directory %s", dir);
            break;
        }
        if (is_hidden_name(e->d_name)) continue;
        if (emberB_grow(&names, &cap, n + 1, sizeof *names, 32)) {
            rc = emberE_set(EMBER_ENOMEM, "out of memory listing input directory %s", dir);
            break;
        }
        names[n] = join_path(dir, e->d_name);
        if (!names[n]) {
            rc = emberE_set(EMBER_ENOMEM, "out of memory listing input directory %s", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) goto free_names;
    if (n) qsort(names, n, sizeof *names, compare_paths);
    for (size_t i = 0; i < n && !rc; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0) {
            if (errno != ENOENT) rc = emberE_errno(EMBER_EIO, errno, "cannot stat input file %s", names[i]);
            continue;
        }
        if (S_ISREG(st.st_mode)) rc = filelist_add(fl, names[i], (int64_t)st.st_size);
    }
free_names:
    for (size_t i = 0; i < n; i++)
        ember_free(names[i]);
    ember_free(names);
    return rc;
}

/* Adds one path named by the user (literally): a regular file or a directory. */
static int add_literal(filelist *fl, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return emberE_set(EMBER_ENOENT, "input path does not exist: %s", path);
        return emberE_errno(EMBER_EIO, errno, "cannot stat input path %s", path);
    }
    if (S_ISREG(st.st_mode)) return filelist_add(fl, path, (int64_t)st.st_size);
    if (S_ISDIR(st.st_mode)) return add_directory(fl, path);
    return emberE_set(EMBER_EINVAL, "input path is neither a regular file nor a directory: %s", path);
}

/* Expands a glob pattern. Sets *matched to the number of matches kept (files and
 * directories whose names do not start with '_' or '.'). */
static int add_pattern(filelist *fl, const char *pattern, size_t *matched) {
    int rc = 0;
    glob_t g;
    *matched = 0;
    int grc = glob(pattern, GLOB_BRACE, NULL, &g);
    if (grc == GLOB_NOMATCH) goto free_glob;
    if (grc == GLOB_NOSPACE) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory expanding input pattern %s", pattern);
        goto free_glob;
    }
    if (grc != 0) {
        rc = emberE_set(EMBER_EIO, "cannot read a directory while expanding input pattern %s", pattern);
        goto free_glob;
    }
    if (g.gl_pathc) qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, compare_paths);
    for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
        const char *path = g.gl_pathv[i];
        struct stat st;
        if (is_hidden_name(base_name(path))) continue;
        if (stat(path, &st) != 0) {
            if (errno != ENOENT) rc = emberE_errno(EMBER_EIO, errno, "cannot stat input path %s", path);
            continue; /* a dangling link or a file removed meanwhile */
        }
        if (S_ISREG(st.st_mode)) {
            rc = filelist_add(fl, path, (int64_t)st.st_size);
            ++*matched;
        } else if (S_ISDIR(st.st_mode)) {
            rc = add_directory(fl, path);
            ++*matched;
        }
    }
free_glob:
    globfree(&g);
    return rc;
}

static int add_entry(filelist *fl, const char *entry) {
    struct stat st;
    if (has_glob_magic(entry)) {
        size_t matched;
        int rc = add_pattern(fl, entry, &matched);
        if (rc || matched) return rc;
        /* No match: the name may hold a metacharacter literally. */
        if (stat(entry, &st) != 0) return emberE_set(EMBER_ENOENT, "input path does not exist: %s", entry);
    }
    return add_literal(fl, entry);
}

/* Splits `paths` at commas outside braces and adds each entry in order. */
static int add_entries(filelist *fl, const char *paths) {
    int rc = 0;
    char *entry = ember_malloc(strlen(paths) + 1);
    if (!entry) return emberE_set(EMBER_ENOMEM, "out of memory parsing input paths");
    const char *p = paths;
    for (;;) {
        const char *q = p;
        int depth = 0;
        for (; *q && (*q != ',' || depth > 0); q++) {
            if (*q == '{')
                depth++;
            else if (*q == '}' && depth > 0)
                depth--;
        }
        size_t n = (size_t)(q - p);
        if (n == 0) {
            rc = emberE_set(EMBER_EINVAL, "empty entry in input paths \"%s\"", paths);
            goto free_entry;
        }
        memcpy(entry, p, n);
        entry[n] = '\0';
        rc = add_entry(fl, entry);
        if (rc || !*q) goto free_entry;
        p = q + 1;
    }
free_entry:
    ember_free(entry);
    return rc;
}

/* ---- cutting -------------------------------------------------------------- */

static int push_split(ember_split **v, size_t *n, size_t *cap, const infile *f, int64_t start, int64_t end) {
    if (emberB_grow(v, cap, *n + 1, sizeof **v, 16))
        return emberE_set(EMBER_ENOMEM, "out of memory cutting input splits");
    ember_split *s = &(*v)[*n];
    s->path = ember_strdup(f->path);
    if (!s->path) return emberE_set(EMBER_ENOMEM, "out of memory cutting input splits");
    s->start = start;
    s->end = end;
    s->codec = f->codec;
    ++*n;
    return 0;
}

static int cut_splits(const filelist *fl, int min_partitions, ember_split **out, size_t *nout) {
    int rc = 0;
    ember_split *v = NULL;
    size_t n = 0, cap = 0;
    int64_t total = 0;
    for (size_t i = 0; i < fl->n; i++)
        total += fl->v[i].size;
    int64_t goal = total / (min_partitions > 1 ? min_partitions : 1);
    int64_t size = goal < MAX_SPLIT_SIZE ? goal : MAX_SPLIT_SIZE;
    if (size < 1) size = 1;

    for (size_t i = 0; i < fl->n && !rc; i++) {
        const infile *f = &fl->v[i];
        if (f->codec && f->codec != EMBER_CODEC_BZIP2) {
            rc = push_split(&v, &n, &cap, f, 0, -1);
            continue;
        }
        if (f->size == 0) {
            rc = push_split(&v, &n, &cap, f, 0, f->codec ? -1 : 0);
            continue;
        }
        int64_t remaining = f->size, pieces = 0;
        while ((double)remaining / (double)size > SPLIT_SLOP) {
            pieces++;
            remaining -= size;
        }
        if (remaining > 0) pieces++;
        if (f->codec && pieces == 1) {
            rc = push_split(&v, &n, &cap, f, 0, -1); /* a bzip2 file read whole */
            continue;
        }
        if (size == MAX_SPLIT_SIZE) {
            for (int64_t j = 0; j < pieces && !rc; j++)
                rc = push_split(&v, &n, &cap, f, (int64_t)((__int128)f->size * j / pieces),
                                (int64_t)((__int128)f->size * (j + 1) / pieces));
            continue;
        }
        for (remaining = f->size; !rc && (double)remaining / (double)size > SPLIT_SLOP; remaining -= size)
            rc = push_split(&v, &n, &cap, f, f->size - remaining, f->size - remaining + size);
        if (!rc && remaining > 0) rc = push_split(&v, &n, &cap, f, f->size - remaining, f->size);
    }
    if (rc) {
        ember_splits_free(v, n);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

int ember_text_splits(const char *paths, int min_partitions, ember_split **out, size_t *n) {
    int rc;
    filelist fl = {0};
    if (!out || !n) return emberE_set(EMBER_EINVAL, "ember_text_splits: out and n must not be NULL");
    *out = NULL;
    *n = 0;
    if (!paths || !*paths) return emberE_set(EMBER_EINVAL, "no input paths given");
    rc = add_entries(&fl, paths);
    if (rc) goto free_list;
    rc = cut_splits(&fl, min_partitions, out, n);
free_list:
    filelist_free(&fl);
    return rc;
}

void ember_splits_free(ember_split *splits, size_t n) {
    if (!splits) return;
    for (size_t i = 0; i < n; i++)
        ember_free(splits[i].path);
    ember_free(splits);
}

/* ---- reading -------------------------------------------------------------- */

struct ember_line_reader {
    char *path;
    int fd;              /* the open file */
    emberC_decoder *dec; /* NULL for a plain file */
    int64_t end;         /* lines starting at or past this offset are not ours; -1 = none */
    char *buf;
    size_t cap;
    size_t pos;  /* first byte not yet returned */
    size_t len;  /* bytes held */
    int64_t off; /* file offset (uncompressed) of buf[0] */
    int eof;     /* the source said end of file */
    int state;   /* 0 reading, 1 finished, < 0 the error every later call returns */
    /* A bzip2 split read block by block: offsets are from the start of its first
     * block, and marks[0, nmarks) hold where each block still needed starts (its
     * offset) and its position (codec.c), oldest first. */
    int by_block;
    struct block_mark {
        int64_t off, pos;
    } * marks;
    size_t nmarks, cap_marks;
    int64_t blocks_seen;
};

/* Notes that the bytes from offset `off` on come from the decoder's current block. */
static int mark_block(ember_line_reader *r, int64_t off) {
    int64_t pos, seen = emberC_decoder_block(r->dec, &pos);
    if (seen == r->blocks_seen) return 0;
    r->blocks_seen = seen;
    if (r->nmarks == r->cap_marks) {
        size_t cap = r->cap_marks ? r->cap_marks * 2 : 4;
        struct block_mark *m = ember_realloc(r->marks, cap * sizeof *m);
        if (!m) return emberE_set(EMBER_ENOMEM, "out of memory reading %s", r->path);
        r->marks = m;
        r->cap_marks = cap;
    }
    r->marks[r->nmarks].off = off;
    r->marks[r->nmarks].pos = pos;
    r->nmarks++;
    return 0;
}

/* The position of the block holding offset `off` (already read); marks of blocks
 * before it are dropped, as offsets asked for only grow. */
static int64_t block_pos_at(ember_line_reader *r, int64_t off) {
    size_t i = 0;
    if (r->nmarks == 0) return INT64_MAX;
    while (i + 1 < r->nmarks && r->marks[i + 1].off <= off)
        i++;
    if (i) {
        memmove(r->marks, r->marks + i, (r->nmarks - i) * sizeof *r->marks);
        r->nmarks -= i;
    }
    return r->marks[0].pos;
}

/* Moves the held bytes to the front of the buffer (growing it when full) and reads
 * more behind them. Sets r->eof at end of file. */
static int fill(ember_line_reader *r) {
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->off += (int64_t)r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == r->cap && emberB_grow(&r->buf, &r->cap, r->cap + 1, 1, 1))
        return emberE_set(EMBER_ENOMEM,
                          "out of memory growing the line buffer past %zu bytes for %s (a line too long?)", r->cap,
                          r->path);
    size_t want = r->cap - r->len;
    if (r->dec) {
        size_t got;
        int rc = emberC_decoder_read(r->dec, r->buf + r->len, want, &got);
        if (rc) return rc;
        if (got && r->by_block && (rc = mark_block(r, r->off + (int64_t)r->len))) return rc;
        if (got == 0) r->eof = 1;
        r->len += got;
        return 0;
    }
    ssize_t got;
    do {
        got = pread(r->fd, r->buf + r->len, want, (off_t)(r->off + (int64_t)r->len));
    } while (got < 0 && errno == EINTR);
    if (got < 0) return emberE_errno(EMBER_EIO, errno, "error reading input file %s", r->path);
    if (got == 0)
        r->eof = 1;
    else
        r->len += (size_t)got;
    return 0;
}

/* Finds the line at buf[pos]: on success buf[pos, pos + *line_len) is the line and
 * *term_len (0, 1 or 2) the length of the terminator after it; 0 for both means no
 * bytes are left. Reads more as needed. With `discard`, bytes known to be inside the
 * line are dropped as it goes, so skipping a long line needs no large buffer (and the
 * line is then not returned whole: only its terminator matters). */
static int find_line(ember_line_reader *r, int discard, size_t *line_len, size_t *term_len) {
    size_t seen = 0; /* bytes after pos known to hold no terminator */
    for (;;) {
        const char *p = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(p + seen, '\n', avail - seen);
        size_t lim = nl ? (size_t)(nl - p) : avail;
        const char *cr = memchr(p + seen, '\r', lim - seen);
        if (cr) {
            size_t i = (size_t)(cr - p);
            if (i + 1 < avail || r->eof) {
                *line_len = i;
                *term_len = i + 1 < avail && p[i + 1] == '\n' ? 2 : 1;
                return 0;
            }
            seen = i; /* a '\r' ends the bytes held: the next byte decides */
        } else if (nl) {
            *line_len = lim;
            *term_len = 1;
            return 0;
        } else if (r->eof) {
            *line_len = avail;
            *term_len = 0;
            return 0;
        } else {
            seen = avail;
        }
        if (discard) {
            r->pos += seen;
            seen = 0;
        }
        int rc = fill(r);
        if (rc) return rc;
    }
}

int ember_line_reader_open(const ember_split *split, ember_line_reader **out) {
    int rc;
    ember_line_reader *r;
    if (!out) return emberE_set(EMBER_EINVAL, "ember_line_reader_open: out must not be NULL");
    *out = NULL;
    if (!split || !split->path) return emberE_set(EMBER_EINVAL, "ember_line_reader_open: no split given");
    if (split->start < 0 || split->end < -1 || (split->end >= 0 && split->end < split->start))
        return emberE_set(EMBER_EINVAL, "invalid split [%lld, %lld) of %s", (long long)split->start,
                          (long long)split->end, split->path);
    r = ember_calloc(1, sizeof *r);
    if (!r) return emberE_set(EMBER_ENOMEM, "out of memory opening %s", split->path);
    r->fd = -1;
    r->end = split->end;
    r->cap = emberT_buffer_size ? emberT_buffer_size : 1;
    r->path = ember_strdup(split->path);
    r->buf = ember_malloc(r->cap);
    if (!r->path || !r->buf) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory opening %s", split->path);
        goto close_reader;
    }
    r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = emberE_set(EMBER_ENOENT, "input file does not exist: %s", r->path);
        else
            rc = emberE_errno(EMBER_EIO, errno, "cannot open input file %s", r->path);
        goto close_reader;
    }
    if (split->codec) {
        uint8_t head[16];
        ssize_t got;
        r->by_block = split->start != 0 || split->end != -1;
        if (r->by_block && r->end < 0) r->end = INT64_MAX; /* to the end: no block is past it */
        if (r->by_block && split->codec != EMBER_CODEC_BZIP2) {
            rc = emberE_set(EMBER_EINVAL, "a %s-compressed file is read whole, not as the split [%lld, %lld) of %s",
                            ember_codec_name(split->codec), (long long)split->start, (long long)split->end, r->path);
            goto close_reader;
        }
        do {
            got = pread(r->fd, head, sizeof head, 0);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            rc = emberE_errno(EMBER_EIO, errno, "error reading input file %s", r->path);
            goto close_reader;
        }
        /* a codec this build lacks says so before the magic bytes are judged */
        rc = ember_codec_available(split->codec) ? emberC_check_magic(split->codec, r->path, head, (size_t)got) : 0;
        if (rc) goto close_reader;
        rc = r->by_block ? emberC_decoder_open_split(split->codec, r->fd, r->path, split->start, &r->dec)
                         : emberC_decoder_open(split->codec, r->fd, r->path, &r->dec);
        if (rc) goto close_reader;
    }
    if (r->by_block && split->start > 0) {
        /* Hadoop's rule: the first line of the first block belongs to the split
         * before (which reads on while its block's position is <= its end), and a
         * split whose first block lies past its end has no lines. */
        int64_t first;
        emberC_decoder_block(r->dec, &first);
        if (first > r->end) {
            r->state = 1;
        } else {
            size_t line_len, term_len;
            rc = find_line(r, 1, &line_len, &term_len);
            if (rc) goto close_reader;
            r->pos += line_len + term_len;
        }
    } else if (split->start > 0) {
        /* Read from start and drop through the first terminator (see the top). */
        size_t line_len, term_len;
        r->off = split->start;
        rc = find_line(r, 1, &line_len, &term_len);
        if (rc) goto close_reader;
        r->pos += line_len + term_len;
    }
    *out = r;
    return 0;
close_reader:
    ember_line_reader_close(r);
    return rc;
}

int ember_line_reader_next(ember_line_reader *r, const char **line, size_t *len) {
    size_t line_len, term_len;
    if (!r || !line || !len) return emberE_set(EMBER_EINVAL, "ember_line_reader_next: NULL argument");
    if (r->state) return r->state < 0 ? r->state : 0;
    int64_t at = r->off + (int64_t)r->pos;
    /* an empty split [0, 0) holds no line: only an empty file is cut so */
    if (r->end == 0 || (r->by_block ? at > 0 && block_pos_at(r, at - 1) > r->end : r->end > 0 && at > r->end)) {
        r->state = 1;
        return 0;
    }
    int rc = find_line(r, 0, &line_len, &term_len);
    if (rc) {
        r->state = rc;
        return rc;
    }
    if (line_len == 0 && term_len == 0) {
        r->state = 1;
        return 0;
    }
    if (at == 0 && line_len >= 3 && memcmp(r->buf + r->pos, "\xef\xbb\xbf", 3) == 0) {
        /* Hadoop's LineRecordReader drops a UTF-8 byte order mark at the start of a
         * file (and a file of the mark alone then holds no line) */
        r->pos += 3;
        line_len -= 3;
        if (line_len == 0 && term_len == 0) {
            r->state = 1;
            return 0;
        }
    }
    *line = r->buf + r->pos;
    *len = line_len;
    r->pos += line_len + term_len;
    return 1;
}

void ember_line_reader_close(ember_line_reader *r) {
    if (!r) return;
    emberC_decoder_close(r->dec);
    ember_free(r->marks);
    if (r->fd >= 0) close(r->fd);
    ember_free(r->buf);
    ember_free(r->path);
    ember_free(r);
}
