/* nworker.c — the native worker: runs the tasks of native steps with no Python, in
 * processes of the engine's own. Also the runner of a native task (emberV_run), the
 * same C loop whichever process calls it.
 *
 * Design. A context without a Python interpreter starts its daemon by running the
 * driver's executable again with EMBER_NATIVE_DAEMON=1 (workers.c); the constructor
 * below sees the variable before main() and serves the control protocol of workers.c
 * on fd 3 instead: each 'F' request forks a worker over the two pipe ends it carries,
 * an 'S' request reaps a worker and answers its wait status. So the workers are the
 * driver's program, its functions at the offsets native.c recorded, and none of them
 * is the driver process. A worker reads frames (wire.h): COMMANDs are kept by id,
 * a TASK reads its data streams to the end, then runs: the input tree becomes a chain
 * of ember_iter record iterators (sources, then each command's step), drained into
 * result batches (DATA frames) or a shuffle file (partitioned by the portable hash or
 * the spec's partitioner, combined on the map side when the spec says). Batches are
 * typed-record batches (record.h), one shuffle record per batch of a bucket.
 *
 * A crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) inside a native function writes
 * a TASK_ERROR naming the function and the signal, then the worker dies of it; the
 * engine retries the task on a new worker. Map-side combining writes its table out
 * past COMBINE_LIMIT bytes (the reduce side merges the parts); the reduce side's merge
 * spills past its limit (see "the reduce side's merge" below).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH_BYTES (64 * 1024)

/* ---- crashes ---------------------------------------------------------------------- */

static int crash_task_fd = -1, crash_result_fd = -1;
static const char *volatile crash_running; /* name of the native function running, or NULL */

static void put_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Appends the NUL-terminated s to msg[*n, cap) (async-signal-safe). */
static void put_text(char *msg, size_t *n, size_t cap, const char *s) {
    while (*s && *n < cap)
        msg[(*n)++] = *s++;
}

