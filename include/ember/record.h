/* ember/record.h — the typed record format: what crosses between Python and native
 * code, and what native functions read and write. Included by ember.h; part of the
 * public C API of libember (usable without Python).
 *
 * Format, version EMBER_RECORD_VERSION. A record is one value; a value is a tag byte
 * followed by its payload. Integers inside are unsigned LEB128 varints ("uvar", at
 * most 10 bytes, at most 64 bits, in their shortest form):
 *
 *   0x00 None
 *   0x01 False            0x02 True
 *   0x03 int              zigzag uvar: a signed 64-bit integer
 *   0x04 big int          uvar n (9 <= n <= EMBER_RECORD_MAX_BIGINT), then n bytes:
 *                         the integer in little-endian two's complement, shortest
 *                         form, used only for integers outside the 64-bit range
 *   0x05 float            8 bytes, IEEE 754 binary64, little-endian
 *   0x06 str              uvar n, then n bytes of UTF-8 (checked by the decoder)
 *   0x07 bytes            uvar n, then n bytes
 *   0x08 tuple            uvar n, then n values
 *   0x09 list             uvar n, then n values
 *   0x0a dict             uvar n, then n pairs: key value, key value ... (in order)
 *
 * Containers nest at most EMBER_RECORD_MAX_DEPTH deep. Every value has one encoding
 * (decoders reject other forms), so encoded keys can be hashed and compared as bytes
 * (as bytes, 1, 1.0 and True are three different keys).
 *
 * A batch is several records one after another, behind a 4-byte header: the bytes
 * 'E' 'M' 'R' and the version. Its records run to the end of the batch.
 *
 * Reading is zero-copy: ember_value_decode checks a whole value (every length,
 * count, nesting depth and UTF-8 string) and describes it by an ember_value that
 * points into the caller's buffer; containers are walked with ember_value_next.
 * Writing appends to an ember_writer, whose buffer grows through ember_realloc.
 */
#ifndef EMBER_RECORD_H
#define EMBER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMBER_RECORD_VERSION 1
#define EMBER_RECORD_MAX_DEPTH 200
#define EMBER_RECORD_MAX_BIGINT (1u << 20)
#define EMBER_BATCH_HEADER 4

typedef enum ember_type {
    EMBER_NONE = 0,
    EMBER_BOOL = 1,
    EMBER_INT = 2,    /* fits in int64_t: .i */
    EMBER_BIGINT = 3, /* .data/.len: little-endian two's complement, 9 bytes or more */
    EMBER_FLOAT = 4,  /* .f */
    EMBER_STR = 5,    /* .data/.len: UTF-8, not NUL-terminated */
    EMBER_BYTES = 6,  /* .data/.len */
    EMBER_TUPLE = 7,  /* .count items */
    EMBER_LIST = 8,   /* .count items */
    EMBER_DICT = 9    /* .count key-value pairs (2 * count values) */
} ember_type;

/* A decoded value: a view into the encoded bytes it came from (valid while they are). */
typedef struct ember_value {
    ember_type type;
    int b;               /* EMBER_BOOL: 0 or 1 */
    int64_t i;           /* EMBER_INT */
    double f;            /* EMBER_FLOAT */
    const uint8_t *data; /* EMBER_STR, EMBER_BYTES, EMBER_BIGINT: the contents */
    size_t len;
    size_t count;       /* containers: items (pairs for a dict) */
    const uint8_t *enc; /* the whole encoded value: tag and payload */
    size_t enc_len;
    /* containers, for ember_value_next: the next child's bytes, children left */
    const uint8_t *next;
    size_t left;
} ember_value;

/* Decodes and checks one value at the start of buf[0, len). On success returns 0,
 * fills *out and sets *used (may be NULL) to the value's encoded length. Fails with
 * EMBER_ECORRUPT (ember_last_error() says what and at which byte offset) on a
 * truncated or malformed value, an unknown tag, a container deeper than
 * EMBER_RECORD_MAX_DEPTH or a str that is not UTF-8. Allocates nothing. */
