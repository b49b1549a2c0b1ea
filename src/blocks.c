/* blocks.c — the block store: every block the engine process holds.
 *
 * Two kinds of blocks, each keyed by the id of the lineage node they belong to:
 *  - cached partitions of a persisted node (by node and partition), kept as the
 *    batches a task sent back, shared with the tasks that are sending them on
 *    (emberM_part is reference counted), in memory or in a block file;
 *  - the shuffle-output registry: for each shuffle node, the file each map task
 *    wrote and the byte count of each of its buckets, so that a reduce task is sent
 *    only the files holding its bucket.
 * The store knows nothing of nodes, stages or workers: it is given ids, partitions
 * and bytes, so it can be tested alone. It has one lock of its own (s->mu), taken
 * inside every call and never held across a call out of this file; callers may hold
 * the context's lock when they call in (lock order: ctx->mu, then s->mu).
 *
 * The memory budget. The store is given `limit` (M, bytes: Spark's unified region,
 * (spark.executor.memory - reserved) * spark.memory.fraction) and `reserve` (R, the
 * part of M that spark.memory.storageFraction keeps for cached blocks). It reads
 * the allocator's count of every byte the engine holds (ember_mem_used): cached
 * blocks in memory may use what the rest of the engine (results in flight,
 * parallelized data, buffers: Spark's "execution" memory) leaves of M, and at least
 * R whatever the rest uses. Past that, least-recently-used blocks leave memory: a
 * MEMORY_ONLY block is dropped (the task that needs it computes it again from its
 * lineage), a MEMORY_AND_DISK block goes to its block file. A block being stored
 * never evicts blocks of its own node (as Spark, so that a node larger than memory
 * keeps its first partitions instead of cycling through them); when it does not fit
 * it goes to its file (levels with disk) or is not kept (MEMORY_ONLY, marked dropped
 * with its size: the task that needs it computes it; a later job (emberM_new_job)
 * caches it again only if it would fit). DISK_ONLY
 * blocks go straight to their files. Block files are written under s->mu (by the
 * engine thread, which is the one storing blocks); a task reads a partition held in
 * a file itself, given its path (emberM_file), as it reads a shuffle bucket, and
 * reports a file it found missing or damaged (emberM_block_lose).
 *
 * Cluster mode. Each executor has a store of its own (mpi.c) holding the partitions
 * its tasks cached, under its own budget, spilling to its own temp dir; the driver's
 * store records only which executor holds a partition, whether in memory or on disk
 * there, and its size (emberM_put_remote), so that its figures and the planner see
 * it, and tasks are sent its name <dir>/e<rank>/rdd-<id>-<partition>.block. What it
 * drops of those (unpersist, a block file lost) it tells on_drop; what an executor
 * moved out of memory it is told (emberM_remote_moved); a lost executor's records go
 * (emberM_forget_rank). Remote bytes never count against this store's budget.
 *
 * Block files (one per partition, <dir>/rdd-<id>-<partition>.block): a header
 *   "EMBLOCK\0" | u32 version (1) | u32 batch count | u64 payload length
 * then the payload, each batch as u32 length + bytes, then u32 CRC-32C of the
 * payload; little-endian. emberM_block_decode rejects anything else, so a missing,
 * short or damaged file is never used: the partition is computed again.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- batches and shared partitions ------------------------------------------------ */

int emberM_batches_push(emberM_batches *b, uint8_t *data, size_t len) {
    if (emberB_grow(&b->bufs, &b->cap, b->n + 1, sizeof *b->bufs, 8))
        return emberE_set(EMBER_ENOMEM, "out of memory storing a batch");
    b->bufs[b->n].data = data;
    b->bufs[b->n].len = len;
    b->n++;
    return 0;
}

void emberM_batches_clear(emberM_batches *b) {
    for (size_t i = 0; i < b->n; i++)
        ember_free(b->bufs[i].data);
    ember_free(b->bufs);
    b->bufs = NULL;
    b->n = b->cap = 0;
}

uint64_t emberM_batches_bytes(const emberM_batches *b) {
    uint64_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->bufs[i].len;
    return n;
}

emberM_part *emberM_part_new(void) {
    emberM_part *p = ember_calloc(1, sizeof *p);
    if (p) atomic_init(&p->refcnt, 1);
    return p;
}

void emberM_part_retain(emberM_part *p) { atomic_fetch_add(&p->refcnt, 1); }

void emberM_part_release(emberM_part *p) {
    if (!p || atomic_fetch_sub(&p->refcnt, 1) != 1) return;
    emberM_batches_clear(&p->batches);
    ember_free(p);
}

