/* test_native.c — native.c, nworker.c and native_jobs.c: the codecs of native commands
 * and specs, the portable hash (against values Python's portable_hash gives), str()
 * of records, and C jobs end to end in native workers (this test program, run again
 * as the daemon): sources, every step, shuffles, actions, a persisted node read from
 * its block files, a failing and a crashing
 * function. */
#include "internal.h"
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- codecs ---------------------------------------------------------------------- */

static int plus_one(const ember_value *v, ember_writer *out) {
    if (v->type != EMBER_INT)
        return ember_set_error(EMBER_EINVAL, "plus_one: expected an int, got %s", ember_type_name(v->type));
    return ember_put_int(out, v->i + 1);
}

static void test_op_roundtrip(void) {
    emberN_fnref ref;
    CHECK(emberN_fn_name((void *)(uintptr_t)plus_one, NULL, &ref) == 0);
    CHECK(strcmp(ref.module, "") == 0); /* in this executable */
    emberB_buf b = {0};
    CHECK(emberN_op_encode(&b, EMBER_NOP_MAP, &ref, "arg") == 0);
    CHECK(emberN_is_native(b.data, b.len));
    emberN_op op;
    CHECK(emberN_op_decode(b.data, b.len, &op) == 0);
    CHECK(op.kind == EMBER_NOP_MAP && op.fn.offset == ref.offset && op.arg.len == 3);
    void *fn = NULL;
    CHECK(emberN_resolve(&op.fn, 1, &fn) == 0 && fn == (void *)(uintptr_t)plus_one);
    CHECK(emberN_resolve(&op.fn, 0, &fn) == EMBER_EINVAL); /* a Python worker cannot load the executable */
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK(emberN_op_decode(b.data, cut, &op) == EMBER_EPROTO);
    b.data[8] = 99; /* kind */
    CHECK(emberN_op_decode(b.data, b.len, &op) == EMBER_EPROTO);
    emberB_free(&b);
    const emberN_fnref *fns[4] = {NULL, NULL, &ref, &ref};
    CHECK(emberN_spec_encode(&b, EMBER_NSPEC_MERGE_VALUE | EMBER_NSPEC_MERGE_COMBINERS | EMBER_NSPEC_COMBINE, fns) ==
          0);
    emberN_spec spec;
    CHECK(emberN_spec_decode(b.data, b.len, &spec) == 0 && (spec.flags & EMBER_NSPEC_COMBINE));
    CHECK(spec.fns[2].offset == ref.offset && spec.fns[0].module.len == 0);
    CHECK(emberN_op_decode(b.data, b.len, &op) == EMBER_EPROTO); /* a spec is not a command */
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK(emberN_spec_decode(b.data, cut, &spec) == EMBER_EPROTO);
    emberB_free(&b);
    emberN_fnref_free(&ref);
    CHECK(emberN_fn_name(NULL, NULL, &ref) == EMBER_EINVAL);
}

/* ---- the portable hash -------------------------------------------------------------- */

static int64_t hash_of(ember_writer *w) {
    ember_value v;
    int64_t h = 0;
    CHECK(ember_value_decode(w->data, w->len, &v, NULL) == 0);
    CHECK(emberN_hash(&v, &h) == 0);
    ember_writer_reset(w);
    return h;
}

