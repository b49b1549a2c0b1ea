/* tasks.c — encoding a task: the frames that tell a worker what one attempt of a
 * task computes (wire.h has the layout).
 *
 * Resolving a partition through the narrow dependencies gives an input tree — leaves
 * are parallelized or cached batches sent over the pipe, a text split or range the
 * worker reads itself, or buckets of shuffle files the worker reads itself; inner
 * nodes concatenate (coalesce), zip or pair (cartesian) — with the commands to apply
 * at each level. Output goes back over the pipe (results, cached partitions) or into
 * a shuffle file the worker writes. Each command is sent to a worker once; a
 * released node's command is forgotten (FORGET) by the workers holding it.
 */
#include "internal.h"

#include <stdio.h>

void emberA_map_output_path(char *buf, size_t size, ember_context *ctx, const emberS_stage *st,
                            const emberS_task *t) {
    snprintf(buf, size, "%s/shuffle-%d-%zu-%llu.data", ctx->tmpdir, st->target->id, t->part,
             (unsigned long long)t->attempt_id);
}

/* ---- resolving a partition into an input tree ------------------------------------ */

typedef struct encoder {
    emberB_buf b;
    emberM_part **sending;       /* cached partitions the task sends, retained */
    const emberM_batches **streams; /* the batches of each DATA stream */
    size_t nstreams, cap;
} encoder;

/* Adds a DATA stream of batches; part (may be NULL) is the cached partition they
 * belong to, retained by the encoder until the task takes it over. */
static int add_stream(encoder *e, const emberM_batches *batches, emberM_part *part, uint32_t *index) {
    if (e->nstreams == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        const emberM_batches **s = ember_realloc(e->streams, cap * sizeof *s);
        if (s) e->streams = s;
        emberM_part **p = s ? ember_realloc(e->sending, cap * sizeof *p) : NULL;
        if (!p) return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        e->sending = p;
        e->cap = cap;
    }
    if (part) emberM_part_retain(part);
    e->sending[e->nstreams] = part;
    e->streams[e->nstreams] = batches;
    *index = (uint32_t)e->nstreams++;
    return 0;
}

/* A command to apply, collected on the way down from the task's node to a leaf. */
typedef struct cmd_ref {
    uint64_t id;
    uint32_t split;
} cmd_ref;

static int encode_cmds(encoder *e, const cmd_ref *cmds, size_t n) {
    int rc = emberB_put_u32(&e->b, (uint32_t)n);
    /* Collected top-down; applied bottom-up. */
    for (size_t i = n; i-- > 0 && !rc;) {
        rc = emberB_put_u64(&e->b, cmds[i].id);
        rc = rc ? rc : emberB_put_u32(&e->b, cmds[i].split);
    }
    return rc;
}

/* Encodes partition p of node n as an input tree. `above` holds the commands met
 * so far (top-down). A cached partition in the block store is sent as it is, unless
 * skip_cache (the task is computing that cache). */
static int encode_input(encoder *e, ember_node *n, size_t p, int skip_cache, cmd_ref *above, size_t nabove,
                        size_t capabove) {
    emberB_buf *b = &e->b;
    int rc;
    emberM_part *cached = skip_cache ? NULL : emberM_get(&n->ctx->blocks, n->id, p);
    if (cached) {
        uint32_t s = 0;
        rc = add_stream(e, &cached->batches, cached, &s);
        emberM_part_release(cached);
        if (rc) return rc;
        rc = emberB_put_u32(b, EMBER_IN_DATA);
        rc = rc ? rc : emberB_put_u32(b, s);
        return rc ? rc : encode_cmds(e, above, nabove);
    }
    switch (n->kind) {
    case EMBER_NODE_PIPELINE: {
        if (nabove == capabove) return emberE_set(EMBER_EINVAL, "lineage too deep (over %zu pipelined steps)", capabove);
        above[nabove] = (cmd_ref){n->cmd_id, (uint32_t)p};
        return encode_input(e, n->parents[0], p, 0, above, nabove + 1, capabove);
    }
    case EMBER_NODE_UNION:
        for (size_t i = 0; i < n->nparents; i++) {
            if (p < n->parents[i]->nparts) return encode_input(e, n->parents[i], p, 0, above, nabove, capabove);
            p -= n->parents[i]->nparts;
        }
        return emberE_set(EMBER_EINVAL, "partition out of range in union node %d", n->id);
    case EMBER_NODE_COALESCE:
    case EMBER_NODE_ZIP:
    case EMBER_NODE_CARTESIAN: {
        cmd_ref fresh[256];
        if (n->kind == EMBER_NODE_COALESCE) {
            size_t lo = n->groups[p], hi = n->groups[p + 1];
            rc = emberB_put_u32(b, EMBER_IN_CONCAT);
            rc = rc ? rc : emberB_put_u32(b, (uint32_t)(hi - lo));
            for (size_t q = lo; q < hi && !rc; q++) rc = encode_input(e, n->parents[0], q, 0, fresh, 0, 256);
        } else {
            size_t pa = p, pb = p;
            if (n->kind == EMBER_NODE_CARTESIAN) {
                pa = p / n->parents[1]->nparts;
                pb = p % n->parents[1]->nparts;
            }
            rc = emberB_put_u32(b, n->kind == EMBER_NODE_ZIP ? EMBER_IN_ZIP : EMBER_IN_CARTESIAN);
            rc = rc ? rc : encode_input(e, n->parents[0], pa, 0, fresh, 0, 256);
            rc = rc ? rc : encode_input(e, n->parents[1], pb, 0, fresh, 0, 256);
        }
        return rc ? rc : encode_cmds(e, above, nabove);
    }
    case EMBER_NODE_PARALLEL: {
        uint32_t s = 0;
        if ((rc = add_stream(e, &n->data[p], NULL, &s))) return rc;
        rc = emberB_put_u32(b, EMBER_IN_DATA);
        rc = rc ? rc : emberB_put_u32(b, s);
        break;
    }
    case EMBER_NODE_TEXT: {
        const ember_split *s = &n->splits[p];
        uint32_t flags = (s->gzip ? EMBER_TEXT_GZIP : 0) | (n->as_bytes ? EMBER_TEXT_BYTES : 0);
        rc = emberB_put_u32(b, EMBER_IN_TEXT);
        rc = rc ? rc : emberB_put_str(b, s->path);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)s->start);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)s->end);
        rc = rc ? rc : emberB_put_u32(b, flags);
        break;
    }
    case EMBER_NODE_RANGE: {
        int64_t lo = n->bounds[p], hi = n->bounds[p + 1];
        rc = emberB_put_u32(b, EMBER_IN_RANGE);
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)(n->rstart + lo * n->rstep));
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)(n->rstart + hi * n->rstep));
        rc = rc ? rc : emberB_put_u64(b, (uint64_t)n->rstep);
        break;
    }
    case EMBER_NODE_SHUFFLE: {
        char **paths;
        size_t npaths;
        if ((rc = emberM_shuffle_buckets(&n->ctx->blocks, n->id, p, &paths, &npaths))) return rc;
        rc = emberB_put_u32(b, EMBER_IN_SHUFFLE);
        rc = rc ? rc : emberB_put_u32(b, (uint32_t)p);
        rc = rc ? rc : emberB_put_u32(b, (uint32_t)npaths);
        for (size_t i = 0; i < npaths && !rc; i++) rc = emberB_put_str(b, paths[i]);
        emberM_paths_free(paths, npaths);
        break;
    }
    default: return emberE_set(EMBER_EINVAL, "node %d cannot be a task's input", n->id);
    }
    return rc ? rc : encode_cmds(e, above, nabove);
}