/* ---- block files ------------------------------------------------------------------ */

static const uint8_t block_magic[8] = {'E', 'M', 'B', 'L', 'O', 'C', 'K', 0};

int emberM_block_encode(const emberM_batches *b, emberB_buf *out) {
    uint64_t payload = 0;
    for (size_t i = 0; i < b->n; i++)
        payload += 4 + (uint64_t)b->bufs[i].len;
    if (b->n > UINT32_MAX) return emberE_set(EMBER_EINVAL, "too many batches (%zu) for a block file", b->n);
    int rc = emberB_reserve(out, EMBER_BLOCK_HEADER + (size_t)payload + 4);
    if (rc) return rc;
    emberB_append(out, block_magic, sizeof block_magic);
    emberB_put_u32(out, EMBER_BLOCK_VERSION);
    emberB_put_u32(out, (uint32_t)b->n);
    emberB_put_u64(out, payload);
    size_t start = out->len;
    for (size_t i = 0; i < b->n; i++) {
        emberB_put_u32(out, (uint32_t)b->bufs[i].len);
        emberB_append(out, b->bufs[i].data, b->bufs[i].len);
    }
    return emberB_put_u32(out, emberK_crc32c(0, out->data + start, out->len - start));
}

int emberM_block_decode(const uint8_t *data, size_t len, const char *what, emberM_batches *out) {
    memset(out, 0, sizeof *out);
    if (len < EMBER_BLOCK_HEADER + 4 || memcmp(data, block_magic, sizeof block_magic) != 0)
        return emberE_set(EMBER_ECORRUPT, "%s is not an ember block file (%zu bytes, no EMBLOCK header)", what, len);
    uint32_t version = emberB_load_u32(data + 8), nbatches = emberB_load_u32(data + 12);
    uint64_t payload = emberB_load_u64(data + 16);
    if (version != EMBER_BLOCK_VERSION)
        return emberE_set(EMBER_ECORRUPT, "%s has block file version %u; this ember reads version %d", what, version,
                          EMBER_BLOCK_VERSION);
    if (payload != len - EMBER_BLOCK_HEADER - 4)
        return emberE_set(EMBER_ECORRUPT, "%s is %zu bytes but its header says %llu bytes of batches (truncated?)",
                          what, len, (unsigned long long)payload);
    const uint8_t *p = data + EMBER_BLOCK_HEADER, *end = p + payload;
    if (emberK_crc32c(0, p, (size_t)payload) != emberB_load_u32(end))
        return emberE_set(EMBER_ECORRUPT, "%s fails its CRC-32C check (damaged)", what);
    if (nbatches > payload / 4)
        return emberE_set(EMBER_ECORRUPT, "%s claims %u batches in %llu bytes", what, nbatches,
                          (unsigned long long)payload);
    for (uint32_t i = 0; i < nbatches; i++) {
        uint32_t n = (size_t)(end - p) >= 4 ? emberB_load_u32(p) : UINT32_MAX;
        if (n == UINT32_MAX || n > (size_t)(end - p) - 4) {
            emberM_batches_clear(out);
            return emberE_set(EMBER_ECORRUPT, "%s: batch %u runs past the end of the file", what, i);
        }
        uint8_t *copy = ember_malloc(n);
        if (copy) memcpy(copy, p + 4, n);
        if (!copy || emberM_batches_push(out, copy, n)) {
            ember_free(copy);
            emberM_batches_clear(out);
            return emberE_set(EMBER_ENOMEM, "out of memory reading %s", what);
        }
        p += 4 + n;
    }
    if (p != end) {
        emberM_batches_clear(out);
        return emberE_set(EMBER_ECORRUPT, "%s has %zu bytes after its last batch", what, (size_t)(end - p));
    }
    return 0;
}

/* Set by tests: a block file write fails with this errno (ENOSPC ...) when nonzero. */
int emberM_write_fault;

/* Writes buf to path whole (a temp file renamed over it). A failure names the file,
 * what it holds and spark.local.dir. */
static int write_file(const char *path, const emberB_buf *buf, const char *what) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = fd < 0 ? errno : 0;
    for (size_t off = 0; !err && off < buf->len;) {
        ssize_t w = emberM_write_fault ? (errno = emberM_write_fault, -1) : write(fd, buf->data + off, buf->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
            err = errno;
        else
            off += (size_t)w;
    }
    if (fd >= 0 && close(fd) < 0 && !err) err = errno;
    if (!err && rename(tmp, path) < 0) err = errno;
    if (!err) return 0;
    unlink(tmp);
    return emberE_errno(EMBER_EIO, err,
                        "writing %s (%zu bytes) to block file %s under spark.local.dir failed; free space there "
                        "or point spark.local.dir at a larger disk",
                        what, buf->len, path);
}

