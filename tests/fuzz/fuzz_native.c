/* fuzz_native.c — fuzz target for the decoders of native commands and shuffle specs
 * (native.c): any bytes must decode or fail with EMBER_EPROTO, never read out of
 * bounds or allocate; a command or spec that decodes is encoded again from its fields
 * and must come out as the same bytes. Built as a libFuzzer target with clang
 * (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/native
 * (fuzz_replay.c), which every test run executes. */
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An owned copy of a decoded function's fields, to encode it again. */
static emberN_fnref copy_fn(const emberN_fn *f) {
    emberN_fnref r = {ember_malloc(f->module.len + 1), f->offset, ember_malloc(f->name.len + 1)};
    if (!r.module || !r.name) abort();
    memcpy(r.module, f->module.p, f->module.len);
    r.module[f->module.len] = 0;
    memcpy(r.name, f->name.p, f->name.len);
    r.name[f->name.len] = 0;
    return r;
}

static void same_bytes(const emberB_buf *b, const uint8_t *data, size_t size) {
    if (b->len != size || memcmp(b->data, data, size) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    emberN_op op;
    int rc = emberN_op_decode(data, size, &op);
    if (rc != 0 && rc != EMBER_EPROTO) abort();
    if (rc == 0) {
        emberN_fnref f = copy_fn(&op.fn);
        char *arg = ember_malloc(op.arg.len + 1);
        if (!arg) abort();
        memcpy(arg, op.arg.p, op.arg.len);
        arg[op.arg.len] = 0;
        emberB_buf b = {0};
        if (emberN_op_encode(&b, op.kind, &f, arg)) abort();
        same_bytes(&b, data, size);
        emberB_free(&b);
        ember_free(arg);
        emberN_fnref_free(&f);
    }
    emberN_spec spec;
    rc = emberN_spec_decode(data, size, &spec);
    if (rc != 0 && rc != EMBER_EPROTO) abort();
    if (rc == 0) {
        emberN_fnref f[4];
        const emberN_fnref *pf[4];
        for (int i = 0; i < 4; i++) {
            f[i] = copy_fn(&spec.fns[i]);
            pf[i] = &f[i];
        }
        emberB_buf b = {0};
        if (emberN_spec_encode(&b, spec.flags, pf)) abort();
        same_bytes(&b, data, size);
        emberB_free(&b);
        for (int i = 0; i < 4; i++)
            emberN_fnref_free(&f[i]);
    }
    return 0;
}