static void on_crash(int sig) {
    const char *name = crash_running;
    if (name && crash_result_fd >= 0) {
        /* The task pipe closes first: a task the engine sends after reading the report
         * fails to reach this dying worker (and goes to a new one), not lost with it. */
        if (crash_task_fd >= 0) close(crash_task_fd);
        char msg[1024], num[16];
        size_t n = 0, k = sizeof num;
        num[--k] = 0;
        for (int v = sig; k > 0;) {
            num[--k] = (char)('0' + v % 10);
            if (!(v /= 10)) break;
        }
        const char *abbrev = sigabbrev_np(sig);
        put_text(msg, &n, sizeof msg - 200, "native function ");
        put_text(msg, &n, sizeof msg - 200, name);
        put_text(msg, &n, sizeof msg, " crashed with signal ");
        put_text(msg, &n, sizeof msg, num + k);
        put_text(msg, &n, sizeof msg, " (SIG");
        put_text(msg, &n, sizeof msg, abbrev ? abbrev : "?");
        put_text(msg, &n, sizeof msg, "); the worker running it was replaced");
        uint8_t hdr[EMBER_WIRE_HEADER];
        emberW_header(hdr, EMBER_FRAME_TASK_ERROR, (uint32_t)n);
        put_all(crash_result_fd, (const char *)hdr, sizeof hdr);
        put_all(crash_result_fd, msg, n);
        close(crash_result_fd); /* the engine sees the report, then the end of the pipe */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NCRASH (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction saved_actions[NCRASH];

static void install_crash_handlers(void) {
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    for (size_t i = 0; i < NCRASH; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_crash;
        sa.sa_flags = SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(crash_signals[i], &sa, &saved_actions[i]);
    }
}

void emberV_crash_install(int task_fd, int result_fd) {
    crash_task_fd = task_fd;
    crash_result_fd = result_fd;
    install_crash_handlers();
}

void emberV_crash_running(const char *name) { crash_running = name; }

void emberV_crash_restore(void) {
    for (size_t i = 0; i < NCRASH; i++)
        sigaction(crash_signals[i], &saved_actions[i], NULL);
}

/* ---- record iterators ------------------------------------------------------------- */

/* A run of whole encoded records, not yet checked, that an iterator hands out in
 * place (see next_run below). */
typedef struct ember_run {
    const uint8_t *p;
    size_t len;
    uint64_t *count; /* the iterator's count of records read, or NULL: its reader bumps it per record */
} ember_run;

struct ember_iter {
    int (*next)(ember_iter *it, ember_value *v);
    void (*close)(ember_iter *it);
    /* optional: the next record, which must be a (key, value) pair, and its items
     * decoded in one pass (next_pair falls back to next and pair_items) */
    int (*next_pair)(ember_iter *it, ember_value *rec, ember_value *k, ember_value *v, const char *what);
    /* optional, with bad_run: all the records the iterator holds now, as bytes valid
     * until the next call on it (1; 0 at the end; or a negative code). The reader
     * decodes (so checks) each; when one is bad, bad_run(it) turns the decoder's
     * message into the code to fail with, naming where the bytes came from. */
    int (*next_run)(ember_iter *it, ember_run *run);
    int (*bad_run)(ember_iter *it);
};

int ember_iter_next(ember_iter *it, ember_value *v) { return it->next(it, v); }

static void iter_close(ember_iter *it) {
    if (it) it->close(it);
}

/* Records of a sequence of typed batches. */
typedef struct batch_iter {
    ember_iter it;
    const ember_buf *bufs;
    size_t n, i;
    const uint8_t *p;
    size_t left;
    const char *where;
    uint64_t *count; /* records read, counted here */
} batch_iter;

static int batch_open_next(batch_iter *b) {
    while (b->left == 0) {
        if (b->i == b->n) return 0;
        const ember_buf *buf = &b->bufs[b->i++];
        if (ember_batch_open(buf->data, buf->len, &b->p, &b->left))
            return emberE_set(EMBER_ECORRUPT,
                              "%s holds a batch that is not typed records (pickled Python "
                              "objects cannot be read by a native worker)",
                              b->where);
    }
    return 1;
}

static int batch_next(ember_iter *it, ember_value *v) {
    batch_iter *b = (batch_iter *)it;
    int rc = batch_open_next(b);
    if (rc <= 0) return rc;
    size_t used;
    if (ember_value_decode(b->p, b->left, v, &used))
        return emberE_set(EMBER_ECORRUPT, "%s: a bad record: %s", b->where, ember_last_error());
    b->p += used;
    b->left -= used;
    (*b->count)++;
    return 1;
}

/* The rest of the current batch. */
static int batch_next_run(ember_iter *it, ember_run *run) {
    batch_iter *b = (batch_iter *)it;
    int rc = batch_open_next(b);
    if (rc <= 0) return rc;
    *run = (ember_run){b->p, b->left, b->count};
    b->p += b->left;
    b->left = 0;
    return 1;
}

static int batch_bad_run(ember_iter *it) {
    return emberE_set(EMBER_ECORRUPT, "%s: a bad record: %s", ((batch_iter *)it)->where, ember_last_error());
}

static void free_close(ember_iter *it) { ember_free(it); }

static ember_iter *batch_iter_new(const ember_buf *bufs, size_t n, const char *where, uint64_t *count) {
    batch_iter *b = ember_calloc(1, sizeof *b);
    if (!b) return NULL;
    *b = (batch_iter){{batch_next, free_close, NULL, batch_next_run, batch_bad_run}, bufs, n, 0, NULL, 0, where, count};
    return &b->it;
}

/* Records encoded one after another (no batch header), already checked. */
typedef struct bytes_iter {
    ember_iter it;
    const uint8_t *p;
    size_t left;
} bytes_iter;

static int bytes_next(ember_iter *it, ember_value *v) {
    bytes_iter *b = (bytes_iter *)it;
    size_t used;
    if (!b->left) return 0;
    if (ember_value_decode(b->p, b->left, v, &used)) return EMBER_ECORRUPT;
    b->p += used;
    b->left -= used;
    return 1;
}

int emberV_call_partitions(void *fn, const char *name, const uint8_t *records, size_t len, ember_writer *out) {
    bytes_iter b = {{bytes_next, NULL, NULL, NULL, NULL}, records, len};
    emberE_clear();
    crash_running = name;
    int rc = ((ember_partition_fn)fn)(&b.it, out);
    crash_running = NULL;
    return !rc && out->err ? out->err : rc;
}

/* Records of a cached partition's block file (blocks.c's format), read whole. */
typedef struct block_iter {
    batch_iter b;
    emberM_batches batches;
} block_iter;

static void block_close(ember_iter *it) {
    block_iter *k = (block_iter *)it;
    emberM_batches_clear(&k->batches);
    ember_free(k);
}

/* Lines of a text split as str (invalid UTF-8 replaced as Python's "replace" does) or bytes. */
typedef struct text_iter {
    ember_iter it;
    ember_line_reader *r;
    int as_bytes;
    ember_writer enc;
    ember_writer fixed;
    uint64_t *count; /* records read */
} text_iter;

/* Length of the valid UTF-8 sequence at s[0, n), or 0 with *bad set to the bytes that
 * make one replacement (the maximal subpart of a sequence, at least 1). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *bad) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n || s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf)) {
            *bad = k;
            return 0;
        }
    }
    return need + 1;
}

static int text_next(ember_iter *it, ember_value *v) {
    text_iter *t = (text_iter *)it;
    const char *line;
    size_t len;
    int rc = ember_line_reader_next(t->r, &line, &len);
    if (rc <= 0) return rc;
    ember_writer_reset(&t->enc);
    if (t->as_bytes) {
        ember_put_bytes(&t->enc, line, len);
    } else if (emberR_utf8_valid((const uint8_t *)line, len)) {
        ember_put_str(&t->enc, line, len);
    } else {
        ember_writer *f = &t->fixed;
        ember_writer_reset(f);
        const uint8_t *s = (const uint8_t *)line;
        for (size_t i = 0; i < len && !f->err;) {
            size_t bad = 0, k = utf8_seq(s + i, len - i, &bad);
            if (k) {
                emberN_append(f, s + i, k);
                i += k;
            } else {
                emberN_append(f, "\xef\xbf\xbd", 3);
                i += bad;
            }
        }
        if (f->err) return f->err;
        ember_put_str(&t->enc, (const char *)f->data, f->len);
        len = f->len;
    }
    if (t->enc.err) return t->enc.err;
    (*t->count)++;
    /* the value just written (checked above): a tag, the length, then the bytes */
    *v = (ember_value){.type = t->as_bytes ? EMBER_BYTES : EMBER_STR,
                       .data = t->enc.data + t->enc.len - len,
                       .len = len,
                       .enc = t->enc.data,
                       .enc_len = t->enc.len};
    return 1;
}

static void text_close(ember_iter *it) {
    text_iter *t = (text_iter *)it;
    ember_line_reader_close(t->r);
    ember_writer_free(&t->enc);
    ember_writer_free(&t->fixed);
    ember_free(t);
}

/* Integers of a range. */
typedef struct range_iter {
    ember_iter it;
    int64_t cur, stop, step;
    ember_writer enc;
    uint64_t *count; /* records read */
} range_iter;

static int range_next(ember_iter *it, ember_value *v) {
    range_iter *r = (range_iter *)it;
    if (r->step > 0 ? r->cur >= r->stop : r->cur <= r->stop) return 0;
    ember_writer_reset(&r->enc);
    if (ember_put_int(&r->enc, r->cur)) return r->enc.err;
    r->cur += r->step;
    (*r->count)++;
    return ember_value_decode(r->enc.data, r->enc.len, v, NULL) ? EMBER_ECORRUPT : 1;
}

static void range_close(ember_iter *it) {
    ember_writer_free(&((range_iter *)it)->enc);
    ember_free(it);
}

/* Records of one bucket of shuffle files: each shuffle record is a typed batch. */
typedef struct shuffle_iter {
    ember_iter it;
    ember_shuffle_reader *r;
    char **paths;
    size_t npaths;
    const uint8_t *p;
    size_t left;
    char *failed;    /* the file a read failed on (for FETCH_FAILED), or NULL */
    uint64_t *count; /* shuffle records read */
} shuffle_iter;

/* Opens shuffle records until s->p has some: 1, 0 at the end, or a negative code. */
static int shuffle_fill(shuffle_iter *s) {
    while (s->left == 0) {
        const void *data;
        size_t len;
        int rc = ember_shuffle_reader_next(s->r, &data, &len);
        if (rc <= 0) {
            const char *f = ember_shuffle_reader_file(s->r);
            if (rc < 0 && rc != EMBER_ENOMEM && f && !s->failed) s->failed = ember_strdup(f);
            return rc;
        }
        if (ember_batch_open(data, len, &s->p, &s->left))
            return emberE_set(EMBER_ECORRUPT,
                              "shuffle file %s holds a batch that is not typed records (written by "
                              "a Python worker?): a native worker reads typed records only",
                              ember_shuffle_reader_file(s->r));
    }
    return 1;
}

static int shuffle_next(ember_iter *it, ember_value *v) {
    shuffle_iter *s = (shuffle_iter *)it;
    int rc = shuffle_fill(s);
    if (rc <= 0) return rc;
    size_t used;
    if (ember_value_decode(s->p, s->left, v, &used))
        return emberE_set(EMBER_ECORRUPT, "shuffle file %s: a bad record: %s", ember_shuffle_reader_file(s->r),
                          ember_last_error());
    s->p += used;
    s->left -= used;
    (*s->count)++;
    return 1;
}

static int pair_items(const ember_value *rec, ember_value *k, ember_value *v, const char *what);

/* Decodes the record at *p (of *left bytes) as a (key, value) pair and steps past it:
 * 1, or a negative code (EMBER_ECORRUPT: the bytes are bad, the message is the
 * decoder's; else not a pair, the message naming `what`). */
static int take_pair(const uint8_t **p, size_t *left, ember_value *rec, ember_value *k, ember_value *v,
                     const char *what) {
    size_t used;
    int rc = emberR_decode_pair(*p, *left, rec, k, v, &used);
    if (rc < 0) return rc;
    if (rc == 0 && (rc = pair_items(rec, k, v, what))) return rc;
    *p += used;
    *left -= used;
    return 1;
}

static int shuffle_next_pair(ember_iter *it, ember_value *rec, ember_value *k, ember_value *v, const char *what) {
    shuffle_iter *s = (shuffle_iter *)it;
    int rc;
    if (s->left == 0) { /* the next batch, as shuffle_next opens it */
        if ((rc = shuffle_next(it, rec)) <= 0) return rc;
        return (rc = pair_items(rec, k, v, what)) ? rc : 1;
    }
    if ((rc = take_pair(&s->p, &s->left, rec, k, v, what)) == EMBER_ECORRUPT)
        return emberE_set(EMBER_ECORRUPT, "shuffle file %s: a bad record: %s", ember_shuffle_reader_file(s->r),
                          ember_last_error());
    if (rc == 1) (*s->count)++;
    return rc;
}

/* The rest of the current shuffle record (a typed batch). */
static int shuffle_next_run(ember_iter *it, ember_run *run) {
    shuffle_iter *s = (shuffle_iter *)it;
    int rc = shuffle_fill(s);
    if (rc <= 0) return rc;
    *run = (ember_run){s->p, s->left, s->count};
    s->p += s->left;
    s->left = 0;
    return 1;
}

static int shuffle_bad_run(ember_iter *it) {
    shuffle_iter *s = (shuffle_iter *)it;
    return emberE_set(EMBER_ECORRUPT, "shuffle file %s: a bad record: %s", ember_shuffle_reader_file(s->r),
                      ember_last_error());
}

static void shuffle_close(ember_iter *it) {
    shuffle_iter *s = (shuffle_iter *)it;
    ember_shuffle_reader_close(s->r);
    for (size_t i = 0; i < s->npaths; i++)
        ember_free(s->paths[i]);
    ember_free(s->paths);
    ember_free(s->failed);
    ember_free(s);
}

/* The records of several iterators one after another. */
typedef struct concat_iter {
    ember_iter it;
    ember_iter **kids;
    size_t n, i;
} concat_iter;

static int concat_next(ember_iter *it, ember_value *v) {
    concat_iter *c = (concat_iter *)it;
    for (; c->i < c->n; c->i++) {
        int rc = c->kids[c->i]->next(c->kids[c->i], v);
        if (rc) return rc;
    }
    return 0;
}

static void concat_close(ember_iter *it) {
    concat_iter *c = (concat_iter *)it;
    for (size_t i = 0; i < c->n; i++)
        iter_close(c->kids[i]);
    ember_free(c->kids);
    ember_free(c);
}

/* zip: (a, b) record by record; cartesian: every (a, b), b's records held in memory. */
typedef struct pair_iter {
    ember_iter it;
    ember_iter *a, *b;
    int cartesian;
    ember_writer held; /* cartesian: b's records */
    size_t off;        /* cartesian: next of b's records */
    int have_a;
    ember_writer a_copy; /* cartesian: the current record of a */
    ember_writer enc;
} pair_iter;

static int pair_emit(pair_iter *p, const ember_value *a, const ember_value *b, ember_value *v) {
    ember_writer_reset(&p->enc);
    ember_put_tuple(&p->enc, 2);
    ember_put_value(&p->enc, a);
    ember_put_value(&p->enc, b);
    if (p->enc.err) return p->enc.err;
    return ember_value_decode(p->enc.data, p->enc.len, v, NULL) ? EMBER_ECORRUPT : 1;
}

static int pair_next(ember_iter *it, ember_value *v) {
    pair_iter *p = (pair_iter *)it;
    ember_value a, b;
    if (!p->cartesian) {
        int ra = p->a->next(p->a, &a);
        if (ra < 0) return ra;
        int rb = p->b->next(p->b, &b);
        if (rb < 0) return rb;
        if (ra != rb)
            return emberE_set(EMBER_EINVAL, "Can only zip RDDs with same number of elements in each partition");
        return ra ? pair_emit(p, &a, &b, v) : 0;
    }
    if (p->b) { /* first call: hold b's records */
        int rc;
        while ((rc = p->b->next(p->b, &b)) == 1)
            ember_put_value(&p->held, &b);
        if (rc < 0) return rc;
        if (p->held.err) return p->held.err;
        iter_close(p->b);
        p->b = NULL;
    }
    for (;;) {
        if (!p->have_a || p->off == p->held.len) {
            int rc = p->a->next(p->a, &a);
            if (rc <= 0) return rc;
            if (p->held.len == 0) continue;
            ember_writer_reset(&p->a_copy);
            if (ember_put_value(&p->a_copy, &a)) return p->a_copy.err;
            p->have_a = 1;
            p->off = 0;
        }
        size_t used;
        ember_value_decode(p->a_copy.data, p->a_copy.len, &a, NULL);
        ember_value_decode(p->held.data + p->off, p->held.len - p->off, &b, &used);
        p->off += used;
        return pair_emit(p, &a, &b, v);
    }
}

static void pair_close(ember_iter *it) {
    pair_iter *p = (pair_iter *)it;
    iter_close(p->a);
    iter_close(p->b);
    ember_writer_free(&p->held);
    ember_writer_free(&p->a_copy);
    ember_writer_free(&p->enc);
    ember_free(p);
}

/* ---- native steps over iterators -------------------------------------------------- */

typedef struct fn_call {
    void *fn;
    char *name; /* "flatMapNative tokenize" ..., for messages */
} fn_call;

static int fn_failed(const fn_call *f, int rc) {
    const char *msg = ember_last_error();
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", *msg ? msg : ember_strerror(rc));
    return emberE_set(rc < 0 ? rc : EMBER_ETASK, "native function %s failed: %s", f->name, copy);
}

typedef struct step_iter {
    ember_iter it;
    uint32_t kind;
    ember_iter *up;
    fn_call f;
    ember_writer out;
    size_t off;         /* next record of out to hand on */
    int done;           /* PARTITIONS, MERGE, COUNT ...: the input was consumed */
    emberU_table table; /* MERGE */
    size_t next_entry;
    char **spills; /* MERGE past the memory limit: its spill files, and the bucket merged next */
    size_t nspills, spills_cap;
    uint32_t spill_bucket;
    uint64_t *metrics;  /* the task's counts: MERGE adds its spills' bytes */
    size_t merge_limit; /* MERGE: the table's bytes past which it spills */
    char *save_path;    /* SAVE_TEXT: the part file's final and temporary names */
    char *save_tmp;
    uint32_t split;
} step_iter;

/* Hands on the next record of s->out; 0 when none is left. */
static int take_out(step_iter *s, ember_value *v) {
    if (s->off >= s->out.len) return 0;
    size_t used;
    if (ember_value_decode(s->out.data + s->off, s->out.len - s->off, v, &used))
        return emberE_set(EMBER_ECORRUPT, "native function %s wrote a bad record: %s", s->f.name, ember_last_error());
    s->off += used;
    return 1;
}

static int call_map(fn_call *f, const ember_value *in, ember_writer *out) {
    emberE_clear();
    crash_running = f->name;
    int rc = ((ember_map_fn)f->fn)(in, out);
    crash_running = NULL;
    if (!rc && out->err) rc = out->err;
    return rc < 0 ? fn_failed(f, rc) : 0;
}

static int call_merge(fn_call *f, const ember_value *a, const ember_value *b, ember_writer *out) {
    emberE_clear();
    crash_running = f->name;
    int rc = ((ember_merge_fn)f->fn)(a, b, out);
    crash_running = NULL;
    if (!rc && out->err) rc = out->err;
    return rc < 0 ? fn_failed(f, rc) : 0;
}

/* The one record a map or merge wrote at out[start, len): checked. */
static int one_record(const fn_call *f, const ember_writer *out, size_t start, ember_value *v) {
    size_t used;
    if (emberR_small_int(out->data + start, out->len - start, v) && v->enc_len == out->len - start) return 0;
    if (out->len == start)
        return emberE_set(EMBER_ETASK, "native function %s wrote no record (it writes exactly one)", f->name);
    if (ember_value_decode(out->data + start, out->len - start, v, &used))
        return emberE_set(EMBER_ETASK, "native function %s wrote a bad record: %s", f->name, ember_last_error());
    if (used != out->len - start)
        return emberE_set(EMBER_ETASK, "native function %s wrote more than one record (it writes exactly one)",
                          f->name);
    return 0;
}

/* The (key, value) items of a pair record. */
static int pair_items(const ember_value *rec, ember_value *k, ember_value *v, const char *what) {
    if ((rec->type != EMBER_TUPLE && rec->type != EMBER_LIST) || rec->count != 2)
        return emberE_set(EMBER_EINVAL, "%s expects (key, value) pairs, got a %s%s", what, ember_type_name(rec->type),
                          rec->type == EMBER_TUPLE || rec->type == EMBER_LIST ? " whose length is not 2" : "");
    ember_value it = *rec;
    ember_value_next(&it, k);
    ember_value_next(&it, v);
    return 0;
}

/* The next record of `it`, which must be a (key, value) pair, and its items: 1, 0 at
 * the end, or a negative code. */
static int next_pair(ember_iter *it, ember_value *rec, ember_value *k, ember_value *v, const char *what) {
    if (it->next_pair) return it->next_pair(it, rec, k, v, what);
    int rc = it->next(it, rec);
    if (rc <= 0) return rc;
    return (rc = pair_items(rec, k, v, what)) ? rc : 1;
}

/* Adds (key, value) to a combining table: create/merge_value, or merge_combiners when
 * create is NULL and value is already a combiner. */
static int combine_add_hashed(emberU_table *t, const uint8_t *key, size_t klen, uint64_t hash, const ember_value *v,
                              fn_call *create, fn_call *merge, ember_writer *tmp) {
    emberU_entry *e = t->cap ? emberU_probe(t, (uint32_t)hash, key, klen) : NULL; /* a key seen before */
    int found = e && e->klen != 0, rc = 0;
    if (!found && (rc = emberU_find_hashed(t, key, klen, hash, &e, &found))) return rc;
    tmp->len = 0; /* ember_writer_reset, inline */
    tmp->err = 0;
    ember_value c, r;
    if (found) {
        size_t n;
        const uint8_t *cur = emberU_value(t, e, &n);
        if (!emberR_small_int(cur, n, &c) && ember_value_decode(cur, n, &c, NULL)) return EMBER_ECORRUPT;
        if ((rc = call_merge(merge, &c, v, tmp))) return rc;
        /* one_record's check, the common case (a small int) inline */
        if (!(emberR_small_int(tmp->data, tmp->len, &r) && r.enc_len == tmp->len) &&
            (rc = one_record(merge, tmp, 0, &r)))
            return rc;
        return emberU_set_value(t, e, tmp->data, tmp->len);
    }
    if (!create || !create->fn) return emberU_set_value(t, e, v->enc, v->enc_len);
    if ((rc = call_map(create, v, tmp)) || (rc = one_record(create, tmp, 0, &c))) return rc;
    return emberU_set_value(t, e, tmp->data, tmp->len);
}

static int combine_add(emberU_table *t, const ember_value *k, const ember_value *v, fn_call *create, fn_call *merge,
                       ember_writer *tmp) {
    return combine_add_hashed(t, k->enc, k->enc_len, emberU_hash(k->enc, k->enc_len), v, create, merge, tmp);
}

/* Up to PAIRS_AHEAD (key, value) pairs read ahead of combining them: their keys hashed
 * and their slots prefetched, so that the table's cache misses overlap instead of
 * following one another. From an iterator with runs the pairs are read in place, and
 * the next PAIRS_AHEAD of the run are read (and their slots prefetched) while these
 * are combined, so that a slot has a whole batch's time to arrive (a batch ends where
 * the run does). From another iterator their bytes are copied (its buffers move on). */
#define PAIRS_AHEAD 16
typedef struct pair_at {
    const uint8_t *key, *value;
    size_t klen, vlen;
    uint64_t hash;
} pair_at;
typedef struct pair_batch {
    ember_run run;     /* the rest of the current run */
    ember_writer held; /* iterators without runs: the pairs' encodings */
    pair_at at[PAIRS_AHEAD];
    size_t n;
    pair_at ahead[PAIRS_AHEAD]; /* runs: the next batch, read from the run already */
    size_t nahead;
} pair_batch;

/* Reads up to PAIRS_AHEAD pairs of b's run into out (prefetching in t): the count, or
 * a negative code. */
static int run_pairs(ember_iter *it, pair_batch *b, pair_at *out, const emberU_table *t, const char *what) {
    ember_value rec, k, v;
    int rc;
    size_t n = 0;
    for (; n < PAIRS_AHEAD && b->run.len; n++) {
        size_t used = emberR_small_pair(b->run.p, b->run.len, &out[n].klen, &v);
        if (used) { /* a word and its count */
            k.enc = b->run.p + 2;
            k.enc_len = out[n].klen;
            b->run.p += used;
            b->run.len -= used;
        } else if ((rc = take_pair(&b->run.p, &b->run.len, &rec, &k, &v, what)) < 0) {
            return rc == EMBER_ECORRUPT ? it->bad_run(it) : rc;
        }
        if (b->run.count) (*b->run.count)++;
        uint64_t h = emberU_hash(k.enc, k.enc_len);
        out[n] = (pair_at){k.enc, v.enc, k.enc_len, v.enc_len, h};
        emberU_prefetch(t, h);
    }
    return (int)n;
}

/* Refills b from it (prefetching in t): the count read (0 at the end) or a negative code. */
static int read_pairs(ember_iter *it, pair_batch *b, const emberU_table *t, const char *what) {
    ember_value rec, k, v;
    int rc = 0;
    b->n = 0;
    if (it->next_run) {
        if (b->nahead) { /* read, and prefetched, during the last batch */
            memcpy(b->at, b->ahead, b->nahead * sizeof *b->at);
            b->n = b->nahead;
        } else {
            while (b->run.len == 0)
                if ((rc = it->next_run(it, &b->run)) <= 0) return rc;
            if ((rc = run_pairs(it, b, b->at, t, what)) < 0) return rc;
            b->n = (size_t)rc;
        }
        if ((rc = run_pairs(it, b, b->ahead, t, what)) < 0) return rc; /* the run's bytes stay until next_run */
        b->nahead = (size_t)rc;
        return (int)b->n;
    }
    size_t koff[PAIRS_AHEAD], voff[PAIRS_AHEAD];
    ember_writer_reset(&b->held);
    for (; b->n < PAIRS_AHEAD && (rc = next_pair(it, &rec, &k, &v, what)) == 1; b->n++) {
        size_t base = b->held.len;
        if (emberN_append(&b->held, rec.enc, rec.enc_len)) return b->held.err;
        uint64_t h = emberU_hash(k.enc, k.enc_len);
        koff[b->n] = base + (size_t)(k.enc - rec.enc);
        b->at[b->n].klen = k.enc_len;
        voff[b->n] = base + (size_t)(v.enc - rec.enc);
        b->at[b->n].vlen = v.enc_len;
        b->at[b->n].hash = h;
        emberU_prefetch(t, h);
    }
    for (size_t i = 0; i < b->n; i++) { /* held.data has stopped moving */
        b->at[i].key = b->held.data + koff[i];
        b->at[i].value = b->held.data + voff[i];
    }
    return rc < 0 ? rc : (int)b->n;
}

/* Combines pair i of b into t (see combine_add). */
static int combine_held(emberU_table *t, const pair_batch *b, size_t i, fn_call *create, fn_call *merge,
                        ember_writer *tmp) {
    ember_value v;
    const uint8_t *p = b->at[i].value;
    if (!emberR_small_int(p, b->at[i].vlen, &v) && ember_value_decode(p, b->at[i].vlen, &v, NULL))
        return EMBER_ECORRUPT;
    return combine_add_hashed(t, b->at[i].key, b->at[i].klen, b->at[i].hash, &v, create, merge, tmp);
}

/* Appends entry e of the table as a (key, combiner) pair to w. */
static int entry_pair(const emberU_table *t, const emberU_entry *e, ember_writer *w) {
    size_t klen, vlen;
    const uint8_t *key = emberU_key(t, e, &klen), *value = emberU_value(t, e, &vlen);
    emberN_append(w, "\x08\x02", 2); /* a 2-tuple: the key's and the combiner's encodings follow */
    emberN_append(w, key, klen);
    return emberN_append(w, value, vlen);
}

static int save_line(step_iter *s, FILE *f, const ember_value *v) {
    ember_writer_reset(&s->out);
    if (ember_value_str(v, &s->out)) return s->out.err;
    if (fwrite(s->out.data, 1, s->out.len, f) != s->out.len || fputc('\n', f) == EOF)
        return emberE_errno(EMBER_EIO, errno, "writing %s", s->save_tmp);
    return 0;
}

/* The reduce side's merge past its memory limit (defined with the shuffle sink below). */
#define MERGE_SPILL_BUCKETS 64
static int merge_limit_of(const emberN_op *op, size_t *limit);
static int merge_spill(step_iter *s);
static int merge_back(step_iter *s, ember_writer *tmp);

/* Consumes the whole input of a step that ends the partition (FOREACH, COUNT,
 * SAVE_TEXT, PARTITIONS, MERGE); what it makes goes to s->out or s->table. */
static int consume(step_iter *s) {
    ember_value v;
    int rc = 0;
    int64_t n = 0;
    ember_writer tmp = {0};
    FILE *f = NULL;
    s->done = 1;
    switch (s->kind) {
    case EMBER_NOP_PARTITIONS:
        emberE_clear();
        crash_running = s->f.name;
        rc = ((ember_partition_fn)s->f.fn)(s->up, &s->out);
        crash_running = NULL;
        if (!rc && s->out.err) rc = s->out.err;
        return rc < 0 ? fn_failed(&s->f, rc) : 0;
    case EMBER_NOP_MERGE: {
        size_t limit = s->merge_limit;
        pair_batch b = {0};
        while ((rc = read_pairs(s->up, &b, &s->table, "reduceByKey's merge")) > 0) {
            rc = 0;
            for (size_t i = 0; !rc && i < b.n; i++) {
                rc = combine_held(&s->table, &b, i, NULL, &s->f, &tmp);
                if (!rc && emberU_bytes(&s->table) > limit) rc = merge_spill(s);
            }
            if (rc) break;
        }
        ember_writer_free(&b.held);
        if (!rc && s->nspills && !(rc = merge_spill(s))) rc = merge_back(s, &tmp); /* the rest too, then bucket 0 */
        break;
    }
    case EMBER_NOP_COUNT:
        while ((rc = s->up->next(s->up, &v)) == 1)
            n++;
        if (!rc) rc = ember_put_int(&s->out, n);
        break;
    case EMBER_NOP_FOREACH:
        while ((rc = s->up->next(s->up, &v)) == 1) {
            emberE_clear();
            crash_running = s->f.name;
            int r = ((ember_foreach_fn)s->f.fn)(&v);
            crash_running = NULL;
            if (r < 0) {
                rc = fn_failed(&s->f, r);
                break;
            }
        }
        break;
    case EMBER_NOP_SAVE_TEXT:
        if (!(f = fopen(s->save_tmp, "w"))) return emberE_errno(EMBER_EIO, errno, "creating %s", s->save_tmp);
        while ((rc = s->up->next(s->up, &v)) == 1)
            if ((rc = save_line(s, f, &v))) break;
        if (fclose(f) && !rc) rc = emberE_errno(EMBER_EIO, errno, "writing %s", s->save_tmp);
        if (!rc && rename(s->save_tmp, s->save_path) < 0)
            rc = emberE_errno(EMBER_EIO, errno, "renaming %s", s->save_tmp);
        if (rc) unlink(s->save_tmp);
        ember_writer_reset(&s->out);
        break;
    }
    ember_writer_free(&tmp);
    return rc < 0 ? rc : 0;
}

/* FLATMAP: calls the function on input records until s->out has a record left to hand
 * on: 1, 0 at the end of the input, or a negative code. */
static int flat_fill(step_iter *s) {
    ember_value in;
    int rc;
    while (s->off >= s->out.len) {
        if ((rc = s->up->next(s->up, &in)) <= 0) return rc;
        ember_writer_reset(&s->out);
        s->off = 0;
        if ((rc = call_map(&s->f, &in, &s->out))) return rc;
    }
    return 1;
}

static int step_next_pair(ember_iter *it, ember_value *rec, ember_value *k, ember_value *v, const char *what) {
    step_iter *s = (step_iter *)it;
    int rc;
    if ((rc = flat_fill(s)) <= 0) return rc;
    const uint8_t *p = s->out.data + s->off;
    size_t left = s->out.len - s->off;
    if ((rc = take_pair(&p, &left, rec, k, v, what)) == EMBER_ECORRUPT)
        return emberE_set(EMBER_ECORRUPT, "native function %s wrote a bad record: %s", s->f.name, ember_last_error());
    s->off = s->out.len - left;
    return rc;
}

/* A FLATMAP run holds what the function wrote for input records until it has this
 * many bytes (or the input ends): a line's words are a dozen pairs, and the reader of
 * a run prefetches the slots of 16 pairs at a time. */
#define FLAT_RUN_BYTES 2048

/* FLATMAP: the records the function wrote for the next input records. */
static int step_next_run(ember_iter *it, ember_run *run) {
    step_iter *s = (step_iter *)it;
    int rc = flat_fill(s);
    if (rc <= 0) return rc;
    ember_value in;
    while (s->out.len - s->off < FLAT_RUN_BYTES && (rc = s->up->next(s->up, &in)) == 1)
        if ((rc = call_map(&s->f, &in, &s->out))) return rc; /* appended */
    if (rc < 0) return rc;
    *run = (ember_run){s->out.data + s->off, s->out.len - s->off, NULL};
    s->off = s->out.len;
    return 1;
}

static int step_bad_run(ember_iter *it) {
    step_iter *s = (step_iter *)it;
    return emberE_set(EMBER_ECORRUPT, "native function %s wrote a bad record: %s", s->f.name, ember_last_error());
}

static int step_next(ember_iter *it, ember_value *v) {
    step_iter *s = (step_iter *)it;
    ember_value in;
    int rc;
    switch (s->kind) {
    case EMBER_NOP_MAP:
        if ((rc = s->up->next(s->up, &in)) <= 0) return rc;
        ember_writer_reset(&s->out);
        if ((rc = call_map(&s->f, &in, &s->out)) || (rc = one_record(&s->f, &s->out, 0, v))) return rc;
        return 1;
    case EMBER_NOP_FLATMAP:
        if ((rc = flat_fill(s)) <= 0) return rc;
        return take_out(s, v);
    case EMBER_NOP_FILTER:
        for (;;) {
            if ((rc = s->up->next(s->up, &in)) <= 0) return rc;
            emberE_clear();
            crash_running = s->f.name;
            int keep = ((ember_filter_fn)s->f.fn)(&in);
            crash_running = NULL;
            if (keep < 0) return fn_failed(&s->f, keep);
            if (keep) {
                *v = in;
                return 1;
            }
        }
    case EMBER_NOP_MERGE:
        if (!s->done && (rc = consume(s))) return rc;
        while (s->next_entry == s->table.used) { /* spilled: the next bucket of the spill files */
            if (!s->nspills || s->spill_bucket == MERGE_SPILL_BUCKETS) return 0;
            ember_writer tmp = {0};
            rc = merge_back(s, &tmp);
            ember_writer_free(&tmp);
            if (rc) return rc;
        }
        ember_writer_reset(&s->out);
        s->off = 0;
        if (s->next_entry + 8 < s->table.used) /* in insertion order: slots all over the table */
            __builtin_prefetch(emberU_at(&s->table, s->next_entry + 8));
        if ((rc = entry_pair(&s->table, emberU_at(&s->table, s->next_entry++), &s->out))) return rc;
        /* a 2-tuple of a key and a combiner, each checked when it went into the table */
        *v = (ember_value){.type = EMBER_TUPLE,
                           .count = 2,
                           .enc = s->out.data,
                           .enc_len = s->out.len,
                           .next = s->out.data + 2,
                           .left = 2};
        s->off = s->out.len;
        return 1;
    default:
        if (!s->done && (rc = consume(s))) return rc;
        return take_out(s, v);
    }
}

static void step_close(ember_iter *it) {
    step_iter *s = (step_iter *)it;
    iter_close(s->up);
    ember_writer_free(&s->out);
    emberU_keep(&s->table);
    for (size_t i = 0; i < s->nspills; i++) {
        unlink(s->spills[i]);
        ember_free(s->spills[i]);
    }
    ember_free(s->spills);
    if (s->save_tmp && !s->done) unlink(s->save_tmp);
    ember_free(s->save_path);
    ember_free(s->save_tmp);
    ember_free(s->f.name);
    ember_free(s);
}

static const char *op_label(uint32_t kind) {
    switch (kind) {
    case EMBER_NOP_MAP:
        return "mapNative";
    case EMBER_NOP_FLATMAP:
        return "flatMapNative";
    case EMBER_NOP_FILTER:
        return "filterNative";
    case EMBER_NOP_PARTITIONS:
        return "mapPartitionsNative";
    case EMBER_NOP_MERGE:
        return "reduceByKey";
    case EMBER_NOP_FOREACH:
        return "foreach";
    default:
        return "step";
    }
}

/* "flatMapNative tokenize" in new memory. */
static char *fn_label(const char *what, const emberN_fn *fn) {
    size_t n = strlen(what) + fn->name.len + 2;
    char *s = ember_malloc(n);
    if (s) snprintf(s, n, "%s %.*s", what, (int)fn->name.len, (const char *)fn->name.p);
    return s;
}

static int fn_load(const char *what, const emberN_fn *fn, int allow_main, fn_call *out) {
    out->name = fn_label(what, fn);
    if (!out->name) return emberE_set(EMBER_ENOMEM, "out of memory loading a native function");
    return emberN_resolve(fn, allow_main, &out->fn);
}

/* Wraps `up` in the step of a native command (up is taken, also on failure). */
static int step_new(const emberN_op *op, uint32_t split, int allow_main, uint64_t *metrics, ember_iter *up,
                    ember_iter **out) {
    step_iter *s = ember_calloc(1, sizeof *s);
    if (!s) {
        iter_close(up);
        return emberE_set(EMBER_ENOMEM, "out of memory starting a native step");
    }
    if (op->kind == EMBER_NOP_FLATMAP)
        s->it = (ember_iter){step_next, step_close, step_next_pair, step_next_run, step_bad_run};
    else
        s->it = (ember_iter){step_next, step_close, NULL, NULL, NULL};
    s->kind = op->kind;
    s->up = up;
    s->split = split;
    s->metrics = metrics;
    int rc = 0;
    if (op->kind == EMBER_NOP_SAVE_TEXT) {
        size_t n = op->arg.len + 64;
        s->save_path = ember_malloc(n);
        s->save_tmp = ember_malloc(n + 32);
        if (!s->save_path || !s->save_tmp) {
            rc = emberE_set(EMBER_ENOMEM, "out of memory starting saveAsTextFile");
        } else {
            snprintf(s->save_path, n, "%.*s/part-%05u", (int)op->arg.len, (const char *)op->arg.p, split);
            snprintf(s->save_tmp, n + 32, "%.*s/.part-%05u.%d.tmp", (int)op->arg.len, (const char *)op->arg.p, split,
                     (int)getpid());
        }
    } else if (op->kind != EMBER_NOP_COUNT) {
        rc = fn_load(op_label(op->kind), &op->fn, allow_main, &s->f);
        if (!rc && op->kind == EMBER_NOP_MERGE) {
            emberU_take(&s->table); /* the last table's memory, when this process kept one */
            rc = merge_limit_of(op, &s->merge_limit);
        }
    }
    if (rc) {
        step_close(&s->it);
        return rc;
    }
    *out = &s->it;
    return 0;
}

/* ---- running a task ------------------------------------------------------------------ */

static ember_iter *input_iter(emberV_env *env, const emberW_input *in, int *rc);

static ember_iter *source_iter(emberV_env *env, const emberW_input *in, int *rc) {
    switch (in->kind) {
    case EMBER_IN_DATA: {
        if (in->stream >= env->nstreams) {
            *rc = emberE_set(EMBER_EPROTO, "input stream %u of a task with %zu", in->stream, env->nstreams);
            return NULL;
        }
        ember_iter *it = batch_iter_new(env->streams[in->stream].bufs, env->streams[in->stream].n, "a task's input",
                                        &env->metrics[EMBER_METRIC_RECORDS_READ]);
        if (!it) *rc = emberE_set(EMBER_ENOMEM, "out of memory reading a task's input");
        return it;
    }
    case EMBER_IN_TEXT: {
        text_iter *t = ember_calloc(1, sizeof *t);
        char *path = t ? ember_malloc(in->path.len + 1) : NULL;
        if (!path) {
            ember_free(t);
            *rc = emberE_set(EMBER_ENOMEM, "out of memory opening a text split");
            return NULL;
        }
        memcpy(path, in->path.p, in->path.len);
        path[in->path.len] = 0;
        t->it = (ember_iter){text_next, text_close, NULL, NULL, NULL};
        t->count = &env->metrics[EMBER_METRIC_RECORDS_READ];
        t->as_bytes = (in->flags & EMBER_TEXT_BYTES) != 0;
        ember_split s = {path, in->start, in->end, (int)(in->flags >> EMBER_TEXT_CODEC_SHIFT & 0xff)};
        *rc = ember_line_reader_open(&s, &t->r);
        ember_free(path);
        if (*rc) {
            text_close(&t->it);
            return NULL;
        }
        return &t->it;
    }
    case EMBER_IN_RANGE: {
        range_iter *r = ember_calloc(1, sizeof *r);
        if (!r || in->step == 0) {
            ember_free(r);
            *rc = r ? emberE_set(EMBER_EPROTO, "a range with step 0") : emberE_set(EMBER_ENOMEM, "out of memory");
            return NULL;
        }
        *r = (range_iter){{range_next, range_close, NULL, NULL, NULL}, in->start, in->end, in->step, {0},
                          &env->metrics[EMBER_METRIC_RECORDS_READ]};
        return &r->it;
    }
    case EMBER_IN_SHUFFLE: {
        shuffle_iter *s = ember_calloc(1, sizeof *s);
        if (s) s->paths = ember_calloc(in->npaths ? in->npaths : 1, sizeof *s->paths);
        if (!s || !s->paths) {
            ember_free(s);
            *rc = emberE_set(EMBER_ENOMEM, "out of memory opening shuffle files");
            return NULL;
        }
        s->it = (ember_iter){shuffle_next, shuffle_close, shuffle_next_pair, shuffle_next_run, shuffle_bad_run};
        s->count = &env->metrics[EMBER_METRIC_SHUFFLE_RECORDS_READ];
        for (uint32_t i = 0; i < in->npaths; i++) {
            if (!(s->paths[i] = ember_malloc(in->paths[i].len + 1))) {
                shuffle_close(&s->it);
                *rc = emberE_set(EMBER_ENOMEM, "out of memory opening shuffle files");
                return NULL;
            }
            memcpy(s->paths[i], in->paths[i].p, in->paths[i].len);
            s->paths[i][in->paths[i].len] = 0;
            s->npaths++;
        }
        env->shuffle_in = s;
        *rc = ember_shuffle_reader_open((const char *const *)s->paths, s->npaths, in->bucket, &s->r);
        if (*rc) {
            const char *f = ember_shuffle_reader_file(s->r);
            if (f) env->fetch_failed = ember_strdup(f);
            env->shuffle_in = NULL;
            shuffle_close(&s->it);
            return NULL;
        }
        return &s->it;
    }
    case EMBER_IN_BLOCK: {
        block_iter *k = ember_calloc(1, sizeof *k);
        char *path = k ? ember_malloc(in->path.len + 1) : NULL;
        if (!path) {
            ember_free(k);
            *rc = emberE_set(EMBER_ENOMEM, "out of memory opening a block file");
            return NULL;
        }
        memcpy(path, in->path.p, in->path.len);
        path[in->path.len] = 0;
        if ((*rc = emberM_block_read(path, "a cached partition", &k->batches))) {
            if (*rc != EMBER_ENOMEM)
                env->fetch_failed = path; /* the engine computes it again */
            else
                ember_free(path);
            ember_free(k);
            return NULL;
        }
        ember_free(path);
        k->b = (batch_iter){{batch_next, block_close, NULL, batch_next_run, batch_bad_run},
                            k->batches.bufs,
                            k->batches.n,
                            0,
                            NULL,
                            0,
                            "a block file",
                            &env->metrics[EMBER_METRIC_RECORDS_READ]};
        return &k->b.it;
    }
    case EMBER_IN_CONCAT: {
        concat_iter *c = ember_calloc(1, sizeof *c);
        if (c) c->kids = ember_calloc(in->nchildren ? in->nchildren : 1, sizeof *c->kids);
        if (!c || !c->kids) {
            ember_free(c);
            *rc = emberE_set(EMBER_ENOMEM, "out of memory");
            return NULL;
        }
        c->it = (ember_iter){concat_next, concat_close, NULL, NULL, NULL};
        for (uint32_t i = 0; i < in->nchildren; i++) {
            if (!(c->kids[i] = input_iter(env, &in->children[i], rc))) {
                concat_close(&c->it);
                return NULL;
            }
            c->n++;
        }
        return &c->it;
    }
    default: { /* ZIP, CARTESIAN */
        pair_iter *p = ember_calloc(1, sizeof *p);
        if (!p) {
            *rc = emberE_set(EMBER_ENOMEM, "out of memory");
            return NULL;
        }
        p->it = (ember_iter){pair_next, pair_close, NULL, NULL, NULL};
        p->cartesian = in->kind == EMBER_IN_CARTESIAN;
        if (!(p->a = input_iter(env, &in->children[0], rc)) || !(p->b = input_iter(env, &in->children[1], rc))) {
            pair_close(&p->it);
            return NULL;
        }
        return &p->it;
    }
    }
}

/* The records of an input tree node: its source, then its commands in order. */
static ember_iter *input_iter(emberV_env *env, const emberW_input *in, int *rc) {
    ember_iter *it = source_iter(env, in, rc);
    for (uint32_t i = 0; it && i < in->ncmds; i++) {
        const emberW_bytes *cmd = env->command(env->arg, in->cmds[i].id);
        emberN_op op;
        if (!cmd) {
            *rc = emberE_set(EMBER_EPROTO, "the task names command %llu, which this worker was not sent",
                             (unsigned long long)in->cmds[i].id);
        } else if (!emberN_is_native(cmd->p, cmd->len)) {
            *rc = emberE_set(EMBER_EINVAL,
                             "a step of this job is a Python function, and this context has no Python "
                             "interpreter (its workers are native): create the context with a Python interpreter "
                             "(ember_config.python) to mix Python steps in");
        } else {
            *rc = emberN_op_decode(cmd->p, cmd->len, &op);
        }
        if (*rc) {
            iter_close(it);
            return NULL;
        }
        if ((*rc = step_new(&op, in->cmds[i].split, env->allow_main, env->metrics, it, &it)))
            return NULL; /* it closed */
    }
    return it;
}

/* ---- sinks ------------------------------------------------------------------------- */

static int send_frame(emberV_env *env, uint32_t type, const void *p, size_t len) {
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, type, (uint32_t)len);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)p, len}};
    size_t total = sizeof hdr + len, done = 0;
    while (done < total) {
        ssize_t w = writev(env->out_fd, iov, 2);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return emberE_errno(EMBER_EIO, errno, "writing to the engine");
        done += (size_t)w;
        for (int i = 0; i < 2; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    return 0;
}

static int sink_result(emberV_env *env, ember_iter *it) {
    ember_writer b = {0};
    ember_value v;
    int rc;
    ember_put_batch_header(&b);
    while ((rc = it->next(it, &v)) == 1) {
        if (ember_put_value(&b, &v)) break;
        env->metrics[EMBER_METRIC_RECORDS_WRITTEN]++;
        if (b.len >= BATCH_BYTES) {
            if ((rc = send_frame(env, EMBER_FRAME_DATA, b.data, b.len))) break;
            ember_writer_reset(&b);
            ember_put_batch_header(&b);
        }
    }
    if (!rc && b.err) rc = b.err;
    if (!rc && b.len > EMBER_BATCH_HEADER) rc = send_frame(env, EMBER_FRAME_DATA, b.data, b.len);
    ember_writer_free(&b);
    return rc;
}

typedef struct shuffle_out {
    ember_shuffle_writer *w;
    ember_writer *buckets;
    uint32_t n;
    fn_call partition;
    uint64_t *written; /* shuffle records written */
} shuffle_out;

static int bucket_flush(shuffle_out *o, uint32_t i) {
    ember_writer *b = &o->buckets[i];
    if (b->len <= EMBER_BATCH_HEADER) return 0;
    int rc = ember_shuffle_writer_append(o->w, i, b->data, b->len);
    ember_writer_reset(b);
    ember_put_batch_header(b);
    return rc;
}

static int bucket_put(shuffle_out *o, uint32_t i, const ember_value *pair, const ember_value *k, const ember_value *c) {
    ember_writer *b = &o->buckets[i];
    if (pair) {
        ember_put_value(b, pair);
    } else {
        ember_put_tuple(b, 2);
        ember_put_value(b, k);
        ember_put_value(b, c);
    }
    if (b->err) return b->err;
    (*o->written)++;
    return b->len >= BATCH_BYTES ? bucket_flush(o, i) : 0;
}

static int bucket_of(shuffle_out *o, const ember_value *key, uint32_t *out) {
    if (o->partition.fn) {
        emberE_clear();
        crash_running = o->partition.name;
        int64_t p = ((ember_partitioner_fn)o->partition.fn)(key, o->n);
        crash_running = NULL;
        if (p < 0) return fn_failed(&o->partition, (int)p);
        if (p >= o->n)
            return emberE_set(EMBER_ETASK, "native function %s returned partition %lld, not one of the %u partitions",
                              o->partition.name, (long long)p, o->n);
        *out = (uint32_t)p;
        return 0;
    }
    int64_t h;
    int rc = emberN_hash(key, &h);
    if (rc) return rc;
    int64_t r = h % (int64_t)o->n;
    *out = (uint32_t)(r < 0 ? r + o->n : r);
    return 0;
}

/* Opens o (o->n buckets, each a typed batch being filled) over a new shuffle file. */
static int out_open(shuffle_out *o, const char *path) {
    if (!(o->buckets = ember_calloc(o->n, sizeof *o->buckets)))
        return emberE_set(EMBER_ENOMEM, "out of memory opening shuffle file %s", path);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < o->n; i++)
        rc = ember_put_batch_header(&o->buckets[i]);
    return rc ? rc : ember_shuffle_writer_open(path, o->n, 16 << 20, &o->w);
}