int emberM_block_read(const char *path, const char *what, emberM_batches *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return emberE_errno(EMBER_ENOENT, errno, "opening block file %s (%s)", path, what);
    struct stat sb;
    int rc = 0;
    uint8_t *data = NULL;
    if (fstat(fd, &sb) < 0) {
        rc = emberE_errno(EMBER_EIO, errno, "reading block file %s (%s)", path, what);
        goto close_fd;
    }
    size_t len = (size_t)sb.st_size;
    if (!(data = ember_malloc(len ? len : 1))) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory reading block file %s (%zu bytes)", path, len);
        goto close_fd;
    }
    for (size_t off = 0; off < len;) {
        ssize_t r = read(fd, data + off, len - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = r < 0 ? emberE_errno(EMBER_EIO, errno, "reading block file %s", path)
                       : emberE_set(EMBER_ECORRUPT, "block file %s shrank while being read", path);
            goto free_data;
        }
        off += (size_t)r;
    }
    char name[4400];
    snprintf(name, sizeof name, "block file %s (%s)", path, what);
    rc = emberM_block_decode(data, len, name, out);
free_data:
    ember_free(data);
close_fd:
    close(fd);
    return rc;
}

/* ---- the store -------------------------------------------------------------------- */

typedef struct slot {
    emberM_part *mem;    /* the partition in memory, or NULL */
    uint64_t mem_bytes;  /* its batches' bytes, while in memory */
    uint64_t disk_bytes; /* its block file's size, while it has one (else 0) */
    uint64_t used;       /* the store's tick when last stored or read (LRU) */
    uint64_t dropped;    /* computed, not kept: its bytes (not wanted again unless they fit) */
    int dropped_remote;  /* dropped by an executor that had no room: wanted again after an unpersist */
    int rank;            /* cluster mode: the executor holding it (0: none), where and how big */
    int remote_where;    /* EMBERM_MEMORY or EMBERM_DISK */
    uint64_t remote_bytes;
} slot;

struct emberM_rdd {
    struct emberM_rdd *next;
    int id;
    int level;
    size_t nparts;
    slot *slots;
};

struct emberM_shuffle {
    struct emberM_shuffle *next;
    int id;
    int done; /* every map task's output is registered */
    size_t nmaps, nparts;
    char **paths;           /* [map]: the map task's file, or NULL */
    uint64_t *bucket_bytes; /* [map * nparts + bucket] */
};

int emberM_init(emberM_store *s, const char *dir) {
    memset(s, 0, sizeof *s);
    s->dir = ember_strdup(dir);
    if (!s->dir) return emberE_set(EMBER_ENOMEM, "out of memory creating the block store");
    pthread_mutex_init(&s->mu, NULL);
    s->ready = 1;
    return 0;
}

void emberM_set_budget(emberM_store *s, int64_t limit, int64_t reserve) {
    pthread_mutex_lock(&s->mu);
    s->limit = limit > 0 ? limit : 0;
    s->reserve = reserve > 0 ? (reserve < s->limit ? reserve : s->limit) : 0;
    pthread_mutex_unlock(&s->mu);
}

static struct emberM_rdd *find_rdd(emberM_store *s, int id) {
    for (struct emberM_rdd *r = s->rdds; r; r = r->next)
        if (r->id == id) return r;
    return NULL;
}

static struct emberM_shuffle *find_shuffle(emberM_store *s, int id) {
    for (struct emberM_shuffle *h = s->shuffles; h; h = h->next)
        if (h->id == id) return h;
    return NULL;
}

void emberM_block_path(const emberM_store *s, int id, size_t p, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/rdd-%d-%zu.block", s->dir, id, p);
}

/* Drops slot p's memory (the store's reference; a task sending it keeps its own). */
static void drop_mem(emberM_store *s, slot *sl) {
    if (!sl->mem) return;
    s->mem_bytes -= sl->mem_bytes;
    emberM_part_release(sl->mem);
    sl->mem = NULL;
    sl->mem_bytes = 0;
}

