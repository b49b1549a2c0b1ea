/* test_wire.c — the frame decoder: whole frames out of arbitrary chunking, and
 * rejection of oversized lengths and unknown types before anything is allocated;
 * the worker's blocking reader; the payload codecs (TASK, TASK_DONE, the fixed-size
 * ones): round trips, and every truncated, overlong or lying length rejected with
 * EMBER_EPROTO and nothing leaked. */
#include "internal.h"
#include "test.h"
#include "wire.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static size_t encode(uint8_t *out, uint32_t type, const char *payload) {
    size_t n = strlen(payload);
    emberW_header(out, type, (uint32_t)n);
    memcpy(out + EMBER_WIRE_HEADER, payload, n);
    return EMBER_WIRE_HEADER + n;
}

static void test_round_trip_any_chunking(void) {
    uint8_t stream[256];
    size_t len = 0;
    len += encode(stream + len, EMBER_FRAME_DATA, "hello");
    len += encode(stream + len, EMBER_FRAME_INPUT_END, "");
    len += encode(stream + len, EMBER_FRAME_TASK_ERROR, "Traceback ...");
    srand(7);
    for (int round = 0; round < 200; round++) {
        emberW_parser p = {0};
        size_t fed = 0;
        int got = 0;
        uint32_t types[3] = {0};
        char texts[3][32] = {{0}};
        while (got < 3) {
            if (fed < len) {
                size_t chunk = 1 + (size_t)rand() % 9;
                if (chunk > len - fed) chunk = len - fed;
                CHECK(emberW_feed(&p, stream + fed, chunk) == 0);
                fed += chunk;
            }
            uint32_t type;
            const uint8_t *payload;
            size_t plen;
            int r;
            while ((r = emberW_next(&p, &type, &payload, &plen)) == 1) {
                types[got] = type;
                memcpy(texts[got], payload, plen);
                got++;
            }
            CHECK(r == 0);
            if (fed == len && r == 0 && got < 3) break;
        }
        CHECK(got == 3);
        CHECK(types[0] == EMBER_FRAME_DATA && strcmp(texts[0], "hello") == 0);
        CHECK(types[1] == EMBER_FRAME_INPUT_END && texts[1][0] == 0);
        CHECK(types[2] == EMBER_FRAME_TASK_ERROR && strcmp(texts[2], "Traceback ...") == 0);
        emberW_parser_free(&p);
    }
}

static void test_rejects_oversized_length(void) {
    emberW_parser p = {0};
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, EMBER_FRAME_DATA, EMBER_WIRE_MAX_FRAME + 1u);
    CHECK(emberW_feed(&p, hdr, sizeof hdr) == 0);
    uint32_t type;
    const uint8_t *payload;
    size_t plen;
    CHECK(emberW_next(&p, &type, &payload, &plen) == EMBER_EPROTO);
    CHECK(strstr(ember_last_error(), "limit") != NULL);
    emberW_parser_free(&p);
}

static void test_rejects_unknown_type(void) {
    emberW_parser p = {0};
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, 99, 0);
    CHECK(emberW_feed(&p, hdr, sizeof hdr) == 0);
    uint32_t type;
    const uint8_t *payload;
    size_t plen;
    CHECK(emberW_next(&p, &type, &payload, &plen) == EMBER_EPROTO);
    CHECK(strstr(ember_last_error(), "99") != NULL);
    emberW_parser_free(&p);
}

static void test_random_bytes_never_crash(void) {
    /* A crude fuzz pass: random streams either decode or fail cleanly. */
    srand(11);
    int64_t before = ember_mem_used();
    for (int round = 0; round < 2000; round++) {
        emberW_parser p = {0};
        uint8_t junk[64];
        size_t n = (size_t)rand() % sizeof junk;
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand();
        if (rand() % 2 && n >= 8) junk[4] = EMBER_FRAME_DATA, junk[5] = junk[6] = junk[7] = 0, junk[2] = junk[3] = 0;
        CHECK(emberW_feed(&p, junk, n) == 0);
        uint32_t type;
        const uint8_t *payload;
        size_t plen;
        int r;
        while ((r = emberW_next(&p, &type, &payload, &plen)) == 1)
            CHECK(payload + plen <= p.buf + p.len);
        CHECK(r == 0 || r == EMBER_EPROTO);
        emberW_parser_free(&p);
    }
    CHECK(ember_mem_used() == before);
}