/* ---- commands ---------------------------------------------------------------------- */

static int send_command(emberX_worker *w, uint64_t id, const uint8_t *cmd, size_t len) {
    if (emberX_worker_has(w, id)) return 0;
    uint8_t *payload = ember_malloc(8 + len);
    if (!payload) return emberE_set(EMBER_ENOMEM, "out of memory sending a command");
    emberB_store_u64(payload, id);
    memcpy(payload + 8, cmd, len);
    int rc = emberX_queue(w, EMBER_FRAME_COMMAND, payload, 8 + len, 1);
    ember_free(payload);
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
        emberB_store_u64(id, ctx->forget[i]);
        rc = emberX_queue(w, EMBER_FRAME_FORGET, id, 8, 1);
        emberX_worker_unnote(w, ctx->forget[i]);
    }
    return rc;
}

/* ---- the task's frames ------------------------------------------------------------- */

int emberA_send_task(ember_context *ctx, emberS_stage *st, emberS_task *t, emberX_worker *w) {
    encoder e = {0};
    cmd_ref above[256];
    int rc;
    struct ember_job *job = st->job;
    rc = emberB_put_u64(&e.b, t->attempt_id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)st->id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)t->part);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)t->attempts);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)job->id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)job->info_len);
    rc = rc ? rc : emberB_append(&e.b, job->info, job->info_len);
    if (rc) goto free_all;
    pthread_mutex_lock(&ctx->mu);
    rc = emberA_send_forgets(ctx, w);
    pthread_mutex_unlock(&ctx->mu);
    if (rc) goto free_all;
    if ((rc = encode_input(&e, st->computed, t->part, st->kind == STAGE_CACHE, above, 0, 256))) goto free_all;
    if ((rc = send_commands(w, st->computed, 0))) goto free_all;
    if (st->kind == STAGE_SHUFFLE) {
        char path[4096];
        emberA_map_output_path(path, sizeof path, ctx, st, t);
        rc = send_command(w, st->target->cmd_id, st->target->cmd, st->target->cmd_len);
        rc = rc ? rc : emberB_put_u32(&e.b, EMBER_OUT_SHUFFLE);
        rc = rc ? rc : emberB_put_str(&e.b, path);
        rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)st->target->nparts);
        rc = rc ? rc : emberB_put_u64(&e.b, st->target->cmd_id);
    } else {
        rc = emberB_put_u32(&e.b, EMBER_OUT_RESULT);
    }
    rc = rc ? rc : emberB_put_u32(&e.b, st->barrier ? (uint32_t)st->ntasks : 0);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)st->attempt);
    if (rc) goto free_all;
    if ((rc = emberX_queue(w, EMBER_FRAME_TASK, e.b.data, e.b.len, 1))) goto free_all;
    for (size_t s = 0; s < e.nstreams && !rc; s++) {
        uint8_t idx[4];
        emberB_store_u32(idx, (uint32_t)s);
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
    e.sending = NULL;
    e.nstreams = 0;
free_all:
    for (size_t i = 0; i < e.nstreams; i++) emberM_part_release(e.sending[i]);
    ember_free(e.sending);
    ember_free(e.streams);
    emberB_free(&e.b);
    return rc;
}
