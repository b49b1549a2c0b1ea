/* internal.h — declarations shared between libember's source files, not exported.
 *
 * Dependency order: a file may use only what is to its left (files sharing a place
 * do not use each other), so each piece can be built, tested and fuzzed alone:
 *
 *   common (alloc.c, error.c, checksum.c, keyindex.c, record.c, tasklog.c, sort.c, combine.c) <- blocks.c <-
 *   wire.c, codec.c <- textsplit.c, seqfile.c, shuffle.c <- native.c <- nworker.c <- workers.c <- mpi.c <-
 *   graph.c <- tasks.c <- engine.c <- jobs.c <- context.c, native_jobs.c
 *
 * blocks.c knows no node: it holds blocks by node id. graph.c knows no engine: a
 * released node drops its blocks (blocks.c) and, as the last holder, frees the
 * context's memory (emberG_context_release); context.c, at the top, starts and stops
 * the worker pool and the engine thread.
 *
 * Sub-prefixes of non-static internals (public names are ember_* / EMBER_*):
 *   emberE_  error.c      the thread's last error message
 *   emberB_  alloc.c      growable byte buffers, the growth rule of arrays, little-endian loads/stores
 *   emberK_  checksum.c   CRC-32C
 *   emberH_  keyindex.c   the insertion-ordered hash index of the workers' grouping tables
 *   emberL_  tasklog.c    the task log: task attempts and stages for the web UI
 *   emberR_  record.c     the typed record format (public ember_value_* / ember_put_*; emberR_ helpers)
 *   emberO_  sort.c       the order of sort keys; stable sort, range lookup, k-way merge
 *   emberU_  combine.c    the combining table of native shuffles (encoded key -> encoded combiner)
 *   emberM_  blocks.c     the block store: cached partitions, shuffle-output registry
 *   emberW_  wire.c       the frame codec (wire.h)
 *   emberC_  codec.c      compressed streams (decoders; magic bytes)
 *   emberT_  textsplit.c  text splits and the line reader
 *   emberF_  shuffle.c    a bucket's raw ranges (cluster mode copies them between executors as they are)
 *   emberN_  native.c     naming native functions, native commands and specs, the portable hash
 *   emberV_  nworker.c    the native worker: its daemon, and the runner of a native task
 *   emberX_  workers.c    the worker daemon and pool; the transport interface
 *   emberP_  mpi.c        cluster mode: the MPI transport, the executor's network loop
 *   emberG_  graph.c      lineage nodes, the context's reference count
 *   emberA_  tasks.c      encoding a task (its input tree, commands, frames)
 *   emberS_  engine.c     the engine thread: planning, dispatch, frames from workers
 *   emberJ_  jobs.c       reserved: the job API, cancellation and stage info are public
 *                         (ember_job_*, ember_cancel_*); no internal names yet
 *   (none)   native_jobs.c  the C job API: public ember_* only
 */
#ifndef EMBER_INTERNAL_H
#define EMBER_INTERNAL_H

#include "ember.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* error.c: sets this thread's message for ember_last_error() and returns code. */
int emberE_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, appending ": strerror(errno_value)". */
int emberE_errno(int code, int errno_value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Frees this thread's message buffer; for threads of the engine's own, as they end. */
void emberE_thread_exit(void);

/* A growable byte buffer; owns its data. */
typedef struct emberB_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} emberB_buf;
/* Makes room for extra more bytes after b->len (growing by doubling, through emberB_grow).
 * Returns 0 or EMBER_ENOMEM (message set; b unchanged). */
int emberB_reserve(emberB_buf *b, size_t extra);
/* The one growth rule of libember's arrays: grows the array *(T **)parray of *cap
 * elements of elem bytes so that it holds at least need elements, doubling *cap (from
 * first when it is 0) until it does. Returns 0, or EMBER_ENOMEM with a message when
 * the size overflows or memory is short; the array and *cap are unchanged then. */
int emberB_grow(void *parray, size_t *cap, size_t need, size_t elem, size_t first);
int emberB_append(emberB_buf *b, const void *p, size_t n);
int emberB_put_u32(emberB_buf *b, uint32_t v);
int emberB_put_u64(emberB_buf *b, uint64_t v);
int emberB_put_str(emberB_buf *b, const char *s); /* u32 length + bytes */
void emberB_free(emberB_buf *b);