static void test_frame_names(void) {
    CHECK(strcmp(emberW_frame_name(EMBER_FRAME_TASK), "TASK") == 0);
    CHECK(strcmp(emberW_frame_name(1234), "UNKNOWN") == 0);
    CHECK(strcmp(ember_strerror(EMBER_ENOENT), "no such file or directory") == 0);
}

/* ---- the worker's blocking reader ---------------------------------------------------- */

static void test_read_frame_over_a_pipe(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    uint8_t stream[64];
    size_t len = encode(stream, EMBER_FRAME_COMMAND, "12345678cmd");
    len += encode(stream + len, EMBER_FRAME_INPUT_END, "");
    CHECK(write(fds[1], stream, len) == (ssize_t)len);
    close(fds[1]);
    emberW_parser p = {0};
    uint32_t type;
    const uint8_t *payload;
    size_t plen;
    CHECK(emberW_read_frame(&p, fds[0], &type, &payload, &plen) == 1);
    CHECK(type == EMBER_FRAME_COMMAND && plen == 11 && memcmp(payload + 8, "cmd", 3) == 0);
    uint64_t id;
    emberW_bytes cmd;
    CHECK(emberW_command_decode(payload, plen, &id, &cmd) == 0 && cmd.len == 3);
    CHECK(emberW_read_frame(&p, fds[0], &type, &payload, &plen) == 1);
    CHECK(type == EMBER_FRAME_INPUT_END && plen == 0);
    CHECK(emberW_read_frame(&p, fds[0], &type, &payload, &plen) == 0); /* EOF between frames */
    close(fds[0]);
    emberW_parser_free(&p);
}

static void test_read_frame_eof_inside_a_frame(void) {
    uint8_t stream[64];
    size_t len = encode(stream, EMBER_FRAME_DATA, "a batch");
    for (size_t cut = 1; cut < len; cut++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        CHECK(write(fds[1], stream, cut) == (ssize_t)cut);
        close(fds[1]);
        emberW_parser p = {0};
        uint32_t type;
        const uint8_t *payload;
        size_t plen;
        CHECK(emberW_read_frame(&p, fds[0], &type, &payload, &plen) == EMBER_EPROTO);
        CHECK(strstr(ember_last_error(), "middle of a frame") != NULL);
        close(fds[0]);
        emberW_parser_free(&p);
    }
}

static void test_read_frame_bad_header(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, 77, 0);
    CHECK(write(fds[1], hdr, sizeof hdr) == (ssize_t)sizeof hdr);
    emberW_parser p = {0};
    uint32_t type;
    const uint8_t *payload;
    size_t plen;
    CHECK(emberW_read_frame(&p, fds[0], &type, &payload, &plen) == EMBER_EPROTO);
    close(fds[0]);
    close(fds[1]);
    emberW_parser_free(&p);
}

/* ---- TASK ----------------------------------------------------------------------------- */

static emberW_bytes bytes_of(const char *s) { return (emberW_bytes){(const uint8_t *)s, (uint32_t)strlen(s)}; }

/* A task using every input kind: zip(concat(data 0, text, range, block), cartesian(shuffle,
 * data 1)), with commands at several levels, writing a shuffle. */
