/* checksum.c — CRC-32C (Castagnoli), the checksum of every file the engine reads
 * back (block files; shuffle files can use it too).
 *
 * On x86-64 CPUs with SSE4.2 (checked once, at first use) the crc32 instruction does
 * it, eight bytes a step, on three stripes of a long buffer at once (see
 * crc32c_sse42); elsewhere emberK_crc32c_portable: table-driven, eight bytes a
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
/* The crc32 instruction takes 3 cycles to give its result but starts one a cycle, so
 * one chain of them runs at a third of the speed the CPU could: a long buffer is taken
 * STRIPE * 3 bytes at a time, as three stripes checksummed side by side (the first
 * continuing the running CRC, the other two from 0), then joined. The CRC register is
 * linear over GF(2): the register after stripes A then B is the register after A
 * moved on over STRIPE zero bytes, XOR B's register from 0. Moving a register over
 * STRIPE zero bytes is itself linear in its 32 bits: shift_tab holds it by byte (the
 * XOR of four lookups), computed once from the tables above. */
enum { STRIPE = 2048 };
static uint32_t shift_tab[4][256];

/* The raw register (no inversion at either end) after c moved over n zero bytes. */
static uint32_t zeros_portable(uint32_t c, size_t n) {
    static const uint8_t zero[256];
    for (; n; n -= n < sizeof zero ? n : sizeof zero)
        c = ~emberK_crc32c_portable(~c, zero, n < sizeof zero ? n : sizeof zero);
    return c;
}

static void make_shift_tab(void) {
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = zeros_portable(1u << i, STRIPE);
    for (int k = 0; k < 4; k++) {
        shift_tab[k][0] = 0;
        for (uint32_t v = 1; v < 256; v++)
            shift_tab[k][v] = shift_tab[k][v & (v - 1)] ^ basis[8 * k + __builtin_ctz(v)];
    }
}

static uint32_t shift_stripe(uint32_t c) {
    return shift_tab[0][c & 0xff] ^ shift_tab[1][(c >> 8) & 0xff] ^ shift_tab[2][(c >> 16) & 0xff] ^
           shift_tab[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t c = (uint32_t)~crc;
    for (; len >= 3 * STRIPE; p += 3 * STRIPE, len -= 3 * STRIPE) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < STRIPE; i += 8) {
            c = __builtin_ia32_crc32di(c, emberB_load_u64(p + i));
            c1 = __builtin_ia32_crc32di(c1, emberB_load_u64(p + STRIPE + i));
            c2 = __builtin_ia32_crc32di(c2, emberB_load_u64(p + 2 * STRIPE + i));
        }
        c = shift_stripe(shift_stripe((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
    }
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
    if (__builtin_cpu_supports("sse4.2")) make_shift_tab();
    crc_fn = __builtin_cpu_supports("sse4.2") ? crc32c_sse42 : emberK_crc32c_portable;
}

uint32_t emberK_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc_once, pick_crc);
    return crc_fn(crc, data, len);
}
#else
uint32_t emberK_crc32c(uint32_t crc, const void *data, size_t len) { return emberK_crc32c_portable(crc, data, len); }
#endif
