/* fuzz_wire.c — fuzz target for the worker protocol's codec (wire.c), both ends:
 *  - the engine's frame decoder: any byte stream, fed in chunks whose sizes the input
 *    itself chooses, decodes to frames or fails with EMBER_EPROTO;
 *  - the payload decoders, on every frame decoded: TASK, TASK_DONE, COMMAND,
 *    FETCH_FAILED, BLOCK_STORED and the fixed-size ones; a payload that decodes must encode back to the same bytes;
 *  - the worker's reader (emberW_read_frame, as python/_core reads its task pipe),
 *    over the same bytes through a pipe: the same frames, then end of stream or
 *    EMBER_EPROTO.
 * Nothing may read out of bounds or leak. Built as a libFuzzer target with clang
 * (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/wire
 * (fuzz_replay.c), which every test run executes. */
#include "internal.h"
#include "wire.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_payload(uint32_t type, const uint8_t *p, size_t len) {
    emberB_buf again = {0};
    if (type == EMBER_FRAME_TASK) {
        emberW_task t;
        int rc = emberW_task_decode(p, len, &t);
        if (rc && rc != EMBER_EPROTO) abort();
        if (!rc) {
            if (emberW_task_encode(&again, &t) || again.len != len || memcmp(again.data, p, len) != 0) abort();
        }
        emberW_task_free(&t);
    } else if (type == EMBER_FRAME_TASK_DONE) {
        emberW_done d;
        int rc = emberW_done_decode(p, len, &d);
        if (rc && rc != EMBER_EPROTO) abort();
        if (!rc) {
            uint64_t *sizes = ember_calloc(d.nsizes ? d.nsizes : 1, sizeof *sizes);
            uint64_t *metrics = ember_calloc(d.nmetrics ? d.nmetrics : 1, sizeof *metrics);
            if (!sizes || !metrics) abort();
            for (uint32_t i = 0; i < d.nsizes; i++)
                sizes[i] = emberW_done_size(&d, i);
            for (uint32_t i = 0; i < d.nmetrics; i++)
                metrics[i] = emberW_done_metric(&d, i);
            if (emberW_done_metric(&d, d.nmetrics) != 0) abort(); /* past the end: 0 */
            if (emberW_done_encode(&again, sizes, d.nsizes, d.report.p, d.report.len, metrics, d.nmetrics) ||
                again.len != len || memcmp(again.data, p, len) != 0)
                abort();
            ember_free(sizes);
            ember_free(metrics);
        }
    } else if (type == EMBER_FRAME_COMMAND) {
        uint64_t id;
        emberW_bytes cmd;
        int rc = emberW_command_decode(p, len, &id, &cmd);
        if (rc ? rc != EMBER_EPROTO || len >= 8 : cmd.p + cmd.len != p + len) abort();
        if (!rc &&
            (emberW_command_encode(&again, id, cmd.p, cmd.len) || again.len != len || memcmp(again.data, p, len) != 0))
            abort();
    } else if (type == EMBER_FRAME_FETCH_FAILED) {
        emberW_bytes path, text;
        int rc = emberW_fetch_failed_decode(p, len, &path, &text);
        if (rc && rc != EMBER_EPROTO) abort();
        if (!rc) {
            if (!path.len || path.len >= EMBER_WIRE_MAX_PATH || memchr(path.p, 0, path.len) ||
                text.p + text.len != p + len)
                abort();
            if (emberW_fetch_failed_encode(&again, path.p, path.len, text.p, text.len) || again.len != len ||
                memcmp(again.data, p, len) != 0)
                abort();
        }
    } else if (type == EMBER_FRAME_BLOCK_STORED) {
        uint32_t n;
        int rc = emberW_stored_decode(p, len, &n);
        if (rc && rc != EMBER_EPROTO) abort();
        if (!rc) {
            emberW_stored *e = ember_calloc(n ? n : 1, sizeof *e);
            if (!e) abort();
            for (uint32_t i = 0; i < n; i++)
                if ((e[i] = emberW_stored_entry(p, i)).where > EMBER_BLOCK_DISK) abort();
            if (emberW_stored_encode(&again, e, n) || again.len != len || memcmp(again.data, p, len) != 0) abort();
            ember_free(e);
        }
    } else if (type == EMBER_FRAME_INPUT_BEGIN || type == EMBER_FRAME_FORGET) {
        uint32_t v32;
        uint64_t v64;
        int rc = type == EMBER_FRAME_FORGET ? emberW_u64_decode(p, len, &v64) : emberW_u32_decode(p, len, &v32);
        if (rc ? rc != EMBER_EPROTO : len != (type == EMBER_FRAME_FORGET ? 8u : 4u)) abort();
    }
    emberB_free(&again);
}

typedef struct writer_arg {
    int fd;
    const uint8_t *data;
    size_t size;
} writer_arg;

static void *write_all(void *arg) {
    writer_arg *w = arg;
    for (size_t off = 0; off < w->size;) {
        ssize_t n = write(w->fd, w->data + off, w->size - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
    close(w->fd);
    return NULL;
}

/* The worker's reader over the bytes: returns how many frames it took. */
static size_t worker_read(const uint8_t *data, size_t size, int *end) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    writer_arg w = {fds[1], data, size};
    pthread_t th;
    if (pthread_create(&th, NULL, write_all, &w) != 0) abort();
    emberW_parser p = {0};
    size_t frames = 0;
    uint32_t type;
    const uint8_t *payload;
    size_t len;
    int r;
    while ((r = emberW_read_frame(&p, fds[0], &type, &payload, &len)) == 1) {
        if (payload < p.buf || payload + len > p.buf + p.len) abort();
        frames++;
    }
    if (r != 0 && r != EMBER_EPROTO) abort();
    *end = r;
    close(fds[0]); /* a writer blocked on a full pipe gets EPIPE (SIGPIPE is ignored) */
    pthread_join(th, NULL);
    emberW_parser_free(&p);
    return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    signal(SIGPIPE, SIG_IGN);
    int64_t before = ember_mem_used();
    emberW_parser p = {0};
    size_t frames = 0;
    int bad = 0;
    for (size_t off = 0; off < size && !bad; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (emberW_feed(&p, data + off, n)) break;
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int r;
        while ((r = emberW_next(&p, &type, &payload, &len)) == 1) {
            if (payload < p.buf || payload + len > p.buf + p.len) abort();
            if (strcmp(emberW_frame_name(type), "UNKNOWN") == 0) abort();
            check_payload(type, payload, len);
            frames++;
        }
        if (r < 0 && r != EMBER_EPROTO) abort();
        if (r < 0) bad = 1;
    }
    int whole = !bad && p.pos == p.len;
    emberW_parser_free(&p);
    /* The worker's reader takes the same frames and ends the same way. */
    int end;
    size_t wframes = worker_read(data, size, &end);
    if (wframes != frames || (whole ? end != 0 : end != EMBER_EPROTO)) abort();
    if (ember_mem_used() != before) abort();
    return 0;
}