static emberW_task sample_task(emberW_input kids[5], emberW_input pair[2], emberW_input concat[4],
                               emberW_bytes paths[2], emberW_cmd cmds[3]) {
    memset(kids, 0, 5 * sizeof *kids);
    cmds[0] = (emberW_cmd){7, 0};
    cmds[1] = (emberW_cmd){8, 3};
    cmds[2] = (emberW_cmd){UINT64_MAX, UINT32_MAX};
    paths[0] = bytes_of("/tmp/shuffle-1-0.data");
    paths[1] = bytes_of("/tmp/shuffle-1-1.data");
    concat[0] = (emberW_input){.kind = EMBER_IN_DATA, .stream = 0, .ncmds = 1, .cmds = &cmds[0]};
    concat[1] = (emberW_input){.kind = EMBER_IN_TEXT,
                               .path = bytes_of("/data/a b.txt"),
                               .start = 5,
                               .end = -1,
                               .flags = EMBER_CODEC_GZIP << EMBER_TEXT_CODEC_SHIFT};
    concat[2] = (emberW_input){.kind = EMBER_IN_RANGE, .start = -3, .end = INT64_MAX, .step = 2};
    concat[3] = (emberW_input){.kind = EMBER_IN_BLOCK, .path = bytes_of("/tmp/ember-x/rdd-3-1.block")};
    kids[0] = (emberW_input){.kind = EMBER_IN_SHUFFLE, .bucket = 4, .npaths = 2, .paths = paths};
    kids[1] = (emberW_input){.kind = EMBER_IN_DATA, .stream = 1};
    pair[0] = (emberW_input){.kind = EMBER_IN_CONCAT, .nchildren = 4, .children = concat, .ncmds = 1, .cmds = &cmds[1]};
    pair[1] = (emberW_input){.kind = EMBER_IN_CARTESIAN, .nchildren = 2, .children = kids};
    emberW_task t = {.attempt_id = 99,
                     .stage = 3,
                     .partition = 2,
                     .attempt = 1,
                     .job = 5,
                     .info = bytes_of("job info"),
                     .output = EMBER_OUT_SHUFFLE,
                     .shuffle_path = bytes_of("/tmp/out.data"),
                     .nbuckets = 8,
                     .spec_id = 42,
                     .barrier_tasks = 4,
                     .stage_attempt = 1};
    t.input = (emberW_input){.kind = EMBER_IN_ZIP, .nchildren = 2, .children = pair, .ncmds = 1, .cmds = &cmds[2]};
    return t;
}

static int same_bytes(emberW_bytes a, emberW_bytes b) { return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len)); }

static int same_input(const emberW_input *a, const emberW_input *b) {
    if (a->kind != b->kind || a->ncmds != b->ncmds || a->nchildren != b->nchildren) return 0;
    for (uint32_t i = 0; i < a->ncmds; i++)
        if (a->cmds[i].id != b->cmds[i].id || a->cmds[i].split != b->cmds[i].split) return 0;
    for (uint32_t i = 0; i < a->nchildren; i++)
        if (!same_input(&a->children[i], &b->children[i])) return 0;
    switch (a->kind) {
    case EMBER_IN_DATA:
        return a->stream == b->stream;
    case EMBER_IN_TEXT:
        return same_bytes(a->path, b->path) && a->start == b->start && a->end == b->end && a->flags == b->flags;
    case EMBER_IN_RANGE:
        return a->start == b->start && a->end == b->end && a->step == b->step;
    case EMBER_IN_BLOCK:
        return same_bytes(a->path, b->path);
    case EMBER_IN_SHUFFLE:
        if (a->bucket != b->bucket || a->npaths != b->npaths) return 0;
        for (uint32_t i = 0; i < a->npaths; i++)
            if (!same_bytes(a->paths[i], b->paths[i])) return 0;
        return 1;
    default:
        return 1;
    }
}