static inline void emberB_store_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t emberB_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void emberB_store_u64(uint8_t *p, uint64_t v) {
    emberB_store_u32(p, (uint32_t)v);
    emberB_store_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t emberB_load_u64(const uint8_t *p) {
    return (uint64_t)emberB_load_u32(p) | (uint64_t)emberB_load_u32(p + 4) << 32;
}
/* memcpy(d, s, n) for the short strings of records (words, small values): up to 16
 * bytes as two overlapping loads, then two stores, reading and writing only s[0, n)
 * and d[0, n) (so, up to 16 bytes, it is memmove); longer ones through memcpy. */
static inline void emberB_copy(uint8_t *d, const void *src, size_t n) {
    const uint8_t *s = src;
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n) {
        uint8_t a = s[0], b = s[n / 2], c = s[n - 1];
        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}
/* memcmp(a, b, n) == 0 for short strings, in the same way: 1 when equal. */
static inline int emberB_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n > 16) return memcmp(a, b, n) == 0;
    if (n >= 8) {
        uint64_t x0, x1, y0, y1;
        memcpy(&x0, a, 8);
        memcpy(&y0, b, 8);
        memcpy(&x1, a + n - 8, 8);
        memcpy(&y1, b + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4) {
        uint32_t x0, x1, y0, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* ---- sort.c: the order of sort keys (sub-prefix emberO_) ------------------------ */
enum emberO_kind { EMBER_KEY_INT, EMBER_KEY_FLOAT, EMBER_KEY_STR, EMBER_KEY_BYTES, EMBER_KEY_TUPLE, EMBER_KEY_OBJ };
enum { EMBER_KEY_LT, EMBER_KEY_EQ }; /* what a fallback is asked */

/* A decoded sort key. It borrows what it points at (str and bytes data, tuple items,
 * obj); whoever made it keeps those alive. */
typedef struct emberO_key {
    uint8_t kind;  /* enum emberO_kind */
    uint8_t width; /* STR: bytes per code unit, 1, 2 or 4 */
    uint32_t len;  /* STR: code units; BYTES: bytes; TUPLE: items */
    union {
        int64_t i;                      /* INT */
        double f;                       /* FLOAT, never NaN */
        const void *p;                  /* STR, BYTES */
        const struct emberO_key *items; /* TUPLE: len keys, none OBJ */
    } v;
    void *obj; /* the value the key was made from, handed to the fallback */
} emberO_key;

/* How keys whose kinds have no order of their own are compared: fallback(arg, a, b, op)
 * with the two keys (whose obj is what each was made from, or NULL for a key its
 * maker can rebuild the value of), op EMBER_KEY_LT or EMBER_KEY_EQ, returns 1 (true),
 * 0, or a negative error code, which stops whatever asked. */
typedef struct emberO_order {
    int (*fallback)(void *arg, const struct emberO_key *a, const struct emberO_key *b, int op);
    void *arg;
} emberO_order;

/* A key and what it sorts (a record). */
typedef struct emberO_item {
    emberO_key key;
    void *value;
} emberO_item;

/* 1 when a < b in Python's order, 0 when not, or the fallback's negative error. */
int emberO_less(const emberO_order *o, const emberO_key *a, const emberO_key *b);
/* Sorts items[0, n) by key, stably (equal keys keep their order, also descending).
 * Returns 0, EMBER_ENOMEM, or the fallback's error; the items are then a permutation
 * of the input. */
int emberO_sort(const emberO_order *o, emberO_item *items, size_t n, int descending);
/* *out = the first i in [0, n] with !(bounds[i] < x) over sorted bounds (Python's
 * bisect_left). Returns 0 or the fallback's error. */
int emberO_bisect_left(const emberO_order *o, const emberO_key *bounds, size_t n, const emberO_key *x, size_t *out);

/* A k-way merge of sorted sources: the caller holds each source's current key. */
typedef struct emberO_merge {
    const emberO_order *order;
    int descending;
    size_t nsources, n;     /* sources; those not yet exhausted (in the heap) */
    uint32_t *heap;         /* [n] sources, the next to take at heap[0] */
    const emberO_key **cur; /* [nsources] each source's current key, NULL when done */
} emberO_merge;
/* Returns 0 or EMBER_ENOMEM (m freed). */
int emberO_merge_init(emberO_merge *m, const emberO_order *o, int descending, size_t nsources);
/* Starts with keys[s], the first key of source s (NULL: s is empty). Returns 0 or an error. */
int emberO_merge_start(emberO_merge *m, const emberO_key *const *keys);
/* The source whose current key is next (ties: the lowest source), or -1 when all are done. */
int emberO_merge_top(const emberO_merge *m);
/* The top source moved on to key next (NULL: it is exhausted). Returns 0 or an error. */
int emberO_merge_advance(emberO_merge *m, const emberO_key *next);
void emberO_merge_free(emberO_merge *m);

/* ---- checksum.c ------------------------------------------------------------- */
/* CRC-32C of data, continuing from crc (0 to start). */
uint32_t emberK_crc32c(uint32_t crc, const void *data, size_t len);
/* The same by tables, on any CPU (what emberK_crc32c uses without SSE4.2). */
uint32_t emberK_crc32c_portable(uint32_t crc, const void *data, size_t len);

/* ---- keyindex.c: an insertion-ordered hash index ----------------------------- */
/* Maps 64-bit hashes to entry numbers of an array the caller keeps (in insertion
 * order); key equality is the caller's callback, except between two exact keys
 * (keys the caller knows to be equal exactly when their hashes are, e.g. small
 * ints). Entries are removed only all at once (emberH_clear). */
typedef struct emberH_slot {
    uint64_t hash;
    uint32_t entry; /* entry number + 1; 0: empty */
    uint32_t exact; /* 1: an exact key */
} emberH_slot;
typedef struct emberH_index {
    emberH_slot *slots;
    size_t mask;    /* slot count - 1 (a power of two minus one) */
    unsigned shift; /* 64 - log2(slot count): a hash's first slot is in its mixed top bits */
    size_t used;
} emberH_index;
/* eq(ctx, entry): 1 when entry's key is the one looked for, 0 when not, -1 on error. */
typedef int (*emberH_eq)(void *ctx, uint32_t entry);
/* An empty index. Returns 0 or EMBER_ENOMEM (message set). emberH_free releases it
 * (a freed or zeroed index is a no-op to free). */
int emberH_init(emberH_index *x);
void emberH_free(emberH_index *x);
/* The entry whose key has this hash and satisfies eq (or, when exact, is an exact
 * key with this hash: eq is not asked), or -1 when there is none (*slot is then
 * where emberH_insert puts it), or -2 when eq failed. */
int64_t emberH_find(const emberH_index *x, uint64_t hash, int exact, emberH_eq eq, void *ctx, size_t *slot);
/* Records entry (an exact key when exact) at the slot emberH_find gave (no other
 * insert in between); grows the index past two thirds full. Returns 0 or
 * EMBER_ENOMEM (the entry is in). */
int emberH_insert(emberH_index *x, size_t slot, uint64_t hash, int exact, uint32_t entry);
/* Forgets every entry, keeping the slots' memory. */
void emberH_clear(emberH_index *x);
/* Bytes the index holds. */
size_t emberH_bytes(const emberH_index *x);
/* ---- combine.c: the combining table of native shuffles ------------------------ */
/* Keys and values (encodings) of at most this many bytes together sit in the slot. */
#define EMBER_COMBINE_INLINE 24
#define EMBER_COMBINE_FAR 0xff /* the klen of a slot whose bytes are in the arena */
struct emberU_far {
    uint32_t koff, klen, voff, vlen, vcap; /* in the arena */
};
typedef struct emberU_entry {
    uint32_t h;   /* the low 32 bits of emberU_hash(key) */
    uint8_t klen; /* 0: an empty slot; 0xff: the bytes are in the arena (u.far); else inline */
    uint8_t vlen; /* inline: the value's length (its bytes follow the key's) */
    uint8_t pad[2];
    union {
        uint8_t bytes[EMBER_COMBINE_INLINE];
        struct emberU_far far;
    } u;
} emberU_entry;
typedef struct emberU_table {
    emberU_entry *slots; /* cap slots (a power of two), at most half used */
    void *slots_mem;     /* what to free: slots, aligned inside it */
    size_t cap, used;
    emberB_buf arena; /* the keys and values that do not fit a slot */
    uint32_t *order;  /* used slot indexes, in insertion order */
    size_t order_cap;
} emberU_table;
/* A 64-bit hash of bytes (not the portable hash: it never leaves the process). */
uint64_t emberU_hash(const uint8_t *p, size_t n);
/* A zeroed emberU_table is empty. emberU_reserve makes room for `keys` keys before
 * the table grows. 0 or EMBER_ENOMEM. */
int emberU_reserve(emberU_table *t, size_t keys);
/* Finds the key's entry (*found 1), or adds one with an empty value (*found 0). The
 * pointer is valid until the next emberU_find. 0, EMBER_ENOMEM or EMBER_EINVAL (an empty key). */
int emberU_find(emberU_table *t, const uint8_t *key, size_t klen, emberU_entry **out, int *found);
/* The same with the key's emberU_hash given; emberU_prefetch starts loading the slot
 * where a key of that hash is looked for first. */
int emberU_find_hashed(emberU_table *t, const uint8_t *key, size_t klen, uint64_t hash, emberU_entry **out, int *found);
static inline void emberU_prefetch(const emberU_table *t, uint64_t hash) {
    if (t->cap) __builtin_prefetch(&t->slots[(uint32_t)hash & (t->cap - 1)]);
}
/* The slot where the key with the low 32 bits h of its hash and bytes key[0, klen)
 * is, or the empty slot (klen 0) where it goes; the table has slots (cap > 0). Inline:
 * a caller finds keys already in the table without a call (emberU_find_hashed adds
 * the missing ones). */
static inline emberU_entry *emberU_probe(const emberU_table *t, uint32_t h, const uint8_t *key, size_t klen) {
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        emberU_entry *e = &t->slots[i];
        if (e->klen == 0) return e;
        if (e->h != h) continue;
        if (e->klen != EMBER_COMBINE_FAR
                ? e->klen == klen && emberB_equal(e->u.bytes, key, klen)
                : e->u.far.klen == klen && memcmp(t->arena.data + e->u.far.koff, key, klen) == 0)
            return e;
    }
}
/* Sets an entry's value to v[0, n) (copied). 0 or EMBER_ENOMEM. The common case (key
 * and value fit in the slot) inline; emberU_set_value_far does every case. */
int emberU_set_value_far(emberU_table *t, emberU_entry *e, const uint8_t *v, size_t n);
static inline int emberU_set_value(emberU_table *t, emberU_entry *e, const uint8_t *v, size_t n) {
    if (e->klen == EMBER_COMBINE_FAR || e->klen + n > EMBER_COMBINE_INLINE || n > 16)
        return emberU_set_value_far(t, e, v, n);
    emberB_copy(e->u.bytes + e->klen, v, n); /* memmove up to 16 bytes: v may be the slot's own */
    e->vlen = (uint8_t)n;
    return 0;
}
/* The bytes of an entry's key and value (valid until the table changes). */
static inline const uint8_t *emberU_key(const emberU_table *t, const emberU_entry *e, size_t *len) {
    if (e->klen != EMBER_COMBINE_FAR) {
        *len = e->klen;
        return e->u.bytes;
    }
    *len = e->u.far.klen;
    return t->arena.data + e->u.far.koff;
}
static inline const uint8_t *emberU_value(const emberU_table *t, const emberU_entry *e, size_t *len) {
    if (e->klen != EMBER_COMBINE_FAR) {
        *len = e->vlen;
        return e->u.bytes + e->klen;
    }
    *len = e->u.far.vlen;
    return t->arena.data + e->u.far.voff;
}
/* The i-th entry added (0 <= i < used). */
static inline emberU_entry *emberU_at(const emberU_table *t, size_t i) { return &t->slots[t->order[i]]; }
/* The next entry at or after *pos (start at 0), advancing *pos; NULL after the last.
 * In slot order, or in insertion order when the table is under an eighth full. */
emberU_entry *emberU_next(const emberU_table *t, size_t *pos);
/* Bytes its entries take (their share of the slots at half load, the arena); 0 once
 * cleared, though the table keeps its memory. */
static inline size_t emberU_bytes(const emberU_table *t) {
    return t->used * (2 * sizeof *t->slots + sizeof *t->order) + t->arena.len;
}
/* Empties the table (keeps its memory); frees it. */
void emberU_clear(emberU_table *t);
void emberU_free(emberU_table *t);
/* The process's spare table: emberU_keep leaves t's memory as the spare when its
 * slots take at most EMBER_COMBINE_SPARE bytes and outnumber the spare's (else frees
 * it); either way t is then a zeroed (empty) table. emberU_take makes t, a zeroed
 * table, the spare emptied (with its memory; the clearing is done here, so that the
 * end of a process's last task does not pay for it) or a zeroed table when there is
 * none; emberU_free_spare frees the spare's memory. The spare is counted by
 * ember_mem_used like any memory the engine holds. Thread-safe. */
#define EMBER_COMBINE_SPARE ((size_t)64 << 20)
void emberU_keep(emberU_table *t);
void emberU_take(emberU_table *t);
void emberU_free_spare(void);

/* ---- blocks.c: the block store ----------------------------------------------- */
#include <pthread.h>
#include <stdatomic.h>

/* The batches of one partition (parallelized data, a task's output, a cached block). */
typedef struct emberM_batches {
    ember_buf *bufs;
    size_t n, cap;
} emberM_batches;
int emberM_batches_push(emberM_batches *b, uint8_t *data, size_t len); /* takes data */
void emberM_batches_clear(emberM_batches *b);
uint64_t emberM_batches_bytes(const emberM_batches *b);

/* A cached partition in memory, shared by the store and the tasks sending it. */
typedef struct emberM_part {
    atomic_int refcnt;
    emberM_batches batches;
} emberM_part;
emberM_part *emberM_part_new(void);
void emberM_part_retain(emberM_part *p);
void emberM_part_release(emberM_part *p); /* NULL is a no-op */

typedef struct emberM_store {
    pthread_mutex_t mu;
    int ready;
    char *dir;               /* where block files go */
    struct emberM_rdd *rdds; /* persisted nodes */
    struct emberM_shuffle *shuffles;
    int64_t limit, reserve; /* the memory budget (see blocks.c); limit 0: none */
    uint64_t mem_bytes;     /* bytes of cached blocks in memory */
    uint64_t disk_bytes;    /* bytes of block files */
    uint64_t tick;          /* LRU clock */
    uint64_t evictions, bad_files;
    /* Told each map output file the store drops (after unlinking it here), and each
     * cached block an executor holds that the store drops (by the name
     * <dir>/e<rank>/rdd-<id>-<partition>.block), under mu; cluster mode's
     * emberP_drop_file removes it on the executor that holds it. */
    void (*on_drop)(void *arg, const char *path);
    void *on_drop_arg;
    /* Told each block that leaves memory to make room (where EMBERM_DISK: to its file;
     * EMBERM_GONE: dropped), under mu: an executor reports it to the driver. */
    void (*on_move)(void *arg, int id, size_t p, int where, uint64_t bytes);
    void *on_move_arg;
} emberM_store;

/* Where a block is kept, as BLOCK_STORED says it (wire.h's EMBER_BLOCK_*). */
enum { EMBERM_GONE = 0, EMBERM_MEMORY = 1, EMBERM_DISK = 2 };

/* Creates an empty store whose files go under dir, with no memory budget.
 * emberM_clear drops every block (and removes its files); emberM_destroy also frees
 * the store's own memory. */
int emberM_init(emberM_store *s, const char *dir);
void emberM_clear(emberM_store *s);
void emberM_destroy(emberM_store *s);
/* The memory budget: cached blocks in memory may use what the rest of the engine's
 * counted bytes (ember_mem_used) leave of `limit`, and at least `reserve` (both
 * bytes; limit 0: no budget). Takes effect at the next store or trim. */
void emberM_set_budget(emberM_store *s, int64_t limit, int64_t reserve);
/* Moves least-recently-used blocks out of memory until the budget holds again (the
 * rest of the engine grew). Returns 0, or EMBER_EIO when a block file could not be
 * written (the message names it and spark.local.dir). */
int emberM_trim(emberM_store *s);
/* A job starts: partitions dropped for want of room are wanted again, those that
 * would now fit beside their node's blocks in memory (others' can make room). */
void emberM_new_job(emberM_store *s);

/* Cached partitions. emberM_persist registers node id (nparts partitions) at a
 * storage level (EMBER_STORAGE_*; again: changes the level); fails only with
 * EMBER_ENOMEM. emberM_unpersist drops its blocks at once (returns 1 when it was
 * registered). emberM_level is 0 for a node not registered. */
int emberM_persist(emberM_store *s, int id, size_t nparts, int level);
int emberM_unpersist(emberM_store *s, int id);
int emberM_level(emberM_store *s, int id);
/* The cached partition in memory, retained for the caller, or NULL. */
emberM_part *emberM_get(emberM_store *s, int id, size_t p);
/* 1 with its block file's path in path[0, cap) when partition p of node id is held
 * in a file (not in memory), else 0. */
int emberM_file(emberM_store *s, int id, size_t p, char *path, size_t cap);
/* A task found block file `path` missing or damaged: forgets it (and removes it), so
 * the partition is wanted again. Returns 1 with the node's id and the partition in
 * *id, *part; 0 when no cached partition has that file. */
int emberM_block_lose(emberM_store *s, const char *path, int *id, size_t *part);
/* 1 when node id is registered and partition p should be computed and stored (not
 * held, and not dropped since the last emberM_new_job). */
int emberM_wants(emberM_store *s, int id, size_t p);
/* Where partition p of node id is held: -1 nowhere (not registered, not stored, or
 * dropped), 0 in this store (memory or file), else the rank of the executor holding
 * it (emberM_put_remote); *bytes its size. */
int emberM_where(emberM_store *s, int id, size_t p, uint64_t *bytes);
/* Stores partition p's batches if node id wants it, as its level and the budget say
 * (memory, evicting least-recently-used blocks of other nodes; else its block file;
 * else dropped). Always takes the batches (*batches is emptied). Fails with
 * EMBER_EIO when a block file could not be written (naming it and spark.local.dir),
 * or EMBER_ENOMEM. */
int emberM_put(emberM_store *s, int id, size_t p, emberM_batches *batches);
/* Cluster mode, the driver's store: executor `rank` keeps partition p of node id
 * (where EMBERM_MEMORY or EMBERM_DISK, bytes its size; EMBERM_GONE: it did not keep
 * it, which counts as dropped, as for emberM_put). The store records only where and
 * how big. A block not wanted (the node is not persisted, or the partition is held
 * here) is dropped on the executor (on_drop); a record at another rank is replaced
 * and that copy dropped. A partition an executor did not keep is wanted again only
 * after an unpersist (emberM_new_job weighs this store's room, not the executors').
 * Returns 1 when recorded. */
int emberM_put_remote(emberM_store *s, int id, size_t p, int rank, int where, uint64_t bytes);
/* Executor `rank` moved its block of partition p of node id out of memory (where
 * EMBERM_DISK, bytes its file's size) or dropped it (EMBERM_GONE: forgotten here, so
 * a later job caches it again). Ignored unless the store records it at that rank. */
void emberM_remote_moved(emberM_store *s, int id, size_t p, int rank, int where, uint64_t bytes);
/* Executor `rank` is lost: every block recorded there is forgotten (nothing to tell). */
void emberM_forget_rank(emberM_store *s, int rank);
/* The driver's name of a block executor `rank` holds: <dir>/e<rank>/rdd-<id>-<p>.block. */
void emberM_remote_path(const emberM_store *s, int id, size_t p, int rank, char *buf, size_t cap);
/* An executor's store: EMBERM_MEMORY, EMBERM_DISK or EMBERM_GONE (not held) for
 * partition p of node id, *bytes its size. */
int emberM_kept(emberM_store *s, int id, size_t p, uint64_t *bytes);
/* Drops partition p of node id (memory and file), whatever its level. */
void emberM_drop_block(emberM_store *s, int id, size_t p);
/* Fills out[0, max) with where each held partition of node id is, in partition
 * order; returns how many are held. */
size_t emberM_blocks(emberM_store *s, int id, ember_block_info *out, size_t max);
/* Fills out[0, max) with one entry per persisted node; returns how many there are. */
size_t emberM_status(emberM_store *s, ember_storage_info *out, size_t max);
typedef struct emberM_totals_t {
    uint64_t mem_bytes, disk_bytes, evictions, bad_files;
} emberM_totals_t;
void emberM_totals(emberM_store *s, emberM_totals_t *t);

/* Block files: EMBER_BLOCK_HEADER bytes ("EMBLOCK\0", u32 version, u32 batch count,
 * u64 payload length), the payload (u32 length + bytes per batch), u32 CRC-32C of the
 * payload. emberM_block_encode appends a partition's file to out;
 * emberM_block_decode checks data[0, len) whole and copies its batches into *out
 * (emptied on failure: EMBER_ECORRUPT naming `what`, or EMBER_ENOMEM). */
enum { EMBER_BLOCK_HEADER = 24, EMBER_BLOCK_VERSION = 1 };
int emberM_block_encode(const emberM_batches *b, emberB_buf *out);
int emberM_block_decode(const uint8_t *data, size_t len, const char *what, emberM_batches *out);
/* Reads block file path whole and decodes it (as above; EMBER_ENOENT when missing,
 * EMBER_EIO when unreadable, each naming the file and `what`). */
int emberM_block_read(const char *path, const char *what, emberM_batches *out);
/* Where partition p of node id's block file goes. */
void emberM_block_path(const emberM_store *s, int id, size_t p, char *buf, size_t cap);
/* Tests set this to an errno value (ENOSPC ...) to make block file writes fail. */
extern int emberM_write_fault;

/* The shuffle-output registry. emberM_shuffle_put records map output `map` of
 * shuffle id (nmaps x nparts buckets): its file and each bucket's byte count,
 * replacing (and removing) an earlier file for the same map. */
int emberM_shuffle_put(emberM_store *s, int id, size_t nmaps, size_t nparts, size_t map, const char *path,
                       const uint64_t *bucket_bytes);
void emberM_shuffle_set_done(emberM_store *s, int id);
int emberM_shuffle_done(emberM_store *s, int id);
/* The files whose bucket `bucket` is not empty, copied (free with emberM_paths_free). */
int emberM_shuffle_buckets(emberM_store *s, int id, size_t bucket, char ***paths, size_t *npaths);
void emberM_paths_free(char **paths, size_t n);
/* The bytes bucket `bucket` of shuffle id holds over all registered map outputs. */
uint64_t emberM_shuffle_bucket_bytes(emberM_store *s, int id, size_t bucket);
/* Calls fn(arg, path, bytes) for each map output of shuffle id with bytes in bucket
 * `bucket`, under the store's lock (fn must not call the store). */
void emberM_shuffle_bucket_visit(emberM_store *s, int id, size_t bucket,
                                 void (*fn)(void *arg, const char *path, uint64_t bytes), void *arg);
/* Removes shuffle id's files and entry: 1 when it had output, else 0. */
int emberM_shuffle_remove(emberM_store *s, int id);
/* A reader found `path` bad or missing: forgets (and removes) that map output, so
 * the shuffle is no longer done and only that map task runs again. Returns 1 with
 * the shuffle's id and the map in *id, *map; 0 when no shuffle has that file. */
int emberM_shuffle_lose(emberM_store *s, const char *path, int *id, size_t *map);
/* 1 when map output `map` of shuffle id is registered. */
int emberM_shuffle_has(emberM_store *s, int id, size_t map);

/* ---- tasklog.c: the task log (ember.h's ember_task_info, ember_stage_record) ---- */
typedef struct emberL_task {
    ember_task_info info;
    char *error; /* owned; NULL when none (or dropped) */
} emberL_task;

typedef struct emberL_log {
    pthread_mutex_t mu;
    emberL_task *tasks; /* ring: logical entry i at (thead + i) % tcap, ids ascending */
    size_t tcap, tmax, thead, tn;
    ember_stage_record *stages; /* ring, the same way */
    size_t scap, smax, shead, sn;
    size_t error_bytes; /* bytes of the error texts held */
    size_t error_scan;  /* logical index before which no entry holds an error */
    uint64_t changes;   /* grows with each stage logged or ended and each attempt ended */
} emberL_log;

/* CLOCK_REALTIME milliseconds, the log's times. */
int64_t emberL_now_ms(void);
/* An empty log with the default retention; emberL_destroy frees what it holds. */
void emberL_init(emberL_log *log);
void emberL_destroy(emberL_log *log);
/* Sets the retention (at least 1 each), dropping every entry logged so far. */
void emberL_retain(emberL_log *log, size_t tasks, size_t stages);
/* Appends a stage (ids ascending); sets its attempt; ends it (status EMBER_STAGE_*),
 * which ends its attempts still running as EMBER_TASK_KILLED. */
void emberL_stage_begin(emberL_log *log, const ember_stage_record *rec);
void emberL_stage_attempt(emberL_log *log, int stage_id, int attempt);
void emberL_stage_end(emberL_log *log, int stage_id, int status, int64_t now_ms);
/* Appends an attempt (ids ascending; status RUNNING, has_error ignored); drops the
 * last one appended when it is task_id (an attempt that never reached its worker);
 * ends one still running: its figures known at the end (output_bytes,
 * shuffle_write_bytes and the worker's counts, records_read ... disk_bytes_spilled)
 * are copied from `end` (NULL: none, all 0), the error text too (may be NULL). */
void emberL_task_begin(emberL_log *log, const ember_task_info *info);
void emberL_task_drop(emberL_log *log, uint64_t task_id);
void emberL_task_end(emberL_log *log, uint64_t task_id, int status, int64_t now_ms, const ember_task_info *end,
                     const char *error);
/* The readers behind ember_task_infos, ember_task_error, ember_stage_records,
 * ember_tasklog_changes. */
size_t emberL_tasks(emberL_log *log, int stage_id, ember_task_info *out, size_t max);
size_t emberL_error(emberL_log *log, uint64_t task_id, char *buf, size_t cap);
size_t emberL_stages(emberL_log *log, ember_stage_record *out, size_t max);
uint64_t emberL_changes(emberL_log *log);

/* error.c: the thread's message behind ember_last_error() (NULL until one is set);
 * emberE_clear empties it as ember_clear_error does, inline (a native worker clears
 * it before every call of a native function). */
extern _Thread_local char *emberE_message __attribute__((visibility("hidden")));
static inline void emberE_clear(void) {
    if (emberE_message) emberE_message[0] = 0;
}

/* record.c: 1 when s[0, n) is well-formed UTF-8. */
int emberR_utf8_valid(const uint8_t *s, size_t n);
/* An int of up to four varint bytes (-2**27 <= i < 2**27: tag 0x03, its zigzag varint)
 * at the start of p[0, len), the commonest value (a count): 1 with *v filled as
 * ember_value_decode fills it (v->enc_len: the bytes it takes), else 0 (anything else,
 * bad bytes too, is left to the general decoder). */
static inline int emberR_small_int(const uint8_t *p, size_t len, ember_value *v) {
    if (len < 2 || p[0] != 0x03) return 0;
    uint64_t n = 0;
    size_t i = 1;
    for (;; i++) {
        if (i == len || i == 5 || (i > 1 && p[i] == 0)) return 0; /* truncated, long or overlong */
        n |= (uint64_t)(p[i] & 0x7f) << (7 * (i - 1));
        if (!(p[i] & 0x80)) break;
    }
    *v = (ember_value){.type = EMBER_INT, .i = (int64_t)(n >> 1) ^ -(int64_t)(n & 1), .enc = p, .enc_len = i + 1};
    return 1;
}
/* 1 when s[0, n) is ASCII (n small: the common key, a word). */
static inline int emberR_short_ascii(const uint8_t *s, size_t n) {
    if (n >= 8) { /* 8 bytes at a time, the last 8 overlapping */
        uint64_t acc = 0, w;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        return !((acc | w) & 0x8080808080808080ull);
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return !((a | b) & 0x80808080u);
    }
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++)
        any |= s[i];
    return any < 0x80;
}
/* A 2-tuple of a short ASCII str (under 32 bytes) and a small int (emberR_small_int)
 * at the start of p[0, len) — a word and its count: returns its length, with the key's
 * encoding at p + 2 (*klen bytes) and the int in *v as emberR_small_int fills it; else
 * 0 (anything else, bad bytes too, is left to emberR_decode_pair). */