/* Ends o: with rc 0 writes what its buckets hold and commits the file (sizes: each
 * bucket's bytes, may be NULL), else removes it. Frees o's buckets; returns the code. */
static int out_close(shuffle_out *o, int rc, uint64_t *sizes) {
    for (uint32_t i = 0; !rc && i < o->n; i++)
        rc = bucket_flush(o, i);
    if (!rc) {
        rc = ember_shuffle_writer_commit(o->w, sizes);
        o->w = NULL;
    }
    if (o->w) ember_shuffle_writer_abort(o->w);
    o->w = NULL;
    for (uint32_t i = 0; o->buckets && i < o->n; i++)
        ember_writer_free(&o->buckets[i]);
    ember_free(o->buckets);
    o->buckets = NULL;
    return rc;
}

/* Map-side combining holds at most this many bytes of keys and combiners, then
 * writes what it holds and starts again (the reduce side merges the parts). */
#define COMBINE_LIMIT ((size_t)256 << 20)

/* Keys the last map-side table of this process held: the next one starts that big
 * (the map tasks of a stage tend to see as many keys), rather than growing to it. */
static size_t last_combine_keys;

/* Writes the table's (key, combiner) pairs to their buckets (in slot order: the order
 * of a map task's output does not matter) and empties it. */
static int drain_table(shuffle_out *o, emberU_table *t) {
    int rc = 0;
    size_t pos = 0;
    for (emberU_entry *e; !rc && (e = emberU_next(t, &pos));) {
        size_t klen;
        const uint8_t *key = emberU_key(t, e, &klen);
        ember_value k;
        uint32_t bucket;
        if (ember_value_decode(key, klen, &k, NULL)) return EMBER_ECORRUPT;
        if ((rc = bucket_of(o, &k, &bucket))) break;
        ember_writer *b = &o->buckets[bucket];
        rc = entry_pair(t, e, b);
        if (!rc) (*o->written)++;
        if (!rc && b->len >= BATCH_BYTES) rc = bucket_flush(o, bucket);
    }
    emberU_clear(t);
    return rc;
}

