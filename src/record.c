/* record.c — the typed record format (include/ember/record.h): a checking,
 * allocation-free decoder that describes values as views into their bytes, and a
 * writer that appends encoded values to a growable buffer.
 *
 * Design: ember_value_decode checks a whole value once, recursively (depth bounded
 * by EMBER_RECORD_MAX_DEPTH), before describing it; every length and count is
 * compared with the bytes left before it is used (a count can never exceed them,
 * since each item takes at least one byte). Children are decoded again, with the
 * same bounds checks (but not the UTF-8 check), as ember_value_next walks them, so a
 * hand-made ember_value cannot make it read out of bounds either (walking a deep
 * record costs its size times its depth).
 */
#include "internal.h"

#include <stdio.h>

enum {
    TAG_NONE = 0,
    TAG_FALSE = 1,
    TAG_TRUE = 2,
    TAG_INT = 3,
    TAG_BIGINT = 4,
    TAG_FLOAT = 5,
    TAG_STR = 6,
    TAG_BYTES = 7,
    TAG_TUPLE = 8,
    TAG_LIST = 9,
    TAG_DICT = 10
};

/* ---- reading ---------------------------------------------------------------- */

/* Reads a uvar at p[0, end). Returns its length in bytes, or 0 when it is truncated,
 * overlong (a final zero byte), longer than 10 bytes or over 64 bits. */
static size_t read_uvar(const uint8_t *p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (p + i >= end) return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1) return 0;
        if (i > 0 && b == 0) return 0; /* overlong: one form per number */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