static void test_task_round_trip(void) {
    emberW_input kids[5], pair[2], concat[4];
    emberW_bytes paths[2];
    emberW_cmd cmds[3];
    emberW_task t = sample_task(kids, pair, concat, paths, cmds);
    int64_t before = ember_mem_used();
    emberB_buf b = {0};
    CHECK(emberW_task_encode(&b, &t) == 0);
    emberW_task d;
    CHECK(emberW_task_decode(b.data, b.len, &d) == 0);
    CHECK(d.attempt_id == 99 && d.stage == 3 && d.partition == 2 && d.attempt == 1 && d.job == 5);
    CHECK(same_bytes(d.info, t.info) && d.output == EMBER_OUT_SHUFFLE && same_bytes(d.shuffle_path, t.shuffle_path));
    CHECK(d.nbuckets == 8 && d.spec_id == 42 && d.barrier_tasks == 4 && d.stage_attempt == 1);
    CHECK(d.nstreams == 2);
    CHECK(same_input(&t.input, &d.input));
    /* Encoding what was decoded gives the same bytes. */
    emberB_buf again = {0};
    CHECK(emberW_task_encode(&again, &d) == 0);
    CHECK(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
    emberB_free(&again);
    emberW_task_free(&d);
    /* A result task, empty info, no commands. */
    emberW_task r = {.attempt_id = 1,
                     .output = EMBER_OUT_RESULT,
                     .input = {.kind = EMBER_IN_RANGE, .start = 0, .end = 10, .step = 1}};
    b.len = 0;
    CHECK(emberW_task_encode(&b, &r) == 0);
    CHECK(emberW_task_decode(b.data, b.len, &d) == 0);
    CHECK(d.output == EMBER_OUT_RESULT && d.info.len == 0 && d.nstreams == 0 && same_input(&r.input, &d.input));
    emberW_task_free(&d);
    /* A cache task: which node, how many partitions, at which level. */
    r.output = EMBER_OUT_CACHE;
    r.cache_node = 17;
    r.cache_parts = 6;
    r.cache_level = 3;
    b.len = 0;
    CHECK(emberW_task_encode(&b, &r) == 0);
    CHECK(emberW_task_decode(b.data, b.len, &d) == 0);
    CHECK(d.output == EMBER_OUT_CACHE && d.cache_node == 17 && d.cache_parts == 6 && d.cache_level == 3);
    emberW_task_free(&d);
    for (size_t cut = 1; cut <= 12; cut++) { /* its fields cut short */
        CHECK(emberW_task_decode(b.data, b.len - 8 - cut, &d) == EMBER_EPROTO);
        emberW_task_free(&d);
    }
    emberB_free(&b);
    CHECK(ember_mem_used() == before);
}

/* BLOCK_STORED: entries round trip; a count that does not match the bytes, or an
 * unknown where, is malformed. */
static void test_block_stored(void) {
    emberW_stored e[2] = {{7, 3, EMBER_BLOCK_MEMORY, 4096}, {5, 0, EMBER_BLOCK_DISK, (uint64_t)1 << 40}};
    emberB_buf b = {0};
    CHECK(emberW_stored_encode(&b, e, 2) == 0 && b.len == 4 + 2 * 20);
    uint32_t n = 0;
    CHECK(emberW_stored_decode(b.data, b.len, &n) == 0 && n == 2);
    emberW_stored x = emberW_stored_entry(b.data, 1);
    CHECK(x.node == 5 && x.partition == 0 && x.where == EMBER_BLOCK_DISK && x.bytes == (uint64_t)1 << 40);
    x = emberW_stored_entry(b.data, 0);
    CHECK(x.node == 7 && x.partition == 3 && x.where == EMBER_BLOCK_MEMORY && x.bytes == 4096);
    for (size_t len = 0; len < b.len; len++)
        CHECK(emberW_stored_decode(b.data, len, &n) == EMBER_EPROTO);
    emberB_append(&b, "", 1);
    CHECK(emberW_stored_decode(b.data, b.len, &n) == EMBER_EPROTO);
    b.len--;
    b.data[4 + 20 + 8] = 3; /* entry 1's where */
    CHECK(emberW_stored_decode(b.data, b.len, &n) == EMBER_EPROTO);
    emberB_free(&b);
}

/* Every prefix of a valid TASK is malformed, and so is every extension by one byte. */
static void test_task_every_truncation_and_extension(void) {
    emberW_input kids[5], pair[2], concat[4];
    emberW_bytes paths[2];
    emberW_cmd cmds[3];
    emberW_task t = sample_task(kids, pair, concat, paths, cmds);
    emberB_buf b = {0};
    CHECK(emberW_task_encode(&b, &t) == 0);
    int64_t before = ember_mem_used();
    for (size_t cut = 0; cut < b.len; cut++) {
        emberW_task d;
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(copy, b.data, cut);
        CHECK(emberW_task_decode(copy, cut, &d) == EMBER_EPROTO);
        CHECK(strstr(ember_last_error(), "TASK") != NULL);
        emberW_task_free(&d);
        free(copy);
    }
    CHECK(emberB_append(&b, "", 1) == 0);
    emberW_task d;
    CHECK(emberW_task_decode(b.data, b.len, &d) == EMBER_EPROTO);
    CHECK(strstr(ember_last_error(), "after its last field") != NULL);
    emberW_task_free(&d);
    CHECK(ember_mem_used() == before);
    emberB_free(&b);
}

/* Offsets of the fields of a small task, to corrupt them one by one. */
static void put_head(emberB_buf *b) {
    emberB_put_u64(b, 1);
    for (int i = 0; i < 4; i++)
        emberB_put_u32(b, 0);
    emberB_put_u32(b, 0); /* info */
}

static int decode_buf(emberB_buf *b) {
    emberW_task d;
    int rc = emberW_task_decode(b->data, b->len, &d);
    emberW_task_free(&d);
    return rc;
}

static void test_task_lying_lengths(void) {
    int64_t before = ember_mem_used();
    emberB_buf b = {0};
    /* info longer than the payload */
    emberB_put_u64(&b, 1);
    for (int i = 0; i < 4; i++)
        emberB_put_u32(&b, 0);
    emberB_put_u32(&b, 1000);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "info") != NULL);
    /* a huge shuffle path count, a huge concat count, a huge command count: refused
     * before anything is allocated for them */
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_SHUFFLE);
    emberB_put_u32(&b, 0);
    emberB_put_u32(&b, UINT32_MAX);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "shuffle paths") != NULL);
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_CONCAT);
    emberB_put_u32(&b, 1u << 30);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "inputs") != NULL);
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_RANGE);
    for (int i = 0; i < 3; i++)
        emberB_put_u64(&b, 0);
    emberB_put_u32(&b, 0x7fffffff);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "commands") != NULL);
    /* a path whose length runs past the end */
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_TEXT);
    emberB_put_u32(&b, 50);
    emberB_append(&b, "short", 5);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "path") != NULL);
    /* unknown input kind, unknown output kind */
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, 0);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "input kind 0") != NULL);
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_DATA);
    emberB_put_u32(&b, 0);
    emberB_put_u32(&b, 0);
    emberB_put_u32(&b, 9);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "output kind 9") != NULL);
    /* DATA streams out of order */
    b.len = 0;
    put_head(&b);
    emberB_put_u32(&b, EMBER_IN_DATA);
    emberB_put_u32(&b, 1);
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "stream 1 where stream 0") != NULL);
    emberB_free(&b);
    CHECK(ember_mem_used() == before);
}