/* ---- the reduce side's merge past its memory limit ---------------------------------
 * A MERGE step whose table holds more than merge_limit() bytes writes it to a spill
 * file — a shuffle file (shuffle.c's format, its ranges CRC-checked when read back) of
 * MERGE_SPILL_BUCKETS buckets by the key's hash — and goes on with an empty table. At
 * the end of its input it spills the rest too, then merges the files back one bucket
 * at a time: a key's records are all in one bucket, so each bucket is merged, handed
 * on and dropped before the next. One bucket's keys (about 1/64 of them) must fit in
 * memory. The files go to the context's temp dir and are removed when the step closes. */

static size_t merge_limit(void) {
    const char *v = getenv("EMBER_NATIVE_MERGE_BYTES");
    char *end = NULL;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    return n > 0 && end && *end == 0 ? (size_t)n : (size_t)256 << 20;
}

/* A MERGE command's argument, when it has one, is its limit in bytes (decimal): a
 * Python program's reduceByKey sends spark.python.worker.memory. */
static int merge_limit_of(const emberN_op *op, size_t *limit) {
    *limit = merge_limit();
    if (!op->arg.len) return 0;
    unsigned long long n = 0;
    const char *p = (const char *)op->arg.p;
    for (size_t i = 0; i < op->arg.len; i++) {
        if (p[i] < '0' || p[i] > '9' || n > (ULLONG_MAX - 9) / 10)
            return emberE_set(EMBER_EPROTO,
                              "malformed native command: reduceByKey's memory limit '%.*s' is not "
                              "a count of bytes",
                              (int)(op->arg.len > 40 ? 40 : op->arg.len), p);
        n = n * 10 + (unsigned)(p[i] - '0');
    }
    if (n) *limit = (size_t)n;
    return 0;
}