static void test_hash_matches_python(void) {
    ember_writer w = {0};
    ember_put_str(&w, "hello", 5);
    CHECK(hash_of(&w) == -2096571579003691106LL);
    ember_put_str(&w, "", 0);
    CHECK(hash_of(&w) == 0);
    ember_put_str(&w, "\xc3\xa9", 2); /* é: latin-1 width */
    CHECK(hash_of(&w) == 6047309291227476195LL);
    ember_put_str(&w, "\xe6\x97\xa5\xe6\x9c\xac", 6); /* 日本: two-byte width */
    CHECK(hash_of(&w) == 6243316497235261705LL);
    ember_put_str(&w, "\xf0\x9f\x98\x80", 4); /* U+1F600: four-byte width */
    CHECK(hash_of(&w) == -3536540696076613844LL);
    ember_put_bytes(&w, "x", 1);
    CHECK(hash_of(&w) == -3368204716105132637LL);
    ember_put_int(&w, -1);
    CHECK(hash_of(&w) == -2);
    ember_put_int(&w, ((int64_t)1 << 61) - 1);
    CHECK(hash_of(&w) == 0);
    uint8_t big[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0}; /* 2**70 */
    ember_put_bigint(&w, big, 10);
    CHECK(hash_of(&w) == 512);
    uint8_t nbig[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff}; /* -2**70 */
    ember_put_bigint(&w, nbig, 10);
    CHECK(hash_of(&w) == -512);
    uint8_t b63[9] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0}; /* 2**63 */
    ember_put_bigint(&w, b63, 9);
    CHECK(hash_of(&w) == 4);
    ember_put_float(&w, 1.5);
    CHECK(hash_of(&w) == 1152921504606846977LL);
    ember_put_float(&w, -0.25);
    CHECK(hash_of(&w) == -576460752303423488LL);
    ember_put_float(&w, 1e300);
    CHECK(hash_of(&w) == 1224995262755759164LL);
    ember_put_tuple(&w, 2);
    ember_put_int(&w, 1);
    ember_put_str(&w, "a", 1);
    CHECK(hash_of(&w) == 5400004561722130730LL);
    ember_put_tuple(&w, 0);
    CHECK(hash_of(&w) == 3430008);
    ember_put_bool(&w, 1);
    CHECK(hash_of(&w) == 1);
    ember_put_none(&w);
    CHECK(hash_of(&w) == 0);
    ember_put_list(&w, 0);
    ember_value v;
    int64_t h;
    ember_value_decode(w.data, w.len, &v, NULL);
    CHECK(emberN_hash(&v, &h) == EMBER_EINVAL && strstr(ember_last_error(), "unhashable type: 'list'"));
    ember_writer_free(&w);
}

/* ---- str() -------------------------------------------------------------------------- */

static int str_is(ember_writer *w, const char *want) {
    ember_value v;
    ember_writer s = {0};
    int ok = ember_value_decode(w->data, w->len, &v, NULL) == 0 && ember_value_str(&v, &s) == 0 &&
             s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
    if (!ok) fprintf(stderr, "str(): got '%.*s', want '%s'\n", (int)s.len, s.data ? (const char *)s.data : "", want);
    ember_writer_free(&s);
    ember_writer_reset(w);
    return ok;
}

static void test_value_str(void) {
    ember_writer w = {0};
    const double floats[] = {1.0, 0.1, 1e16, 1e-5, 123456789.125, -2.5e-7, 1e22};
    const char *want[] = {"1.0", "0.1", "1e+16", "1e-05", "123456789.125", "-2.5e-07", "1e+22"};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        ember_put_float(&w, floats[i]);
        CHECK(str_is(&w, want[i]));
    }
    ember_put_tuple(&w, 2), ember_put_str(&w, "a", 1), ember_put_int(&w, 1);
    CHECK(str_is(&w, "('a', 1)"));
    ember_put_list(&w, 3), ember_put_int(&w, 1), ember_put_str(&w, "b", 1), ember_put_none(&w);
    CHECK(str_is(&w, "[1, 'b', None]"));
    ember_put_dict(&w, 1), ember_put_str(&w, "k", 1), ember_put_tuple(&w, 1), ember_put_int(&w, 1);
    CHECK(str_is(&w, "{'k': (1,)}"));
    ember_put_bytes(&w, "a'b", 3);
    CHECK(str_is(&w, "b\"a'b\""));
    ember_put_str(&w, "x\ny", 3);
    CHECK(str_is(&w, "x\ny"));
    ember_put_list(&w, 1), ember_put_str(&w, "x\ny", 3);
    CHECK(str_is(&w, "['x\\ny']"));
    uint8_t nbig[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff};
    ember_put_bigint(&w, nbig, 10);
    CHECK(str_is(&w, "-1180591620717411303424"));
    ember_put_bool(&w, 1);
    CHECK(str_is(&w, "True"));
    ember_writer_free(&w);
}