static void test_task_depth_limit(void) {
    emberB_buf b = {0};
    put_head(&b);
    for (int i = 0; i <= EMBER_WIRE_MAX_DEPTH + 1; i++) {
        emberB_put_u32(&b, EMBER_IN_CONCAT);
        emberB_put_u32(&b, 1);
    }
    for (int i = 0; i < 4 * (EMBER_WIRE_MAX_DEPTH + 2); i++)
        emberB_put_u32(&b, 0); /* room for the counts */
    int64_t before = ember_mem_used();
    CHECK(decode_buf(&b) == EMBER_EPROTO && strstr(ember_last_error(), "deeper") != NULL);
    CHECK(ember_mem_used() == before);
    emberB_free(&b);
}

static void test_task_encoder_refuses_what_decoder_would(void) {
    emberB_buf b = {0};
    emberW_input one = {.kind = EMBER_IN_DATA, .stream = 0};
    emberW_task t = {.output = EMBER_OUT_RESULT, .input = {.kind = EMBER_IN_ZIP, .nchildren = 1, .children = &one}};
    CHECK(emberW_task_encode(&b, &t) == EMBER_EINVAL);
    t.input = (emberW_input){.kind = EMBER_IN_DATA, .stream = 3};
    b.len = 0;
    CHECK(emberW_task_encode(&b, &t) == EMBER_EINVAL);
    t.input = (emberW_input){.kind = 42};
    b.len = 0;
    CHECK(emberW_task_encode(&b, &t) == EMBER_EINVAL);
    t.input = (emberW_input){.kind = EMBER_IN_RANGE};
    t.output = 0;
    b.len = 0;
    CHECK(emberW_task_encode(&b, &t) == EMBER_EINVAL);
    emberB_free(&b);
}

/* ---- TASK_DONE and the fixed-size payloads --------------------------------------------- */