static int merge_spill(step_iter *s) {
    static unsigned seq;
    const char *dir = getenv("EMBER_LOCAL_DIR");
    if (!dir || !*dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char path[4200];
    snprintf(path, sizeof path, "%s/merge-%d-%u.spill", dir, (int)getpid(), seq++);
    shuffle_out o = {.n = MERGE_SPILL_BUCKETS};
    char *copy = ember_strdup(path);
    if (!copy || emberB_grow(&s->spills, &s->spills_cap, s->nspills + 1, sizeof *s->spills, 4)) {
        ember_free(copy);
        return emberE_set(EMBER_ENOMEM, "out of memory spilling reduceByKey's merge");
    }
    s->spills[s->nspills++] = copy; /* removed when the step closes, whatever happens */
    int rc = out_open(&o, path);
    size_t pos = 0;
    for (emberU_entry *e; !rc && (e = emberU_next(&s->table, &pos));) {
        size_t klen;
        const uint8_t *key = emberU_key(&s->table, e, &klen);
        uint32_t b = (uint32_t)(emberU_hash(key, klen) >> 32) % o.n;
        rc = entry_pair(&s->table, e, &o.buckets[b]);
        if (!rc && o.buckets[b].len >= BATCH_BYTES) rc = bucket_flush(&o, b);
    }
    uint64_t freed = emberU_bytes(&s->table), sizes[MERGE_SPILL_BUCKETS];
    emberU_clear(&s->table);
    if ((rc = out_close(&o, rc, sizes))) return rc;
    s->metrics[EMBER_METRIC_MEMORY_BYTES_SPILLED] += freed;
    for (uint32_t i = 0; i < MERGE_SPILL_BUCKETS; i++)
        s->metrics[EMBER_METRIC_DISK_BYTES_SPILLED] += sizes[i];
    return 0;
}

/* Merges the next bucket of the spill files into the (emptied) table. */
static int merge_back(step_iter *s, ember_writer *tmp) {
    emberU_clear(&s->table);
    s->next_entry = 0;
    ember_shuffle_reader *r = NULL;
    const void *data;
    size_t len;
    int rc = ember_shuffle_reader_open((const char *const *)s->spills, s->nspills, s->spill_bucket++, &r);
    while (!rc && (rc = ember_shuffle_reader_next(r, &data, &len)) == 1) {
        const uint8_t *p;
        size_t left;
        rc = ember_batch_open(data, len, &p, &left);
        while (!rc && left) {
            ember_value rec, k, v;
            if ((rc = take_pair(&p, &left, &rec, &k, &v, "a spill file")) < 0) break;
            rc = combine_add(&s->table, &k, &v, NULL, &s->f, tmp);
        }
        if (rc == EMBER_ECORRUPT)
            rc = emberE_set(EMBER_ECORRUPT, "spill file %s: %s", ember_shuffle_reader_file(r), ember_last_error());
    }
    ember_shuffle_reader_close(r);
    return rc < 0 ? rc : 0;
}

static int sink_shuffle(emberV_env *env, const emberW_task *task, const emberN_spec *spec, ember_iter *it,
                        uint64_t *sizes) {
    shuffle_out o = {.n = task->nbuckets, .written = &env->metrics[EMBER_METRIC_SHUFFLE_RECORDS_WRITTEN]};
    fn_call create = {0}, merge = {0};
    emberU_table table = {0};
    ember_writer tmp = {0};
    char path[4200];
    int rc = 0;
    snprintf(path, sizeof path, "%.*s", (int)task->shuffle_path.len, (const char *)task->shuffle_path.p);
    if (o.n == 0) return emberE_set(EMBER_EPROTO, "a shuffle task with no buckets");
    if (spec->flags & EMBER_NSPEC_PARTITION) rc = fn_load("partitionBy", &spec->fns[0], env->allow_main, &o.partition);
    if (!rc && (spec->flags & EMBER_NSPEC_CREATE))
        rc = fn_load("createCombiner", &spec->fns[1], env->allow_main, &create);
    if (!rc && (spec->flags & EMBER_NSPEC_COMBINE)) rc = fn_load("reduceByKey", &spec->fns[2], env->allow_main, &merge);
    if (!rc) rc = out_open(&o, path);
    if (!rc && merge.fn) {
        emberU_take(&table); /* the last table's memory, when this process kept one */
        rc = emberU_reserve(&table, last_combine_keys);
    }
    ember_value rec, k, v;
    const char *what = "a shuffle (partitionBy, reduceByKey ...)";
    pair_batch pb = {0};
    while (!rc && merge.fn && (rc = read_pairs(it, &pb, &table, what)) > 0) {
        rc = 0;
        for (size_t i = 0; !rc && i < pb.n; i++) {
            rc = combine_held(&table, &pb, i, &create, &merge, &tmp);
            if (!rc && emberU_bytes(&table) > COMBINE_LIMIT) {
                last_combine_keys = table.used;
                rc = drain_table(&o, &table);
            }
        }
    }
    ember_writer_free(&pb.held);
    while (!rc && !merge.fn && (rc = next_pair(it, &rec, &k, &v, what)) == 1) {
        uint32_t b;
        rc = bucket_of(&o, &k, &b);
        rc = rc ? rc : bucket_put(&o, b, &rec, NULL, NULL);
    }
    if (!rc && merge.fn) {
        if (table.used > last_combine_keys) last_combine_keys = table.used;
        rc = drain_table(&o, &table);
    }
    rc = out_close(&o, rc, sizes);
    ember_free(o.partition.name);
    ember_free(create.name);
    ember_free(merge.name);
    emberU_keep(&table);
    ember_writer_free(&tmp);
    return rc;
}

/* 1 when every shuffle bucket and block file the input tree reads starts with a typed batch (or is
 * empty or unreadable: the run reports that), 0 when one holds pickled batches. */
static int typed_inputs(const emberW_input *in) {
    if (in->kind == EMBER_IN_SHUFFLE) {
        char **paths = ember_calloc(in->npaths ? in->npaths : 1, sizeof *paths);
        int typed = 1;
        for (uint32_t i = 0; paths && i < in->npaths; i++)
            if ((paths[i] = ember_malloc(in->paths[i].len + 1))) {
                memcpy(paths[i], in->paths[i].p, in->paths[i].len);
                paths[i][in->paths[i].len] = 0;
            }
        ember_shuffle_reader *r = NULL;
        const void *data;
        size_t len;
        const uint8_t *body;
        if (paths && ember_shuffle_reader_open((const char *const *)paths, in->npaths, in->bucket, &r) == 0 &&
            ember_shuffle_reader_next(r, &data, &len) == 1)
            typed = ember_batch_open(data, len, &body, &len) == 0;
        ember_shuffle_reader_close(r);
        for (uint32_t i = 0; paths && i < in->npaths; i++)
            ember_free(paths[i]);
        ember_free(paths);
        return typed;
    }
    if (in->kind == EMBER_IN_BLOCK) { /* a cached partition: typed records, or pickled ones (Python's) */
        char *path = ember_malloc(in->path.len + 1);
        emberM_batches b = {0};
        int typed = 1;
        const uint8_t *body;
        size_t len;
        if (path) {
            memcpy(path, in->path.p, in->path.len);
            path[in->path.len] = 0;
        }
        if (path && emberM_block_read(path, "a cached partition", &b) == 0 && b.n > 0)
            typed = ember_batch_open(b.bufs[0].data, b.bufs[0].len, &body, &len) == 0;
        emberM_batches_clear(&b);
        ember_free(path);
        return typed;
    }
    for (uint32_t i = 0; i < in->nchildren; i++)
        if (!typed_inputs(&in->children[i])) return 0;
    return 1;
}

int emberV_run(emberV_env *env, const emberW_task *task) {
    int rc = 0;
    uint64_t *sizes = NULL;
    emberB_buf done = {0};
    env->fetch_failed = NULL;
    env->shuffle_in = NULL;
    memset(env->metrics, 0, sizeof env->metrics);
    emberE_clear();
    if (env->check_inputs && !typed_inputs(&task->input)) return EMBER_NATIVE_PICKLED_INPUT;
    ember_iter *it = input_iter(env, &task->input, &rc);
    if (!rc && task->output == EMBER_OUT_SHUFFLE) {
        const emberW_bytes *cmd = env->command(env->arg, task->spec_id);
        emberN_spec spec;
        if (!cmd)
            rc = emberE_set(EMBER_EPROTO, "the task names shuffle spec %llu, which this worker was not sent",
                            (unsigned long long)task->spec_id);
        else if (!emberN_is_native(cmd->p, cmd->len))
            rc = emberE_set(EMBER_EINVAL, "this shuffle's spec comes from Python, and this context has no Python "
                                          "interpreter: create the context with one (ember_config.python)");
        else
            rc = emberN_spec_decode(cmd->p, cmd->len, &spec);
        if (!rc && !(sizes = ember_calloc(task->nbuckets ? task->nbuckets : 1, sizeof *sizes)))
            rc = emberE_set(EMBER_ENOMEM, "out of memory");
        if (!rc) rc = sink_shuffle(env, task, &spec, it, sizes);
    } else if (!rc) {
        rc = sink_result(env, it);
    }
    if (rc && env->shuffle_in && env->shuffle_in->failed && !env->fetch_failed)
        env->fetch_failed = ember_strdup(env->shuffle_in->failed);
    iter_close(it);
    if (!rc) {
        rc = emberW_done_encode(&done, sizes, task->output == EMBER_OUT_SHUFFLE ? task->nbuckets : 0, NULL, 0,
                                env->metrics, EMBER_METRICS);
        rc = rc ? rc : send_frame(env, EMBER_FRAME_TASK_DONE, done.data, done.len);
    } else if (env->fetch_failed) {
        emberB_buf b = {0};
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ember_last_error());
        rc = emberW_fetch_failed_encode(&b, env->fetch_failed, strlen(env->fetch_failed), msg, strlen(msg));
        rc = rc ? rc : send_frame(env, EMBER_FRAME_FETCH_FAILED, b.data, b.len);
        emberB_free(&b);
    } else {
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", *ember_last_error() ? ember_last_error() : ember_strerror(rc));
        rc = send_frame(env, EMBER_FRAME_TASK_ERROR, msg, strlen(msg));
    }
    ember_free(env->fetch_failed);
    env->fetch_failed = NULL;
    ember_free(sizes);
    emberB_free(&done);
    return rc;
}