/* ---- jobs ----------------------------------------------------------------------------- */

static ember_context *ctx;

static int is_even(const ember_value *v) { return v->type == EMBER_INT && v->i % 2 == 0; }

static int pair_mod3(const ember_value *v, ember_writer *out) {
    ember_put_tuple(out, 2);
    ember_put_int(out, v->i % 3);
    return ember_put_int(out, v->i);
}

static int twice(const ember_value *v, ember_writer *out) {
    ember_put_value(out, v);
    return ember_put_value(out, v);
}

static int add(const ember_value *a, const ember_value *b, ember_writer *out) {
    return ember_put_int(out, a->i + b->i);
}

static int sum_partition(ember_iter *in, ember_writer *out) {
    ember_value v;
    int64_t s = 0;
    int rc;
    while ((rc = ember_iter_next(in, &v)) == 1)
        s += v.i;
    return rc < 0 ? rc : ember_put_int(out, s);
}

/* combineByKey: combiners are [count, sum] lists. */
static int start(const ember_value *v, ember_writer *out) {
    ember_put_list(out, 2);
    ember_put_int(out, 1);
    return ember_put_int(out, v->i);
}
static int add_value(const ember_value *c, const ember_value *v, ember_writer *out) {
    ember_value n, s;
    ember_value_item(c, 0, &n);
    ember_value_item(c, 1, &s);
    ember_put_list(out, 2);
    ember_put_int(out, n.i + 1);
    return ember_put_int(out, s.i + v->i);
}
static int add_combiners(const ember_value *a, const ember_value *b, ember_writer *out) {
    ember_value an, as, bn, bs;
    ember_value_item(a, 0, &an), ember_value_item(a, 1, &as), ember_value_item(b, 0, &bn), ember_value_item(b, 1, &bs);
    ember_put_list(out, 2);
    ember_put_int(out, an.i + bn.i);
    return ember_put_int(out, as.i + bs.i);
}

static int64_t to_last(const ember_value *key, size_t nparts) {
    (void)key;
    return (int64_t)nparts - 1;
}

static int fails(const ember_value *v, ember_writer *out) {
    (void)out;
    return ember_set_error(EMBER_EINVAL, "no thanks to %lld", (long long)v->i);
}

static int crashes(const ember_value *v, ember_writer *out) {
    (void)v;
    (void)out;
    raise(SIGSEGV);
    return 0;
}

static int64_t seen_sum_file_count;
static int touch(const ember_value *v) { return v->type == EMBER_INT ? 0 : -1; }

/* The records of an action's writer as ints, summed, and their count. */
static int64_t sum_ints(const ember_writer *w, size_t *n) {
    int64_t s = 0;
    size_t off = 0, used, k = 0;
    ember_value v;
    while (off < w->len && ember_value_decode(w->data + off, w->len - off, &v, &used) == 0) {
        s += v.type == EMBER_INT ? v.i : 0;
        off += used;
        k++;
    }
    if (n) *n = k;
    return s;
}

static void test_steps_and_actions(void) {
    ember_node *r = NULL, *even = NULL, *dbl = NULL, *parts = NULL;
    CHECK(ember_node_range(ctx, 0, 100, 1, 4, &r) == 0);
    CHECK(ember_node_filter(r, is_even, NULL, &even) == 0);
    CHECK(ember_node_flat_map(even, twice, NULL, &dbl) == 0);
    ember_writer out = {0};
    size_t n = 0;
    CHECK(ember_collect(dbl, &out, &n) == 0);
    CHECK(n == 100 && sum_ints(&out, NULL) == 2 * 2450);
    int64_t count = 0;
    CHECK(ember_count(dbl, &count) == 0 && count == 100);
    /* Persisted on disk: the native workers read its block files themselves. */
    CHECK(ember_node_persist(dbl, EMBER_STORAGE_DISK) == 0);
    for (int round = 0; round < 2; round++) {
        ember_writer_reset(&out);
        CHECK(ember_collect(dbl, &out, &n) == 0 && n == 100 && sum_ints(&out, NULL) == 2 * 2450);
    }
    ember_storage_info info;
    CHECK(ember_storage_status(ctx, &info, 1) == 1 && info.cached_partitions == 4 && info.disk_bytes > 0);
    CHECK(ember_node_persist(dbl, 0) == 0 && ember_storage_status(ctx, &info, 1) == 0);
    CHECK(ember_node_map_partitions(r, sum_partition, "sum_partition", &parts) == 0);
    ember_writer_reset(&out);
    CHECK(ember_collect(parts, &out, &n) == 0 && n == 4 && sum_ints(&out, NULL) == 4950);
    CHECK(ember_foreach(r, touch, "touch") == 0);
    (void)seen_sum_file_count;
    ember_writer_free(&out);
    ember_node_release(parts);
    ember_node_release(dbl);
    ember_node_release(even);
    ember_node_release(r);
}

