/* wire.c — the one codec of the worker protocol (see wire.h for the table of frames
 * and the payload layouts): frame headers and the incremental frame parser, read by
 * the engine (non-blocking) and by the worker in python/_core (blocking); then each
 * payload's encoder beside its decoder (TASK, TASK_DONE, the fixed-size ones). The
 * scheduler encodes with these, the worker decodes with them: neither side spells a
 * layout out again. */
#include "wire.h"

#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

const char *emberW_frame_name(uint32_t type) {
    switch (type) {
#define EMBER_FRAME_CASE(name, value, dir, payload)                                                                    \
    case value:                                                                                                        \
        return #name;
        EMBER_FRAME_MAP(EMBER_FRAME_CASE)
#undef EMBER_FRAME_CASE
    default:
        return "UNKNOWN";
    }
}

void emberW_header(uint8_t hdr[EMBER_WIRE_HEADER], uint32_t type, uint32_t len) {
    emberB_store_u32(hdr, len);
    emberB_store_u32(hdr + 4, type);
}

/* Drops consumed bytes from the front once they are most of the buffer. */
static void compact(emberW_parser *p) {
    if (p->pos == 0 || !p->buf) return;
    memmove(p->buf, p->buf + p->pos, p->len - p->pos);
    p->len -= p->pos;
    p->pos = 0;
}

static int reserve(emberW_parser *p, size_t extra) {
    if (p->len + extra <= p->cap) return 0;
    compact(p);
    if (emberB_grow(&p->buf, &p->cap, p->len + extra, 1, 65536))
        return emberE_set(EMBER_ENOMEM, "out of memory growing a frame buffer by %zu bytes", extra);
    return 0;
}

int emberW_feed(emberW_parser *p, const void *data, size_t n) {
    if (n == 0) return 0;
    int rc = reserve(p, n);
    if (rc) return rc;
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    return 0;
}

int emberW_next(emberW_parser *p, uint32_t *type, const uint8_t **payload, size_t *len) {
    size_t avail = p->len - p->pos;
    if (avail < EMBER_WIRE_HEADER) return 0;
    const uint8_t *h = p->buf + p->pos;
    uint32_t n = emberB_load_u32(h), t = emberB_load_u32(h + 4);
    if (n > EMBER_WIRE_MAX_FRAME)
        return emberE_set(EMBER_EPROTO, "frame of %u bytes is over the %u-byte limit", n, EMBER_WIRE_MAX_FRAME);
    if (strcmp(emberW_frame_name(t), "UNKNOWN") == 0) return emberE_set(EMBER_EPROTO, "unknown frame type %u", t);
    if (avail < EMBER_WIRE_HEADER + (size_t)n) return 0;
    *type = t;
    *payload = h + EMBER_WIRE_HEADER;
    *len = n;
    p->pos += EMBER_WIRE_HEADER + (size_t)n;
    return 1;
}

