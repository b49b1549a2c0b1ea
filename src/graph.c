/* graph.c — RDD lineage in C: the node kinds, their constructors and lifetime.
 *
 * A node is immutable once built (but for its barrier flag). What the engine makes of
 * it — cached partitions, shuffle output — lives in the block store (blocks.c) under
 * the node's id, and goes when the node does. Nodes are reference counted; each
 * holds its parents and the context, whose memory goes with its last reference.
 */
#include "internal.h"

#include <stdio.h>
#include <unistd.h>

static int new_node(ember_context *ctx, int kind, size_t nparts, ember_node **out) {
    ember_node *n = ember_calloc(1, sizeof *n);
    if (!n) return emberE_set(EMBER_ENOMEM, "out of memory creating a lineage node");
    atomic_init(&n->refcnt, 1);
    n->kind = kind;
    n->ctx = ctx;
    n->nparts = nparts;
    atomic_fetch_add(&ctx->refcnt, 1);
    pthread_mutex_lock(&ctx->mu);
    n->id = ctx->next_node_id++;
    pthread_mutex_unlock(&ctx->mu);
    *out = n;
    return 0;
}

static int set_command(ember_node *n, const void *cmd, size_t len) {
    n->cmd = ember_malloc(len);
    if (!n->cmd) return emberE_set(EMBER_ENOMEM, "out of memory copying a command of %zu bytes", len);
    memcpy(n->cmd, cmd, len);
    n->cmd_len = len;
    pthread_mutex_lock(&n->ctx->mu);
    n->cmd_id = ++n->ctx->next_cmd_id;
    pthread_mutex_unlock(&n->ctx->mu);
    return 0;
}

static int set_parents(ember_node *n, ember_node *const *parents, size_t np) {
    n->parents = ember_calloc(np, sizeof *n->parents);
    if (!n->parents) return emberE_set(EMBER_ENOMEM, "out of memory linking a lineage node");
    for (size_t i = 0; i < np; i++) {
        ember_node_retain(parents[i]);
        n->parents[i] = parents[i];
    }
    n->nparents = np;
    return 0;
}

int ember_node_parallelize(ember_context *ctx, size_t nparts, const ember_buf *const *batches, const size_t *nbatches,
                           ember_node **out) {
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_PARALLEL, nparts, &n);
    if (rc) return rc;
    n->data = ember_calloc(nparts ? nparts : 1, sizeof *n->data);
    if (!n->data) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory holding parallelized data");
        goto fail;
    }
    for (size_t p = 0; p < nparts; p++) {
        for (size_t i = 0; i < nbatches[p]; i++) {
            uint8_t *copy = ember_malloc(batches[p][i].len);
            if (!copy) {
                rc = emberE_set(EMBER_ENOMEM, "out of memory holding parallelized data");
                goto fail;
            }
            memcpy(copy, batches[p][i].data, batches[p][i].len);
            rc = emberM_batches_push(&n->data[p], copy, batches[p][i].len);
            if (rc) {
                ember_free(copy);
                goto fail;
            }
        }
    }
    *out = n;
    return 0;
fail:
    ember_node_release(n);
    return rc;
}

int ember_node_text(ember_context *ctx, const char *paths, int min_partitions, int as_bytes, ember_node **out) {
    ember_split *splits;
    size_t ns;
    int rc = ember_text_splits(paths, min_partitions, &splits, &ns);
    if (rc) return rc;
    ember_node *n = NULL;
    rc = new_node(ctx, EMBER_NODE_TEXT, ns, &n);
    if (rc) {
        ember_splits_free(splits, ns);
        return rc;
    }
    n->splits = splits;
    n->as_bytes = as_bytes;
    *out = n;
    return 0;
}

int ember_node_range(ember_context *ctx, int64_t start, int64_t stop, int64_t step, size_t nparts, ember_node **out) {
    if (step == 0) return emberE_set(EMBER_EINVAL, "range() step must not be zero");
    if (nparts == 0) return emberE_set(EMBER_EINVAL, "range() needs at least one partition");
    int64_t count = 0;
    if (step > 0 && stop > start) count = (int64_t)(((__int128)stop - start + step - 1) / step);
    if (step < 0 && stop < start) count = (int64_t)(((__int128)start - stop - step - 1) / -step);
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_RANGE, nparts, &n);
    if (rc) return rc;
    n->bounds = ember_calloc(nparts + 1, sizeof *n->bounds);
    if (!n->bounds) {
        ember_node_release(n);
        return emberE_set(EMBER_ENOMEM, "out of memory for a range");
    }
    for (size_t p = 0; p <= nparts; p++)
        n->bounds[p] = (int64_t)((__int128)p * count / (int64_t)nparts);
    n->rstart = start;
    n->rstep = step;
    *out = n;
    return 0;
}