static void test_shuffles(void) {
    ember_writer in = {0}, out = {0};
    for (int i = 1; i <= 30; i++)
        ember_put_int(&in, i);
    ember_node *src = NULL, *pairs = NULL, *sums = NULL, *avg = NULL, *moved = NULL;
    CHECK(ember_node_parallelize_records(ctx, in.data, in.len, 3, &src) == 0);
    CHECK(ember_node_map(src, pair_mod3, NULL, &pairs) == 0);
    CHECK(ember_node_reduce_by_key(pairs, add, "add", 2, &sums) == 0);
    size_t n = 0;
    CHECK(ember_collect(sums, &out, &n) == 0 && n == 3);
    int64_t by_key[3] = {0};
    size_t off = 0, used;
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value p, k, v;
        ember_value_decode(out.data + off, out.len - off, &p, &used);
        ember_value_item(&p, 0, &k);
        ember_value_item(&p, 1, &v);
        if (k.i >= 0 && k.i < 3) by_key[k.i] = v.i;
    }
    CHECK(by_key[0] == 165 && by_key[1] == 145 && by_key[2] == 155);
    CHECK(ember_node_combine_by_key(pairs, start, add_value, add_combiners, 0, &avg) == 0);
    ember_writer_reset(&out);
    CHECK(ember_collect(avg, &out, &n) == 0 && n == 3);
    off = 0;
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value p, c, cnt;
        ember_value_decode(out.data + off, out.len - off, &p, &used);
        ember_value_item(&p, 1, &c);
        CHECK(c.type == EMBER_LIST && ember_value_item(&c, 0, &cnt) == 0 && cnt.i == 10);
    }
    CHECK(ember_node_partition_by(pairs, 4, to_last, &moved) == 0);
    ember_node *counts = NULL;
    CHECK(ember_node_map_partitions(moved, sum_partition, NULL, &counts) == 0);
    /* every pair in the last partition: sum_partition sums their (tuple: 0) i fields */
    int64_t total = 0;
    CHECK(ember_count(moved, &total) == 0 && total == 30);
    ember_node_release(counts);
    ember_writer_free(&in);
    ember_writer_free(&out);
    ember_node_release(moved);
    ember_node_release(avg);
    ember_node_release(sums);
    ember_node_release(pairs);
    ember_node_release(src);
}