long emberW_read_fd(emberW_parser *p, int fd) {
    if (p->pos == p->len) p->pos = p->len = 0;
    int rc = reserve(p, 65536);
    if (rc) return rc;
    for (;;) {
        ssize_t r = read(fd, p->buf + p->len, p->cap - p->len);
        if (r >= 0) {
            p->len += (size_t)r;
            return (long)r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
        return emberE_errno(EMBER_EIO, errno, "reading from a worker pipe");
    }
}

int emberW_read_frame(emberW_parser *p, int fd, uint32_t *type, const uint8_t **payload, size_t *len) {
    for (;;) {
        int r = emberW_next(p, type, payload, len);
        if (r) return r;
        long n = emberW_read_fd(p, fd);
        if (n == -EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return emberE_errno(EMBER_EIO, errno, "waiting on the engine's task pipe");
            continue;
        }
        if (n < 0) return (int)n;
        if (n == 0) {
            if (p->pos == p->len) return 0;
            return emberE_set(EMBER_EPROTO, "the pipe closed in the middle of a frame (%zu bytes of it read)",
                              p->len - p->pos);
        }
    }
}

void emberW_parser_free(emberW_parser *p) {
    ember_free(p->buf);
    p->buf = NULL;
    p->len = p->cap = p->pos = 0;
}

/* ---- payload codecs ---------------------------------------------------------------- */

/* A cursor over a payload: every take checks the bytes left first. */
typedef struct cursor {
    const uint8_t *p;
    size_t left;
    const char *what; /* the payload, for messages */
} cursor;

static int short_payload(const cursor *c, const char *field) {
    return emberE_set(EMBER_EPROTO, "malformed %s payload: %zu bytes left where %s was expected", c->what, c->left,
                      field);
}

static int take_u32(cursor *c, uint32_t *v, const char *field) {
    if (c->left < 4) return short_payload(c, field);
    *v = emberB_load_u32(c->p);
    c->p += 4;
    c->left -= 4;
    return 0;
}

static int take_u64(cursor *c, uint64_t *v, const char *field) {
    if (c->left < 8) return short_payload(c, field);
    *v = emberB_load_u64(c->p);
    c->p += 8;
    c->left -= 8;
    return 0;
}

static int take_i64(cursor *c, int64_t *v, const char *field) {
    uint64_t u = 0;
    int rc = take_u64(c, &u, field);
    if (!rc) memcpy(v, &u, sizeof *v);
    return rc;
}

static int take_bytes(cursor *c, emberW_bytes *v, const char *field) {
    uint32_t n = 0;
    int rc = take_u32(c, &n, field);
    if (rc) return rc;
    if (c->left < n)
        return emberE_set(EMBER_EPROTO, "malformed %s payload: %s of %u bytes with %zu bytes left", c->what, field, n,
                          c->left);
    v->p = n ? c->p : NULL;
    v->len = n;
    c->p += n;
    c->left -= n;
    return 0;
}

static int put_bytes(emberB_buf *b, emberW_bytes v) {
    int rc = emberB_put_u32(b, v.len);
    return rc ? rc : emberB_append(b, v.p, v.len);
}

/* The smallest encoded input (kind, a u32 field, ncmds): bounds child counts. */
#define MIN_INPUT 12

/* code: EMBER_EINVAL when encoding, EMBER_EPROTO when decoding. */
static int check_kind(uint32_t kind, int code) {
    if (kind >= EMBER_IN_DATA && kind <= EMBER_IN_BLOCK) return 0;
    return emberE_set(code, "unknown input kind %u in a TASK payload", kind);
}

static int encode_input(emberB_buf *b, const emberW_input *in, int depth, uint32_t *nstreams) {
    if (depth > EMBER_WIRE_MAX_DEPTH)
        return emberE_set(EMBER_EINVAL, "a task's input nests deeper than %d levels", EMBER_WIRE_MAX_DEPTH);
    int rc = check_kind(in->kind, EMBER_EINVAL);
    rc = rc ? rc : emberB_put_u32(b, in->kind);
    if (rc) return rc;
    switch (in->kind) {
    case EMBER_IN_DATA:
        if (in->stream != *nstreams)
            return emberE_set(EMBER_EINVAL, "input stream %u where stream %u comes next", in->stream, *nstreams);
        (*nstreams)++;
        rc = emberB_put_u32(b, in->stream);
        break;
    case EMBER_IN_TEXT:
        rc = put_bytes(b, in->path);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)in->start);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)in->end);
        rc = rc ? rc : emberB_put_u32(b, in->flags);
        break;
    case EMBER_IN_RANGE:
        rc = emberB_put_u64(b, (uint64_t)in->start);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)in->end);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)in->step);
        break;
    case EMBER_IN_SHUFFLE:
        rc = emberB_put_u32(b, in->bucket);
        rc = rc ? rc : emberB_put_u32(b, in->npaths);
        for (uint32_t i = 0; i < in->npaths && !rc; i++)
            rc = put_bytes(b, in->paths[i]);
        break;
    case EMBER_IN_BLOCK:
        rc = put_bytes(b, in->path);
        break;
    default: /* CONCAT, ZIP, CARTESIAN */
        if (in->kind != EMBER_IN_CONCAT && in->nchildren != 2)
            return emberE_set(EMBER_EINVAL, "a zip or cartesian input has %u children, not 2", in->nchildren);
        if (in->kind == EMBER_IN_CONCAT) rc = emberB_put_u32(b, in->nchildren);
        for (uint32_t i = 0; i < in->nchildren && !rc; i++)
            rc = encode_input(b, &in->children[i], depth + 1, nstreams);
    }
    rc = rc ? rc : emberB_put_u32(b, in->ncmds);
    for (uint32_t i = 0; i < in->ncmds && !rc; i++) {
        rc = emberB_put_u64(b, in->cmds[i].id);
        rc = rc ? rc : emberB_put_u32(b, in->cmds[i].split);
    }
    return rc;
}