/* ---- the worker process ------------------------------------------------------------ */

typedef struct command {
    uint64_t id;
    uint8_t *bytes;
    emberW_bytes view;
} command;

typedef struct commands {
    command *v;
    size_t n, cap;
} commands;

static const emberW_bytes *find_command(void *arg, uint64_t id) {
    commands *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].id == id) return &c->v[i].view;
    return NULL;
}

static int streams_push(emberV_stream *s, const uint8_t *p, size_t len) {
    if (emberB_grow(&s->bufs, &s->cap, s->n + 1, sizeof *s->bufs, 8)) return EMBER_ENOMEM;
    uint8_t *d = ember_malloc(len ? len : 1);
    if (!d) return EMBER_ENOMEM;
    memcpy(d, p, len);
    s->bufs[s->n++] = (ember_buf){d, len};
    return 0;
}

static void streams_free(emberV_stream *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s[i].n; j++)
            ember_free(s[i].bufs[j].data);
        ember_free(s[i].bufs);
    }
    ember_free(s);
}

static int worker_main(int rfd, int wfd) {
    emberW_parser p = {0};
    commands cmds = {0};
    crash_task_fd = rfd;
    crash_result_fd = wfd;
    install_crash_handlers();
    for (;;) {
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int r = emberW_read_frame(&p, rfd, &type, &payload, &len);
        if (r == 0) return 0;
        if (r < 0) return 2;
        if (type == EMBER_FRAME_COMMAND) {
            uint64_t id;
            emberW_bytes bytes;
            if (emberW_command_decode(payload, len, &id, &bytes)) return 2;
            if (emberB_grow(&cmds.v, &cmds.cap, cmds.n + 1, sizeof *cmds.v, 16)) return 3;
            command *c = &cmds.v[cmds.n++];
            c->id = id;
            if (!(c->bytes = ember_malloc(bytes.len ? bytes.len : 1))) return 3;
            memcpy(c->bytes, bytes.p, bytes.len);
            c->view = (emberW_bytes){c->bytes, bytes.len};
        } else if (type == EMBER_FRAME_FORGET) {
            uint64_t id;
            if (emberW_u64_decode(payload, len, &id)) return 2;
            for (size_t i = 0; i < cmds.n; i++)
                if (cmds.v[i].id == id) {
                    ember_free(cmds.v[i].bytes);
                    cmds.v[i] = cmds.v[--cmds.n];
                    break;
                }
        } else if (type == EMBER_FRAME_TASK) {
            uint8_t *copy = ember_malloc(len ? len : 1); /* the parser's buffer moves on */
            if (!copy) return 3;
            memcpy(copy, payload, len);
            emberW_task t;
            if (emberW_task_decode(copy, len, &t)) return 2;
            emberV_stream *streams = ember_calloc(t.nstreams ? t.nstreams : 1, sizeof *streams);
            if (!streams) return 3;
            uint32_t ended = 0, cur = UINT32_MAX;
            while (ended < t.nstreams) {
                if (emberW_read_frame(&p, rfd, &type, &payload, &len) != 1) return 2;
                if (type == EMBER_FRAME_INPUT_BEGIN) {
                    if (emberW_u32_decode(payload, len, &cur) || cur >= t.nstreams) return 2;
                } else if (type == EMBER_FRAME_DATA && cur != UINT32_MAX) {
                    if (streams_push(&streams[cur], payload, len)) return 3;
                } else if (type == EMBER_FRAME_INPUT_END && cur != UINT32_MAX) {
                    ended++;
                    cur = UINT32_MAX;
                } else {
                    return 2;
                }
            }
            emberV_env env = {.out_fd = wfd,
                              .streams = streams,
                              .nstreams = t.nstreams,
                              .command = find_command,
                              .arg = &cmds,
                              .allow_main = 1};
            int rc = emberV_run(&env, &t);
            streams_free(streams, t.nstreams);
            emberW_task_free(&t);
            ember_free(copy);
            if (rc == EMBER_EIO) return 0; /* the engine is gone */
        } else {
            return 2;
        }
    }
}