static inline size_t emberR_small_pair(const uint8_t *p, size_t len, size_t *klen, ember_value *v) {
    if (len < 6 || p[0] != 0x08 || p[1] != 2 || p[2] != 0x06 || p[3] >= 32) return 0;
    size_t n = p[3];
    if (len - 4 < n + 2 || !emberR_short_ascii(p + 4, n) || !emberR_small_int(p + 4 + n, len - 4 - n, v)) return 0;
    *klen = 2 + n;
    return 4 + n + v->enc_len;
}
/* Decodes and checks the record at p[0, len) as ember_value_decode does; when it is a
 * (key, value) pair (a 2-tuple or 2-list) returns 1 with its items in *k and *v too
 * (saving ember_value_next's second pass), else 0 (only *rec filled), or EMBER_ECORRUPT. */
int emberR_decode_pair(const uint8_t *p, size_t len, ember_value *rec, ember_value *k, ember_value *v, size_t *used);

/* ---- shuffle.c: a bucket's raw ranges (the file format atop shuffle.c) ------------ */
/* One segment's bytes of one bucket in a shuffle file: where, how many, their CRC-32C
 * as the index says. */
typedef struct emberF_range {
    uint64_t off, len;
    uint32_t crc;
} emberF_range;
/* Opens the shuffle file at path and lists bucket's non-empty ranges, after checking
 * the trailer and the index as ember_shuffle_reader does; the bytes are not read (the
 * reader of a copy checks them against the CRCs). Returns 0 with *fd open on the file
 * (the caller closes it) and *ranges (ember_free; NULL when *n is 0), or a negative
 * code with a message (EMBER_ENOENT, EMBER_ECORRUPT, EMBER_EINVAL for a bucket out
 * of range), *fd -1 and nothing to free. */
