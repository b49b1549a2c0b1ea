/* test_wire.c — the frame decoder: whole frames out of arbitrary chunking, and
 * rejection of oversized lengths and unknown types before anything is allocated. */
#include "internal.h"
#include "test.h"
#include "wire.h"

#include <stdlib.h>

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
        for (size_t i = 0; i < n; i++) junk[i] = (uint8_t)rand();
        if (rand() % 2 && n >= 8) junk[4] = EMBER_FRAME_DATA, junk[5] = junk[6] = junk[7] = 0, junk[2] = junk[3] = 0;
        CHECK(emberW_feed(&p, junk, n) == 0);
        uint32_t type;
        const uint8_t *payload;
        size_t plen;
        int r;
        while ((r = emberW_next(&p, &type, &payload, &plen)) == 1) CHECK(payload + plen <= p.buf + p.len);
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

int main(void) {
    RUN(test_round_trip_any_chunking);
    RUN(test_rejects_oversized_length);
    RUN(test_rejects_unknown_type);
    RUN(test_random_bytes_never_crash);
    RUN(test_frame_names);
    return TEST_REPORT();
}
