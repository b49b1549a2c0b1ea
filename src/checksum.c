/* checksum.c — CRC-32C (Castagnoli), the checksum of every file the engine reads
 * back (block files; shuffle files can use it too).
 *
 * On x86-64 CPUs with SSE4.2 (checked once, at first use) the crc32 instruction does
 * it, eight bytes a step; elsewhere emberK_crc32c_portable: table-driven, eight bytes a
 * step ("slicing by 8"), the tables computed once from the reflected polynomial
 * 0x82F63B78. Both give the standard value: emberK_crc32c(0, "123456789", 9) ==
 * 0xE3069283.
 */
#include "internal.h"

#include <pthread.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t emberK_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    pthread_once(&table_once, make_table);
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ emberB_load_u32(p), hi = emberB_load_u32(p + 4);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
              table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8)
        c = __builtin_ia32_crc32di(c, emberB_load_u64(p));
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}

static uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void pick_crc(void) {
    __builtin_cpu_init();
    crc_fn = __builtin_cpu_supports("sse4.2") ? crc32c_sse42 : emberK_crc32c_portable;
}

uint32_t emberK_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc_once, pick_crc);
    return crc_fn(crc, data, len);
}
#else
uint32_t emberK_crc32c(uint32_t crc, const void *data, size_t len) { return emberK_crc32c_portable(crc, data, len); }
#endif