int emberF_bucket_ranges(const char *path, uint32_t bucket, int *fd, emberF_range **ranges, size_t *n);
/* Writes a range of another shuffle file as it stands: starts a segment of w that
 * holds len bytes of `bucket` only, with CRC-32C crc in the index (taken on trust:
 * whoever reads the file checks it); its bytes follow with emberF_writer_raw, in as
 * many pieces as come. Records buffered before are written out first; none may be
 * appended, nor another segment begun, until the len bytes are in (EMBER_EPROTO),
 * and commit fails on a segment that lacks bytes. Returns 0 or a negative code with a
 * message; a failed write breaks w (then only abort). */
int emberF_writer_segment(ember_shuffle_writer *w, uint32_t bucket, uint64_t len, uint32_t crc);
int emberF_writer_raw(ember_shuffle_writer *w, const void *p, size_t n);

/* ---- native.c: native functions, commands and specs (layouts atop native.c) ---- */
#include "wire.h"

#define EMBER_NATIVE_CMD_MAGIC "EMNC"
#define EMBER_NATIVE_SPEC_MAGIC "EMNS"
#define EMBER_NATIVE_VERSION 1
/* The steps of native commands. MERGE: the reduce side of combineByKey (merges the
 * combiners of each key); COUNT, FOREACH, SAVE_TEXT end a partition for an action. */
