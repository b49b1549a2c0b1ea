/* fuzz_shuffle.c — fuzz target for the shuffle file reader (shuffle.c): any file, read
 * for any bucket, must give records that lie inside the reader's buffer or fail with
 * EMBER_ECORRUPT (or EMBER_EINVAL for a bucket past the file's count), never read out
 * of bounds, allocate past the file's size or leak; the bucket's raw ranges
 * (emberF_bucket_ranges, what cluster mode sends) must lie inside the file's data,
 * or the listing fail the same way. The first input byte picks the
 * bucket; the rest is the file. Built as a libFuzzer target by `make fuzz`, and always
 * as a replay runner over tests/fuzz/corpus/shuffle (fuzz_replay.c). */
#include "internal.h"

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint32_t bucket = data[0] % 8;
    const char *path = fuzz_file(data + 1, size - 1);
    if (!path) return 0;
    int64_t before = ember_mem_used();
    ember_shuffle_reader *r;
    if (ember_shuffle_reader_open(&path, 1, bucket, &r) != 0) abort();
    const void *rec;
    size_t len, total = 0;
    int rc;
    while ((rc = ember_shuffle_reader_next(r, &rec, &len)) == 1) {
        total += len;
        if (len && !rec) abort();
        if (total > size) abort();                               /* records are bytes of the file: never more than it */
        if (len) (void)((const volatile uint8_t *)rec)[len - 1]; /* in bounds (ASan) */
    }
    if (rc != 0 && rc != EMBER_ECORRUPT && rc != EMBER_EINVAL) abort();
    if (rc < 0 && ember_shuffle_reader_next(r, &rec, &len) != rc) abort(); /* errors stick */
    ember_shuffle_reader_close(r);
    int fd;
    emberF_range *ranges;
    size_t n;
    rc = emberF_bucket_ranges(path, bucket, &fd, &ranges, &n);
    if (rc != 0 && rc != EMBER_ECORRUPT && rc != EMBER_EINVAL) abort();
    if (rc && fd != -1) abort();
    for (size_t i = 0; !rc && i < n; i++)
        if (!ranges[i].len || ranges[i].off > size || ranges[i].len > size - ranges[i].off) abort();
    if (!rc) {
        ember_free(ranges);
        close(fd);
    }
    if (ember_mem_used() != before) abort();
    return 0;
}
