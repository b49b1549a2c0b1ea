/* error.c — the error table behind ember_strerror() and the per-thread message
 * behind ember_last_error(). Messages can be long (a failed task carries the
 * worker's whole traceback), so the buffer grows as needed. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

_Thread_local char *emberE_message; /* the thread's message: NULL until one is set */
static _Thread_local size_t last_error_cap;

const char *ember_strerror(int code) {
    switch (code) {
    case EMBER_OK:
        return "success";
#define EMBER_ERR_CASE(name, value, msg)                                                                               \
    case EMBER_E##name:                                                                                                \
        return msg;
        EMBER_ERRNO_MAP(EMBER_ERR_CASE)
#undef EMBER_ERR_CASE
    default:
        return "unknown error";
    }
}

const char *ember_last_error(void) { return emberE_message ? emberE_message : ""; }

void ember_clear_error(void) { emberE_clear(); }

/* Formats after the first `offset` bytes of the thread's message into a new buffer
 * (plain malloc: it lives for the thread, outside the engine's byte budget), which
 * then replaces the old one: an argument may be the message itself, as in
 * emberE_set(rc, "reading %s: %s", path, ember_last_error()). */
static void vformat(size_t offset, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    char probe[1];
    int need = vsnprintf(probe, sizeof probe, fmt, ap);
    if (need < 0) need = 0;
    size_t want = offset + (size_t)need + 1, cap = want > last_error_cap ? want : last_error_cap;
    char *b = malloc(cap);
    if (!b) {
        va_end(again);
        return;
    }
    if (offset) memcpy(b, emberE_message, offset);
    vsnprintf(b + offset, cap - offset, fmt, again);
    va_end(again);
    free(emberE_message);
    emberE_message = b;
    last_error_cap = cap;
}

int emberE_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(0, fmt, ap);
    va_end(ap);
    return code;
}

static void append(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(emberE_message ? strlen(emberE_message) : 0, fmt, ap);
    va_end(ap);
}

int emberE_errno(int code, int errno_value, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(0, fmt, ap);
    va_end(ap);
    append(": %s", strerror(errno_value));
    return code;
}

void emberE_thread_exit(void) {
    free(emberE_message);
    emberE_message = NULL;
    last_error_cap = 0;
}
