/* tasks.c — encoding a task: the frames that tell a worker what one attempt of a
 * task computes (wire.h has the layout; wire.c's emberW_task_encode writes it, the
 * same codec the worker decodes with).
 *
 * Resolving a partition through the narrow dependencies gives an input tree — leaves
 * are parallelized or cached batches sent over the pipe, a text split or range the
 * worker reads itself, a cached partition's block file or buckets of shuffle files
 * the worker reads itself, or (cluster mode) the name of a block an executor keeps,
 * which that executor's relay resolves (mpi.c); inner
 * nodes concatenate (coalesce), zip or pair (cartesian) — with the commands to apply
 * at each level. Output goes back over the pipe (results, cached partitions: in
 * cluster mode those stay in the executor's store) or into a shuffle file the worker
 * writes. Each command is sent to a worker once; a
 * released node's command is forgotten (FORGET) by the workers holding it.
 */
#include "internal.h"

#include <stdio.h>

void emberA_map_output_path(char *buf, size_t size, ember_context *ctx, const emberS_stage *st, const emberS_task *t) {
    if (t->place > 0)
        snprintf(buf, size, "%s/e%d/shuffle-%d-%zu-%llu.data", ctx->tmpdir, t->place, st->target->id, t->part,
                 (unsigned long long)t->attempt_id);
    else
        snprintf(buf, size, "%s/shuffle-%d-%zu-%llu.data", ctx->tmpdir, st->target->id, t->part,
                 (unsigned long long)t->attempt_id);
}

/* ---- resolving a partition into an input tree ------------------------------------ */

typedef struct encoder {
    emberM_part **sending;          /* cached partitions the task sends, retained */
    const emberM_batches **streams; /* the batches of each DATA stream */
    size_t nstreams, cap;
    char ***paths; /* shuffle paths the tree borrows, freed after encoding */
    size_t *npaths;
    size_t npathsets, cappathsets;
    uint64_t input_bytes;        /* bytes of the DATA streams and text splits read */
    uint64_t shuffle_read_bytes; /* bytes of the shuffle buckets read */
} encoder;

/* Adds a DATA stream of batches; part (may be NULL) is the cached partition they
 * belong to, retained by the encoder until the task takes it over. */
static int add_stream(encoder *e, const emberM_batches *batches, emberM_part *part, uint32_t *index) {
    if (e->nstreams == e->cap) { /* two arrays of e->cap elements; e->cap moves when both grew */
        size_t cap = e->cap, cap2 = e->cap;
        if (emberB_grow(&e->streams, &cap, e->nstreams + 1, sizeof *e->streams, 4) ||
            emberB_grow(&e->sending, &cap2, e->nstreams + 1, sizeof *e->sending, 4))
            return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        e->cap = cap;
    }
    if (part) emberM_part_retain(part);
    e->input_bytes += emberM_batches_bytes(batches);
    e->sending[e->nstreams] = part;
    e->streams[e->nstreams] = batches;
    *index = (uint32_t)e->nstreams++;
    return 0;
}

/* Keeps a set of shuffle paths alive until the task is encoded. */
static int keep_paths(encoder *e, char **paths, size_t n) {
    if (e->npathsets == e->cappathsets) {
        size_t cap = e->cappathsets ? e->cappathsets * 2 : 4;
        char ***p = ember_realloc(e->paths, cap * sizeof *p);
        if (p) e->paths = p;
        size_t *c = p ? ember_realloc(e->npaths, cap * sizeof *c) : NULL;
        if (!c) {
            emberM_paths_free(paths, n);
            return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        }
        e->npaths = c;
        e->cappathsets = cap;
    }
    e->paths[e->npathsets] = paths;
    e->npaths[e->npathsets++] = n;
    return 0;
}

static void encoder_free(encoder *e) {
    for (size_t i = 0; i < e->nstreams; i++)
        emberM_part_release(e->sending[i]);
    for (size_t i = 0; i < e->npathsets; i++)
        emberM_paths_free(e->paths[i], e->npaths[i]);
    ember_free(e->sending);
    ember_free(e->streams);
    ember_free(e->paths);
    ember_free(e->npaths);
}