/* ---- the daemon ------------------------------------------------------------------- */

typedef struct ended {
    pid_t pid;
    int status;
} ended;

/* Reaps finished workers into the ring `log` (the last 64), for 'S' requests. */
static void reap(ended *log, size_t *next) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        log[*next % 64] = (ended){pid, status};
        (*next)++;
    }
}

static int read_full(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int daemon_main(int ctl) {
    signal(SIGPIPE, SIG_IGN);
    ended log[64];
    size_t nlog = 0;
    memset(log, 0, sizeof log);
    pid_t children[1024];
    size_t nchildren = 0;
    for (;;) {
        char byte;
        int fds[2];
        struct iovec iov = {&byte, 1};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof fds)];
        } cm;
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
        ssize_t r = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        reap(log, &nlog);
        if (byte == 'S') { /* how worker pid ended: its wait status, no traceback */
            uint8_t req[4], answer[8];
            if (read_full(ctl, req, 4)) break;
            pid_t pid = (pid_t)emberB_load_u32(req);
            int status = -1;
            for (int tries = 0; tries < 200; tries++) {
                for (size_t i = 0; i < 64; i++)
                    if (log[i].pid == pid) {
                        status = log[i].status;
                        log[i].pid = 0;
                        tries = 200;
                        break;
                    }
                if (tries >= 200) break;
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                reap(log, &nlog);
            }
            emberB_store_u32(answer, (uint32_t)status);
            emberB_store_u32(answer + 4, 0);
            if (write(ctl, answer, 8) != 8) break;
            continue;
        }
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (byte != 'F' || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof fds)) break;
        memcpy(fds, CMSG_DATA(c), sizeof fds);
        pid_t pid = fork();
        if (pid == 0) {
            close(ctl);
            _exit(worker_main(fds[0], fds[1]));
        }
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        if (pid > 0) {
            size_t k = 0; /* forget children that ended */
            for (size_t i = 0; i < nchildren; i++)
                if (kill(children[i], 0) == 0) children[k++] = children[i];
            nchildren = k;
            if (nchildren < sizeof children / sizeof *children) children[nchildren++] = pid;
        }
        uint8_t answer[4];
        emberB_store_u32(answer, (uint32_t)(pid > 0 ? pid : -err));
        if (write(ctl, answer, 4) != 4) break;
    }
    for (size_t i = 0; i < nchildren; i++)
        kill(children[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {}
    return 0;
}

void emberV_link(void) {}

/* Before main(): the driver's executable, run again as the native daemon, serves the
 * control protocol on fd 3 and exits without running the program. */
__attribute__((constructor)) static void native_daemon_hook(int argc, char **argv) {
    const char *v = getenv(EMBER_NATIVE_DAEMON_VAR);
    if (!v || strcmp(v, "1") != 0) return;
    unsetenv(EMBER_NATIVE_DAEMON_VAR);                    /* programs the workers run are not daemons */
    if (argc >= 3) setenv("EMBER_LOCAL_DIR", argv[2], 1); /* the context's temp dir: spill files go there */
    _exit(daemon_main(3));
}