static void drop_file(emberM_store *s, struct emberM_rdd *r, size_t p) {
    slot *sl = &r->slots[p];
    if (!sl->disk_bytes) return;
    char path[4096];
    emberM_block_path(s, r->id, p, path, sizeof path);
    unlink(path);
    s->disk_bytes -= sl->disk_bytes;
    sl->disk_bytes = 0;
}

/* Writes batches as partition p of r's block file. */
static int write_block(emberM_store *s, struct emberM_rdd *r, size_t p, const emberM_batches *b) {
    char path[4096], what[128];
    emberM_block_path(s, r->id, p, path, sizeof path);
    snprintf(what, sizeof what, "cached partition %zu of RDD %d", p, r->id);
    emberB_buf buf = {0};
    int rc = emberM_block_encode(b, &buf);
    if (rc) return rc;
    rc = write_file(path, &buf, what);
    if (!rc) {
        r->slots[p].disk_bytes = buf.len;
        s->disk_bytes += buf.len;
    }
    emberB_free(&buf);
    return rc;
}

void emberM_remote_path(const emberM_store *s, int id, size_t p, int rank, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/e%d/rdd-%d-%zu.block", s->dir, rank, id, p);
}

/* Forgets the executor's copy of partition p of r (tell: and has it dropped there). */
static void drop_remote(emberM_store *s, struct emberM_rdd *r, size_t p, int tell) {
    slot *sl = &r->slots[p];
    if (!sl->rank) return;
    if (tell && s->on_drop) {
        char path[4200];
        emberM_remote_path(s, r->id, p, sl->rank, path, sizeof path);
        s->on_drop(s->on_drop_arg, path);
    }
    sl->rank = sl->remote_where = 0;
    sl->remote_bytes = 0;
}

static void free_rdd(emberM_store *s, struct emberM_rdd *r) {
    for (size_t p = 0; p < r->nparts; p++) {
        drop_mem(s, &r->slots[p]);
        drop_file(s, r, p);
        drop_remote(s, r, p, 1);
    }
    ember_free(r->slots);
    ember_free(r);
}

/* Moves the least-recently-used block in memory (of a node other than `keep`) out
 * of memory: to its file when its level has disk, else dropped. Returns 1 when one
 * moved, 0 when there is none, or a negative code (a file could not be written: the
 * block stays in memory). Caller holds s->mu. */
static int evict_one(emberM_store *s, int keep) {
    struct emberM_rdd *vr = NULL;
    size_t vp = 0;
    for (struct emberM_rdd *r = s->rdds; r; r = r->next) {
        if (r->id == keep) continue;
        for (size_t p = 0; p < r->nparts; p++)
            if (r->slots[p].mem && (!vr || r->slots[p].used < vr->slots[vp].used)) {
                vr = r;
                vp = p;
            }
    }
    if (!vr) return 0;
    slot *sl = &vr->slots[vp];
    if ((vr->level & EMBER_STORAGE_DISK) && !sl->disk_bytes) {
        int rc = write_block(s, vr, vp, &sl->mem->batches);
        if (rc) return rc;
    } else if (!(vr->level & EMBER_STORAGE_DISK)) {
        sl->dropped = sl->mem_bytes ? sl->mem_bytes : 1;
    }
    drop_mem(s, sl);
    s->evictions++;
    if (s->on_move) s->on_move(s->on_move_arg, vr->id, vp, sl->disk_bytes ? EMBERM_DISK : EMBERM_GONE, sl->disk_bytes);
    return 1;
}

/* How many bytes cached blocks may hold in memory now, given that `incoming` bytes
 * counted by the allocator are about to become a block (UINT64_MAX: no budget). */
static uint64_t mem_room(emberM_store *s, uint64_t incoming) {
    if (!s->limit) return UINT64_MAX;
    int64_t other = ember_mem_used() - (int64_t)s->mem_bytes - (int64_t)incoming;
    int64_t room = s->limit - (other > 0 ? other : 0);
    return (uint64_t)(room > s->reserve ? room : s->reserve);
}

int emberM_trim(emberM_store *s) {
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    uint64_t room = mem_room(s, 0);
    while (s->mem_bytes > room && (rc = evict_one(s, -1)) > 0) {}
    pthread_mutex_unlock(&s->mu);
    return rc < 0 ? rc : 0;
}

/* Removes the map output file at path, here and (cluster mode) on its executor. */
static void drop_map_output(emberM_store *s, const char *path) {
    unlink(path);
    if (s->on_drop) s->on_drop(s->on_drop_arg, path);
}

