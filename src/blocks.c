/* blocks.c — the block store: every block the engine process holds.
 *
 * Two kinds of blocks, each keyed by the id of the lineage node they belong to:
 *  - cached partitions of a persisted node (by node and partition), kept as the
 *    batches a task sent back, shared with the tasks that are sending them on
 *    (emberM_part is reference counted);
 *  - the shuffle-output registry: for each shuffle node, the file each map task
 *    wrote and the byte count of each of its buckets, so that a reduce task is sent
 *    only the files holding its bucket.
 * The store knows nothing of nodes, stages or workers: it is given ids, partitions
 * and bytes, so it can be tested alone. It has one lock of its own (s->mu), taken
 * inside every call and never held across a call out of this file; callers may hold
 * the context's lock when they call in (lock order: ctx->mu, then s->mu).
 */
#include "internal.h"

#include <stdio.h>
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

/* ---- the store -------------------------------------------------------------------- */

typedef struct slot {
    emberM_part *mem; /* the partition in memory, or NULL */
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

static void free_rdd(struct emberM_rdd *r) {
    for (size_t p = 0; p < r->nparts; p++)
        emberM_part_release(r->slots[p].mem);
    ember_free(r->slots);
    ember_free(r);
}

static int clear_shuffle(struct emberM_shuffle *h) {
    int had = h->done;
    for (size_t m = 0; m < h->nmaps; m++) {
        if (!h->paths[m]) continue;
        unlink(h->paths[m]);
        ember_free(h->paths[m]);
        h->paths[m] = NULL;
        had = 1;
    }
    memset(h->bucket_bytes, 0, h->nmaps * h->nparts * sizeof *h->bucket_bytes);
    h->done = 0;
    return had;
}

static void free_shuffle(struct emberM_shuffle *h) {
    clear_shuffle(h);
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
        free_rdd(r);
    }
    while (s->shuffles) {
        struct emberM_shuffle *h = s->shuffles;
        s->shuffles = h->next;
        free_shuffle(h);
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
    pthread_mutex_unlock(&s->mu);
    if (found) free_rdd(found);
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
    emberM_part *part = r && p < r->nparts ? r->slots[p].mem : NULL;
    if (part) emberM_part_retain(part);
    pthread_mutex_unlock(&s->mu);
    return part;
}

int emberM_wants(emberM_store *s, int id, size_t p) {
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    int wants = r && p < r->nparts && !r->slots[p].mem;
    pthread_mutex_unlock(&s->mu);
    return wants;
}

int emberM_put(emberM_store *s, int id, size_t p, emberM_batches *batches) {
    emberM_part *part = emberM_part_new();
    if (!part) return emberE_set(EMBER_ENOMEM, "out of memory caching partition %zu of RDD %d", p, id);
    part->batches = *batches;
    memset(batches, 0, sizeof *batches);
    pthread_mutex_lock(&s->mu);
    struct emberM_rdd *r = find_rdd(s, id);
    if (r && p < r->nparts && !r->slots[p].mem) {
        r->slots[p].mem = part;
        part = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    emberM_part_release(part);
    return 0;
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
        unlink(h->paths[map]);
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
            unlink(h->paths[m]);
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
    struct emberM_shuffle *found = NULL;
    for (struct emberM_shuffle **pp = &s->shuffles; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    if (!found) return 0;
    int had = clear_shuffle(found);
    free_shuffle(found);
    return had;
}