static void test_text_and_save(void) {
    char dir[] = "/tmp/ember-test-native-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char in[256], outdir[256], part[300];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    FILE *f = fopen(in, "w");
    fputs("one two\nbad \xff byte\nthree\n", f);
    fclose(f);
    ember_node *lines = NULL;
    CHECK(ember_node_text(ctx, in, 2, 0, &lines) == 0);
    ember_writer out = {0};
    size_t n = 0;
    CHECK(ember_collect(lines, &out, &n) == 0 && n == 3);
    CHECK(memmem(out.data, out.len, "bad \xef\xbf\xbd byte", 12) != NULL); /* replaced as Python decodes it */
    CHECK(ember_save_as_text_file(lines, outdir) == 0);
    CHECK(ember_save_as_text_file(lines, outdir) == EMBER_EEXIST);
    snprintf(part, sizeof part, "%s/_SUCCESS", outdir);
    struct stat sb;
    CHECK(stat(part, &sb) == 0);
    char all[256] = "";
    for (int i = 0; i < 2; i++) {
        snprintf(part, sizeof part, "%s/part-%05d", outdir, i);
        f = fopen(part, "r");
        CHECK(f != NULL);
        if (f) {
            size_t k = strlen(all);
            k += fread(all + k, 1, sizeof all - 1 - k, f);
            all[k] = 0;
            fclose(f);
        }
    }
    CHECK(strcmp(all, "one two\nbad \xef\xbf\xbd byte\nthree\n") == 0);
    ember_writer_free(&out);
    ember_node_release(lines);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void test_failures_name_the_function(void) {
    ember_node *r = NULL, *bad = NULL, *boom = NULL;
    CHECK(ember_node_range(ctx, 0, 4, 1, 2, &r) == 0);
    CHECK(ember_node_map(r, fails, NULL, &bad) == 0);
    ember_writer out = {0};
    CHECK(ember_collect(bad, &out, NULL) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "native function mapNative fails failed: no thanks to") != NULL);
    CHECK(ember_node_map(r, crashes, "crashes", &boom) == 0);
    CHECK(ember_collect(boom, &out, NULL) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "native function mapNative crashes crashed with signal 11 (SIGSEGV)") != NULL);
    /* the context is still usable */
    int64_t count = 0;
    CHECK(ember_count(r, &count) == 0 && count == 4);
    ember_writer_free(&out);
    ember_node_release(boom);
    ember_node_release(bad);
    ember_node_release(r);
}

/* A reduce side past its memory limit (EMBER_NATIVE_MERGE_BYTES, set small by main)
 * spills to files of the context's temp dir, merges them back bucket by bucket with
 * the same answer, and removes them. */
static int key_mod(const ember_value *v, ember_writer *out) {
    ember_put_tuple(out, 2);
    char k[32];
    int n = snprintf(k, sizeof k, "key-%lld", (long long)(v->i % 20000));
    ember_put_str(out, k, (size_t)n);
    return ember_put_int(out, 1);
}

static void test_merge_spills_past_its_limit(void) {
    ember_node *r = NULL, *pairs = NULL, *counts = NULL;
    CHECK(ember_node_range(ctx, 0, 100000, 1, 4, &r) == 0);
    CHECK(ember_node_map(r, key_mod, "key_mod", &pairs) == 0);
    CHECK(ember_node_reduce_by_key(pairs, add, "add", 2, &counts) == 0);
    ember_writer out = {0};
    size_t n = 0, off = 0, used, right = 0;
    CHECK(ember_collect(counts, &out, &n) == 0 && n == 20000);
    char *seen = calloc(20000, 1);
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value p, k, c;
        ember_value_decode(out.data + off, out.len - off, &p, &used);
        ember_value_item(&p, 0, &k);
        ember_value_item(&p, 1, &c);
        long key = k.len > 4 ? strtol((const char *)k.data + 4, NULL, 10) : -1;
        if (c.i == 5 && key >= 0 && key < 20000 && !seen[key]++) right++;
    }
    CHECK(right == 20000);
    free(seen);
    DIR *d = opendir(ember_context_tmpdir(ctx));
    int spills = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".spill")) spills++;
    if (d) closedir(d);
    CHECK(d != NULL && spills == 0);
    /* The reduce tasks (the job's last two logged) report what they spilled. */
    size_t nt = ember_task_infos(ctx, -1, NULL, 0);
    ember_task_info *tasks = calloc(nt, sizeof *tasks);
    CHECK(nt >= 2 && tasks && ember_task_infos(ctx, -1, tasks, nt) == nt);
    for (size_t i = nt - 2; tasks && i < nt; i++) {
        CHECK(tasks[i].status == EMBER_TASK_SUCCESS && tasks[i].shuffle_records_read > 0);
        CHECK(tasks[i].memory_bytes_spilled > 20000 && tasks[i].disk_bytes_spilled > 0);
    }
    free(tasks);
    ember_writer_free(&out);
    ember_node_release(counts);
    ember_node_release(pairs);
    ember_node_release(r);
}