static int clear_shuffle(emberM_store *s, struct emberM_shuffle *h) {
    int had = h->done;
    for (size_t m = 0; m < h->nmaps; m++) {
        if (!h->paths[m]) continue;
        drop_map_output(s, h->paths[m]);
        ember_free(h->paths[m]);
        h->paths[m] = NULL;
        had = 1;
    }
    memset(h->bucket_bytes, 0, h->nmaps * h->nparts * sizeof *h->bucket_bytes);
    h->done = 0;
    return had;
}

static void free_shuffle(emberM_store *s, struct emberM_shuffle *h) {
    clear_shuffle(s, h);
    ember_free(h->paths);
    ember_free(h->bucket_bytes);
    ember_free(h);
}

void emberM_clear(emberM_store *s) {
    if (!s->ready) return;
    pthread_mutex_lock(&s->mu);
    while (s->rdds) {
        struct emberM_rdd *r = s->rdds;
        s->rdds = r->next;
        free_rdd(s, r);
    }
    while (s->shuffles) {
        struct emberM_shuffle *h = s->shuffles;
        s->shuffles = h->next;
        free_shuffle(s, h);
    }
    pthread_mutex_unlock(&s->mu);
}

void emberM_destroy(emberM_store *s) {
    if (!s->ready) return;
    emberM_clear(s);
    pthread_mutex_destroy(&s->mu);
    ember_free(s->dir);
    s->dir = NULL;
    s->ready = 0;
}

/* ---- cached partitions ------------------------------------------------------------ */

int emberM_persist(emberM_store *s, int id, size_t nparts, int level) {
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    if (r) {
        r->level = level;
        goto unlock;
    }
    r = ember_calloc(1, sizeof *r);
    slot *slots = ember_calloc(nparts ? nparts : 1, sizeof *slots);
    if (!r || !slots) {
        ember_free(r);
        ember_free(slots);
        rc = emberE_set(EMBER_ENOMEM, "out of memory registering RDD %d (%zu partitions) in the block store", id,
                        nparts);
        goto unlock;
    }
    r->id = id;
    r->level = level;
    r->nparts = nparts;
    r->slots = slots;
    r->next = s->rdds;
    s->rdds = r;
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int emberM_unpersist(emberM_store *s, int id) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *found = NULL;
    for (struct emberM_rdd **pp = &s->rdds; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            found = *pp;
            *pp = found->next;
            break;
        }
    if (found) free_rdd(s, found);
    /* Executors have room again: what they could not keep is wanted again. */
    for (struct emberM_rdd *r = s->rdds; found && r; r = r->next)
        for (size_t p = 0; p < r->nparts; p++)
            if (r->slots[p].dropped_remote) r->slots[p].dropped = r->slots[p].dropped_remote = 0;
    pthread_mutex_unlock(&s->mu);
    return found != NULL;
}

int emberM_level(emberM_store *s, int id) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    int level = r ? r->level : 0;
    pthread_mutex_unlock(&s->mu);
    return level;
}

emberM_part *emberM_get(emberM_store *s, int id, size_t p) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    emberM_part *part = sl ? sl->mem : NULL;
    if (part) {
        sl->used = ++s->tick;
        emberM_part_retain(part);
    }
    pthread_mutex_unlock(&s->mu);
    return part;
}

int emberM_file(emberM_store *s, int id, size_t p, char *path, size_t cap) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    int has = sl && !sl->mem && sl->disk_bytes;
    if (has) {
        sl->used = ++s->tick;
        emberM_block_path(s, id, p, path, cap);
    }
    pthread_mutex_unlock(&s->mu);
    return has;
}

int emberM_block_lose(emberM_store *s, const char *path, int *id, size_t *part) {
    int found = 0;
    char mine[4096];
    pthread_mutex_lock(&s->mu);
    for (struct emberM_rdd *r = s->rdds; r && !found; r = r->next)
        for (size_t p = 0; p < r->nparts && !found; p++) {
            if (r->slots[p].rank) { /* an executor's: it could not give it (dropped, damaged) */
                emberM_remote_path(s, r->id, p, r->slots[p].rank, mine, sizeof mine);
                if (strcmp(mine, path) != 0) continue;
                drop_remote(s, r, p, 1); /* wanted again: the next stage computes it */
                *id = r->id;
                *part = p;
                found = 1;
                continue;
            }
            if (!r->slots[p].disk_bytes) continue;
            emberM_block_path(s, r->id, p, mine, sizeof mine);
            if (strcmp(mine, path) != 0) continue;
            drop_file(s, r, p); /* wanted again: the next stage computes it */
            s->bad_files++;
            *id = r->id;
            *part = p;
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

int emberM_wants(emberM_store *s, int id, size_t p) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    int wants = sl && !sl->mem && !sl->disk_bytes && !sl->dropped && !sl->rank;
    pthread_mutex_unlock(&s->mu);
    return wants;
}

int emberM_where(emberM_store *s, int id, size_t p, uint64_t *bytes) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    int where = sl && sl->rank ? sl->rank : sl && (sl->mem || sl->disk_bytes) ? 0 : -1;
    *bytes = where > 0 ? sl->remote_bytes : where == 0 ? sl->mem_bytes + sl->disk_bytes : 0;
    pthread_mutex_unlock(&s->mu);
    return where;
}