/* Checks n items of at least `size` bytes each can follow before allocating them. */
static int check_count(const cursor *c, uint32_t n, size_t size, const char *field) {
    if ((uint64_t)n * size <= c->left) return 0;
    return emberE_set(EMBER_EPROTO, "malformed %s payload: %u %s cannot fit in the %zu bytes left", c->what, n, field,
                      c->left);
}

static int decode_input(cursor *c, emberW_input *in, int depth, uint32_t *nstreams) {
    if (depth > EMBER_WIRE_MAX_DEPTH)
        return emberE_set(EMBER_EPROTO, "malformed TASK payload: input nested deeper than %d levels",
                          EMBER_WIRE_MAX_DEPTH);
    int rc = take_u32(c, &in->kind, "an input kind");
    rc = rc ? rc : check_kind(in->kind, EMBER_EPROTO);
    if (rc) return rc;
    switch (in->kind) {
    case EMBER_IN_DATA:
        if ((rc = take_u32(c, &in->stream, "an input stream"))) return rc;
        if (in->stream != *nstreams)
            return emberE_set(EMBER_EPROTO, "malformed TASK payload: input stream %u where stream %u comes next",
                              in->stream, *nstreams);
        (*nstreams)++;
        break;
    case EMBER_IN_TEXT:
        rc = take_bytes(c, &in->path, "a text split's path");
        rc = rc ? rc : take_i64(c, &in->start, "a text split's start");
        rc = rc ? rc : take_i64(c, &in->end, "a text split's end");
        rc = rc ? rc : take_u32(c, &in->flags, "a text split's flags");
        break;
    case EMBER_IN_RANGE:
        rc = take_i64(c, &in->start, "a range's start");
        rc = rc ? rc : take_i64(c, &in->end, "a range's stop");
        rc = rc ? rc : take_i64(c, &in->step, "a range's step");
        break;
    case EMBER_IN_SHUFFLE: {
        uint32_t n = 0;
        rc = take_u32(c, &in->bucket, "a shuffle bucket");
        rc = rc ? rc : take_u32(c, &n, "a shuffle path count");
        rc = rc ? rc : check_count(c, n, 4, "shuffle paths");
        if (rc) return rc;
        if (n && !(in->paths = ember_calloc(n, sizeof *in->paths)))
            return emberE_set(EMBER_ENOMEM, "out of memory decoding %u shuffle paths", n);
        in->npaths = n;
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = take_bytes(c, &in->paths[i], "a shuffle path");
        break;
    }
    case EMBER_IN_BLOCK:
        rc = take_bytes(c, &in->path, "a block file's path");
        break;
    default: { /* CONCAT, ZIP, CARTESIAN */
        uint32_t n = 2;
        if (in->kind == EMBER_IN_CONCAT) rc = take_u32(c, &n, "a concatenation's input count");
        rc = rc ? rc : check_count(c, n, MIN_INPUT, "inputs");
        if (rc) return rc;
        if (n && !(in->children = ember_calloc(n, sizeof *in->children)))
            return emberE_set(EMBER_ENOMEM, "out of memory decoding %u inputs", n);
        in->nchildren = n;
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = decode_input(c, &in->children[i], depth + 1, nstreams);
    }
    }
    uint32_t n = 0;
    rc = rc ? rc : take_u32(c, &n, "a command count");
    rc = rc ? rc : check_count(c, n, 12, "commands");
    if (rc) return rc;
    if (n && !(in->cmds = ember_calloc(n, sizeof *in->cmds)))
        return emberE_set(EMBER_ENOMEM, "out of memory decoding %u commands", n);
    in->ncmds = n;
    for (uint32_t i = 0; i < n && !rc; i++) {
        rc = take_u64(c, &in->cmds[i].id, "a command id");
        rc = rc ? rc : take_u32(c, &in->cmds[i].split, "a command's partition");
    }
    return rc;
}

