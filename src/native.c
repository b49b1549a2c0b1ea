/* native.c — C functions in ember jobs, the driver's side and the shared codecs:
 * how a function pointer is named so that a worker process can find it, the
 * commands and shuffle specs of native steps (built here, run by nworker.c or by
 * the Python worker), the portable hash that partitions keys, Python's str() of a
 * record (saveAsTextFile). native_jobs.c builds on it the C job API of ember.h.
 *
 * Design. A function is named by the object file it was loaded from and its offset
 * in that object's mapping (dl_iterate_phdr): "" for the executable itself, else the
 * path of a shared library as the loader names it. A worker — the same executable
 * run again (nworker.c), or a Python worker for a library — finds the same object and
 * adds the offset, so static functions work too; the symbol (dladdr) or the caller's
 * name only labels errors.
 *
 * A native step is an ordinary PIPELINE node whose command starts with the magic
 * "EMNC"; a native shuffle is a SHUFFLE node whose spec starts with "EMNS". The
 * engine moves them as opaque bytes; workers tell them from pickled Python commands
 * by the magic. Layouts (little-endian; str = u32 length + bytes):
 *   command  "EMNC" u32 version (1) u32 kind (EMBER_NOP_*) fn str arg
 *   spec     "EMNS" u32 version (1) u32 flags (EMBER_NSPEC_*) fn partition fn create
 *            fn merge_value fn merge_combiners (absent ones: empty)
 *   fn       str module, u64 offset, str name
 * emberN_op_decode and emberN_spec_decode check every length (fuzz_native).
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- naming a function ------------------------------------------------------------ */

typedef struct find_addr {
    uintptr_t addr;
    int index; /* of the object in dl_iterate_phdr's order: 0 is the executable */
    const char *name;
    uintptr_t base;
    int found;
} find_addr;

static int find_addr_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    find_addr *f = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (f->addr >= lo && f->addr < hi) {
            f->name = info->dlpi_name;
            f->base = info->dlpi_addr;
            f->found = 1;
            return 1;
        }
    }
    f->index++;
    return 0;
}

/* The name of the function at `value` (its offset from the load address) in the
 * symbol table (.symtab, static functions included) of the ELF file at path; 0, or -1
 * when the file has no such symbol (stripped). */
static int symtab_name(const char *path, uint64_t value, char *buf, size_t cap) {
    int rc = -1;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh = NULL;
    if (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 || eh.e_shnum > 4096)
        goto close_file;
    sh = ember_calloc(eh.e_shnum, sizeof *sh);
    if (!sh || fseek(f, (long)eh.e_shoff, SEEK_SET) || fread(sh, sizeof *sh, eh.e_shnum, f) != eh.e_shnum)
        goto close_file;
    for (size_t i = 0; i < eh.e_shnum && rc; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh.e_shnum || sh[i].sh_entsize != sizeof(ElfW(Sym)))
            continue;
        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
        size_t n = sh[i].sh_size / sizeof(ElfW(Sym));
        if (fseek(f, (long)sh[i].sh_offset, SEEK_SET)) break;
        for (size_t k = 0; k < n && rc; k++) {
            ElfW(Sym) sym;
            if (fread(&sym, sizeof sym, 1, f) != 1) break;
            if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value != value || sym.st_name >= strs->sh_size)
                continue;
            long here = ftell(f);
            size_t k2 = 0;
            if (fseek(f, (long)(strs->sh_offset + sym.st_name), SEEK_SET) == 0) {
                int c;
                while (k2 + 1 < cap && (c = fgetc(f)) != EOF && c)
                    buf[k2++] = (char)c;
                buf[k2] = 0;
                rc = k2 ? 0 : -1;
            }
            if (fseek(f, here, SEEK_SET)) break;
        }
    }
close_file:
    ember_free(sh);
    fclose(f);
    return rc;
}