static void test_done_round_trip_and_truncations(void) {
    uint64_t sizes[3] = {0, 17, UINT64_MAX}, metrics[EMBER_METRICS];
    for (int i = 0; i < EMBER_METRICS; i++)
        metrics[i] = (uint64_t)i * 1000 + 7;
    emberB_buf b = {0};
    CHECK(emberW_done_encode(&b, sizes, 3, "report", 6, metrics, EMBER_METRICS) == 0);
    CHECK(b.len == 4 + 24 + 4 + 6 + 4 + 8 * EMBER_METRICS);
    emberW_done d;
    CHECK(emberW_done_decode(b.data, b.len, &d) == 0);
    CHECK(d.nsizes == 3 && emberW_done_size(&d, 1) == 17 && emberW_done_size(&d, 2) == UINT64_MAX);
    CHECK(emberW_done_size(&d, 3) == 0); /* out of range: 0, not a read past the end */
    CHECK(d.report.len == 6 && memcmp(d.report.p, "report", 6) == 0);
    CHECK(d.nmetrics == EMBER_METRICS);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_RECORDS_READ) == 7);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_DISK_BYTES_SPILLED) == 5007);
    CHECK(emberW_done_metric(&d, EMBER_METRICS) == 0);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK(emberW_done_decode(copy, cut, &d) == EMBER_EPROTO);
        free(copy);
    }
    CHECK(emberB_append(&b, "x", 1) == 0);
    CHECK(emberW_done_decode(b.data, b.len, &d) == EMBER_EPROTO);
    /* a count of sizes that cannot fit */
    uint8_t lie[12];
    emberB_store_u32(lie, 0x40000000);
    emberB_store_u32(lie + 4, 0);
    emberB_store_u32(lie + 8, 0);
    CHECK(emberW_done_decode(lie, sizeof lie, &d) == EMBER_EPROTO);
    /* a count of metrics that cannot fit */
    emberB_store_u32(lie, 0);
    emberB_store_u32(lie + 8, 0x20000000);
    CHECK(emberW_done_decode(lie, sizeof lie, &d) == EMBER_EPROTO);
    b.len = 0;
    CHECK(emberW_done_encode(&b, NULL, 0, NULL, 0, NULL, 0) == 0);
    CHECK(emberW_done_decode(b.data, b.len, &d) == 0 && d.nsizes == 0 && d.report.len == 0 && d.nmetrics == 0);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_RECORDS_READ) == 0);
    emberB_free(&b);
}

/* The metric list is count-prefixed so that it can grow: a worker that sends fewer
 * metrics than this build knows (an older one) reads as 0 for the rest; one that sends
 * more (a newer one) decodes, and the metrics this build knows are read. */
static void test_done_metric_counts(void) {
    uint64_t metrics[EMBER_METRICS + 3];
    for (int i = 0; i < EMBER_METRICS + 3; i++)
        metrics[i] = (uint64_t)i + 1;
    emberB_buf b = {0};
    emberW_done d;
    CHECK(emberW_done_encode(&b, NULL, 0, NULL, 0, metrics, 2) == 0);
    CHECK(emberW_done_decode(b.data, b.len, &d) == 0 && d.nmetrics == 2);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_RECORDS_WRITTEN) == 2);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_SHUFFLE_RECORDS_READ) == 0);
    b.len = 0;
    CHECK(emberW_done_encode(&b, NULL, 0, "r", 1, metrics, EMBER_METRICS + 3) == 0);
    CHECK(emberW_done_decode(b.data, b.len, &d) == 0 && d.nmetrics == EMBER_METRICS + 3);
    CHECK(emberW_done_metric(&d, EMBER_METRIC_DISK_BYTES_SPILLED) == EMBER_METRIC_DISK_BYTES_SPILLED + 1);
    CHECK(d.report.len == 1 && d.report.p[0] == 'r');
    emberB_free(&b);
}

static void test_fixed_size_payloads(void) {
    uint8_t p[9] = {1, 0, 0, 0, 0, 0, 0, 0, 9};
    uint32_t v32;
    uint64_t v64;
    CHECK(emberW_u32_decode(p, 4, &v32) == 0 && v32 == 1);
    CHECK(emberW_u64_decode(p, 8, &v64) == 0 && v64 == 1);
    for (size_t n = 0; n <= 9; n++) {
        if (n != 4) CHECK(emberW_u32_decode(p, n, &v32) == EMBER_EPROTO);
        if (n != 8) CHECK(emberW_u64_decode(p, n, &v64) == EMBER_EPROTO);
    }
    emberW_bytes cmd;
    for (size_t n = 0; n < 8; n++)
        CHECK(emberW_command_decode(p, n, &v64, &cmd) == EMBER_EPROTO);
    CHECK(emberW_command_decode(p, 9, &v64, &cmd) == 0 && v64 == 1 && cmd.len == 1 && cmd.p[0] == 9);
    /* encoders give what the decoders read */
    uint8_t four[4], eight[8];
    emberW_u32_encode(four, 0xdeadbeef);
    emberW_u64_encode(eight, UINT64_MAX - 5);
    CHECK(emberW_u32_decode(four, 4, &v32) == 0 && v32 == 0xdeadbeef);
    CHECK(emberW_u64_decode(eight, 8, &v64) == 0 && v64 == UINT64_MAX - 5);
    emberB_buf b = {0};
    CHECK(emberW_command_encode(&b, 77, "pickled", 7) == 0);
    CHECK(emberW_command_decode(b.data, b.len, &v64, &cmd) == 0 && v64 == 77 && cmd.len == 7 &&
          memcmp(cmd.p, "pickled", 7) == 0);
    emberB_free(&b);
}