EMBER_EXTERN int ember_value_decode(const void *buf, size_t len, ember_value *out, size_t *used);

/* Steps through a container decoded by ember_value_decode: returns 1 and fills
 * *child with the next item (for a dict: key, value, key, value ...), or 0 after the
 * last one (and for a value that is not a container). Advances container->next.
 * Bounds are checked again; UTF-8 is not (ember_value_decode checked it). */
EMBER_EXTERN int ember_value_next(ember_value *container, ember_value *child);

/* Item i of a tuple or list (for a dict: the i-th key or value of the flattened
 * pairs). Returns 0, or EMBER_EINVAL when v is not a container or i is past its end. */
EMBER_EXTERN int ember_value_item(const ember_value *v, size_t i, ember_value *out);

/* A growable output buffer of encoded values. Initialise with ember_writer_init (or
 * zero it); release its memory with ember_writer_free. A failed write (out of memory,
 * bad argument) is remembered in .err: later writes do nothing and return it, so a
 * caller may write a whole record and check once. */
typedef struct ember_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;
} ember_writer;
EMBER_EXTERN void ember_writer_init(ember_writer *w);
/* Empties w (keeps its memory) and clears .err. */
EMBER_EXTERN void ember_writer_reset(ember_writer *w);
EMBER_EXTERN void ember_writer_free(ember_writer *w);

/* Each appends one value and returns 0 or a negative code (also kept in w->err).
 * A container is written as its header (ember_put_tuple/list/dict with the item or
 * pair count) followed by exactly that many values (2 * pairs for a dict). */
EMBER_EXTERN int ember_put_none(ember_writer *w);
EMBER_EXTERN int ember_put_bool(ember_writer *w, int b);
EMBER_EXTERN int ember_put_int(ember_writer *w, int64_t i);
/* An integer of any size as n little-endian two's-complement bytes; written as an
 * int when it fits in 64 bits. EMBER_EINVAL past EMBER_RECORD_MAX_BIGINT bytes. */
EMBER_EXTERN int ember_put_bigint(ember_writer *w, const uint8_t *le, size_t n);
EMBER_EXTERN int ember_put_float(ember_writer *w, double f);
/* s must be UTF-8 (not checked when writing; readers reject a record that is not). */
EMBER_EXTERN int ember_put_str(ember_writer *w, const char *s, size_t n);
EMBER_EXTERN int ember_put_bytes(ember_writer *w, const void *p, size_t n);
EMBER_EXTERN int ember_put_tuple(ember_writer *w, size_t n);
EMBER_EXTERN int ember_put_list(ember_writer *w, size_t n);
EMBER_EXTERN int ember_put_dict(ember_writer *w, size_t npairs);
/* Copies a decoded value as it is. */
EMBER_EXTERN int ember_put_value(ember_writer *w, const ember_value *v);
/* Appends a batch header (EMBER_BATCH_HEADER bytes). */
EMBER_EXTERN int ember_put_batch_header(ember_writer *w);

/* Checks a batch header at the start of buf. Returns 0 and sets *body / *body_len to
 * the records that follow, or EMBER_ECORRUPT (naming the version when it is one this
 * library does not read). */
EMBER_EXTERN int ember_batch_open(const void *buf, size_t len, const uint8_t **body, size_t *body_len);

/* Empties this thread's error message (ember_last_error() returns ""). */
EMBER_EXTERN void ember_clear_error(void);
/* For native functions: sets this thread's error message (what ember_last_error()
 * returns, and what a failed task reports) and returns code, so that a function can
 * `return ember_set_error(EMBER_EINVAL, "expected a str, got type %d", v->type);`. */
EMBER_EXTERN int ember_set_error(int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The name of a type ("None", "bool", "int", "float", "str", "bytes", "tuple", "list",
 * "dict"; "int" for EMBER_BIGINT too), or "unknown". */
EMBER_EXTERN const char *ember_type_name(int type);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_RECORD_H */
