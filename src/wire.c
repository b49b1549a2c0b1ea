/* wire.c — framing of the worker protocol (see wire.h for the table of frames). */
#include "wire.h"

#include "internal.h"

#include <errno.h>
#include <unistd.h>

const char *emberW_frame_name(uint32_t type) {
    switch (type) {
#define EMBER_FRAME_CASE(name, value, dir, payload) case value: return #name;
    EMBER_FRAME_MAP(EMBER_FRAME_CASE)
#undef EMBER_FRAME_CASE
    default: return "UNKNOWN";
    }
}

void emberW_header(uint8_t hdr[EMBER_WIRE_HEADER], uint32_t type, uint32_t len) {
    emberB_store_u32(hdr, len);
    emberB_store_u32(hdr + 4, type);
}

/* Drops consumed bytes from the front once they are most of the buffer. */
static void compact(emberW_parser *p) {
    if (p->pos == 0 || !p->buf) return;
    memmove(p->buf, p->buf + p->pos, p->len - p->pos);
    p->len -= p->pos;
    p->pos = 0;
}

static int reserve(emberW_parser *p, size_t extra) {
    if (p->len + extra <= p->cap) return 0;
    compact(p);
    if (p->len + extra <= p->cap) return 0;
    size_t cap = p->cap ? p->cap : 65536;
    while (cap < p->len + extra) cap *= 2;
    uint8_t *b = ember_realloc(p->buf, cap);
    if (!b) return emberE_set(EMBER_ENOMEM, "out of memory growing a frame buffer to %zu bytes", cap);
    p->buf = b;
    p->cap = cap;
    return 0;
}

int emberW_feed(emberW_parser *p, const void *data, size_t n) {
    if (n == 0) return 0;
    int rc = reserve(p, n);
    if (rc) return rc;
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    return 0;
}

int emberW_next(emberW_parser *p, uint32_t *type, const uint8_t **payload, size_t *len) {
    size_t avail = p->len - p->pos;
    if (avail < EMBER_WIRE_HEADER) return 0;
    const uint8_t *h = p->buf + p->pos;
    uint32_t n = emberB_load_u32(h), t = emberB_load_u32(h + 4);
    if (n > EMBER_WIRE_MAX_FRAME)
        return emberE_set(EMBER_EPROTO, "frame of %u bytes is over the %u-byte limit", n, EMBER_WIRE_MAX_FRAME);
    if (strcmp(emberW_frame_name(t), "UNKNOWN") == 0)
        return emberE_set(EMBER_EPROTO, "unknown frame type %u", t);
    if (avail < EMBER_WIRE_HEADER + (size_t)n) return 0;
    *type = t;
    *payload = h + EMBER_WIRE_HEADER;
    *len = n;
    p->pos += EMBER_WIRE_HEADER + (size_t)n;
    return 1;
}

long emberW_read_fd(emberW_parser *p, int fd) {
    if (p->pos == p->len) p->pos = p->len = 0;
    int rc = reserve(p, 65536);
    if (rc) return rc;
    for (;;) {
        ssize_t r = read(fd, p->buf + p->len, p->cap - p->len);
        if (r >= 0) {
            p->len += (size_t)r;
            return (long)r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
        return emberE_errno(EMBER_EIO, errno, "reading from a worker pipe");
    }
}

void emberW_parser_free(emberW_parser *p) {
    ember_free(p->buf);
    p->buf = NULL;
    p->len = p->cap = p->pos = 0;
}