enum {
    EMBER_NOP_MAP = 1,
    EMBER_NOP_FLATMAP,
    EMBER_NOP_FILTER,
    EMBER_NOP_PARTITIONS,
    EMBER_NOP_MERGE,
    EMBER_NOP_COUNT,
    EMBER_NOP_FOREACH,
    EMBER_NOP_SAVE_TEXT
};
/* Flags of a native shuffle spec: which functions it has (partitioner, createCombiner,
 * mergeValue, mergeCombiners), and whether the map side combines. */
enum {
    EMBER_NSPEC_PARTITION = 1,
    EMBER_NSPEC_CREATE = 2,
    EMBER_NSPEC_MERGE_VALUE = 4,
    EMBER_NSPEC_MERGE_COMBINERS = 8,
    EMBER_NSPEC_COMBINE = 16,
    EMBER_NSPEC_HAS_MERGE = 4 | 8,
    EMBER_NSPEC_ALL = 31
};

/* A function's offset that says: look its name up (dlsym) in the library, up to the
 * first space of the name (a Python driver names functions without loading them). */
#define EMBER_NATIVE_BY_SYMBOL UINT64_MAX

/* A function as the driver names it (owned strings). */
typedef struct emberN_fnref {
    char *module;    /* "" for the executable, else the shared library's path */
    uint64_t offset; /* from the object's load address */
    char *name;      /* for messages */
} emberN_fnref;
/* The same, decoded from a command (borrowed bytes). */
typedef struct emberN_fn {
    emberW_bytes module, name;
    uint64_t offset;
} emberN_fn;
typedef struct emberN_op {
    uint32_t kind;    /* EMBER_NOP_* */
    emberN_fn fn;     /* empty for COUNT and SAVE_TEXT */
    emberW_bytes arg; /* SAVE_TEXT: the output directory; MERGE: its memory limit in bytes (decimal), or empty */
} emberN_op;
typedef struct emberN_spec {
    uint32_t flags;   /* EMBER_NSPEC_* */
    emberN_fn fns[4]; /* partition, create, merge_value, merge_combiners */
} emberN_spec;

/* Names fn (label: its name in messages; NULL: its symbol). EMBER_EINVAL when fn is
 * in no loaded file. Free with emberN_fnref_free. */
int emberN_fn_name(void *fn, const char *label, emberN_fnref *out);
void emberN_fnref_free(emberN_fnref *f);
/* Finds a named function in this process (loading its library when needed); a
 * function of the executable only when allow_main. */
int emberN_resolve(const emberN_fn *fn, int allow_main, void **out);
int emberN_op_encode(emberB_buf *b, uint32_t kind, const emberN_fnref *fn, const char *arg);
int emberN_spec_encode(emberB_buf *b, uint32_t flags, const emberN_fnref *fns[4]);
/* 1 when a command or spec is native (starts with a native magic). */
int emberN_is_native(const void *p, size_t len);
/* Decoders: 0, or EMBER_EPROTO naming the field. Fields borrow from p. */
int emberN_op_decode(const void *p, size_t len, emberN_op *op);
int emberN_spec_decode(const void *p, size_t len, emberN_spec *spec);
/* The portable hash of a value (what Python's portable_hash gives its object);
 * EMBER_EINVAL for a list or dict (unhashable). */
int emberN_hash(const ember_value *v, int64_t *out);
/* SipHash-1-3 with the key (0, 0): CPython's str and bytes hash with PYTHONHASHSEED=0. */
uint64_t emberN_siphash13(const uint8_t *p, size_t n);
/* Appends raw bytes to a writer (0 or its error). */
int emberN_append(ember_writer *w, const void *p, size_t n);

/* ---- nworker.c: the native worker ------------------------------------------------ */
typedef struct emberV_stream {
    ember_buf *bufs;
    size_t n, cap;
} emberV_stream;
typedef struct emberV_env {
    int out_fd;             /* the result pipe: DATA, TASK_DONE, TASK_ERROR frames */
    emberV_stream *streams; /* the task's data streams, read whole */
    size_t nstreams;
    const emberW_bytes *(*command)(void *arg, uint64_t id); /* a command's bytes by id, or NULL */
    void *arg;
    int allow_main;                  /* functions of the executable may be resolved */
    int check_inputs;                /* first check that shuffle inputs hold typed batches */
    struct shuffle_iter *shuffle_in; /* internal to emberV_run */
    char *fetch_failed;
    uint64_t metrics[EMBER_METRICS]; /* the running task's counts (wire.h's EMBER_METRIC_*), sent with TASK_DONE */
} emberV_env;
/* Runs one task of native steps and answers it on env->out_fd (TASK_DONE,
 * TASK_ERROR or FETCH_FAILED). Returns 0, or EMBER_EIO when the answer could not be
 * written; with check_inputs, EMBER_NATIVE_PICKLED_INPUT (nothing sent) when a
 * shuffle input holds pickled batches (a Python worker then runs the task itself). */