/* A command to apply, collected on the way down from the task's node to a leaf. */
typedef struct cmd_ref {
    uint64_t id;
    uint32_t split;
} cmd_ref;

static emberW_bytes str_bytes(const char *s) { return (emberW_bytes){(const uint8_t *)s, (uint32_t)strlen(s)}; }

/* Gives `in` the commands collected top-down, to be applied bottom-up. */
static int set_cmds(emberW_input *in, const cmd_ref *cmds, size_t n) {
    if (!n) return 0;
    if (!(in->cmds = ember_calloc(n, sizeof *in->cmds)))
        return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
    in->ncmds = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        in->cmds[i] = (emberW_cmd){cmds[n - 1 - i].id, cmds[n - 1 - i].split};
    return 0;
}

static int new_children(emberW_input *in, size_t n) {
    if (n && !(in->children = ember_calloc(n, sizeof *in->children)))
        return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
    in->nchildren = (uint32_t)n;
    return 0;
}

/* Resolves partition p of node n into the input tree node `in` (wire.h; its arrays
 * are freed with emberW_input_free). `above` holds the commands met so far
 * (top-down). A cached partition in the block store is sent as it is, unless
 * skip_cache (the task is computing that cache). */
static int resolve(encoder *e, ember_node *n, size_t p, int skip_cache, cmd_ref *above, size_t nabove, size_t capabove,
                   emberW_input *in) {
    int rc = 0;
    emberM_part *cached = skip_cache ? NULL : emberM_get(&n->ctx->blocks, n->id, p);
    if (cached) {
        in->kind = EMBER_IN_DATA;
        rc = add_stream(e, &cached->batches, cached, &in->stream);
        emberM_part_release(cached);
        return rc ? rc : set_cmds(in, above, nabove);
    }
    char block[4096];
    if (!skip_cache && emberM_file(&n->ctx->blocks, n->id, p, block, sizeof block)) {
        char *path = ember_strdup(block);
        if (!path) return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        char **paths = ember_malloc(sizeof *paths);
        if (!paths) {
            ember_free(path);
            return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        }
        paths[0] = path;
        if ((rc = keep_paths(e, paths, 1))) return rc;
        in->kind = EMBER_IN_BLOCK; /* the worker reads the file itself */
        in->path = str_bytes(path);
        return set_cmds(in, above, nabove);
    }
    uint64_t bytes = 0;
    int rank = skip_cache ? -1 : emberM_where(&n->ctx->blocks, n->id, p, &bytes);
    if (rank > 0) { /* cluster mode: executor `rank` keeps it; the executor running the task gets it there */
        char **paths = ember_malloc(sizeof *paths);
        if (paths) emberM_remote_path(&n->ctx->blocks, n->id, p, rank, block, sizeof block);
        if (!paths || !(paths[0] = ember_strdup(block))) {
            ember_free(paths);
            return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        }
        if ((rc = keep_paths(e, paths, 1))) return rc;
        e->input_bytes += bytes;
        in->kind = EMBER_IN_BLOCK;
        in->path = str_bytes(paths[0]);
        return set_cmds(in, above, nabove);
    }
    switch (n->kind) {
    case EMBER_NODE_PIPELINE: {
        if (nabove == capabove)
            return emberE_set(EMBER_EINVAL, "lineage too deep (over %zu pipelined steps)", capabove);
        above[nabove] = (cmd_ref){n->cmd_id, (uint32_t)p};
        return resolve(e, n->parents[0], p, 0, above, nabove + 1, capabove, in);
    }
    case EMBER_NODE_UNION:
        for (size_t i = 0; i < n->nparents; i++) {
            if (p < n->parents[i]->nparts) return resolve(e, n->parents[i], p, 0, above, nabove, capabove, in);
            p -= n->parents[i]->nparts;
        }
        return emberE_set(EMBER_EINVAL, "partition out of range in union node %d", n->id);
    case EMBER_NODE_COALESCE:
    case EMBER_NODE_ZIP:
    case EMBER_NODE_CARTESIAN: {
        cmd_ref fresh[256];
        if (n->kind == EMBER_NODE_COALESCE) {
            size_t lo = n->groups[p], hi = n->groups[p + 1];
            in->kind = EMBER_IN_CONCAT;
            rc = new_children(in, hi - lo);
            for (size_t q = lo; q < hi && !rc; q++)
                rc = resolve(e, n->parents[0], q, 0, fresh, 0, 256, &in->children[q - lo]);
        } else {
            size_t pa = p, pb = p;
            if (n->kind == EMBER_NODE_CARTESIAN) {
                pa = p / n->parents[1]->nparts;
                pb = p % n->parents[1]->nparts;
            }
            in->kind = n->kind == EMBER_NODE_ZIP ? EMBER_IN_ZIP : EMBER_IN_CARTESIAN;
            rc = new_children(in, 2);
            rc = rc ? rc : resolve(e, n->parents[0], pa, 0, fresh, 0, 256, &in->children[0]);
            rc = rc ? rc : resolve(e, n->parents[1], pb, 0, fresh, 0, 256, &in->children[1]);
        }
        break;
    }
    case EMBER_NODE_PARALLEL:
        in->kind = EMBER_IN_DATA;
        rc = add_stream(e, &n->data[p], NULL, &in->stream);
        break;
    case EMBER_NODE_TEXT: {
        const ember_split *s = &n->splits[p];
        in->kind = EMBER_IN_TEXT;
        in->path = str_bytes(s->path);
        in->start = s->start;
        in->end = s->end;
        in->flags = (uint32_t)s->codec << EMBER_TEXT_CODEC_SHIFT | (n->as_bytes ? EMBER_TEXT_BYTES : 0);
        e->input_bytes += s->end > s->start ? (uint64_t)(s->end - s->start) : 0;
        break;
    }
    case EMBER_NODE_RANGE:
        in->kind = EMBER_IN_RANGE;
        in->start = n->rstart + n->bounds[p] * n->rstep;
        in->end = n->rstart + n->bounds[p + 1] * n->rstep;
        in->step = n->rstep;
        break;
    case EMBER_NODE_SHUFFLE: {
        char **paths;
        size_t npaths;
        if ((rc = emberM_shuffle_buckets(&n->ctx->blocks, n->id, p, &paths, &npaths))) return rc;
        if ((rc = keep_paths(e, paths, npaths))) return rc;
        e->shuffle_read_bytes += emberM_shuffle_bucket_bytes(&n->ctx->blocks, n->id, p);
        in->kind = EMBER_IN_SHUFFLE;
        in->bucket = (uint32_t)p;
        if (npaths && !(in->paths = ember_calloc(npaths, sizeof *in->paths)))
            return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        in->npaths = (uint32_t)npaths;
        for (size_t i = 0; i < npaths; i++)
            in->paths[i] = str_bytes(paths[i]);
        break;
    }
    default:
        return emberE_set(EMBER_EINVAL, "node %d cannot be a task's input", n->id);
    }
    return rc ? rc : set_cmds(in, above, nabove);
}

