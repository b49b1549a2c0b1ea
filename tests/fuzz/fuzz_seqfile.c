/* fuzz_seqfile.c — fuzz target for the SequenceFile reader (seqfile.c). The first
 * input byte says whether a correct .crc file goes beside the file (bit 0: then the
 * checksums pass and the parser itself is exercised) and where the file is cut in two
 * splits (the other bits); the rest is the file. Any bytes must read as records or
 * fail with EMBER_EINVAL / EMBER_ECORRUPT, never crash, read out of bounds or leak;
 * records lie inside the file. (Splits are not checked against the whole file here:
 * record bytes that copy the sync marker legitimately mislead a split's scan, in
 * Hadoop too; test_seqfile.c checks tiling on well-formed files.) Built as a libFuzzer target with clang
 * (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/seqfile. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int read_split(const char *path, int64_t start, int64_t end, int64_t size, uint64_t *count, uint64_t *sum) {
    ember_seq_reader *r;
    int rc = ember_seq_reader_open(path, start, end, &r);
    if (rc) return rc;
    ember_seq_record rec;
    while ((rc = ember_seq_reader_next(r, &rec)) == 1) {
        if (rec.offset < 0 || rec.offset + 8 + (int64_t)rec.key_len + (int64_t)rec.value_len > size) abort();
        ++*count;
        *sum += (uint64_t)rec.offset;
    }
    ember_seq_reader_close(r);
    return rc;
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int with_crc = data[0] & 1;
    unsigned cut_at = data[0] >> 1;
    data++;
    size--;
    char path[64], crc[80];
    snprintf(path, sizeof path, "/tmp/ember-fuzz-seq-%d", (int)getpid());
    snprintf(crc, sizeof crc, "/tmp/.ember-fuzz-seq-%d.crc", (int)getpid());
    write_file(path, data, size);
    if (with_crc) {
        size_t n = 8 + 4 * ((size + 511) / 512);
        uint8_t *c = malloc(n);
        if (!c) abort();
        memcpy(c, "crc\0\0\0\2\0", 8);
        for (size_t i = 0, k = 8; i < size; i += 512, k += 4) {
            uint32_t v = (uint32_t)crc32(0, data + i, (uInt)(size - i < 512 ? size - i : 512));
            c[k] = (uint8_t)(v >> 24);
            c[k + 1] = (uint8_t)(v >> 16);
            c[k + 2] = (uint8_t)(v >> 8);
            c[k + 3] = (uint8_t)v;
        }
        write_file(crc, c, n);
        free(c);
    }
    int64_t before = ember_mem_used();
    uint64_t count = 0, sum = 0, count2 = 0, sum2 = 0;
    int64_t n = (int64_t)size, cut = n * cut_at / 127;
    int rc = read_split(path, 0, -1, n, &count, &sum);
    if (rc < 0 && rc != EMBER_EINVAL && rc != EMBER_ECORRUPT) abort();
    int rc1 = read_split(path, 0, cut, n, &count2, &sum2);
    int rc2 = rc1 ? rc1 : read_split(path, cut, n, n, &count2, &sum2);
    if (rc2 < 0 && rc2 != EMBER_EINVAL && rc2 != EMBER_ECORRUPT) abort();
    unlink(path);
    if (with_crc) unlink(crc);
    if (ember_mem_used() != before) abort();
    return 0;
}