int ember_node_pipeline(ember_context *ctx, ember_node *parent, const void *cmd, size_t len, ember_node **out) {
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_PIPELINE, parent->nparts, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, &parent, 1)) || (rc = set_command(n, cmd, len))) {
        ember_node_release(n);
        return rc;
    }
    *out = n;
    return 0;
}

int ember_node_shuffle(ember_context *ctx, ember_node *parent, size_t nparts, const void *spec, size_t len,
                       ember_node **out) {
    if (nparts == 0) return emberE_set(EMBER_EINVAL, "a shuffle needs at least one partition");
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_SHUFFLE, nparts, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, &parent, 1)) || (rc = set_command(n, spec, len))) {
        ember_node_release(n);
        return rc;
    }
    *out = n;
    return 0;
}

int ember_node_union(ember_context *ctx, ember_node *const *parents, size_t np, ember_node **out) {
    size_t total = 0;
    for (size_t i = 0; i < np; i++)
        total += parents[i]->nparts;
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_UNION, total, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, parents, np))) {
        ember_node_release(n);
        return rc;
    }
    *out = n;
    return 0;
}

int ember_node_coalesce(ember_context *ctx, ember_node *parent, size_t nparts, ember_node **out) {
    if (nparts == 0) return emberE_set(EMBER_EINVAL, "Number of partitions must be positive.");
    ember_node *n = NULL;
    int rc = new_node(ctx, EMBER_NODE_COALESCE, nparts, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, &parent, 1))) {
        ember_node_release(n);
        return rc;
    }
    n->groups = ember_calloc(nparts + 1, sizeof *n->groups);
    if (!n->groups) {
        ember_node_release(n);
        return emberE_set(EMBER_ENOMEM, "out of memory for a coalesce");
    }
    for (size_t i = 0; i <= nparts; i++)
        n->groups[i] = (size_t)((unsigned __int128)i * parent->nparts / nparts);
    *out = n;
    return 0;
}

int ember_node_zip(ember_context *ctx, ember_node *a, ember_node *b, ember_node **out) {
    if (a->nparts != b->nparts)
        return emberE_set(EMBER_EINVAL, "Can only zip with RDD which has the same number of partitions (%zu vs %zu)",
                          a->nparts, b->nparts);
    ember_node *n = NULL, *parents[2] = {a, b};
    int rc = new_node(ctx, EMBER_NODE_ZIP, a->nparts, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, parents, 2))) {
        ember_node_release(n);
        return rc;
    }
    *out = n;
    return 0;
}

int ember_node_cartesian(ember_context *ctx, ember_node *a, ember_node *b, ember_node **out) {
    ember_node *n = NULL, *parents[2] = {a, b};
    int rc = new_node(ctx, EMBER_NODE_CARTESIAN, a->nparts * b->nparts, &n);
    if (rc) return rc;
    if ((rc = set_parents(n, parents, 2))) {
        ember_node_release(n);
        return rc;
    }
    *out = n;
    return 0;
}

void ember_node_retain(ember_node *n) { atomic_fetch_add(&n->refcnt, 1); }
int ember_node_id(const ember_node *n) { return n->id; }
size_t ember_node_num_partitions(const ember_node *n) { return n->nparts; }

const char *ember_node_kind_name(const ember_node *n) {
    switch (n->kind) {
    case EMBER_NODE_PARALLEL:
        return "parallelize";
    case EMBER_NODE_TEXT:
        return "text";
    case EMBER_NODE_RANGE:
        return "range";
    case EMBER_NODE_PIPELINE:
        return "pipeline";
    case EMBER_NODE_SHUFFLE:
        return "shuffle";
    case EMBER_NODE_UNION:
        return "union";
    case EMBER_NODE_COALESCE:
        return "coalesce";
    case EMBER_NODE_ZIP:
        return "zip";
    case EMBER_NODE_CARTESIAN:
        return "cartesian";
    default:
        return "unknown";
    }
}

size_t ember_node_num_parents(const ember_node *n) { return n->nparents; }

ember_node *ember_node_parent(const ember_node *n, size_t i) { return i < n->nparents ? n->parents[i] : NULL; }

