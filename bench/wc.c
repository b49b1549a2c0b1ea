/* wc.c — the hand-written single-process word count that bench/native_wordcount.py
 * compares ember's native path with: mmap the file, split on ASCII whitespace (as
 * bytes.split() does), count in an open-addressing hash table (FNV-1a, linear
 * probing, doubling at half full).
 *
 *     cc -O2 -o wc bench/wc.c && ./wc FILE
 *
 * Prints "<distinct words> <total words> <checksum>", the checksum being the sum over
 * the distinct words of count * FNV-1a(word), mod 2**64 (order-independent, so the
 * harness can compare it with ember's result). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *word; /* into the mapping; NULL: empty slot */
    uint32_t len;
    uint64_t hash;
    uint64_t count;
} slot;

static slot *table;
static size_t cap = 1 << 16, used;

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void grow(void) {
    size_t ncap = cap * 2;
    slot *n = calloc(ncap, sizeof *n);
    if (!n) { perror("calloc"); exit(1); }
    for (size_t i = 0; i < cap; i++) {
        if (!table[i].word) continue;
        size_t j = table[i].hash & (ncap - 1);
        while (n[j].word) j = (j + 1) & (ncap - 1);
        n[j] = table[i];
    }
    free(table);
    table = n;
    cap = ncap;
}

static void add(const char *w, size_t n) {
    uint64_t h = fnv1a((const unsigned char *)w, n);
    size_t j = h & (cap - 1);
    while (table[j].word) {
        if (table[j].hash == h && table[j].len == n && memcmp(table[j].word, w, n) == 0) {
            table[j].count++;
            return;
        }
        j = (j + 1) & (cap - 1);
    }
    table[j] = (slot){w, (uint32_t)n, h, 1};
    if (++used * 2 > cap) grow();
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) { perror(argv[1]); return 1; }
    const char *s = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    if (s == MAP_FAILED) { perror("mmap"); return 1; }
    table = calloc(cap, sizeof *table);
    if (!table) { perror("calloc"); return 1; }
    const char *p = s, *end = s + st.st_size;
    uint64_t total = 0;
    while (p < end) {
        while (p < end && is_space((unsigned char)*p)) p++;
        const char *w = p;
        while (p < end && !is_space((unsigned char)*p)) p++;
        if (p > w) {
            add(w, (size_t)(p - w));
            total++;
        }
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < cap; i++)
        if (table[i].word) sum += table[i].count * table[i].hash;
    printf("%zu %llu %llu\n", used, (unsigned long long)total, (unsigned long long)sum);
    return 0;
}