/* FETCH_FAILED: a round trip, every truncation (a lying path length included), and
 * the paths neither end takes: empty, too long, holding a NUL. */
static void test_fetch_failed(void) {
    emberB_buf b = {0};
    emberW_bytes path, text;
    CHECK(emberW_fetch_failed_encode(&b, "/tmp/shuffle-1-0.data", 21, "bad crc", 7) == 0);
    CHECK(emberW_fetch_failed_decode(b.data, b.len, &path, &text) == 0);
    CHECK(path.len == 21 && memcmp(path.p, "/tmp/shuffle-1-0.data", 21) == 0);
    CHECK(text.len == 7 && memcmp(text.p, "bad crc", 7) == 0);
    for (size_t cut = 0; cut < 4 + 21; cut++)
        CHECK(emberW_fetch_failed_decode(b.data, cut, &path, &text) == EMBER_EPROTO);
    /* any cut in the text still decodes: the text runs to the end */
    CHECK(emberW_fetch_failed_decode(b.data, 4 + 21, &path, &text) == 0 && text.len == 0 && path.len == 21);
    uint8_t lie[8];
    emberB_store_u32(lie, 5);
    memcpy(lie + 4, "abcd", 4);
    CHECK(emberW_fetch_failed_decode(lie, sizeof lie, &path, &text) == EMBER_EPROTO); /* 5 > 4 left */
    emberB_store_u32(lie, 0);
    CHECK(emberW_fetch_failed_decode(lie, sizeof lie, &path, &text) == EMBER_EPROTO); /* empty path */
    emberB_store_u32(lie, 2);
    lie[5] = 0;
    CHECK(emberW_fetch_failed_decode(lie, sizeof lie, &path, &text) == EMBER_EPROTO); /* a NUL in it */
    char *long_path = malloc(EMBER_WIRE_MAX_PATH + 8);
    memset(long_path, 'p', EMBER_WIRE_MAX_PATH + 8);
    b.len = 0;
    CHECK(emberW_fetch_failed_encode(&b, long_path, EMBER_WIRE_MAX_PATH, "", 0) == EMBER_EINVAL);
    CHECK(emberW_fetch_failed_encode(&b, "", 0, "", 0) == EMBER_EINVAL);
    CHECK(emberW_fetch_failed_encode(&b, "a\0b", 3, "", 0) == EMBER_EINVAL);
    CHECK(emberW_fetch_failed_encode(&b, long_path, EMBER_WIRE_MAX_PATH - 1, "", 0) == 0);
    CHECK(emberW_fetch_failed_decode(b.data, b.len, &path, &text) == 0 && path.len == EMBER_WIRE_MAX_PATH - 1);
    b.len = 0;
    emberB_put_u32(&b, EMBER_WIRE_MAX_PATH);
    emberB_append(&b, long_path, EMBER_WIRE_MAX_PATH);
    CHECK(emberW_fetch_failed_decode(b.data, b.len, &path, &text) == EMBER_EPROTO); /* too long */
    free(long_path);
    emberB_free(&b);
}

int main(void) {
    RUN(test_round_trip_any_chunking);
    RUN(test_rejects_oversized_length);
    RUN(test_rejects_unknown_type);
    RUN(test_random_bytes_never_crash);
    RUN(test_frame_names);
    RUN(test_read_frame_over_a_pipe);
    RUN(test_read_frame_eof_inside_a_frame);
    RUN(test_read_frame_bad_header);
    RUN(test_task_round_trip);
    RUN(test_task_every_truncation_and_extension);
    RUN(test_task_lying_lengths);
    RUN(test_task_depth_limit);
    RUN(test_task_encoder_refuses_what_decoder_would);
    RUN(test_done_round_trip_and_truncations);
    RUN(test_done_metric_counts);
    RUN(test_fixed_size_payloads);
    RUN(test_fetch_failed);
    RUN(test_block_stored);
    return TEST_REPORT();
}
