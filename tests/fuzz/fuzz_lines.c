/* fuzz_lines.c — fuzz target for the line reader (textsplit.c) over plain and
 * compressed files (codec.c). The first input byte chooses the codec (its file
 * extension) and the reader's starting buffer size, the second where a plain file is
 * cut in two splits; the rest is the file. Any bytes must read as lines or fail with
 * EMBER_ECORRUPT / EMBER_EINVAL (a codec this build lacks), never crash, read out of
 * bounds or leak; the two splits of a plain file must together give the lines of the
 * whole file, and so must those of a bzip2 file, read block by block, when they read. Built as a libFuzzer target with
 * clang (-fsanitize=fuzzer), and always as a replay runner over tests/fuzz/corpus/lines (fuzz_replay.c). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the lines of split s; returns the reader's status and adds the bytes of the
 * lines plus one per line to *sum. */
static int read_lines(const ember_split *s, uint64_t *sum, uint64_t *count) {
    ember_line_reader *r;
    int rc = ember_line_reader_open(s, &r);
    if (rc) return rc;
    const char *line;
    size_t len;
    while ((rc = ember_line_reader_next(r, &line, &len)) == 1) {
        for (size_t i = 0; i < len; i++)
            if (line[i] == '\n') abort(); /* a line never holds its terminator */
        *sum += len + 1;
        ++*count;
    }
    ember_line_reader_close(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int codecs[] = {EMBER_CODEC_NONE, EMBER_CODEC_GZIP, EMBER_CODEC_DEFLATE, EMBER_CODEC_BZIP2,
                                 EMBER_CODEC_XZ,   EMBER_CODEC_ZSTD, EMBER_CODEC_LZ4};
    if (size < 2) return 0;
    int codec = codecs[data[0] % 7];
    size_t buffer = (size_t)(data[0] / 7) % 9 + 1;
    size_t cut_at = data[1];
    data += 2;
    size -= 2;
    char path[64];
    snprintf(path, sizeof path, "/tmp/ember-fuzz-lines-%d%s", (int)getpid(), ember_codec_extension(codec));
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    int64_t before = ember_mem_used();
    size_t saved = emberT_buffer_size;
    emberT_buffer_size = buffer;
    ember_split whole = {path, 0, codec ? -1 : (int64_t)size, codec};
    uint64_t sum = 0, count = 0;
    int rc = read_lines(&whole, &sum, &count);
    if (rc < 0 && rc != EMBER_ECORRUPT && !(rc == EMBER_EINVAL && !ember_codec_available(codec))) abort();
    if (rc == 0 && codec == EMBER_CODEC_NONE) {
        /* two splits tile the lines of the whole file */
        int64_t cut = size ? (int64_t)(cut_at % (size + 1)) : 0;
        ember_split a = {path, 0, cut, 0}, b = {path, cut, (int64_t)size, 0};
        uint64_t sum2 = 0, count2 = 0;
        if (read_lines(&a, &sum2, &count2) != 0 || read_lines(&b, &sum2, &count2) != 0) abort();
        if (sum2 != sum || count2 != count) abort();
    }
    if (codec == EMBER_CODEC_BZIP2 && ember_codec_available(codec) && size > 0) {
        /* Two splits read block by block (codec.c) fail cleanly, and when they read,
         * tile the lines of the whole file. (A split may fail where the whole file
         * reads: a block's data can hold the 48 bits of a block magic, where a split's
         * search would then start; bzip2 has no other sign of a block's start.) */
        int64_t cut = (int64_t)(cut_at * size / 255);
        ember_split a = {path, 0, cut, codec}, b = {path, cut, (int64_t)size, codec};
        uint64_t sum2 = 0, count2 = 0;
        int ra = read_lines(&a, &sum2, &count2), rb = read_lines(&b, &sum2, &count2);
        if ((ra && ra != EMBER_ECORRUPT) || (rb && rb != EMBER_ECORRUPT)) abort();
        if (rc == 0 && ra == 0 && rb == 0 && (sum2 != sum || count2 != count)) abort();
    }
    emberT_buffer_size = saved;
    unlink(path);
    if (ember_mem_used() != before) abort();
    return 0;
}