void emberW_input_free(emberW_input *in) {
    for (uint32_t i = 0; in->children && i < in->nchildren; i++)
        emberW_input_free(&in->children[i]);
    ember_free(in->children);
    ember_free(in->paths);
    ember_free(in->cmds);
    in->children = NULL;
    in->paths = NULL;
    in->cmds = NULL;
    in->nchildren = in->npaths = in->ncmds = 0;
}

void emberW_task_free(emberW_task *t) { emberW_input_free(&t->input); }

int emberW_task_encode(emberB_buf *b, const emberW_task *t) {
    uint32_t nstreams = 0;
    int rc = emberB_put_u64(b, t->attempt_id);
    rc = rc ? rc : emberB_put_u32(b, t->stage);
    rc = rc ? rc : emberB_put_u32(b, t->partition);
    rc = rc ? rc : emberB_put_u32(b, t->attempt);
    rc = rc ? rc : emberB_put_u32(b, t->job);
    rc = rc ? rc : put_bytes(b, t->info);
    rc = rc ? rc : encode_input(b, &t->input, 0, &nstreams);
    rc = rc ? rc : emberB_put_u32(b, t->output);
    if (rc) return rc;
    if (t->output == EMBER_OUT_SHUFFLE) {
        rc = put_bytes(b, t->shuffle_path);
        rc = rc ? rc : emberB_put_u32(b, t->nbuckets);
        rc = rc ? rc : emberB_put_u64(b, t->spec_id);
    } else if (t->output == EMBER_OUT_CACHE) {
        rc = emberB_put_u32(b, t->cache_node);
        rc = rc ? rc : emberB_put_u32(b, t->cache_parts);
        rc = rc ? rc : emberB_put_u32(b, t->cache_level);
    } else if (t->output != EMBER_OUT_RESULT) {
        return emberE_set(EMBER_EINVAL, "unknown output kind %u in a task", t->output);
    }
    rc = rc ? rc : emberB_put_u32(b, t->barrier_tasks);
    return rc ? rc : emberB_put_u32(b, t->stage_attempt);
}

int emberW_task_decode(const uint8_t *p, size_t len, emberW_task *t) {
    cursor c = {p, len, "TASK"};
    memset(t, 0, sizeof *t);
    int rc = take_u64(&c, &t->attempt_id, "the attempt id");
    rc = rc ? rc : take_u32(&c, &t->stage, "the stage id");
    rc = rc ? rc : take_u32(&c, &t->partition, "the partition");
    rc = rc ? rc : take_u32(&c, &t->attempt, "the attempt number");
    rc = rc ? rc : take_u32(&c, &t->job, "the job id");
    rc = rc ? rc : take_bytes(&c, &t->info, "the job's info");
    rc = rc ? rc : decode_input(&c, &t->input, 0, &t->nstreams);
    rc = rc ? rc : take_u32(&c, &t->output, "the output kind");
    if (rc) return rc;
    if (t->output == EMBER_OUT_SHUFFLE) {
        rc = take_bytes(&c, &t->shuffle_path, "the shuffle output path");
        rc = rc ? rc : take_u32(&c, &t->nbuckets, "the bucket count");
        rc = rc ? rc : take_u64(&c, &t->spec_id, "the shuffle spec id");
    } else if (t->output == EMBER_OUT_CACHE) {
        rc = take_u32(&c, &t->cache_node, "the cached node");
        rc = rc ? rc : take_u32(&c, &t->cache_parts, "the cached node's partition count");
        rc = rc ? rc : take_u32(&c, &t->cache_level, "the storage level");
    } else if (t->output != EMBER_OUT_RESULT) {
        return emberE_set(EMBER_EPROTO, "malformed TASK payload: unknown output kind %u", t->output);
    }
    rc = rc ? rc : take_u32(&c, &t->barrier_tasks, "the barrier task count");
    rc = rc ? rc : take_u32(&c, &t->stage_attempt, "the stage attempt");
    if (!rc && c.left) rc = emberE_set(EMBER_EPROTO, "malformed TASK payload: %zu bytes after its last field", c.left);
    return rc;
}

