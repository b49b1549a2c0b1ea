/* fuzz_mpi.c — fuzz target for the decoder of cluster-mode messages (mpi.c,
 * emberP_msg_decode): any bytes must decode or fail with EMBER_EPROTO, never read
 * past them; a message that decodes is encoded again and must come out as the same
 * bytes (each message has one encoding). Built as a libFuzzer target with clang,
 * and always as a replay runner over tests/fuzz/corpus/mpi (fuzz_replay.c). */
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    emberP_msg m;
    int rc = emberP_msg_decode(data, size, &m);
    if (rc) {
        if (rc != EMBER_EPROTO) abort();
        return 0;
    }
    emberB_buf again = {0};
    if (emberP_msg_encode(&m, &again) || again.len != size || memcmp(again.data, data, size) != 0) abort();
    emberB_free(&again);
    return 0;
}