#define EMBER_NATIVE_PICKLED_INPUT 1
int emberV_run(emberV_env *env, const emberW_task *task);
/* For a process that runs tasks with emberV_run outside the native worker (a Python
 * worker): installs the crash handlers that report a native function's crash on
 * result_fd (closing task_fd first), saving the handlers they replace;
 * emberV_crash_restore puts those back. */
void emberV_crash_install(int task_fd, int result_fd);
void emberV_crash_restore(void);
/* Calls the mapPartitions function fn (its label `name`, for a crash report) over the
 * records at records[0, len) (encoded one after another and checked), writing to out:
 * the function's code (out->err when it returned 0 but a write failed). */
int emberV_call_partitions(void *fn, const char *name, const uint8_t *records, size_t len, ember_writer *out);
/* Names the native function about to run (NULL: none runs), for the crash report. */
void emberV_crash_running(const char *name);
/* The environment variable that makes a program run as the native daemon. */
#define EMBER_NATIVE_DAEMON_VAR "EMBER_NATIVE_DAEMON"
/* Does nothing; a program that starts the native daemon calls it, so that a static
 * link keeps nworker.c and its constructor (the daemon's entry). */
void emberV_link(void);

/* ---- workers.c: the Python worker daemon and the pool of workers ------------ */
#include "wire.h"
#include <pthread.h>
#include <sys/types.h>

typedef struct emberX_outframe {
    uint8_t hdr[EMBER_WIRE_HEADER];
    const uint8_t *payload; /* borrowed, or == owned */
    uint8_t *owned;
    size_t len;
    size_t off; /* bytes of header + payload already written */
} emberX_outframe;

typedef struct emberX_worker {
    int alive;
    pid_t pid;
    int to_fd, from_fd; /* engine side: task pipe (write), result pipe (read) */
    uint64_t *sent;     /* ids of the commands this worker holds */
    size_t nsent, capsent;
    emberX_outframe *outq; /* frames not yet written, from outq_head */
    size_t outq_head, outq_len, outq_cap;
    emberW_parser in;
    void *task; /* the scheduler's running task, or NULL */
    int remote; /* 0: a process of this machine's daemon; else the executor rank it runs on (its pid not ours) */
} emberX_worker;

typedef struct emberX_pool emberX_pool;
/* The transport: how the engine reaches the workers of its task slots. The engine
 * sees the same thing either way, a worker's two pipes of wire.h frames:
 * - in-process (emberX_in_process, local mode): the context's own daemon forks the
 *   workers on this machine and hands over their pipes;
 * - MPI (mpi.c, cluster mode): the workers run on executor ranks; the pipes end in
 *   the network thread, which relays their bytes (mpi.c says how).
 * worker_start fills w (alive, pid, to_fd, from_fd) or fails with a negative code;
 * worker_status says how w's worker ended (as emberX_worker_status); failure (may be
 * NULL) is 1 with a message when the transport lost what every job needs (an
 * executor), so the engine fails its jobs; stop ends every worker and the rest;
 * discard (may be NULL: nothing to do) hears, before the engine kills w, that the
 * cache task w runs is given up before the engine took its block (as
 * emberX_worker_discard). */
typedef struct emberX_transport {
    const char *name;
    int (*worker_start)(emberX_pool *pool, emberX_worker *w);
    int (*worker_status)(emberX_pool *pool, emberX_worker *w, int *status, char *text, size_t cap);
    int (*failure)(emberX_pool *pool, char *msg, size_t cap);
    void (*stop)(emberX_pool *pool);
    void (*discard)(emberX_pool *pool, emberX_worker *w);
} emberX_transport;
extern const emberX_transport emberX_in_process;

struct emberX_pool {
    const emberX_transport *transport; /* NULL: emberX_in_process */
    void *net;                         /* the transport's state (mpi.c) */
    pid_t daemon_pid;
    int ctl_fd;
    size_t nworkers;
    emberX_worker *workers;
    const ember_config *cfg; /* borrowed from the context: to start a new daemon */
    const char *tmpdir;
    pthread_mutex_t *note_mu; /* guards restarts and restart_note (the context's mu) */
    int restarts;             /* daemons started to replace one that died */
    char restart_note[512];   /* what happened at the last restart */
    int status_timeout_ms;    /* how long emberX_worker_status waits for the daemon (0: 5000) */
    /* The answer to a status request ('S') that emberX_worker_status stopped waiting
     * for: read, and dropped, before the next request, so that a late answer is never
     * taken for the answer to another request. */
    struct {
        int pending;
        uint8_t head[8]; /* i32 wait status, u32 traceback length */
        size_t head_got;
        uint32_t body_left;
    } late;
};

/* Spawns the daemon (ember.daemon, see DAEMON_BOOT) in its own process group; keeps
 * cfg and tmpdir (borrowed) to replace it should it die. */
int emberX_pool_start(emberX_pool *pool, const ember_config *cfg, const char *tmpdir);
/* Spawns the daemon of cfg as emberX_pool_start would, but with "-" for its temp dir:
 * it reads the temp dir from the control socket (*fd) once a pool takes it
 * (emberX_pool_adopt). ember.context does the same in Python (ember._early), to start
 * the daemon before the driver has imported _core. */
int emberX_daemon_spawn(const ember_config *cfg, pid_t *pid, int *fd);
/* Ends a daemon spawned so that no pool took: closes fd, kills and reaps pid (<= 0:
 * none). */
void emberX_daemon_discard(pid_t pid, int fd);
/* As emberX_pool_start, taking the daemon pid (<= 0: none) with control socket fd,
 * spawned ahead with "-" for its temp dir: when /proc shows it runs the command line
 * and the environment emberX_pool_start would give it, it is sent tmpdir and becomes
 * the pool's; otherwise it is ended and a new one spawned. Takes pid and fd over
 * either way. */
int emberX_pool_adopt(emberX_pool *pool, const ember_config *cfg, const char *tmpdir, pid_t pid, int fd);
/* How w's worker ended, asked of its transport (locally: of the daemon, which reaps
 * it): its wait status in *status (-1 while it still runs after two seconds, -2 when
 * the daemon does not know it), and the last Python traceback it wrote in text
 * (NUL-terminated, at most cap bytes; "" when none). Returns 0, or EMBER_ESPAWN when
 * the daemon does not answer within status_timeout_ms (its answer is then dropped when
 * it comes, before the next request) or has not yet answered such a request from
 * before. */
int emberX_worker_status(emberX_pool *pool, emberX_worker *w, int *status, char *text, size_t cap);
/* 1 with a message in msg when the pool's transport lost what every job needs. */
int emberX_pool_failure(emberX_pool *pool, char *msg, size_t cap);
/* "killed by signal 11 (SIGSEGV)", "exited with status 1" ... for a wait status. */
void emberX_describe_status(int status, char *buf, size_t cap);
/* Kills every worker, ends the daemon and waits for it (and stops the transport). */
void emberX_pool_stop(emberX_pool *pool);
/* Asks the transport (locally: the daemon) for a new worker process in slot w (which
 * must not be alive). */
int emberX_worker_start(emberX_pool *pool, emberX_worker *w);
/* SIGKILLs the worker, closes its pipes, drops its queues; the slot can be restarted. */
void emberX_worker_kill(emberX_worker *w);
/* Called before emberX_worker_kill(w) when w runs a cache task whose block the engine
 * has not taken (no BLOCK_STORED read): a transport whose executors keep blocks
 * (cluster mode) has w's executor drop that block should it have kept it already
 * (its BLOCK_STORED on the way), so that no block stays on an executor without the
 * driver's record of it. Locally nothing: the engine keeps blocks only once taken. */
void emberX_worker_discard(emberX_pool *pool, emberX_worker *w);
int emberX_worker_has(const emberX_worker *w, uint64_t cmd_id);
int emberX_worker_note(emberX_worker *w, uint64_t cmd_id);
void emberX_worker_unnote(emberX_worker *w, uint64_t cmd_id);
/* Queues a frame; the payload is copied when `copy`, else borrowed until written. */
int emberX_queue(emberX_worker *w, uint32_t type, const void *payload, size_t len, int copy);
/* Writes what the pipe takes without blocking. Returns 0, or EMBER_EWORKER when the
 * worker's pipe is closed. */