int emberW_done_encode(emberB_buf *b, const uint64_t *sizes, uint32_t nsizes, const void *report, uint32_t report_len,
                       const uint64_t *metrics, uint32_t nmetrics) {
    int rc = emberB_put_u32(b, nsizes);
    for (uint32_t i = 0; i < nsizes && !rc; i++)
        rc = emberB_put_u64(b, sizes[i]);
    rc = rc ? rc : emberB_put_u32(b, report_len);
    rc = rc ? rc : emberB_append(b, report, report_len);
    rc = rc ? rc : emberB_put_u32(b, nmetrics);
    for (uint32_t i = 0; i < nmetrics && !rc; i++)
        rc = emberB_put_u64(b, metrics[i]);
    return rc;
}

/* Takes n u64 (a count read before) as a borrowed array. */
static int take_u64s(cursor *c, uint32_t n, const uint8_t **out, const char *field) {
    int rc = check_count(c, n, 8, field);
    if (rc) return rc;
    *out = c->p;
    c->p += 8 * (size_t)n;
    c->left -= 8 * (size_t)n;
    return 0;
}

int emberW_done_decode(const uint8_t *p, size_t len, emberW_done *d) {
    cursor c = {p, len, "TASK_DONE"};
    memset(d, 0, sizeof *d);
    int rc = take_u32(&c, &d->nsizes, "the bucket count");
    rc = rc ? rc : take_u64s(&c, d->nsizes, &d->sizes, "bucket sizes");
    rc = rc ? rc : take_bytes(&c, &d->report, "the task's report");
    rc = rc ? rc : take_u32(&c, &d->nmetrics, "the metric count");
    rc = rc ? rc : take_u64s(&c, d->nmetrics, &d->metrics, "task metrics");
    if (!rc && c.left)
        rc = emberE_set(EMBER_EPROTO, "malformed TASK_DONE payload: %zu bytes after its last field", c.left);
    return rc;
}

uint64_t emberW_done_size(const emberW_done *d, uint32_t i) {
    return i < d->nsizes ? emberB_load_u64(d->sizes + 8 * (size_t)i) : 0;
}

uint64_t emberW_done_metric(const emberW_done *d, uint32_t i) {
    return i < d->nmetrics ? emberB_load_u64(d->metrics + 8 * (size_t)i) : 0;
}

void emberW_u32_encode(uint8_t out[4], uint32_t v) { emberB_store_u32(out, v); }

void emberW_u64_encode(uint8_t out[8], uint64_t v) { emberB_store_u64(out, v); }

int emberW_u32_decode(const uint8_t *p, size_t len, uint32_t *v) {
    if (len != 4) return emberE_set(EMBER_EPROTO, "malformed frame: %zu bytes where a u32 was expected", len);
    *v = emberB_load_u32(p);
    return 0;
}

int emberW_u64_decode(const uint8_t *p, size_t len, uint64_t *v) {
    if (len != 8) return emberE_set(EMBER_EPROTO, "malformed frame: %zu bytes where a u64 was expected", len);
    *v = emberB_load_u64(p);
    return 0;
}

int emberW_command_encode(emberB_buf *b, uint64_t id, const void *cmd, size_t len) {
    int rc = emberB_put_u64(b, id);
    return rc ? rc : emberB_append(b, cmd, len);
}