/* ---- commands ---------------------------------------------------------------------- */

static int send_command(emberX_worker *w, uint64_t id, const uint8_t *cmd, size_t len) {
    if (emberX_worker_has(w, id)) return 0;
    emberB_buf b = {0};
    int rc = emberW_command_encode(&b, id, cmd, len);
    rc = rc ? rc : emberX_queue(w, EMBER_FRAME_COMMAND, b.data, b.len, 1);
    emberB_free(&b);
    return rc ? rc : emberX_worker_note(w, id);
}

/* Sends every command in the lineage under n that the worker lacks. (A few extra
 * never hurt: each is sent once per worker.) */
static int send_commands(emberX_worker *w, const ember_node *n, int depth) {
    if (depth > 100000) return emberE_set(EMBER_EINVAL, "lineage too deep");
    if (n->cmd_id && n->kind == EMBER_NODE_PIPELINE) {
        int rc = send_command(w, n->cmd_id, n->cmd, n->cmd_len);
        if (rc) return rc;
    }
    if (n->kind == EMBER_NODE_SHUFFLE) return 0; /* its parent ran in an earlier stage */
    for (size_t i = 0; i < n->nparents; i++) {
        int rc = send_commands(w, n->parents[i], depth + 1);
        if (rc) return rc;
    }
    return 0;
}

