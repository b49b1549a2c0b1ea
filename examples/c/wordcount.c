/* wordcount.c — a C-only ember job: counts the words of a text file with native
 * functions, no Python anywhere (the workers are this program, run again by the
 * engine; see "C jobs" in ember.h).
 *
 *     wordcount FILE [MASTER] [--all | --summary]
 *
 * MASTER is local, local[N] or local[*] (default local[*]). Prints the ten most
 * frequent words ("count word", most frequent first, ties by word); --all prints
 * every word ("word<TAB>count", by word); --summary prints "distinct total checksum"
 * (the checksum as bench/wc.c computes it: the sum of count * FNV-1a(word), mod 2^64).
 * Words are split on ASCII whitespace, as Python's bytes.split() splits them. Built
 * with examples/native_udf/wordcount.c, whose tokenize and add it uses.
 */
#include "../native_udf/wordcount.h" /* tokenize and add: the native functions of that example */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct word {
    const char *s;
    size_t len;
    int64_t count;
} word;

static int by_count(const void *x, const void *y) {
    const word *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int by_word(const void *x, const void *y) {
    const word *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "wordcount: %s: %s (%s)\n", what, ember_last_error(), ember_strerror(rc));
    return 1;
}

int main(int argc, char **argv) {
    const char *path = NULL, *master = "local[*]", *mode = "";
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            mode = argv[i];
        else if (!path)
            path = argv[i];
        else
            master = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: wordcount FILE [MASTER] [--all | --summary]\n");
        return 2;
    }
    ember_context *ctx;
    ember_node *lines = NULL, *pairs = NULL, *counts = NULL;
    int rc = ember_context_create_local(master, &ctx);
    if (rc) return fail("creating the context", rc);
    int slots = ember_context_slots(ctx);
    /* two splits a slot: the 32 MiB cap on a split (Hadoop's) makes fewer of them uneven */
    rc = ember_node_text(ctx, path, 2 * slots, 0, &lines);
    rc = rc ? rc : ember_node_flat_map(lines, tokenize, "tokenize", &pairs);
    rc = rc ? rc : ember_node_reduce_by_key(pairs, add, "add", (size_t)slots, &counts);
    ember_writer out = {0};
    size_t n = 0;
    rc = rc ? rc : ember_collect(counts, &out, &n);
    int status = 0;
    if (rc) { /* the context is stopped all the same: its workers and temp dir go */
        status = fail(path, rc);
        goto done;
    }
    int summary = strcmp(mode, "--summary") == 0;
    word *words = summary ? NULL : malloc((n ? n : 1) * sizeof *words); /* kept to sort them */
    if (!summary && !words) {
        fprintf(stderr, "wordcount: out of memory sorting %zu words\n", n);
        status = 1;
        goto done;
    }
    size_t off = 0, used;
    int64_t total = 0;
    uint64_t checksum = 0;
    for (size_t i = 0; i < n; i++, off += used) {
        ember_value pair, w, c;
        ember_value_decode(out.data + off, out.len - off, &pair, &used);
        ember_value_next(&pair, &w); /* the pair's items, in turn */
        ember_value_next(&pair, &c);
        if (words) words[i] = (word){(const char *)w.data, w.len, c.i};
        total += c.i;
        uint64_t h = 1469598103934665603ull;
        for (size_t k = 0; k < w.len; k++)
            h = (h ^ w.data[k]) * 1099511628211ull;
        checksum += (uint64_t)c.i * h;
    }
    if (summary) {
        printf("%zu %lld %llu\n", n, (long long)total, (unsigned long long)checksum);
    } else if (strcmp(mode, "--all") == 0) {
        qsort(words, n, sizeof *words, by_word);
        for (size_t i = 0; i < n; i++)
            printf("%.*s\t%lld\n", (int)words[i].len, words[i].s, (long long)words[i].count);
    } else {
        qsort(words, n, sizeof *words, by_count);
        for (size_t i = 0; i < n && i < 10; i++)
            printf("%lld %.*s\n", (long long)words[i].count, (int)words[i].len, words[i].s);
    }
    free(words);
done:
    ember_writer_free(&out);
    ember_node_release(counts);
    ember_node_release(pairs);
    ember_node_release(lines);
    ember_context_free(ctx);
    return status;
}
