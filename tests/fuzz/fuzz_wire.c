/* fuzz_wire.c — fuzz target for the frame decoder (wire.c): any byte stream, fed in
 * chunks whose sizes the input itself chooses, must decode to frames or fail with
 * EMBER_EPROTO, never read out of bounds or leak. Built as a libFuzzer target with
 * clang (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/wire
 * (fuzz_replay.c), which every test run executes. */
#include "internal.h"
#include "wire.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    int64_t before = ember_mem_used();
    emberW_parser p = {0};
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (emberW_feed(&p, data + off, n)) break;
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int r;
        while ((r = emberW_next(&p, &type, &payload, &len)) == 1) {
            if (payload < p.buf || payload + len > p.buf + p.len) abort();
            if (strcmp(emberW_frame_name(type), "UNKNOWN") == 0) abort();
        }
        if (r < 0 && r != EMBER_EPROTO) abort();
        if (r < 0) break;
    }
    emberW_parser_free(&p);
    if (ember_mem_used() != before) abort();
    return 0;
}