int emberA_send_forgets(ember_context *ctx, emberX_worker *w) {
    int rc = 0;
    for (size_t i = 0; i < ctx->nforget && rc == 0; i++) {
        if (!emberX_worker_has(w, ctx->forget[i])) continue;
        uint8_t id[8];
        emberW_u64_encode(id, ctx->forget[i]);
        rc = emberX_queue(w, EMBER_FRAME_FORGET, id, 8, 1);
        emberX_worker_unnote(w, ctx->forget[i]);
    }
    return rc;
}

/* ---- the task's frames ------------------------------------------------------------- */

int emberA_send_task(ember_context *ctx, emberS_stage *st, emberS_task *t, emberX_worker *w) {
    encoder e = {0};
    emberB_buf b = {0};
    cmd_ref above[256];
    char path[4096];
    struct ember_job *job = st->job;
    emberW_task task = {.attempt_id = t->attempt_id,
                        .stage = (uint32_t)st->id,
                        .partition = (uint32_t)t->part,
                        .attempt = (uint32_t)t->attempts,
                        .job = (uint32_t)job->id,
                        .info = {job->info, (uint32_t)job->info_len},
                        .output = EMBER_OUT_RESULT,
                        .barrier_tasks = st->barrier ? (uint32_t)st->ntasks : 0,
                        .stage_attempt = (uint32_t)st->attempt};
    pthread_mutex_lock(&ctx->mu);
    int rc = emberA_send_forgets(ctx, w);
    pthread_mutex_unlock(&ctx->mu);
    if (rc) goto free_all;
    if ((rc = resolve(&e, st->computed, t->part, st->kind == STAGE_CACHE, above, 0, 256, &task.input))) goto free_all;
    if ((rc = send_commands(w, st->computed, 0))) goto free_all;
    if (st->kind == STAGE_SHUFFLE) {
        emberA_map_output_path(path, sizeof path, ctx, st, t);
        if ((rc = send_command(w, st->target->cmd_id, st->target->cmd, st->target->cmd_len))) goto free_all;
        task.output = EMBER_OUT_SHUFFLE;
        task.shuffle_path = str_bytes(path);
        task.nbuckets = (uint32_t)st->target->nparts;
        task.spec_id = st->target->cmd_id;
    } else if (st->kind == STAGE_CACHE) { /* records come back as results do; an executor keeps them */
        task.output = EMBER_OUT_CACHE;
        task.cache_node = (uint32_t)st->target->id;
        task.cache_parts = (uint32_t)st->target->nparts;
        task.cache_level = (uint32_t)emberM_level(&ctx->blocks, st->target->id);
    }
    if ((rc = emberW_task_encode(&b, &task))) goto free_all;
    if ((rc = emberX_queue(w, EMBER_FRAME_TASK, b.data, b.len, 1))) goto free_all;
    for (size_t s = 0; s < e.nstreams && !rc; s++) {
        uint8_t idx[4];
        emberW_u32_encode(idx, (uint32_t)s);
        rc = emberX_queue(w, EMBER_FRAME_INPUT_BEGIN, idx, 4, 1);
        for (size_t i = 0; i < e.streams[s]->n && !rc; i++)
            rc = emberX_queue(w, EMBER_FRAME_DATA, e.streams[s]->bufs[i].data, e.streams[s]->bufs[i].len, 0);
        rc = rc ? rc : emberX_queue(w, EMBER_FRAME_INPUT_END, NULL, 0, 0);
    }
    if (rc) goto free_all;
    /* The task holds the cached partitions it sends (borrowed by the queued DATA
     * frames) until the attempt ends. */
    t->sending = e.sending;
    t->nsending = e.nstreams;
    t->input_bytes = e.input_bytes;
    t->shuffle_read_bytes = e.shuffle_read_bytes;
    e.sending = NULL;
    e.nstreams = 0;
free_all:
    emberW_task_free(&task);
    encoder_free(&e);
    emberB_free(&b);
    return rc;
}

