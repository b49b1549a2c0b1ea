/* udfs.c — native functions the tests of ember.native apply to RDDs (see
 * tests/test_native.py): each exercises one path of the calling convention in
 * ember/native.h. */
#define _POSIX_C_SOURCE 200809L
#include <ember.h>

#include <stddef.h>
#include <unistd.h>

/* map: an int plus one. */
int plus1(const ember_value *v, ember_writer *out) {
    if (v->type != EMBER_INT) return ember_set_error(EMBER_EINVAL, "plus1: expected an int, got %s", ember_type_name(v->type));
    return ember_put_int(out, v->i + 1);
}

/* map: (key, value) -> (value, key), any types, copied as they are. */
int swap(const ember_value *v, ember_writer *out) {
    ember_value a, b;
    if (v->type != EMBER_TUPLE || v->count != 2) return ember_set_error(EMBER_EINVAL, "swap: expected a pair");
    if (ember_value_item(v, 0, &a) || ember_value_item(v, 1, &b)) return EMBER_EINVAL;
    ember_put_tuple(out, 2);
    ember_put_value(out, &b);
    ember_put_value(out, &a);
    return out->err;
}

/* map: the record itself (every type passes through C unchanged). */
int identity(const ember_value *v, ember_writer *out) { return ember_put_value(out, v); }

/* flatMap: the items of a list or tuple. */
int items(const ember_value *v, ember_writer *out) {
    ember_value c = *v, x;
    while (ember_value_next(&c, &x)) ember_put_value(out, &x);
    return out->err;
}

/* filter: strings longer than 3 bytes. */
int long_str(const ember_value *v) { return v->type == EMBER_STR && v->len > 3; }

/* merge: the larger of two ints. */
int max_int(const ember_value *a, const ember_value *b, ember_writer *out) {
    return ember_put_int(out, a->i > b->i ? a->i : b->i);
}

/* map: fails with a message. */
int refuse(const ember_value *v, ember_writer *out) {
    (void)out;
    return ember_set_error(EMBER_EINVAL, "refuse: will not take a %s", ember_type_name(v->type));
}

/* map: writes two records where one is due. */
int two(const ember_value *v, ember_writer *out) {
    ember_put_value(out, v);
    return ember_put_value(out, v);
}

/* map: crashes on the int 13, else the value itself. */
int crash13(const ember_value *v, ember_writer *out) {
    if (v->type == EMBER_INT && v->i == 13) {
        volatile int *p = NULL;
        *p = 1;
    }
    return ember_put_value(out, v);
}

/* map: the process id of the process running it, to see where functions run. */
int where(const ember_value *v, ember_writer *out) {
    (void)v;
    return ember_put_int(out, (int64_t)getpid());
}

/* mapPartitions: the sum of a partition's ints and their count, as one (sum, count). */
int sum_count(ember_iter *in, ember_writer *out) {
    ember_value v;
    int64_t sum = 0, n = 0;
    int rc;
    while ((rc = ember_iter_next(in, &v)) == 1) {
        if (v.type != EMBER_INT) return ember_set_error(EMBER_EINVAL, "sum_count: expected ints, got %s", ember_type_name(v.type));
        sum += v.i;
        n++;
    }
    if (rc < 0) return rc;
    ember_put_tuple(out, 2);
    ember_put_int(out, sum);
    return ember_put_int(out, n);
}

/* partitionBy: an int key's partition is the key modulo the partition count; a str
 * key goes to the last partition; anything else is refused. */
int64_t by_int(const ember_value *key, size_t nparts) {
    if (key->type == EMBER_STR) return (int64_t)nparts - 1;
    if (key->type != EMBER_INT) return ember_set_error(EMBER_EINVAL, "by_int: cannot place a %s key", ember_type_name(key->type));
    return (int64_t)((uint64_t)key->i % nparts);
}

/* partitionBy: a partition past the end. */
int64_t too_far(const ember_value *key, size_t nparts) {
    (void)key;
    return (int64_t)nparts;
}

/* map: x -> (x, x). */
int pair_self(const ember_value *v, ember_writer *out) {
    ember_put_tuple(out, 2);
    ember_put_value(out, v);
    return ember_put_value(out, v);
}