/* A flatMap's records for several inputs (up to FLAT_RUN_BYTES) are combined in place
 * (a run: nworker.c's next_run), and so are a shuffle bucket's on the reduce side,
 * the next PAIRS_AHEAD pairs read while the last ones are combined: counts right,
 * every record counted once, a bad record or a record that is not a pair named. */
static int64_t words_in(int64_t i) { return i % 100 == 0 ? 300 : i % 40 + 1; }

static int words_of(const ember_value *v, ember_writer *out) {
    for (int64_t j = 0; j < words_in(v->i); j++) { /* 1 to 40 pairs, or a run's worth at once */
        char k[32];
        int n = snprintf(k, sizeof k, "w%lld", (long long)((v->i + j) % 500));
        ember_put_tuple(out, 2);
        ember_put_str(out, k, (size_t)n);
        ember_put_int(out, 1);
    }
    return out->err;
}

static int bad_utf8_pair(const ember_value *v, ember_writer *out) {
    ember_put_tuple(out, 2);
    ember_put_str(out, v->i == 7 ? "\xff" : "ok", v->i == 7 ? 1 : 2); /* not checked when written */
    return ember_put_int(out, 1);
}

static int not_a_pair(const ember_value *v, ember_writer *out) {
    ember_put_tuple(out, 2);
    ember_put_int(out, v->i);
    ember_put_int(out, 1);
    return v->i == 9 ? ember_put_int(out, v->i) : out->err;
}

/* (key, count) -> (count, key): reads the records reduceByKey hands on. */
static int swap_pair(const ember_value *v, ember_writer *out) {
    ember_value k, c;
    if (ember_value_item(v, 0, &k) || ember_value_item(v, 1, &c))
        return ember_set_error(EMBER_EINVAL, "swap_pair: expected a pair");
    ember_put_tuple(out, 2);
    ember_put_value(out, &c);
    return ember_put_value(out, &k);
}

static void test_combining_reads_runs_in_place(void) {
    ember_node *r = NULL, *pairs = NULL, *counts = NULL, *bad = NULL, *bad_counts = NULL, *odd = NULL,
               *odd_counts = NULL;
    CHECK(ember_node_range(ctx, 0, 3000, 1, 3, &r) == 0);
    CHECK(ember_node_flat_map(r, words_of, "words_of", &pairs) == 0);
    CHECK(ember_node_reduce_by_key(pairs, add, "add", 2, &counts) == 0);
    int64_t want[500] = {0}, total = 0;
    for (int64_t i = 0; i < 3000; i++)
        for (int64_t j = 0; j < words_in(i); j++, total++)
            want[(i + j) % 500]++;
    ember_writer out = {0};
    size_t n = 0, off = 0, used, right = 0;
    CHECK(ember_collect(counts, &out, &n) == 0 && n == 500);
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value p, k, c;
        ember_value_decode(out.data + off, out.len - off, &p, &used);
        ember_value_item(&p, 0, &k);
        ember_value_item(&p, 1, &c);
        long key = k.len > 1 ? strtol((const char *)k.data + 1, NULL, 10) : -1;
        if (key >= 0 && key < 500 && c.i == want[key]) right++;
    }
    CHECK(right == 500);
    /* The map tasks (3) read the range and wrote at most 500 combined pairs each; the
     * reduce tasks (2) read exactly those. */
    size_t nt = ember_task_infos(ctx, -1, NULL, 0);
    ember_task_info *tasks = calloc(nt, sizeof *tasks);
    CHECK(nt >= 5 && tasks && ember_task_infos(ctx, -1, tasks, nt) == nt);
    uint64_t written = 0, read = 0;
    for (size_t i = nt - 5; tasks && i < nt; i++) {
        written += tasks[i].shuffle_records_written;
        read += tasks[i].shuffle_records_read;
    }
    CHECK(written >= 500 && written <= 1500 && read == written);
    free(tasks);
    /* The merge's records, read by a native map after it */
    ember_node *swapped = NULL;
    CHECK(ember_node_map(counts, swap_pair, "swap_pair", &swapped) == 0);
    ember_writer_reset(&out);
    CHECK(ember_collect(swapped, &out, &n) == 0 && n == 500);
    off = 0, right = 0;
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value p, k, c;
        ember_value_decode(out.data + off, out.len - off, &p, &used);
        ember_value_item(&p, 0, &c);
        ember_value_item(&p, 1, &k);
        long key = k.type == EMBER_STR && k.len > 1 ? strtol((const char *)k.data + 1, NULL, 10) : -1;
        if (key >= 0 && key < 500 && c.i == want[key]) right++;
    }
    CHECK(right == 500);
    ember_node_release(swapped);
    CHECK(ember_node_flat_map(r, bad_utf8_pair, "bad_utf8_pair", &bad) == 0);
    CHECK(ember_node_reduce_by_key(bad, add, "add", 2, &bad_counts) == 0);
    CHECK(ember_collect(bad_counts, &out, NULL) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "native function flatMapNative bad_utf8_pair wrote a bad record") != NULL);
    CHECK(strstr(ember_last_error(), "str is not UTF-8") != NULL);
    CHECK(ember_node_flat_map(r, not_a_pair, "not_a_pair", &odd) == 0);
    CHECK(ember_node_reduce_by_key(odd, add, "add", 2, &odd_counts) == 0);
    CHECK(ember_collect(odd_counts, &out, NULL) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "expects (key, value) pairs, got a int") != NULL);
    ember_writer_free(&out);
    ember_node_release(odd_counts);
    ember_node_release(odd);
    ember_node_release(bad_counts);
    ember_node_release(bad);
    ember_node_release(counts);
    ember_node_release(pairs);
    ember_node_release(r);
}