/* 1 when s[0, n) is well-formed UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF), else 0. */
int emberR_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* ASCII, eight bytes at a time */
        for (uint64_t w; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
        }
        while (i < n && s[i] < 0x80)
            i++;
        if (i == n) break;
        uint8_t c = s[i];
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (n - i - 1 < need) return 0;
        for (size_t k = 1; k <= need; k++) {
            uint8_t d = s[i + k];
            if ((d & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (d & 0x3f);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += need + 1;
    }
    return 1;
}

typedef struct {
    const uint8_t *start; /* for offsets in messages */
} decoder;

static int corrupt(const decoder *d, const uint8_t *at, const char *what) {
    return emberE_set(EMBER_ECORRUPT, "corrupt record: %s at byte %zu", what, (size_t)(at - d->start));
}

/* Decodes the value at p[0, end) into *v, checking its children recursively (depth:
 * containers above it; utf8: whether str contents are checked too). Returns 0 or
 * EMBER_ECORRUPT. */
static int decode_any(const decoder *d, const uint8_t *p, const uint8_t *end, ember_value *v, int depth, int utf8);

static inline int decode(const decoder *d, const uint8_t *p, const uint8_t *end, ember_value *v, int depth, int utf8) {
    if (end - p >= 2 && p[0] == TAG_STR && p[1] < 32 && p[1] <= end - p - 2 &&
        (!utf8 || emberR_short_ascii(p + 2, p[1]))) {
        /* a short ASCII str (a word): what the general path decides, sooner */
        *v = (ember_value){.type = EMBER_STR, .data = p + 2, .len = p[1], .enc = p, .enc_len = 2 + (size_t)p[1]};
        return 0;
    }
    if (emberR_small_int(p, (size_t)(end - p), v)) return 0; /* a count */
    return decode_any(d, p, end, v, depth, utf8);
}

static int decode_any(const decoder *d, const uint8_t *p, const uint8_t *end, ember_value *v, int depth, int utf8) {
    if (p >= end) return corrupt(d, p, "truncated value");
    memset(v, 0, sizeof *v);
    v->enc = p;
    const uint8_t *q = p + 1;
    uint64_t n = 0;
    size_t k;
    switch (p[0]) {
    case TAG_NONE:
        v->type = EMBER_NONE;
        break;
    case TAG_FALSE:
    case TAG_TRUE:
        v->type = EMBER_BOOL;
        v->b = p[0] == TAG_TRUE;
        break;
    case TAG_INT:
        if (!(k = read_uvar(q, end, &n))) return corrupt(d, q, "bad int");
        v->type = EMBER_INT;
        v->i = (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
        q += k;
        break;
    case TAG_FLOAT: {
        if (end - q < 8) return corrupt(d, q, "truncated float");
        uint64_t bits = emberB_load_u64(q);
        memcpy(&v->f, &bits, sizeof v->f);
        v->type = EMBER_FLOAT;
        q += 8;
        break;
    }
    case TAG_BIGINT:
    case TAG_STR:
    case TAG_BYTES:
        if (!(k = read_uvar(q, end, &n))) return corrupt(d, q, "bad length");
        q += k;
        if (n > (uint64_t)(end - q)) return corrupt(d, q, "length past the end of the data");
        v->data = q;
        v->len = (size_t)n;
        q += n;
        if (p[0] == TAG_BIGINT) {
            if (n < 9 || n > EMBER_RECORD_MAX_BIGINT) return corrupt(d, v->data, "bad big int length");
            int neg = (q[-1] & 0x80) != 0;
            if (q[-1] == (neg ? 0xff : 0x00) && ((q[-2] & 0x80) != 0) == neg)
                return corrupt(d, v->data, "big int not in its shortest form");
            v->type = EMBER_BIGINT;
        } else if (p[0] == TAG_STR) {
            if (utf8 && !emberR_utf8_valid(v->data, v->len)) return corrupt(d, v->data, "str is not UTF-8");
            v->type = EMBER_STR;
        } else {
            v->type = EMBER_BYTES;
        }
        break;
    case TAG_TUPLE:
    case TAG_LIST:
    case TAG_DICT: {
        if (!(k = read_uvar(q, end, &n))) return corrupt(d, q, "bad count");
        q += k;
        uint64_t items = p[0] == TAG_DICT ? n * 2 : n;
        if (n > (uint64_t)(end - q) || items > (uint64_t)(end - q))
            return corrupt(d, q, "count past the end of the data");
        if (depth >= EMBER_RECORD_MAX_DEPTH) return corrupt(d, p, "containers nested too deep");
        v->type = p[0] == TAG_TUPLE ? EMBER_TUPLE : p[0] == TAG_LIST ? EMBER_LIST : EMBER_DICT;
        v->count = (size_t)n;
        v->next = q;
        v->left = (size_t)items;
        for (uint64_t i = 0; i < items; i++) {
            ember_value child;
            int rc = decode(d, q, end, &child, depth + 1, utf8);
            if (rc) return rc;
            q += child.enc_len;
        }
        break;
    }
    default:
        return corrupt(d, p, "unknown tag");
    }
    v->enc_len = (size_t)(q - p);
    return 0;
}

int ember_value_decode(const void *buf, size_t len, ember_value *out, size_t *used) {
    if (!buf || !out) return emberE_set(EMBER_EINVAL, "ember_value_decode: NULL argument");
    const uint8_t *p = buf;
    if (emberR_small_int(p, len, out)) { /* the commonest value of all, a count, without the general path */
        if (used) *used = out->enc_len;
        return 0;
    }
    size_t klen, n;
    ember_value count;
    if ((n = emberR_small_pair(p, len, &klen, &count))) { /* a word and its count: what the general path decides */
        *out = (ember_value){.type = EMBER_TUPLE, .count = 2, .enc = p, .enc_len = n, .next = p + 2, .left = 2};
        if (used) *used = n;
        return 0;
    }
    decoder d = {p};
    ember_value v;
    int rc = decode(&d, p, p + len, &v, 0, 1);
    if (rc) return rc;
    *out = v;
    if (used) *used = v.enc_len;
    return 0;
}

int emberR_decode_pair(const uint8_t *p, size_t len, ember_value *rec, ember_value *k, ember_value *v, size_t *used) {
    decoder d = {p};
    const uint8_t *end = p + len;
    if (len < 2 || (p[0] != TAG_TUPLE && p[0] != TAG_LIST) || p[1] != 2) {
        int rc = ember_value_decode(p, len, rec, used);
        return rc ? rc : 0;
    }
    int rc = decode(&d, p + 2, end, k, 1, 1);
    if (!rc && !emberR_small_int(p + 2 + k->enc_len, (size_t)(end - p - 2 - k->enc_len), v))
        rc = decode(&d, p + 2 + k->enc_len, end, v, 1, 1);
    if (rc) return rc;
    *rec = (ember_value){.type = p[0] == TAG_TUPLE ? EMBER_TUPLE : EMBER_LIST,
                         .count = 2,
                         .enc = p,
                         .enc_len = 2 + k->enc_len + v->enc_len,
                         .next = p + 2,
                         .left = 2};
    *used = rec->enc_len;
    return 1;
}

int ember_value_next(ember_value *c, ember_value *child) {
    if (!c || !child) return 0;
    if (c->type != EMBER_TUPLE && c->type != EMBER_LIST && c->type != EMBER_DICT) return 0;
    if (!c->left || !c->next || !c->enc) return 0;
    const uint8_t *end = c->enc + c->enc_len;
    if (c->next < c->enc || c->next >= end) return 0;
    decoder d = {c->enc};
    /* children of a container the caller got from ember_value_decode were checked;
     * checking the bounds again (not the UTF-8) keeps a hand-made ember_value from
     * reading out of bounds */
    if (decode(&d, c->next, end, child, 0, 0)) return 0;
    c->next += child->enc_len;
    c->left--;
    return 1;
}

int ember_value_item(const ember_value *v, size_t i, ember_value *out) {
    if (!v || !out) return emberE_set(EMBER_EINVAL, "ember_value_item: NULL argument");
    if (v->type != EMBER_TUPLE && v->type != EMBER_LIST && v->type != EMBER_DICT)
        return emberE_set(EMBER_EINVAL, "ember_value_item: a %s has no items", ember_type_name(v->type));
    size_t items = v->type == EMBER_DICT ? v->count * 2 : v->count;
    if (i >= items) return emberE_set(EMBER_EINVAL, "ember_value_item: index %zu past the %zu items", i, items);
    /* restart from the first child: enc + tag + count */
    ember_value it = *v;
    uint64_t n;
    size_t k = read_uvar(v->enc + 1, v->enc + v->enc_len, &n);
    if (!k) return emberE_set(EMBER_EINVAL, "ember_value_item: not a decoded value");
    it.next = v->enc + 1 + k;
    it.left = items;
    for (size_t j = 0; j <= i; j++)
        if (!ember_value_next(&it, out)) return emberE_set(EMBER_EINVAL, "ember_value_item: not a decoded value");
    return 0;
}

int ember_batch_open(const void *buf, size_t len, const uint8_t **body, size_t *body_len) {
    const uint8_t *p = buf;
    if (!p || len < EMBER_BATCH_HEADER || p[0] != 'E' || p[1] != 'M' || p[2] != 'R')
        return emberE_set(EMBER_ECORRUPT, "not a batch of ember records (no EMR header)");
    if (p[3] != EMBER_RECORD_VERSION)
        return emberE_set(EMBER_ECORRUPT,
                          "a batch of ember records of format version %u; this library reads version %d", p[3],
                          EMBER_RECORD_VERSION);
    *body = p + EMBER_BATCH_HEADER;
    *body_len = len - EMBER_BATCH_HEADER;
    return 0;
}

/* ---- writing ---------------------------------------------------------------- */

void ember_writer_init(ember_writer *w) { memset(w, 0, sizeof *w); }

void ember_writer_reset(ember_writer *w) {
    w->len = 0;
    w->err = 0;
}

void ember_writer_free(ember_writer *w) {
    if (!w) return;
    ember_free(w->data);
    memset(w, 0, sizeof *w);
}

/* Makes room for `extra` more bytes; returns a pointer to them or NULL (w->err set). */
static inline uint8_t *room(ember_writer *w, size_t extra) {
    if (w->cap - w->len >= extra && w->data && !w->err) return w->data + w->len;
    if (w->err) return NULL;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->err = emberE_set(EMBER_ENOMEM, "record writer: %zu bytes is too large", extra);
        return NULL;
    }
    if (emberB_grow(&w->data, &w->cap, w->len + extra, 1, 64)) {
        w->err = emberE_set(EMBER_ENOMEM, "out of memory growing a record writer by %zu bytes", extra);
        return NULL;
    }
    return w->data + w->len;
}

static size_t put_uvar(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* A tag, v as a uvar, then payload[0, n). Inlined into each ember_put_*: the common
 * record (a short word, a small count) is a few stores, no calls. */
static inline int put_tag_uvar(ember_writer *w, uint8_t tag, uint64_t v, const void *payload, size_t n) {
    uint8_t *p = room(w, 11 + n);
    if (!p) return w->err;
    p[0] = tag;
    size_t k;
    if (v < 0x80) {
        p[1] = (uint8_t)v;
        k = 2;
    } else {
        k = 1 + put_uvar(p + 1, v);
    }
    emberB_copy(p + k, payload, n);
    w->len += k + n;
    return 0;
}

static int put_tag(ember_writer *w, uint8_t tag) {
    uint8_t *p = room(w, 1);
    if (!p) return w->err;
    p[0] = tag;
    w->len++;
    return 0;
}

int ember_put_none(ember_writer *w) { return put_tag(w, TAG_NONE); }
int ember_put_bool(ember_writer *w, int b) { return put_tag(w, b ? TAG_TRUE : TAG_FALSE); }

int ember_put_int(ember_writer *w, int64_t i) {
    uint64_t z = ((uint64_t)i << 1) ^ (uint64_t)(i >> 63);
    return put_tag_uvar(w, TAG_INT, z, NULL, 0);
}

int ember_put_bigint(ember_writer *w, const uint8_t *le, size_t n) {
    if (w->err) return w->err;
    if (n == 0) return ember_put_int(w, 0);
    if (!le || n > EMBER_RECORD_MAX_BIGINT)
        return w->err =
                   emberE_set(EMBER_EINVAL, "ember_put_bigint: %zu bytes (at most %u)", n, EMBER_RECORD_MAX_BIGINT);
    /* drop redundant sign bytes: the shortest form that keeps the value */
    int neg = (le[n - 1] & 0x80) != 0;
    uint8_t fill = neg ? 0xff : 0x00;
    while (n > 1 && le[n - 1] == fill && ((le[n - 2] & 0x80) != 0) == neg)
        n--;
    if (n <= 8) {
        uint64_t u = neg ? UINT64_MAX : 0;
        for (size_t k = 0; k < n; k++)
            u = (u & ~((uint64_t)0xff << (8 * k))) | (uint64_t)le[k] << (8 * k);
        return ember_put_int(w, (int64_t)u);
    }
    return put_tag_uvar(w, TAG_BIGINT, n, le, n);
}

int ember_put_float(ember_writer *w, double f) {
    uint8_t *p = room(w, 9);
    if (!p) return w->err;
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    p[0] = TAG_FLOAT;
    emberB_store_u64(p + 1, bits);
    w->len += 9;
    return 0;
}

int ember_put_str(ember_writer *w, const char *s, size_t n) {
    if (!s && n) return w->err ? w->err : (w->err = emberE_set(EMBER_EINVAL, "ember_put_str: NULL string"));
    return put_tag_uvar(w, TAG_STR, n, s, n);
}

int ember_put_bytes(ember_writer *w, const void *b, size_t n) {
    if (!b && n) return w->err ? w->err : (w->err = emberE_set(EMBER_EINVAL, "ember_put_bytes: NULL bytes"));
    return put_tag_uvar(w, TAG_BYTES, n, b, n);
}

int ember_put_tuple(ember_writer *w, size_t n) { return put_tag_uvar(w, TAG_TUPLE, n, NULL, 0); }
int ember_put_list(ember_writer *w, size_t n) { return put_tag_uvar(w, TAG_LIST, n, NULL, 0); }
int ember_put_dict(ember_writer *w, size_t npairs) { return put_tag_uvar(w, TAG_DICT, npairs, NULL, 0); }

int ember_put_value(ember_writer *w, const ember_value *v) {
    if (w->err) return w->err;
    if (!v || !v->enc || !v->enc_len) return w->err = emberE_set(EMBER_EINVAL, "ember_put_value: not a decoded value");
    uint8_t *p = room(w, v->enc_len);
    if (!p) return w->err;
    memcpy(p, v->enc, v->enc_len);
    w->len += v->enc_len;
    return 0;
}

int ember_put_batch_header(ember_writer *w) {
    uint8_t *p = room(w, EMBER_BATCH_HEADER);
    if (!p) return w->err;
    p[0] = 'E';
    p[1] = 'M';
    p[2] = 'R';
    p[3] = EMBER_RECORD_VERSION;
    w->len += EMBER_BATCH_HEADER;
    return 0;
}

const char *ember_type_name(int type) {
    switch (type) {
    case EMBER_NONE:
        return "None";
    case EMBER_BOOL:
        return "bool";
    case EMBER_INT:
    case EMBER_BIGINT:
        return "int";
    case EMBER_FLOAT:
        return "float";
    case EMBER_STR:
        return "str";
    case EMBER_BYTES:
        return "bytes";
    case EMBER_TUPLE:
        return "tuple";
    case EMBER_LIST:
        return "list";
    case EMBER_DICT:
        return "dict";
    default:
        return "unknown";
    }
}

int ember_set_error(int code, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return emberE_set(code, "%s", buf);
}