int emberX_flush(emberX_worker *w);
static inline int emberX_pending(const emberX_worker *w) { return w->outq_head < w->outq_len; }

/* ---- mpi.c: cluster mode (the MPI transport, the executor's network loop) ------ */
/* The messages between the network threads of the driver and the executors (their
 * layout atop mpi.c). */
enum {
    EMBER_MPI_HELLO = 1,
    EMBER_MPI_START,
    EMBER_MPI_STARTED,
    EMBER_MPI_START_FAILED,
    EMBER_MPI_DATA,
    EMBER_MPI_CREDIT,
    EMBER_MPI_CLOSE,
    EMBER_MPI_ENDED,
    EMBER_MPI_BEAT,
    EMBER_MPI_QUIT,
    EMBER_MPI_FETCH,
    EMBER_MPI_FETCHED,
    EMBER_MPI_REMOVE,
    EMBER_MPI_PUT,
    EMBER_MPI_RANGE,
    EMBER_MPI_LAST = EMBER_MPI_RANGE
};
/* The decoder's bound on a message: one frame's bytes and a header (the network
 * threads send pieces of 1 MiB at most). */
#define EMBER_MPI_HEADER 9
#define EMBER_MPI_MAX_MSG ((size_t)EMBER_WIRE_MAX_FRAME + 64)
typedef struct emberP_msg {
    int type;
    uint32_t slot, gen;
    uint32_t num;        /* HELLO: slots; STARTED: pid; ENDED: wait status; QUIT, CLOSE, FETCHED, PUT: flags;
                            FETCH: bucket; RANGE: CRC-32C */
    uint64_t u64;        /* HELLO: pid; CREDIT: bytes; RANGE: length */
    const uint8_t *rest; /* HELLO: host; START_FAILED: error; DATA: bytes; ENDED: traceback; FETCH: a path;
                            FETCHED: bytes of a bucket's range or of a file, or the error; REMOVE: a path; PUT: a
                            name, NUL, bytes; RANGE: the range's first bytes */
    size_t nrest;
} emberP_msg;
/* Appends m's bytes to out: 0, EMBER_EINVAL (unknown type, too long) or EMBER_ENOMEM. */
int emberP_msg_encode(const emberP_msg *m, emberB_buf *out);
/* Decodes p[0, len) whole into *m (rest borrows from p): 0, or EMBER_EPROTO naming
 * what is wrong (length, unknown type, fixed part of the wrong size). */
int emberP_msg_decode(const uint8_t *p, size_t len, emberP_msg *m);
/* The driver (rank 0): loads the MPI shim at `shim`, starts the network thread, waits
 * for every executor's HELLO and replaces pool's workers with their slots (rank 1's
 * first), reached through the MPI transport; engine_wake is written when an executor
 * is lost. Returns 0 or a negative code with a message. */
int emberP_driver_start(emberX_pool *pool, const char *shim, int engine_wake);
/* The block store dropped the map output at `path` (a pool's transport as arg):
 * when an executor holds it (the driver's name .../e<rank>/shuffle-...), that
 * executor is told to remove its file. Called from any thread; takes no lock of the
 * caller's. emberM_store's on_drop in cluster mode. */
void emberP_drop_file(void *pool, const char *path);
/* Cluster mode's driver: the network state, held for emberP_share (the caller holds
 * the context's mu, so that the transport cannot stop meanwhile); NULL in local mode
 * or on an executor. */
void *emberP_share_hold(emberX_pool *pool);
/* Copies the driver's file <dir>/<name> (name relative, as emberP_share_name_ok
 * says) to <its temp dir>/<name> on every executor, or with remove, removes those
 * copies; releases the hold. Returns once every message is handed to MPI, which
 * keeps them in order before any later task's: 0, or a negative code naming the file
 * (unreadable, a bad name, an executor lost). */
int emberP_share(void *held, const char *dir, const char *name, int remove);
/* 1 when name is a relative path without empty, "." or ".." parts. */
int emberP_share_name_ok(const char *name);
/* The executors pool's transport knows (rank order), as ember_context_executors. */
size_t emberP_executors(emberX_pool *pool, ember_executor_info *out, size_t max);
/* An executor: relays the driver's slots to pool's workers (its own daemon's) in this
 * thread until the driver says QUIT, keeping the partitions its cache tasks make in a
 * block store of its own (budget memory_limit and storage_reserve, as emberM_set_budget;
 * files in pool's temp dir). Returns 0, or a negative code when MPI did not start. */
int emberP_executor_run(emberX_pool *pool, const char *shim, int64_t memory_limit, int64_t storage_reserve);
/* The driver: the context's block store, whose records of a lost executor's blocks go. */
void emberP_watch_blocks(emberX_pool *pool, emberM_store *blocks);
/* 1 with the executor's rank and the file's name (pointing into path) when path is a
 * file a cluster-mode engine named as held by an executor (<tmpdir>/e<rank>/<name>:
 * a map output shuffle-..., a cached block rdd-...); else 0. */
int emberP_file_owner(const char *path, int *rank, const char **name);

/* ---- graph.c: lineage nodes ----------------------------------------------- */

enum emberG_kind {
    EMBER_NODE_PARALLEL = 1,
    EMBER_NODE_TEXT,
    EMBER_NODE_RANGE,
    EMBER_NODE_PIPELINE,
    EMBER_NODE_SHUFFLE,
    EMBER_NODE_UNION,
    EMBER_NODE_COALESCE,
    EMBER_NODE_ZIP,
    EMBER_NODE_CARTESIAN
};

/* What a node is; immutable once built, but for the barrier and drop_after_shuffle
 * flags and walk_mark. Its blocks (cache, shuffle output) live in the context's block
 * store, by id. */
struct ember_node {
    atomic_int refcnt;
    int kind;
    int id;
    ember_context *ctx;
    size_t nparts;
    ember_node **parents;
    size_t nparents;
    /* PIPELINE: the command; SHUFFLE: the spec. Both travel to workers once each. */
    uint64_t cmd_id;
    uint8_t *cmd;
    size_t cmd_len;
    emberM_batches *data; /* PARALLEL: per partition */
    ember_split *splits;  /* TEXT: one per partition */
    int as_bytes;
    int64_t rstart, rstep; /* RANGE: partition p is elements [bounds[p], bounds[p+1]) */
    int64_t *bounds;
    size_t *groups;     /* COALESCE: partition i is parent partitions [groups[i], groups[i+1]) */
    unsigned walk_mark; /* under mu: the last lineage walk that visited it */
    int barrier;        /* under mu: a stage computing it is a barrier stage */
    /* under mu: its blocks go once a shuffle reading it has its map output */
    int drop_after_shuffle;
};

struct ember_context {
    atomic_int refcnt; /* the owner's reference plus one per live node */
    ember_config cfg;  /* strings owned */
    char *tmpdir;
    pthread_mutex_t mu; /* ids, the forget list, jobs' shared state, stage counters */
    int stopped;
    emberM_store blocks; /* cached partitions and shuffle outputs (its own lock) */
    emberL_log tasklog;  /* task attempts and stages for the web UI (its own lock) */
    emberX_pool pool;    /* owned by the engine thread */
    pthread_t engine;    /* the engine thread (engine.c) */
    int engine_started;
    int wake[2];                 /* a byte written here wakes the engine thread */
    struct ember_job *incoming;  /* submitted, not yet taken by the engine (under mu) */
    struct ember_job *running;   /* taken by the engine (list under mu) */
    struct emberS_stage *stages; /* running stages (list under mu, for ember_active_stages) */
    ember_stage_info *history;   /* finished stages, a ring of EMBER_STAGE_HISTORY (under mu) */
    size_t nhistory, history_next;
    int next_job_id;
    int next_node_id;
    uint64_t next_cmd_id;
    uint64_t next_attempt_id;
    int next_stage_id;
    unsigned next_walk; /* lineage walks (ember_node_clean_shuffle), under mu */
    uint64_t *forget;   /* command ids of released nodes, to drop from workers */
    size_t nforget, capforget;
    int track_freed; /* under mu: keep ids of freed nodes for ember_context_freed_nodes */
    int *freed;      /* under mu: ids of nodes freed and not yet taken */
    size_t nfreed, capfreed;
};

