/* fuzz_record.c — fuzz target for the record decoder (record.c): any bytes must
 * decode to a value or fail with EMBER_ECORRUPT, never read out of bounds, allocate
 * or loop; a value that decodes is walked whole and written again, and must come
 * out as the same bytes (the format has one encoding per value). emberR_decode_pair
 * accepts exactly what ember_value_decode accepts, with the same length, and
 * emberR_small_pair (a word and its count) a subset of those pairs, read the same.
 * Built as a libFuzzer target with clang
 * (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/record (fuzz_replay.c), which every test
 * run executes. */
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes v again from its parts; returns 0, or -1 when the walk disagrees with the
 * counts the decoder reported. */
static int rewrite(ember_writer *w, ember_value *v) {
    switch (v->type) {
    case EMBER_NONE:
        return ember_put_none(w);
    case EMBER_BOOL:
        return ember_put_bool(w, v->b);
    case EMBER_INT:
        return ember_put_int(w, v->i);
    case EMBER_BIGINT:
        return ember_put_bigint(w, v->data, v->len);
    case EMBER_FLOAT:
        return ember_put_float(w, v->f);
    case EMBER_STR:
        return ember_put_str(w, (const char *)v->data, v->len);
    case EMBER_BYTES:
        return ember_put_bytes(w, v->data, v->len);
    case EMBER_TUPLE:
    case EMBER_LIST:
    case EMBER_DICT: {
        size_t items = v->type == EMBER_DICT ? v->count * 2 : v->count, seen = 0;
        if (v->type == EMBER_TUPLE)
            ember_put_tuple(w, v->count);
        else if (v->type == EMBER_LIST)
            ember_put_list(w, v->count);
        else
            ember_put_dict(w, v->count);
        ember_value c;
        while (ember_value_next(v, &c)) {
            if (rewrite(w, &c)) return -1;
            seen++;
        }
        return seen == items ? 0 : -1;
    }
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t before = ember_mem_used();
    ember_value v;
    size_t used = 0;
    int rc = ember_value_decode(data, size, &v, &used);
    ember_value decoded = v; /* as decoded: rewrite walks v's items */
    if (rc != 0 && rc != EMBER_ECORRUPT) abort();
    if (rc == 0) {
        if (used == 0 || used > size || v.enc != data || v.enc_len != used) abort();
        if (ember_mem_used() != before) abort();
        ember_writer w = {0};
        if (rewrite(&w, &v)) abort();
        if (w.err) abort();
        /* every value has one encoding, so writing it again gives the same bytes */
        if (w.len != used || memcmp(w.data, data, used) != 0) abort();
        ember_writer_free(&w);
    }
    ember_value rec, k, pv;
    size_t pair_used = 0;
    int prc = emberR_decode_pair(data, size, &rec, &k, &pv, &pair_used);
    if ((prc < 0) != (rc < 0) || (prc >= 0 && (pair_used != used || rec.enc_len != used))) abort();
    if (prc == 1 && (k.enc != data + 2 || pv.enc != k.enc + k.enc_len || pv.enc + pv.enc_len != data + used)) abort();
    /* ember_value_decode's pair (its fast path for a word and a count too) is the one
     * emberR_decode_pair builds from its items */
    if (prc == 1 && (decoded.type != rec.type || decoded.count != 2 || decoded.enc != data || decoded.enc_len != used ||
                     decoded.next != data + 2 || decoded.left != 2 || decoded.data || decoded.len))
        abort();
    /* emberR_small_pair takes a subset of the pairs, the same way */
    size_t klen = 0;
    ember_value sv;
    size_t small = emberR_small_pair(data, size, &klen, &sv);
    if (small && (prc != 1 || small != used || klen != k.enc_len || k.type != EMBER_STR || pv.type != EMBER_INT ||
                  sv.type != EMBER_INT || sv.i != pv.i || sv.enc != pv.enc || sv.enc_len != pv.enc_len))
        abort();
    if (ember_mem_used() != before) abort();
    return 0;
}