/* Python steps need a context with Python workers, and a "module:name". */
static void test_python_steps_refused_here(void) {
    ember_node *r = NULL, *p = NULL;
    ember_context *c = NULL;
    CHECK(ember_context_create_python("yarn", NULL, NULL, &c) == EMBER_EINVAL && strstr(ember_last_error(), "'yarn'"));
    CHECK(ember_node_range(ctx, 0, 10, 1, 2, &r) == 0);
    CHECK(ember_node_python(r, EMBER_PY_MAP, "mod:f", &p) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "ember_context_create_python") != NULL);
    const char *bad[] = {"f", "mod:", ":f", "mod:f:g", "mod:1f", "m..n:f", "mod:f.", "mod: f", NULL};
    for (int i = 0; i < 9; i++) {
        CHECK(ember_node_python(r, EMBER_PY_MAP, bad[i], &p) == EMBER_EINVAL);
        CHECK(strstr(ember_last_error(), "module:name") != NULL);
    }
    CHECK(ember_node_python(r, 0, "mod:f", &p) == EMBER_EINVAL && strstr(ember_last_error(), "kind 0"));
    CHECK(ember_node_python(r, 5, "mod:f", &p) == EMBER_EINVAL);
    ember_node_release(r);
}

static void test_master_urls(void) {
    ember_context *c = NULL;
    CHECK(ember_context_create_local("yarn", &c) == EMBER_EINVAL && strstr(ember_last_error(), "'yarn'"));
    CHECK(ember_context_create_local("local[0]", &c) == EMBER_EINVAL);
    CHECK(ember_context_create_local("local[2", &c) == EMBER_EINVAL);
    CHECK(ember_context_create_local("local", &c) == 0 && ember_context_slots(c) == 1);
    ember_context_free(c);
}

int main(void) {
    RUN(test_op_roundtrip);
    RUN(test_hash_matches_python);
    RUN(test_value_str);
    RUN(test_master_urls);
    setenv("EMBER_NATIVE_MERGE_BYTES", "20000", 1); /* the workers' merges spill early */
    if (ember_context_create_local("local[2]", &ctx)) {
        fprintf(stderr, "creating a context: %s\n", ember_last_error());
        return 1;
    }
    RUN(test_steps_and_actions);
    RUN(test_shuffles);
    RUN(test_text_and_save);
    RUN(test_failures_name_the_function);
    RUN(test_merge_spills_past_its_limit);
    RUN(test_combining_reads_runs_in_place);
    RUN(test_python_steps_refused_here);
    ember_context_free(ctx);
    return TEST_REPORT();
}
