/* mixed.c — native functions and lineage builders for tests/test_native_mixed.py:
 * C-built RDDs handed to Python (ember.native.call), C steps over Python RDDs. Built
 * with examples/native_udf/wordcount.c: the library holds its tokenize and add too. */
#include "../../examples/native_udf/wordcount.h"

#include <signal.h>

/* map: any record, copied */
int same(const ember_value *v, ember_writer *out) { return ember_put_value(out, v); }

/* map: (k, v) -> (v, k) */
int swap(const ember_value *v, ember_writer *out) {
    ember_value k, x;
    if (ember_value_item(v, 0, &k) || ember_value_item(v, 1, &x))
        return ember_set_error(EMBER_EINVAL, "swap: expected a pair, got %s", ember_type_name(v->type));
    ember_put_tuple(out, 2);
    ember_put_value(out, &x);
    return ember_put_value(out, &k);
}

/* flatMap that crashes on a line holding "boom" */
int crash_on_boom(const ember_value *line, ember_writer *out) {
    for (size_t i = 0; i + 4 <= line->len; i++)
        if (line->data[i] == 'b' && line->data[i + 1] == 'o' && line->data[i + 2] == 'o' && line->data[i + 3] == 'm')
            raise(SIGSEGV);
    return ember_put_value(out, line);
}

static int square(const ember_value *v, ember_writer *out) { return ember_put_int(out, v->i * v->i); }

/* builder: word counts of the input RDD's lines */
int word_counts(ember_context *ctx, ember_node *const *in, size_t n, ember_node **out) {
    (void)ctx;
    if (n != 1) return ember_set_error(EMBER_EINVAL, "word_counts takes one RDD of lines, got %zu", n);
    ember_node *pairs;
    int rc = ember_node_flat_map(in[0], tokenize, NULL, &pairs);
    if (rc) return rc;
    rc = ember_node_reduce_by_key(pairs, add, NULL, 3, out);
    ember_node_release(pairs);
    return rc;
}

/* builder: squares of 0..9 from C records in 3 partitions, no input */
int squares(ember_context *ctx, ember_node *const *in, size_t n, ember_node **out) {
    (void)in;
    (void)n;
    ember_writer w = {0};
    for (int i = 0; i < 10; i++)
        ember_put_int(&w, i);
    ember_node *src;
    int rc = ember_node_parallelize_records(ctx, w.data, w.len, 3, &src);
    ember_writer_free(&w);
    if (rc) return rc;
    rc = ember_node_map(src, square, NULL, out);
    ember_node_release(src);
    return rc;
}