/* Takes one more reference to the context (for a caller that reads it while another
 * thread may call ember_context_free: its memory stays, stopped, until the release);
 * drops one, the last frees its memory (ember_context_free has stopped everything else
 * by then). */
void emberG_context_retain(ember_context *ctx);
void emberG_context_release(ember_context *ctx);
/* 1 when target is n or in its lineage. Each node is visited once per walk (marked
 * with `walk`, a fresh ctx->next_walk), so shared ancestors cost nothing twice.
 * Caller holds ctx->mu. */
int emberG_lineage_holds(ember_node *n, const ember_node *target, unsigned walk);

/* ---- tasks.c, engine.c, jobs.c: the scheduler -------------------------------- */

enum emberS_stage_kind { STAGE_RESULT, STAGE_SHUFFLE, STAGE_CACHE };
enum emberS_task_state { TASK_PENDING, TASK_RUNNING, TASK_DONE };

#define EMBER_PREFER_MAX 5 /* executors a task prefers: each holds a fifth of its input */

typedef struct emberS_task {
    size_t part;  /* partition of the stage's node (for a shuffle: of its parent) */
    size_t index; /* result stage: the job's result partition this task makes */
    int state;
    int attempts; /* attempts started so far */
    emberX_worker *w;
    uint64_t attempt_id;
    emberM_batches out; /* DATA frames received */
    uint64_t out_bytes; /* their bytes, counted against max_result_size */
    uint64_t *bucket_bytes;
    emberM_part **sending; /* cached partitions this attempt is sending */
    size_t nsending;
    int place;                    /* where the last attempt ran: 0 here, else an executor's rank */
    int prefer[EMBER_PREFER_MAX]; /* cluster mode: the executors holding much of its input, most first */
    int nprefer;                  /* how many (0: none) */
    int prefer_wait;              /* 1: it waits (up to locality_wait_ms) for prefer[0] */
    int prefer_known;             /* prefer was computed (emberA_preferred_places) */
    double pending_ms;            /* when dispatch first saw it pending: its locality wait runs from then */
    int stored;                   /* cache task: its executor kept the block (BLOCK_STORED), for this attempt */
    uint64_t stored_bytes;        /* its size there */
    char *error;                  /* the last failure */
    uint64_t input_bytes, shuffle_read_bytes; /* what the current attempt reads (tasks.c) */
} emberS_task;

typedef struct emberS_stage {
    struct emberS_stage *next;     /* in ctx->stages */
    struct emberS_stage *job_next; /* in its job's stages, oldest first */
    int id;
    int kind;
    ember_node *target;   /* result/cache: the node computed; shuffle: the shuffle node */
    ember_node *computed; /* the node whose partitions the tasks compute */
    struct ember_job *job;
    emberS_task *tasks;
    size_t ntasks, ndone, nrunning, nfailed;
    double submitted_ms;
    int barrier; /* a barrier stage: all tasks run at once, fail and retry together */
    int attempt; /* barrier stage: attempts started over (0 for the first) */
} emberS_stage;

struct ember_job {
    struct ember_job *next; /* in ctx->incoming or ctx->running */
    ember_context *ctx;
    int id;
    ember_node *node;
    size_t *parts;
    size_t nparts;
    char *group; /* labels, '\n'-separated (ember_cancel_group matches any) */
    uint8_t *info;
    size_t info_len;
    pthread_cond_t done_cv;
    /* under ctx->mu: */
    int cancel_requested; /* a EMBER_CANCEL_* reason, 0 while not asked */
    char *cancel_label;   /* EMBER_CANCEL_GROUP: the label that was cancelled */
    int done;
    int freed; /* the caller let go: the engine frees it when done */
    int rc;
    char *error;
    ember_result *result;
    size_t *arrived;         /* indexes of result partitions arrived, in order ... */
    size_t narrived, ntaken; /* ... and how many of them ember_job_next took */
    /* engine thread only: */
    emberS_stage *stages;  /* its running stages, oldest first (independent ones run together) */
    uint64_t result_bytes; /* bytes of result batches received (max_result_size) */
    int fetch_failures;    /* stages restarted because a shuffle file could not be read */
};

/* Why a job was asked to cancel: names the cause in the error its caller sees. */
enum { EMBER_CANCEL_JOB = 1, EMBER_CANCEL_GROUP, EMBER_CANCEL_ALL };

/* tasks.c: the file a shuffle map task's attempt writes: <tmpdir>/shuffle-..., or in
 * cluster mode <tmpdir>/e<rank>/shuffle-... naming the executor that holds it (mpi.c
 * keeps it in the executor's own temp dir and serves its buckets to the others). */
void emberA_map_output_path(char *buf, size_t size, ember_context *ctx, const emberS_stage *st, const emberS_task *t);
/* tasks.c: queues on w every frame of task t's attempt t->attempt_id (forgets,
 * commands, TASK, input streams). On success the task holds the cached partitions
 * it sends (t->sending). Returns 0 or a negative code (EMBER_EWORKER: pipe closed). */
int emberA_send_task(ember_context *ctx, emberS_stage *st, emberS_task *t, emberX_worker *w);
/* tasks.c: queues FORGET frames for released commands this worker holds. Caller
 * holds ctx->mu. */
int emberA_send_forgets(ember_context *ctx, emberX_worker *w);
/* tasks.c: cluster mode: the executors where task t should run, as Spark places a
 * reduce task: each one holding at least a fifth of the bytes of its input (the
 * buckets of the shuffles it reads, the cached blocks it reads), most bytes first,
 * into out (EMBER_PREFER_MAX at most: a fifth each); returns how many (0 in local
 * mode, or when no executor holds any). *wait is 1 when one executor dominates (it
 * alone qualifies, with half the bytes or more): the task then waits for a slot
 * there, while one whose input is spread starts on any preferred executor, or
 * anywhere, at once. */
int emberA_preferred_places(ember_context *ctx, const emberS_stage *st, const emberS_task *t, int *out, int *wait);

/* engine.c: the engine thread's body, and how other threads wake it. */
void *emberS_engine_main(void *ctx);
void emberS_wake(ember_context *ctx);
/* engine.c: 1 when a running stage is making n's shuffle output or cache. Caller
 * holds ctx->mu. */
int emberS_making(ember_context *ctx, const ember_node *n);

/* ---- codec.c: compressed streams (sub-prefix emberC_) ----------------------- */
/* Fails with EMBER_ECORRUPT, naming the file and what it looks like, unless head[0, n)
 * (a file's first bytes) starts with the magic bytes of `codec`. Empty: no check. */
int emberC_check_magic(int codec, const char *path, const uint8_t *head, size_t n);
/* Writes into out[0, cap) what bytes h[0, n) look like ("bzip2 data", "plain text" ...). */
void emberC_describe(const uint8_t *h, size_t n, char *out, size_t cap);
/* A decoder of the compressed bytes read from fd (borrowed, read from its current
 * offset with read(2)). read returns 0 with *got > 0 bytes, or *got == 0 at the end
 * of the last stream; a truncated or corrupt file fails with EMBER_ECORRUPT naming
 * the path and the compressed byte offset. */
typedef struct emberC_decoder emberC_decoder;
int emberC_decoder_open(int codec, int fd, const char *path, emberC_decoder **out);
int emberC_decoder_read(emberC_decoder *d, void *buf, size_t want, size_t *got);
/* A decoder of a split of a bzip2 file: from the first block whose magic starts at or
 * after byte `start` (past the first block when start is 1 to 4) to the end of the
 * file, block by block (codec.c, "bzip2 splits"). A read never returns bytes of two
 * blocks. Other codecs fail with EMBER_EINVAL: their files are read whole. */
int emberC_decoder_open_split(int codec, int fd, const char *path, int64_t start, emberC_decoder **out);
/* For a split's decoder: the number of blocks started, and in *pos the position of
 * the block the last read came from (before any read: of the split's first block;
 * INT64_MAX when the split has no block), as Hadoop reports it to its line reader. */
int64_t emberC_decoder_block(const emberC_decoder *d, int64_t *pos);
void emberC_decoder_close(emberC_decoder *d);

/* ---- textsplit.c ---------------------------------------------------------- */
/* The line reader's starting buffer size (tests shrink it to hit buffer edges). */
extern size_t emberT_buffer_size;

#endif
