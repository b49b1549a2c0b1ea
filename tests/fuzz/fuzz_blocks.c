/* fuzz_blocks.c — fuzz target for the block file decoder (blocks.c,
 * emberM_block_decode): any bytes must decode to a partition's batches or fail with
 * EMBER_ECORRUPT, never read out of bounds or allocate past what the file holds; a
 * file that decodes is encoded again and must come out as the same bytes (the
 * format has one encoding per partition). Built as a libFuzzer target with clang
 * (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/blocks
 * (fuzz_replay.c), which every test run executes. */
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    emberM_batches out;
    int rc = emberM_block_decode(data, size, "fuzz input", &out);
    if (rc) {
        if (rc != EMBER_ECORRUPT || out.n != 0) abort();
        return 0;
    }
    emberB_buf again = {0};
    if (emberM_block_encode(&out, &again) || again.len != size || memcmp(again.data, data, size) != 0) abort();
    emberB_free(&again);
    emberM_batches_clear(&out);
    return 0;
}