int emberN_fn_name(void *fn, const char *label, emberN_fnref *out) {
    memset(out, 0, sizeof *out);
    find_addr f = {.addr = (uintptr_t)fn};
    if (!fn) return emberE_set(EMBER_EINVAL, "a native step needs a function (got NULL)");
    dl_iterate_phdr(find_addr_cb, &f);
    if (!f.found)
        return emberE_set(EMBER_EINVAL, "native function %s at %p is in no loaded file: workers cannot find it",
                          label ? label : "?", fn);
    out->module = ember_strdup(f.index == 0 || !f.name ? "" : f.name);
    if (!out->module) return emberE_set(EMBER_ENOMEM, "out of memory naming a native function");
    out->offset = (uint64_t)(f.addr - f.base);
    Dl_info di;
    char buf[256];
    const char *name = label;
    if (!name && dladdr(fn, &di) && di.dli_sname) name = di.dli_sname;
    if (!name && symtab_name(out->module[0] ? out->module : "/proc/self/exe", out->offset, buf, sizeof buf) == 0)
        name = buf;
    if (!name) {
        snprintf(buf, sizeof buf, "function at offset 0x%llx", (unsigned long long)out->offset);
        name = buf;
    }
    out->name = ember_strdup(name);
    if (!out->module || !out->name) {
        emberN_fnref_free(out);
        return emberE_set(EMBER_ENOMEM, "out of memory naming a native function");
    }
    return 0;
}

void emberN_fnref_free(emberN_fnref *f) {
    ember_free(f->module);
    ember_free(f->name);
    f->module = f->name = NULL;
}

typedef struct find_name {
    const char *name; /* "" for the executable */
    size_t len;
    int index;
    uintptr_t base;
    int found;
} find_name;

static int find_name_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    find_name *f = arg;
    int hit = f->len == 0 ? f->index == 0
                          : info->dlpi_name && strlen(info->dlpi_name) == f->len &&
                                memcmp(info->dlpi_name, f->name, f->len) == 0;
    f->index++;
    if (!hit) return 0;
    f->base = info->dlpi_addr;
    f->found = 1;
    return 1;
}

int emberN_resolve(const emberN_fn *fn, int allow_main, void **out) {
    char path[4096];
    if (fn->module.len >= sizeof path)
        return emberE_set(EMBER_EINVAL, "native function %.*s: module path too long", (int)fn->name.len,
                          (const char *)fn->name.p);
    memcpy(path, fn->module.p, fn->module.len);
    path[fn->module.len] = 0;
    if (!path[0] && !allow_main)
        return emberE_set(EMBER_EINVAL,
                          "native function %.*s lives in the executable of the C program that built it; a Python "
                          "worker cannot load it: put it in a shared library",
                          (int)fn->name.len, (const char *)fn->name.p);
    if (fn->offset == EMBER_NATIVE_BY_SYMBOL) {
        char sym[256];
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            return emberE_set(EMBER_EINVAL, "native function %.*s: cannot load the library: %s", (int)fn->name.len,
                              (const char *)fn->name.p, dlerror());
        size_t n = strcspn((const char *)fn->name.p, " ");
        n = n < fn->name.len ? n : fn->name.len; /* the name may go on: "add (/path/lib.so)" */
        if (n >= sizeof sym) n = sizeof sym - 1;
        memcpy(sym, fn->name.p, n);
        sym[n] = 0;
        dlerror();
        *out = dlsym(h, sym); /* the handle stays open: the function is used until exit */
        if (!*out)
            return emberE_set(EMBER_EINVAL, "native function %.*s: the library has no function %s", (int)fn->name.len,
                              (const char *)fn->name.p, sym);
        return 0;
    }
    find_name f = {path, strlen(path), 0, 0, 0};
    dl_iterate_phdr(find_name_cb, &f);
    if (!f.found) {
        if (!dlopen(path, RTLD_NOW | RTLD_LOCAL))
            return emberE_set(EMBER_EINVAL, "native function %.*s: cannot load %s: %s", (int)fn->name.len,
                              (const char *)fn->name.p, path, dlerror());
        f.index = 0;
        dl_iterate_phdr(find_name_cb, &f);
        if (!f.found)
            return emberE_set(EMBER_EINVAL, "native function %.*s: %s loaded but not found among the loaded files",
                              (int)fn->name.len, (const char *)fn->name.p, path);
    }
    *out = (void *)(f.base + (uintptr_t)fn->offset);
    return 0;
}

/* ---- commands and specs ----------------------------------------------------------- */

static int put_fn(emberB_buf *b, const emberN_fnref *f) {
    int rc = emberB_put_str(b, f && f->module ? f->module : "");
    rc = rc ? rc : emberB_put_u64(b, f ? f->offset : 0);
    return rc ? rc : emberB_put_str(b, f && f->name ? f->name : "");
}

int emberN_op_encode(emberB_buf *b, uint32_t kind, const emberN_fnref *fn, const char *arg) {
    int rc = emberB_append(b, EMBER_NATIVE_CMD_MAGIC, 4);
    rc = rc ? rc : emberB_put_u32(b, EMBER_NATIVE_VERSION);
    rc = rc ? rc : emberB_put_u32(b, kind);
    rc = rc ? rc : put_fn(b, fn);
    return rc ? rc : emberB_put_str(b, arg ? arg : "");
}

