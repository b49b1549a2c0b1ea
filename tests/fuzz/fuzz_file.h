/* fuzz_file.h — for fuzz targets of decoders that read files: writes the input to
 * one temporary file per process (in $TMPDIR, else /dev/shm; made on first use,
 * removed at exit). */
#ifndef EMBER_FUZZ_FILE_H
#define EMBER_FUZZ_FILE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[512];

static void fuzz_remove_file(void) {
    if (fuzz_path[0]) unlink(fuzz_path);
}

/* The file's path, holding exactly data[0, size); NULL when it cannot be written. */
static const char *fuzz_file(const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; /* memory: faster */
        snprintf(fuzz_path, sizeof fuzz_path, "%s/ember-fuzz-XXXXXX", dir);
        int fd = mkstemp(fuzz_path);
        if (fd < 0) {
            fuzz_path[0] = 0;
            return NULL;
        }
        close(fd);
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok) return NULL;
    return fuzz_path;
}
#endif