/* ---- locality ------------------------------------------------------------------------ */

typedef struct place_sums {
    uint64_t *bytes; /* [rank] */
    size_t n;
} place_sums;

static void add_place(void *arg, const char *path, uint64_t bytes) {
    place_sums *ps = arg;
    int rank;
    const char *name;
    if (emberP_file_owner(path, &rank, &name) && rank > 0 && (size_t)rank < ps->n) ps->bytes[rank] += bytes;
}

/* Adds to ps the bytes of partition p of n's input each executor holds, walking the
 * narrow dependencies as resolve() does: shuffle buckets and cached blocks. */
static void sum_places(ember_context *ctx, ember_node *n, size_t p, int skip_cache, place_sums *ps, int depth) {
    if (depth > 1000) return;
    uint64_t bytes = 0;
    int where = skip_cache ? -1 : emberM_where(&ctx->blocks, n->id, p, &bytes);
    if (where > 0 && (size_t)where < ps->n) ps->bytes[where] += bytes ? bytes : 1;
    if (where >= 0) return; /* the block is read, not its lineage */
    switch (n->kind) {
    case EMBER_NODE_PIPELINE:
        sum_places(ctx, n->parents[0], p, 0, ps, depth + 1);
        return;
    case EMBER_NODE_UNION:
        for (size_t i = 0; i < n->nparents; i++) {
            if (p < n->parents[i]->nparts) {
                sum_places(ctx, n->parents[i], p, 0, ps, depth + 1);
                return;
            }
            p -= n->parents[i]->nparts;
        }
        return;
    case EMBER_NODE_COALESCE:
        for (size_t q = n->groups[p]; q < n->groups[p + 1]; q++)
            sum_places(ctx, n->parents[0], q, 0, ps, depth + 1);
        return;
    case EMBER_NODE_ZIP:
        sum_places(ctx, n->parents[0], p, 0, ps, depth + 1);
        sum_places(ctx, n->parents[1], p, 0, ps, depth + 1);
        return;
    case EMBER_NODE_CARTESIAN:
        sum_places(ctx, n->parents[0], p / n->parents[1]->nparts, 0, ps, depth + 1);
        sum_places(ctx, n->parents[1], p % n->parents[1]->nparts, 0, ps, depth + 1);
        return;
    case EMBER_NODE_SHUFFLE:
        emberM_shuffle_bucket_visit(&ctx->blocks, n->id, p, add_place, ps);
        return;
    default:
        return;
    }
}

int emberA_preferred_places(ember_context *ctx, const emberS_stage *st, const emberS_task *t, int *out, int *wait) {
    *wait = 0;
    if (!ctx->pool.net) return 0;
    place_sums ps = {NULL, emberP_executors(&ctx->pool, NULL, 0) + 1};
    if (!(ps.bytes = ember_calloc(ps.n, sizeof *ps.bytes))) return 0; /* out of memory: no preference */
    sum_places(ctx, st->computed, t->part, st->kind == STAGE_CACHE, &ps, 0);
    uint64_t total = 0;
    for (size_t r = 1; r < ps.n; r++)
        total += ps.bytes[r];
    int n = 0;
    uint64_t top = 0;
    while (total && n < EMBER_PREFER_MAX) { /* the holders of a fifth or more, most first */
        size_t best = 0;
        for (size_t r = 1; r < ps.n; r++)
            if (ps.bytes[r] > ps.bytes[best]) best = r;
        if (!best || ps.bytes[best] * 5 < total) break;
        if (!n) top = ps.bytes[best];
        out[n++] = (int)best;
        ps.bytes[best] = 0;
    }
    *wait = n == 1 && top * 2 >= total; /* one executor dominates: it alone qualifies, with half or more */
    ember_free(ps.bytes);
    return n;
}