int emberN_spec_encode(emberB_buf *b, uint32_t flags, const emberN_fnref *fns[4]) {
    int rc = emberB_append(b, EMBER_NATIVE_SPEC_MAGIC, 4);
    rc = rc ? rc : emberB_put_u32(b, EMBER_NATIVE_VERSION);
    rc = rc ? rc : emberB_put_u32(b, flags);
    for (int i = 0; i < 4 && !rc; i++)
        rc = put_fn(b, fns[i]);
    return rc;
}

typedef struct cursor {
    const uint8_t *p;
    size_t left;
    const char *what;
} cursor;

static int bad(const cursor *c, const char *field) {
    return emberE_set(EMBER_EPROTO, "malformed native %s: %zu bytes left where %s was expected", c->what, c->left,
                      field);
}

static int take_u32(cursor *c, uint32_t *v, const char *field) {
    if (c->left < 4) return bad(c, field);
    *v = emberB_load_u32(c->p);
    c->p += 4;
    c->left -= 4;
    return 0;
}

static int take_u64(cursor *c, uint64_t *v, const char *field) {
    if (c->left < 8) return bad(c, field);
    *v = emberB_load_u64(c->p);
    c->p += 8;
    c->left -= 8;
    return 0;
}

static int take_str(cursor *c, emberW_bytes *s, const char *field) {
    uint32_t n = 0;
    if (take_u32(c, &n, field)) return EMBER_EPROTO;
    if (n > c->left) return bad(c, field);
    if (memchr(c->p, 0, n)) return emberE_set(EMBER_EPROTO, "malformed native %s: %s holds a NUL byte", c->what, field);
    s->p = c->p;
    s->len = n;
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_fn(cursor *c, emberN_fn *f) {
    int rc = take_str(c, &f->module, "a function's file");
    rc = rc ? rc : take_u64(c, &f->offset, "a function's offset");
    return rc ? rc : take_str(c, &f->name, "a function's name");
}

static int take_head(cursor *c, const char *magic) {
    uint32_t version = 0;
    if (c->left < 4 || memcmp(c->p, magic, 4) != 0)
        return emberE_set(EMBER_EPROTO, "not a native %s (no %s magic)", c->what, magic);
    c->p += 4;
    c->left -= 4;
    if (take_u32(c, &version, "the version")) return EMBER_EPROTO;
    if (version != EMBER_NATIVE_VERSION)
        return emberE_set(EMBER_EPROTO, "native %s of version %u; this ember reads version %u", c->what, version,
                          EMBER_NATIVE_VERSION);
    return 0;
}

int emberN_is_native(const void *p, size_t len) {
    return len >= 4 && (memcmp(p, EMBER_NATIVE_CMD_MAGIC, 4) == 0 || memcmp(p, EMBER_NATIVE_SPEC_MAGIC, 4) == 0);
}

int emberN_op_decode(const void *p, size_t len, emberN_op *op) {
    cursor c = {p, len, "command"};
    memset(op, 0, sizeof *op);
    int rc = take_head(&c, EMBER_NATIVE_CMD_MAGIC);
    rc = rc ? rc : take_u32(&c, &op->kind, "the step kind");
    if (!rc && (op->kind < EMBER_NOP_MAP || op->kind > EMBER_NOP_SAVE_TEXT))
        rc = emberE_set(EMBER_EPROTO, "malformed native command: unknown step kind %u", op->kind);
    rc = rc ? rc : take_fn(&c, &op->fn);
    rc = rc ? rc : take_str(&c, &op->arg, "the step's argument");
    if (!rc && c.left) rc = emberE_set(EMBER_EPROTO, "malformed native command: %zu bytes after its end", c.left);
    return rc;
}

int emberN_spec_decode(const void *p, size_t len, emberN_spec *spec) {
    cursor c = {p, len, "shuffle spec"};
    memset(spec, 0, sizeof *spec);
    int rc = take_head(&c, EMBER_NATIVE_SPEC_MAGIC);
    rc = rc ? rc : take_u32(&c, &spec->flags, "the flags");
    if (!rc && (spec->flags & ~(uint32_t)EMBER_NSPEC_ALL))
        rc = emberE_set(EMBER_EPROTO, "malformed native shuffle spec: unknown flags 0x%x", spec->flags);
    for (int i = 0; i < 4 && !rc; i++)
        rc = take_fn(&c, &spec->fns[i]);
    if (!rc && (spec->flags & EMBER_NSPEC_COMBINE) && !(spec->flags & EMBER_NSPEC_HAS_MERGE))
        rc = emberE_set(EMBER_EPROTO, "malformed native shuffle spec: combining without merge functions");
    if (!rc && c.left) rc = emberE_set(EMBER_EPROTO, "malformed native shuffle spec: %zu bytes after its end", c.left);
    return rc;
}

/* ---- the portable hash ---------------------------------------------------------------
 * What ember.rdd.portable_hash (python/_core/hash.c) gives the Python object of a
 * record: str and bytes hash as CPython 3.11+ with PYTHONHASHSEED=0 (SipHash-1-3, zero
 * key, over the string's code units at their narrowest width); numbers as CPython's
 * hash (modulo 2^61 - 1); tuples combine their items. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1;                                                                                                      \
        v1 = ROTL(v1, 13);                                                                                             \
        v1 ^= v0;                                                                                                      \
        v0 = ROTL(v0, 32);                                                                                             \
        v2 += v3;                                                                                                      \
        v3 = ROTL(v3, 16);                                                                                             \
        v3 ^= v2;                                                                                                      \
        v0 += v3;                                                                                                      \
        v3 = ROTL(v3, 21);                                                                                             \
        v3 ^= v0;                                                                                                      \
        v2 += v1;                                                                                                      \
        v1 = ROTL(v1, 17);                                                                                             \
        v1 ^= v2;                                                                                                      \
        v2 = ROTL(v2, 32);                                                                                             \
    } while (0)

/* SipHash-1-3 with the key (0, 0), fed by a stream of bytes. */
typedef struct sip {
    uint64_t v0, v1, v2, v3, tail;
    size_t total, ntail;
} sip;

static void sip_init(sip *s) {
    s->v0 = 0x736f6d6570736575ULL;
    s->v1 = 0x646f72616e646f6dULL;
    s->v2 = 0x6c7967656e657261ULL;
    s->v3 = 0x7465646279746573ULL;
    s->tail = 0;
    s->total = s->ntail = 0;
}

static inline void sip_word(sip *s, uint64_t m) {
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
    s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3;
}

static inline void sip_byte(sip *s, uint8_t b) {
    s->tail |= (uint64_t)b << (8 * s->ntail);
    s->total++;
    if (++s->ntail == 8) {
        sip_word(s, s->tail);
        s->tail = 0;
        s->ntail = 0;
    }
}

static uint64_t sip_end(sip *s) {
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
    uint64_t b = (uint64_t)s->total << 56 | s->tail;
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return (v0 ^ v1) ^ (v2 ^ v3);
}

uint64_t emberN_siphash13(const uint8_t *p, size_t n) {
    sip s;
    sip_init(&s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        sip_word(&s, m);
    }
    s.total = i;
    for (; i < n; i++)
        sip_byte(&s, p[i]);
    return sip_end(&s);
}

/* Next code point of valid UTF-8 at *p. */
static uint32_t utf8_next(const uint8_t **p) {
    const uint8_t *s = *p;
    uint32_t c = s[0];
    if (c < 0x80) {
        *p = s + 1;
        return c;
    }
    if (c < 0xe0) {
        *p = s + 2;
        return (c & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (c < 0xf0) {
        *p = s + 3;
        return (c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    }
    *p = s + 4;
    return (c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

static int64_t fix_hash(uint64_t h) { return (int64_t)h == -1 ? -2 : (int64_t)h; }

static int64_t hash_str(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    uint32_t max = 0;
    size_t i = 0;
    while (i < n && s[i] < 0x80)
        i++;
    if (i == n) return fix_hash(emberN_siphash13(s, n)); /* ASCII: the bytes are the code units */
    for (const uint8_t *p = s, *end = s + n; p < end;) {
        uint32_t c = utf8_next(&p);
        if (c > max) max = c;
    }
    int width = max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
    sip st;
    sip_init(&st);
    for (const uint8_t *p = s, *end = s + n; p < end;) {
        uint32_t c = utf8_next(&p);
        for (int k = 0; k < width; k++)
            sip_byte(&st, (uint8_t)(c >> (8 * k)));
    }
    return fix_hash(sip_end(&st));
}

#define HASH_MODULUS (((uint64_t)1 << 61) - 1)

static int64_t hash_uint(uint64_t mag, int neg) {
    int64_t h = (int64_t)(mag % HASH_MODULUS);
    if (neg) h = -h;
    return h == -1 ? -2 : h;
}

/* CPython's hash of a float (Python/pyhash.c's algorithm, 3.10+: NaN is 0 here). */
static int64_t hash_double(double v) {
    if (isinf(v)) return v > 0 ? 314159 : -314159;
    if (isnan(v)) return 0;
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    uint64_t x = 0;
    while (m) {
        x = ((x << 28) & HASH_MODULUS) | x >> (61 - 28);
        m *= 268435456.0;
        e -= 28;
        uint64_t y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_MODULUS) x -= HASH_MODULUS;
    }
    e = e >= 0 ? e % 61 : 61 - 1 - ((-1 - e) % 61);
    x = ((x << e) & HASH_MODULUS) | x >> (61 - e);
    int64_t h = (int64_t)x * sign;
    return h == -1 ? -2 : h;
}

int emberN_hash(const ember_value *v, int64_t *out) {
    switch (v->type) {
    case EMBER_NONE:
        *out = 0;
        return 0;
    case EMBER_BOOL:
        *out = v->b;
        return 0;
    case EMBER_INT:
        *out = hash_uint(v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i, v->i < 0);
        return 0;
    case EMBER_BIGINT: {
        /* magnitude of the little-endian two's complement, folded from the top byte */
        int neg = (v->data[v->len - 1] & 0x80) != 0;
        unsigned __int128 h = 0;
        /* -x = ~x + 1: fold ~x, then add 1 */
        for (size_t i = v->len; i-- > 0;)
            h = (h * 256 + (uint8_t)(neg ? ~v->data[i] : v->data[i])) % HASH_MODULUS;
        if (neg) h = (h + 1) % HASH_MODULUS;
        *out = hash_uint((uint64_t)h, neg);
        return 0;
    }
    case EMBER_FLOAT:
        *out = hash_double(v->f);
        return 0;
    case EMBER_STR:
        *out = hash_str(v->data, v->len);
        return 0;
    case EMBER_BYTES:
        *out = v->len ? fix_hash(emberN_siphash13(v->data, v->len)) : 0;
        return 0;
    case EMBER_TUPLE: {
        uint64_t h = 0x345678;
        ember_value it = *v, c;
        while (ember_value_next(&it, &c)) {
            int64_t ih;
            int rc = emberN_hash(&c, &ih);
            if (rc) return rc;
            h ^= (uint64_t)ih;
            h *= 1000003;
            h &= (uint64_t)INT64_MAX;
        }
        h ^= (uint64_t)v->count;
        *out = fix_hash(h);
        return 0;
    }
    default:
        return emberE_set(EMBER_EINVAL, "unhashable type: '%s' (a shuffle's keys must be hashable)",
                          ember_type_name(v->type));
    }
}

/* ---- str() of a record ------------------------------------------------------------- */

int emberN_append(ember_writer *w, const void *p, size_t n) {
    const char *s = p;
    if (w->err) return w->err;
    if (n > SIZE_MAX / 2 - w->len) return w->err = emberE_set(EMBER_ENOMEM, "text of %zu bytes is too large", n);
    if (emberB_grow(&w->data, &w->cap, w->len + n, 1, 64))
        return w->err = emberE_set(EMBER_ENOMEM, "out of memory writing text");
    memcpy(w->data + w->len, s, n);
    w->len += n;
    return 0;
}

static int put_cstr(ember_writer *w, const char *s) { return emberN_append(w, s, strlen(s)); }

/* repr(float) as Python writes it: the shortest digits that read back the same,
 * positional from 1e-4 up to 1e16, else d.ddde+XX. */
static int put_float_repr(ember_writer *w, double f) {
    if (isnan(f)) return put_cstr(w, "nan");
    if (isinf(f)) return put_cstr(w, f > 0 ? "inf" : "-inf");
    char buf[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf: [-]d.ddde[+-]XX: take its digits and exponent */
    char digits[32];
    size_t nd = 0;
    const char *p = buf;
    int neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[k++] = '0';
            out[k++] = '.';
            for (int i = -1; i > exp; i--)
                out[k++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[k++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++)
                out[k++] = (size_t)i < nd ? digits[i] : '0';
            out[k++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++)
                    out[k++] = digits[i];
            else
                out[k++] = '0';
        }
        out[k] = 0;
    } else {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[k++] = digits[i];
        }
        snprintf(out + k, sizeof out - k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return put_cstr(w, out);
}

/* An integer of any size in decimal: little-endian two's complement bytes. */
static int put_bigint_text(ember_writer *w, const uint8_t *le, size_t n) {
    int neg = (le[n - 1] & 0x80) != 0;
    size_t nw = (n + 3) / 4;
    uint32_t *mag = ember_calloc(nw, sizeof *mag);
    char *dec = ember_malloc(n * 3 + 4);
    if (!mag || !dec) {
        ember_free(mag);
        ember_free(dec);
        return w->err = emberE_set(EMBER_ENOMEM, "out of memory printing an integer");
    }
    for (size_t i = 0; i < n; i++)
        mag[i / 4] |= (uint32_t)(uint8_t)(neg ? ~le[i] : le[i]) << (8 * (i % 4));
    if (neg) /* two's complement: magnitude = ~x + 1 */
        for (size_t i = 0; i < nw && ++mag[i] == 0; i++) {}
    size_t nd = 0, top = nw;
    while (top > 0 && mag[top - 1] == 0)
        top--;
    while (top > 0) {
        uint64_t rem = 0;
        for (size_t i = top; i-- > 0;) {
            uint64_t cur = rem << 32 | mag[i];
            mag[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (top > 0 && mag[top - 1] == 0)
            top--;
        for (int d = 0; d < 9 && (top > 0 || rem); d++) {
            dec[nd++] = (char)('0' + rem % 10);
            rem /= 10;
        }
    }
    if (nd == 0) dec[nd++] = '0';
    if (neg) dec[nd++] = '-';
    for (size_t i = 0; i < nd / 2; i++) {
        char t = dec[i];
        dec[i] = dec[nd - 1 - i];
        dec[nd - 1 - i] = t;
    }
    int rc = emberN_append(w, dec, nd);
    ember_free(mag);
    ember_free(dec);
    return rc;
}

/* repr of a str or bytes: Python's quotes and escapes (non-ASCII code points of a
 * str are kept as they are). */
static int put_quoted(ember_writer *w, const ember_value *v) {
    int is_bytes = v->type == EMBER_BYTES;
    int has_single = memchr(v->data, '\'', v->len) != NULL, has_double = memchr(v->data, '"', v->len) != NULL;
    char q = has_single && !has_double ? '"' : '\'';
    if (is_bytes) emberN_append(w, "b", 1);
    emberN_append(w, &q, 1);
    for (size_t i = 0; i < v->len; i++) {
        uint8_t c = v->data[i];
        char esc[8];
        if (c == '\\' || c == (uint8_t)q) {
            esc[0] = '\\';
            esc[1] = (char)c;
            emberN_append(w, esc, 2);
        } else if (c == '\n') {
            emberN_append(w, "\\n", 2);
        } else if (c == '\r') {
            emberN_append(w, "\\r", 2);
        } else if (c == '\t') {
            emberN_append(w, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80)) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            emberN_append(w, esc, 4);
        } else {
            emberN_append(w, (const char *)&c, 1);
        }
    }
    return emberN_append(w, &q, 1);
}

static int put_repr(ember_writer *w, const ember_value *v, int top) {
    char buf[32];
    switch (v->type) {
    case EMBER_NONE:
        return put_cstr(w, "None");
    case EMBER_BOOL:
        return put_cstr(w, v->b ? "True" : "False");
    case EMBER_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)v->i);
        return put_cstr(w, buf);
    case EMBER_BIGINT:
        return put_bigint_text(w, v->data, v->len);
    case EMBER_FLOAT:
        return put_float_repr(w, v->f);
    case EMBER_STR:
        return top ? emberN_append(w, (const char *)v->data, v->len) : put_quoted(w, v);
    case EMBER_BYTES:
        return put_quoted(w, v);
    default: {
        const char *open = v->type == EMBER_TUPLE ? "(" : v->type == EMBER_LIST ? "[" : "{";
        const char *close = v->type == EMBER_TUPLE ? ")" : v->type == EMBER_LIST ? "]" : "}";
        put_cstr(w, open);
        ember_value it = *v, c;
        size_t i = 0;
        while (ember_value_next(&it, &c)) {
            if (i > 0) put_cstr(w, v->type == EMBER_DICT && i % 2 ? ": " : ", ");
            put_repr(w, &c, 0);
            i++;
        }
        if (v->type == EMBER_TUPLE && v->count == 1) put_cstr(w, ",");
        return put_cstr(w, close);
    }
    }
}

int ember_value_str(const ember_value *v, ember_writer *out) { return put_repr(out, v, 1); }
