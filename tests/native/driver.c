/* driver.c — a C program that drives a mixed lineage (tests/test_native_mixed.py): C
 * steps from a shared library (tests/native/mixed.c, loaded with dlopen), Python steps
 * of tests/native/mixed_steps.py (ember_node_python), C actions over the result.
 *
 *     driver PYTHON PYTHONPATH LIB TEXT [CASE]
 *
 * Word counts of TEXT, words upper-cased by Python, counted by C, kept by a Python
 * filter: prints "word<TAB>count" per word, then "records N" (ember_count), then
 * "sizes a,b,c" (a Python mapPartitions). CASE "unimportable", "unencodable",
 * "executable" or "native" runs one failing case instead and prints the error.
 * Linked with -rdynamic: LIB's ember_* symbols resolve against this program's libember.
 */
#include <ember.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc) {
    printf("error %s: %s (%s)\n", what, ember_last_error(), ember_strerror(rc));
    return 1;
}

static int same(const ember_value *v, ember_writer *out) { return ember_put_value(out, v); }

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: driver PYTHON PYTHONPATH LIB TEXT [CASE]\n");
        return 2;
    }
    const char *python = argv[1], *pythonpath = argv[2], *lib = argv[3], *text = argv[4];
    const char *which = argc > 5 ? argv[5] : "";
    void *h = dlopen(lib, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", lib, dlerror());
        return 2;
    }
    ember_flatmap_fn tokenize = (ember_flatmap_fn)(uintptr_t)dlsym(h, "tokenize");
    ember_merge_fn add = (ember_merge_fn)(uintptr_t)dlsym(h, "add");
    ember_context *ctx;
    ember_node *lines = NULL, *pairs = NULL, *upper = NULL, *counts = NULL, *kept = NULL, *sizes = NULL;
    int rc = strcmp(which, "native") == 0 ? ember_context_create_local("local[2]", &ctx)
                                          : ember_context_create_python("local[2]", python, pythonpath, &ctx);
    if (rc) return fail("creating the context", rc);
    rc = ember_node_text(ctx, text, 3, 0, &lines);
    rc = rc ? rc : ember_node_flat_map(lines, tokenize, "tokenize", &pairs);
    if (rc) return fail("building", rc);
    if (strcmp(which, "executable") == 0) { /* a function of this program: Python workers cannot load it */
        ember_node *n = NULL;
        return fail("map over a function of the executable", ember_node_map(pairs, same, "same", &n));
    }
    if (strcmp(which, "native") == 0)
        return fail("a Python step in a context of native workers",
                    ember_node_python(pairs, EMBER_PY_MAP, "mixed_steps:upper_pair", &upper));
    const char *step = strcmp(which, "unimportable") == 0 ? "mixed_steps:no_such_function" : "mixed_steps:upper_pair";
    rc = ember_node_python(pairs, EMBER_PY_MAP, step, &upper);
    rc = rc ? rc : ember_node_reduce_by_key(upper, add, "add", 3, &counts);
    rc = rc ? rc : ember_node_python(counts, EMBER_PY_FILTER, "mixed_steps:at_least_two", &kept);
    rc = rc ? rc : ember_node_python(kept, EMBER_PY_MAP_PARTITIONS, "mixed_steps:sizes", &sizes);
    if (rc) return fail("building", rc);
    if (strcmp(which, "unencodable") == 0) { /* results C cannot read: sets */
        ember_node *sets = NULL;
        ember_writer out = {0};
        rc = ember_node_python(kept, EMBER_PY_MAP, "mixed_steps:as_set", &sets);
        return fail("collect", rc ? rc : ember_collect(sets, &out, NULL));
    }
    ember_writer out = {0};
    size_t n = 0, off = 0, used;
    if ((rc = ember_collect(kept, &out, &n))) return fail("collect", rc);
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value pair, w, c;
        ember_value_decode(out.data + off, out.len - off, &pair, &used);
        ember_value_item(&pair, 0, &w);
        ember_value_item(&pair, 1, &c);
        printf("%.*s\t%lld\n", (int)w.len, (const char *)w.data, (long long)c.i);
    }
    int64_t count = 0;
    if ((rc = ember_count(kept, &count))) return fail("count", rc);
    printf("records %lld\n", (long long)count);
    ember_writer_reset(&out);
    if ((rc = ember_collect(sizes, &out, &n))) return fail("collect sizes", rc);
    printf("sizes");
    off = 0;
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value v;
        ember_value_decode(out.data + off, out.len - off, &v, &used);
        printf("%s%lld", i ? "," : " ", (long long)v.i);
    }
    printf("\n");
    ember_writer_free(&out);
    ember_node_release(sizes);
    ember_node_release(kept);
    ember_node_release(counts);
    ember_node_release(upper);
    ember_node_release(pairs);
    ember_node_release(lines);
    ember_context_free(ctx);
    return 0;
}