void emberM_new_job(emberM_store *s) {
    pthread_mutex_lock(&s->mu);
    uint64_t room = mem_room(s, 0);
    for (struct emberM_rdd *r = s->rdds; r; r = r->next) {
        /* Wanted again when it would be kept: it fits beside the node's own blocks
         * (others' can make room). Else the task that needs it computes it, once. */
        uint64_t own = 0;
        for (size_t p = 0; p < r->nparts; p++)
            own += r->slots[p].mem_bytes;
        for (size_t p = 0; p < r->nparts; p++) {
            slot *sl = &r->slots[p];
            if (!sl->dropped || sl->dropped_remote || own + sl->dropped > room) continue; /* this store's room */
            own += sl->dropped;
            sl->dropped = 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

int emberM_put(emberM_store *s, int id, size_t p, emberM_batches *batches) {
    int rc = 0;
    emberM_part *part = NULL;
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    if (!sl || sl->mem || sl->disk_bytes) goto unlock; /* not wanted: dropped below */
    uint64_t bytes = emberM_batches_bytes(batches);
    sl->used = ++s->tick;
    if (r->level & EMBER_STORAGE_MEMORY) {
        uint64_t room = mem_room(s, bytes), own = 0;
        for (size_t q = 0; q < r->nparts; q++)
            own += r->slots[q].mem_bytes;
        /* Evict only when that makes room: never for a block that cannot fit anyway. */
        while (own + bytes <= room && s->mem_bytes + bytes > room && (rc = evict_one(s, id)) > 0) {}
        if (rc < 0) goto unlock;
        rc = 0;
        if (s->mem_bytes + bytes <= room) {
            if (!(part = emberM_part_new())) {
                rc = emberE_set(EMBER_ENOMEM, "out of memory caching partition %zu of RDD %d", p, id);
                goto unlock;
            }
            part->batches = *batches;
            memset(batches, 0, sizeof *batches);
            sl->mem = part;
            sl->mem_bytes = bytes;
            s->mem_bytes += bytes;
            goto unlock;
        }
    }
    if (r->level & EMBER_STORAGE_DISK)
        rc = write_block(s, r, p, batches);
    else
        sl->dropped = bytes ? bytes : 1; /* MEMORY_ONLY and no room: computed again where needed */
unlock:
    pthread_mutex_unlock(&s->mu);
    emberM_batches_clear(batches);
    return rc;
}

/* ---- blocks held by executors (cluster mode) ------------------------------------------ */

int emberM_put_remote(emberM_store *s, int id, size_t p, int rank, int where, uint64_t bytes) {
    int recorded = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    if (!sl || sl->mem || sl->disk_bytes) { /* not wanted: the executor's copy goes */
        if (where != EMBERM_GONE && s->on_drop) {
            char path[4200];
            emberM_remote_path(s, id, p, rank, path, sizeof path);
            s->on_drop(s->on_drop_arg, path);
        }
        goto unlock;
    }
    if (sl->rank != rank) drop_remote(s, r, p, 1);
    sl->used = ++s->tick;
    if (where == EMBERM_GONE) { /* not kept there: computed again where needed, as emberM_put's */
        sl->rank = sl->remote_where = 0;
        sl->remote_bytes = 0;
        sl->dropped = bytes ? bytes : 1;
        sl->dropped_remote = 1;
    } else {
        sl->rank = rank;
        sl->remote_where = where;
        sl->remote_bytes = bytes;
        sl->dropped = 0;
        sl->dropped_remote = 0;
        recorded = 1;
    }
unlock:
    pthread_mutex_unlock(&s->mu);
    return recorded;
}

void emberM_remote_moved(emberM_store *s, int id, size_t p, int rank, int where, uint64_t bytes) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    if (sl && sl->rank == rank && rank > 0) {
        if (where == EMBERM_GONE) {
            drop_remote(s, r, p, 0); /* wanted again by the next job */
        } else {
            sl->remote_where = where;
            sl->remote_bytes = bytes;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void emberM_forget_rank(emberM_store *s, int rank) {
    pthread_mutex_lock(&s->mu);
    for (struct emberM_rdd *r = s->rdds; r; r = r->next)
        for (size_t p = 0; p < r->nparts; p++)
            if (r->slots[p].rank == rank) drop_remote(s, r, p, 0);
    pthread_mutex_unlock(&s->mu);
}

int emberM_kept(emberM_store *s, int id, size_t p, uint64_t *bytes) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    slot *sl = r && p < r->nparts ? &r->slots[p] : NULL;
    int where = !sl ? EMBERM_GONE : sl->mem ? EMBERM_MEMORY : sl->disk_bytes ? EMBERM_DISK : EMBERM_GONE;
    *bytes = where == EMBERM_MEMORY ? sl->mem_bytes : where == EMBERM_DISK ? sl->disk_bytes : 0;
    pthread_mutex_unlock(&s->mu);
    return where;
}

void emberM_drop_block(emberM_store *s, int id, size_t p) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    if (r && p < r->nparts) {
        drop_mem(s, &r->slots[p]);
        drop_file(s, r, p);
        r->slots[p].dropped = r->slots[p].dropped_remote = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

size_t emberM_status(emberM_store *s, ember_storage_info *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (struct emberM_rdd *r = s->rdds; r; r = r->next, n++) {
        if (n >= max) continue;
        ember_storage_info *i = &out[n];
        memset(i, 0, sizeof *i);
        i->id = r->id;
        i->level = r->level;
        i->num_partitions = r->nparts;
        for (size_t p = 0; p < r->nparts; p++) {
            const slot *sl = &r->slots[p];
            i->cached_partitions += sl->mem || sl->disk_bytes || sl->rank;
            i->memory_bytes += sl->mem_bytes + (sl->remote_where == EMBERM_MEMORY ? sl->remote_bytes : 0);
            i->disk_bytes += sl->disk_bytes + (sl->remote_where == EMBERM_DISK ? sl->remote_bytes : 0);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t emberM_blocks(emberM_store *s, int id, ember_block_info *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    for (size_t p = 0; r && p < r->nparts; p++) {
        const slot *sl = &r->slots[p];
        if (!sl->mem && !sl->disk_bytes && !sl->rank) continue;
        if (n < max)
            out[n] = (ember_block_info){
                .partition = p,
                .executor = sl->rank,
                .memory_bytes = sl->mem_bytes + (sl->remote_where == EMBERM_MEMORY ? sl->remote_bytes : 0),
                .disk_bytes = sl->disk_bytes + (sl->remote_where == EMBERM_DISK ? sl->remote_bytes : 0)};
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void emberM_totals(emberM_store *s, emberM_totals_t *t) {
    pthread_mutex_lock(&s->mu);
    t->mem_bytes = s->mem_bytes;
    t->disk_bytes = s->disk_bytes;
    t->evictions = s->evictions;
    t->bad_files = s->bad_files;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the shuffle-output registry ---------------------------------------------------- */

int emberM_shuffle_put(emberM_store *s, int id, size_t nmaps, size_t nparts, size_t map, const char *path,
                       const uint64_t *bucket_bytes) {
    if (map >= nmaps)
        return emberE_set(EMBER_EINVAL, "map output %zu of shuffle %d out of range (%zu maps)", map, id, nmaps);
    char *dup = ember_strdup(path);
    if (!dup) return emberE_set(EMBER_ENOMEM, "out of memory registering map output %zu of shuffle %d", map, id);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    if (!h) {
        h = ember_calloc(1, sizeof *h);
        char **paths = ember_calloc(nmaps, sizeof *paths);
        uint64_t *bytes = ember_calloc(nmaps * nparts, sizeof *bytes);
        if (!h || !paths || !bytes) {
            ember_free(h);
            ember_free(paths);
            ember_free(bytes);
            rc = emberE_set(EMBER_ENOMEM, "out of memory for the map outputs of shuffle %d (%zu x %zu buckets)", id,
                            nmaps, nparts);
            goto unlock;
        }
        h->id = id;
        h->nmaps = nmaps;
        h->nparts = nparts;
        h->paths = paths;
        h->bucket_bytes = bytes;
        h->next = s->shuffles;
        s->shuffles = h;
    } else if (h->nmaps != nmaps || h->nparts != nparts) {
        rc = emberE_set(EMBER_EINVAL, "shuffle %d registered as %zu x %zu buckets, not %zu x %zu", id, h->nmaps,
                        h->nparts, nmaps, nparts);
        goto unlock;
    }
    if (h->paths[map]) {
        drop_map_output(s, h->paths[map]);
        ember_free(h->paths[map]);
    }
    h->paths[map] = dup;
    dup = NULL;
    memcpy(&h->bucket_bytes[map * nparts], bucket_bytes, nparts * sizeof *bucket_bytes);
unlock:
    pthread_mutex_unlock(&s->mu);
    ember_free(dup);
    return rc;
}

void emberM_shuffle_set_done(emberM_store *s, int id) {
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    if (h) h->done = 1;
    pthread_mutex_unlock(&s->mu);
}

int emberM_shuffle_done(emberM_store *s, int id) {
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    int done = h && h->done;
    pthread_mutex_unlock(&s->mu);
    return done;
}

uint64_t emberM_shuffle_bucket_bytes(emberM_store *s, int id, size_t bucket) {
    uint64_t total = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    for (size_t m = 0; h && bucket < h->nparts && m < h->nmaps; m++)
        if (h->paths[m]) total += h->bucket_bytes[m * h->nparts + bucket];
    pthread_mutex_unlock(&s->mu);
    return total;
}

void emberM_shuffle_bucket_visit(emberM_store *s, int id, size_t bucket,
                                 void (*fn)(void *arg, const char *path, uint64_t bytes), void *arg) {
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    for (size_t m = 0; h && bucket < h->nparts && m < h->nmaps; m++)
        if (h->paths[m] && h->bucket_bytes[m * h->nparts + bucket])
            fn(arg, h->paths[m], h->bucket_bytes[m * h->nparts + bucket]);
    pthread_mutex_unlock(&s->mu);
}

int emberM_shuffle_buckets(emberM_store *s, int id, size_t bucket, char ***paths, size_t *npaths) {
    int rc = 0;
    *paths = NULL;
    *npaths = 0;
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    if (!h || bucket >= h->nparts) goto unlock;
    size_t n = 0;
    for (size_t m = 0; m < h->nmaps; m++)
        n += h->paths[m] && h->bucket_bytes[m * h->nparts + bucket];
    if (n == 0) goto unlock;
    char **out = ember_calloc(n, sizeof *out);
    if (!out) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory listing bucket %zu of shuffle %d", bucket, id);
        goto unlock;
    }
    size_t k = 0;
    for (size_t m = 0; m < h->nmaps && !rc; m++) {
        if (!h->paths[m] || !h->bucket_bytes[m * h->nparts + bucket]) continue;
        if (!(out[k++] = ember_strdup(h->paths[m])))
            rc = emberE_set(EMBER_ENOMEM, "out of memory listing bucket %zu of shuffle %d", bucket, id);
    }
    if (rc) {
        emberM_paths_free(out, k);
        goto unlock;
    }
    *paths = out;
    *npaths = n;
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void emberM_paths_free(char **paths, size_t n) {
    for (size_t i = 0; paths && i < n; i++)
        ember_free(paths[i]);
    ember_free(paths);
}

int emberM_shuffle_lose(emberM_store *s, const char *path, int *id, size_t *map) {
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (struct emberM_shuffle *h = s->shuffles; h && !found; h = h->next)
        for (size_t m = 0; m < h->nmaps && !found; m++) {
            if (!h->paths[m] || strcmp(h->paths[m], path) != 0) continue;
            drop_map_output(s, h->paths[m]);
            ember_free(h->paths[m]);
            h->paths[m] = NULL;
            memset(h->bucket_bytes + m * h->nparts, 0, h->nparts * sizeof *h->bucket_bytes);
            h->done = 0;
            *id = h->id;
            *map = m;
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

int emberM_shuffle_has(emberM_store *s, int id, size_t map) {
    pthread_mutex_lock(&s->mu);
    struct emberM_shuffle *h = find_shuffle(s, id);
    int has = h && map < h->nmaps && h->paths[map] != NULL;
    pthread_mutex_unlock(&s->mu);
    return has;
}

int emberM_shuffle_remove(emberM_store *s, int id) {
    pthread_mutex_lock(&s->mu);
    int had = 0;
    for (struct emberM_shuffle **pp = &s->shuffles; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct emberM_shuffle *found = *pp;
            *pp = found->next;
            had = clear_shuffle(s, found);
            free_shuffle(s, found);
            break;
        }
    pthread_mutex_unlock(&s->mu);
    return had;
}