int ember_node_persist(ember_node *n, int level) {
    level &= EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK;
    if (level) return emberM_persist(&n->ctx->blocks, n->id, n->nparts, level);
    emberM_unpersist(&n->ctx->blocks, n->id);
    return 0;
}

int ember_node_set_cached(ember_node *n, int cached) {
    return ember_node_persist(n, cached ? EMBER_STORAGE_MEMORY : 0);
}

void ember_node_drop_after_shuffle(ember_node *n, int drop) {
    pthread_mutex_lock(&n->ctx->mu);
    n->drop_after_shuffle = drop != 0;
    pthread_mutex_unlock(&n->ctx->mu);
}

void ember_node_set_barrier(ember_node *n, int barrier) {
    pthread_mutex_lock(&n->ctx->mu);
    n->barrier = barrier != 0;
    pthread_mutex_unlock(&n->ctx->mu);
}

int ember_node_is_barrier(ember_node *n) {
    pthread_mutex_lock(&n->ctx->mu);
    int barrier = n->barrier;
    pthread_mutex_unlock(&n->ctx->mu);
    return barrier;
}

int ember_node_is_cached(ember_node *n) { return emberM_level(&n->ctx->blocks, n->id) != 0; }

int emberG_lineage_holds(ember_node *n, const ember_node *target, unsigned walk) {
    if (n == target) return 1;
    if (n->walk_mark == walk) return 0;
    n->walk_mark = walk;
    for (size_t i = 0; i < n->nparents; i++)
        if (emberG_lineage_holds(n->parents[i], target, walk)) return 1;
    return 0;
}

void emberG_context_retain(ember_context *ctx) { atomic_fetch_add(&ctx->refcnt, 1); }

void emberG_context_release(ember_context *ctx) {
    if (atomic_fetch_sub(&ctx->refcnt, 1) != 1) return;
    emberM_destroy(&ctx->blocks);
    emberL_destroy(&ctx->tasklog);
    pthread_mutex_destroy(&ctx->mu);
    ember_free((char *)ctx->cfg.python);
    ember_free((char *)ctx->cfg.pythonpath);
    ember_free((char *)ctx->cfg.daemon);
    ember_free(ctx->tmpdir);
    ember_free(ctx->forget);
    ember_free(ctx->freed);
    ember_free(ctx->history);
    ember_free(ctx);
}

void ember_node_release(ember_node *n) {
    if (!n || atomic_fetch_sub(&n->refcnt, 1) != 1) return;
    ember_context *ctx = n->ctx;
    for (size_t i = 0; i < n->nparents; i++)
        ember_node_release(n->parents[i]);
    ember_free(n->parents);
    if (n->cmd_id) {
        pthread_mutex_lock(&ctx->mu);
        if (!ctx->stopped) {
            if (ctx->nforget == ctx->capforget) {
                size_t cap = ctx->capforget ? ctx->capforget * 2 : 32;
                uint64_t *f = ember_realloc(ctx->forget, cap * sizeof *f);
                if (f) {
                    ctx->forget = f;
                    ctx->capforget = cap;
                }
            }
            if (ctx->nforget < ctx->capforget) ctx->forget[ctx->nforget++] = n->cmd_id;
        }
        pthread_mutex_unlock(&ctx->mu);
    }
    ember_free(n->cmd);
    if (n->data)
        for (size_t p = 0; p < n->nparts; p++)
            emberM_batches_clear(&n->data[p]);
    ember_free(n->data);
    if (n->splits) ember_splits_free(n->splits, n->nparts);
    ember_free(n->bounds);
    ember_free(n->groups);
    emberM_unpersist(&ctx->blocks, n->id);
    if (n->kind == EMBER_NODE_SHUFFLE) emberM_shuffle_remove(&ctx->blocks, n->id);
    pthread_mutex_lock(&ctx->mu);
    if (ctx->track_freed) {
        if (ctx->nfreed == ctx->capfreed) {
            size_t cap = ctx->capfreed ? ctx->capfreed * 2 : 64;
            int *f = ember_realloc(ctx->freed, cap * sizeof *f);
            if (f) {
                ctx->freed = f;
                ctx->capfreed = cap;
            }
        }
        /* Out of memory only loses the id: its owner keeps a stale label. */
        if (ctx->nfreed < ctx->capfreed) ctx->freed[ctx->nfreed++] = n->id;
    }
    pthread_mutex_unlock(&ctx->mu);
    ember_free(n);
    emberG_context_release(ctx);
}