int emberW_command_decode(const uint8_t *p, size_t len, uint64_t *id, emberW_bytes *cmd) {
    if (len < 8) return emberE_set(EMBER_EPROTO, "malformed COMMAND payload of %zu bytes: no command id", len);
    if (len - 8 > UINT32_MAX) return emberE_set(EMBER_EPROTO, "malformed COMMAND payload of %zu bytes", len);
    *id = emberB_load_u64(p);
    cmd->p = p + 8;
    cmd->len = (uint32_t)(len - 8);
    return 0;
}

int emberW_fetch_failed_encode(emberB_buf *b, const void *path, size_t path_len, const void *text, size_t text_len) {
    if (path_len == 0 || path_len >= EMBER_WIRE_MAX_PATH || memchr(path, 0, path_len))
        return emberE_set(EMBER_EINVAL, "FETCH_FAILED: a shuffle file path of %zu bytes (1 to %d, no NUL)", path_len,
                          EMBER_WIRE_MAX_PATH - 1);
    if (text_len > UINT32_MAX) return emberE_set(EMBER_EINVAL, "FETCH_FAILED: an error text of %zu bytes", text_len);
    int rc = emberB_put_u32(b, (uint32_t)path_len);
    rc = rc ? rc : emberB_append(b, path, path_len);
    return rc ? rc : emberB_append(b, text, text_len);
}

int emberW_fetch_failed_decode(const uint8_t *p, size_t len, emberW_bytes *path, emberW_bytes *text) {
    cursor c = {p, len, "FETCH_FAILED"};
    uint32_t n = 0;
    int rc = take_u32(&c, &n, "the path's length");
    if (rc) return rc;
    if (n == 0 || n >= EMBER_WIRE_MAX_PATH || n > c.left || memchr(c.p, 0, n))
        return emberE_set(EMBER_EPROTO,
                          "malformed FETCH_FAILED payload: a path of %u bytes (1 to %d, no NUL) with "
                          "%zu bytes left",
                          n, EMBER_WIRE_MAX_PATH - 1, c.left);
    if (c.left - n > UINT32_MAX) return emberE_set(EMBER_EPROTO, "malformed FETCH_FAILED payload of %zu bytes", len);
    path->p = c.p;
    path->len = n;
    text->p = c.p + n; /* the end of the payload when the text is empty */
    text->len = (uint32_t)(c.left - n);
    return 0;
}

enum { STORED_ENTRY = 20 }; /* u32 node, u32 partition, u32 where, u64 bytes */

int emberW_stored_encode(emberB_buf *b, const emberW_stored *entries, uint32_t n) {
    int rc = emberB_put_u32(b, n);
    for (uint32_t i = 0; i < n && !rc; i++) {
        rc = emberB_put_u32(b, entries[i].node);
        rc = rc ? rc : emberB_put_u32(b, entries[i].partition);
        rc = rc ? rc : emberB_put_u32(b, entries[i].where);
        rc = rc ? rc : emberB_put_u64(b, entries[i].bytes);
    }
    return rc;
}

int emberW_stored_decode(const uint8_t *p, size_t len, uint32_t *n) {
    if (len < 4) return emberE_set(EMBER_EPROTO, "malformed BLOCK_STORED payload: %zu bytes, no count", len);
    *n = emberB_load_u32(p);
    if ((len - 4) / STORED_ENTRY != *n || (len - 4) % STORED_ENTRY)
        return emberE_set(EMBER_EPROTO, "malformed BLOCK_STORED payload: %u entries in %zu bytes", *n, len);
    for (uint32_t i = 0; i < *n; i++)
        if (emberW_stored_entry(p, i).where > EMBER_BLOCK_DISK)
            return emberE_set(EMBER_EPROTO, "malformed BLOCK_STORED payload: entry %u has where %u", i,
                              emberW_stored_entry(p, i).where);
    return 0;
}

emberW_stored emberW_stored_entry(const uint8_t *p, uint32_t i) {
    const uint8_t *e = p + 4 + (size_t)i * STORED_ENTRY;
    return (emberW_stored){emberB_load_u32(e), emberB_load_u32(e + 4), emberB_load_u32(e + 8), emberB_load_u64(e + 12)};
}
