/* scheduler.c — jobs, stages and tasks, run by the engine thread.
 *
 * Design. One engine thread per context owns the worker pool and every running
 * stage; other threads talk to it through the context: they submit jobs onto the
 * `incoming` list, ask for cancellation with a flag, and read progress, all under
 * ctx->mu, and wake it with a byte on ctx->wake. It never touches Python objects.
 *
 * A job asks for some partitions of a node. Before it can run them, every shuffle
 * and every cached node its partitions read from must exist. The engine plans one
 * stage at a time per job: walking the lineage through narrow dependencies, it finds
 * the first such node whose own inputs exist, and runs a stage making it (a shuffle's
 * map output, or a node's cached partitions); finished ones stay for later jobs. A
 * node another job is making already is waited for, not made twice. When nothing is
 * missing, the job's result stage runs.
 *
 * A task computes one partition of a node. Resolving it through the narrow
 * dependencies gives an input tree — leaves are parallelized or cached batches sent
 * over the pipe, a text split or range the worker reads itself, or buckets of shuffle
 * files the worker reads itself; inner nodes concatenate (coalesce), zip or pair
 * (cartesian) — with the commands to apply at each level. Output goes back over the
 * pipe (results, cached partitions) or into a shuffle file the worker writes.
 *
 * Tasks of all running stages share the workers first come, first served. A failed
 * attempt (the user's error, or a worker that died) is retried up to max_failures
 * times; then the job fails and its other running tasks are killed. Reports of
 * attempts that succeeded go back to the caller whatever the job's outcome (a
 * failed attempt's never do), and each finished stage's final counts are kept in a
 * small ring for status queries. Lock order: mu is the only lock the engine takes.
 *
 * Barrier stages (a barrier node computed within the stage, see
 * ember_node_set_barrier) run all their tasks at once: the stage waits, holding up
 * the stages queued after it, until a worker is free for each task; a failed task
 * kills the others and the whole stage runs again as a new stage attempt.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

enum stage_kind { STAGE_RESULT, STAGE_SHUFFLE, STAGE_CACHE };
enum task_state { TASK_PENDING, TASK_RUNNING, TASK_DONE };

typedef struct task {
    size_t part;         /* partition of the stage's node (for a shuffle: of its parent) */
    int state;
    int attempts;        /* attempts started so far */
    emberX_worker *w;
    uint64_t attempt_id;
    emberG_blocks out;   /* DATA frames received */
    uint64_t *bucket_bytes;
    emberG_part **sending; /* cached partitions this attempt is sending */
    size_t nsending;
    char *error;         /* the last failure */
} task;

typedef struct emberS_stage {
    struct emberS_stage *next; /* in ctx->stages */
    int id;
    int kind;
    ember_node *target;  /* result/cache: the node computed; shuffle: the shuffle node */
    ember_node *computed; /* the node whose partitions the tasks compute */
    struct ember_job *job;
    task *tasks;
    size_t ntasks, ndone, nrunning, nfailed;
    double submitted_ms;
    int barrier;         /* a barrier stage: all tasks run at once, fail and retry together */
    int attempt;         /* barrier stage: attempts started over (0 for the first) */
} stage;

struct ember_job {
    struct ember_job *next;   /* in ctx->incoming or ctx->running */
    ember_context *ctx;
    int id;
    ember_node *node;
    size_t *parts;
    size_t nparts;
    char *group;              /* labels, '\n'-separated (ember_cancel_group matches any) */
    uint8_t *info;
    size_t info_len;
    pthread_cond_t done_cv;
    /* under ctx->mu: */
    int cancel_requested;     /* a CANCEL_* reason, 0 while not asked */
    char *cancel_label;       /* CANCEL_GROUP: the label that was cancelled */
    int done;
    int freed;                /* the caller let go: the engine frees it when done */
    int rc;
    char *error;
    ember_result *result;
    /* engine thread only: */
    stage *stage;
};

/* Why a job was asked to cancel: names the cause in the error its caller sees. */
enum { CANCEL_JOB = 1, CANCEL_GROUP, CANCEL_ALL };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The file a shuffle map task's attempt writes. */
static void map_output_path(char *buf, size_t size, ember_context *ctx, stage *st, task *t) {
    snprintf(buf, size, "%s/shuffle-%d-%zu-%llu.data", ctx->tmpdir, st->target->id, t->part,
             (unsigned long long)t->attempt_id);
}

void emberS_wake(ember_context *ctx) {
    char b = 1;
    ssize_t r;
    do r = write(ctx->wake[1], &b, 1); while (r < 0 && errno == EINTR);
}

/* ---- resolving a partition into an input tree ------------------------------------ */

typedef struct encoder {
    emberB_buf b;
    emberG_part **sending;       /* cached partitions the task sends, retained */
    const emberG_blocks **streams; /* the batches of each DATA stream */
    size_t nstreams, cap;
} encoder;

static int add_stream(encoder *e, const emberG_blocks *blocks, emberG_part *part, uint32_t *index) {
    if (e->nstreams == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        const emberG_blocks **s = ember_realloc(e->streams, cap * sizeof *s);
        if (s) e->streams = s;
        emberG_part **p = s ? ember_realloc(e->sending, cap * sizeof *p) : NULL;
        if (!p) return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        e->sending = p;
        e->cap = cap;
    }
    if (part) emberG_part_retain(part);
    e->sending[e->nstreams] = part;
    e->streams[e->nstreams] = blocks;
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
 * so far (top-down); the caller holds ctx->mu (cache state). */
static int encode_input(encoder *e, ember_node *n, size_t p, int skip_cache, cmd_ref *above, size_t nabove,
                        size_t capabove) {
    emberB_buf *b = &e->b;
    int rc;
    if (!skip_cache && n->cached && n->cache && n->cache[p]) {
        uint32_t s = 0;
        if ((rc = add_stream(e, &n->cache[p]->blocks, n->cache[p], &s))) return rc;
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
        uint32_t count = 0;
        for (size_t m = 0; m < n->nmaps; m++)
            if (n->bucket_bytes[m * n->nparts + p]) count++;
        rc = emberB_put_u32(b, EMBER_IN_SHUFFLE);
        rc = rc ? rc : emberB_put_u32(b, (uint32_t)p);
        rc = rc ? rc : emberB_put_u32(b, count);
        for (size_t m = 0; m < n->nmaps && !rc; m++)
            if (n->bucket_bytes[m * n->nparts + p]) rc = emberB_put_str(b, n->map_paths[m]);
        break;
    }
    default: return emberE_set(EMBER_EINVAL, "node %d cannot be a task's input", n->id);
    }
    return rc ? rc : encode_cmds(e, above, nabove);
}

/* ---- planning -------------------------------------------------------------------- */

static int all_cached(ember_node *n) {
    if (!n->cache) return 0;
    for (size_t p = 0; p < n->nparts; p++)
        if (!n->cache[p]) return 0;
    return 1;
}

/* Finds the first node n's partitions need made (shuffle output or cache) whose own
 * inputs exist. Sets *kind. Returns NULL when nothing is missing; sets *wait when
 * something is missing but another stage is making it. Caller holds ctx->mu. */
static ember_node *find_missing(ember_node *n, int skip_cache, int *kind, int *wait) {
    if (!skip_cache && n->cached && !all_cached(n)) {
        ember_node *d = find_missing(n, 1, kind, wait);
        if (d || *wait) return d;
        if (n->materializing) { *wait = 1; return NULL; }
        *kind = STAGE_CACHE;
        return n;
    }
    if (n->kind == EMBER_NODE_SHUFFLE) {
        if (n->shuffle_done) return NULL;
        ember_node *d = find_missing(n->parents[0], 0, kind, wait);
        if (d || *wait) return d;
        if (n->materializing) { *wait = 1; return NULL; }
        *kind = STAGE_SHUFFLE;
        return n;
    }
    for (size_t i = 0; i < n->nparents; i++) {
        ember_node *d = find_missing(n->parents[i], 0, kind, wait);
        if (d || *wait) return d;
    }
    return NULL;
}

/* 1 when n or a node it reads through narrow dependencies (not across a shuffle) is a
 * barrier node. Caller holds ctx->mu. */
static int has_barrier(const ember_node *n) {
    if (n->barrier) return 1;
    if (n->kind == EMBER_NODE_SHUFFLE) return 0;
    for (size_t i = 0; i < n->nparents; i++)
        if (has_barrier(n->parents[i])) return 1;
    return 0;
}

/* Why a barrier stage cannot run (0 when it can): more tasks than the context has
 * slots, or only some partitions of its node. Sets the error message. */
static int barrier_check(ember_context *ctx, const stage *st) {
    if (!st->barrier) return 0;
    if (st->ntasks > (size_t)ctx->cfg.slots)
        return emberE_set(EMBER_ETASK,
                          "[BARRIER_SLOTS] Barrier execution mode does not allow running a barrier stage that "
                          "needs more slots than the context has: stage %d has %zu tasks, which must run at "
                          "the same time, but only %d task slots are available. Reduce the number of "
                          "partitions of the barrier RDD (repartition/coalesce) or start the context with "
                          "more slots (local[N] with N >= %zu).",
                          st->id, st->ntasks, ctx->cfg.slots, st->ntasks);
    if (st->ntasks != st->computed->nparts)
        return emberE_set(EMBER_ETASK,
                          "[BARRIER_PARTIAL] Barrier execution mode does not allow a barrier stage to compute "
                          "only some partitions (%zu of %zu; e.g. first()/take() on a barrier RDD, or a "
                          "partly cached one): use collect() and pick from the result instead.",
                          st->ntasks, st->computed->nparts);
    return 0;
}

static stage *new_stage(ember_context *ctx, struct ember_job *job, int kind, ember_node *target) {
    stage *st = ember_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->kind = kind;
    st->target = target;
    st->computed = kind == STAGE_SHUFFLE ? target->parents[0] : target;
    st->job = job;
    st->submitted_ms = now_ms();
    size_t n = 0;
    if (kind == STAGE_RESULT) n = job->nparts;
    else if (kind == STAGE_SHUFFLE) n = target->nmaps;
    else
        for (size_t p = 0; p < target->nparts; p++) n += target->cache[p] == NULL;
    st->tasks = ember_calloc(n ? n : 1, sizeof *st->tasks);
    if (!st->tasks) { ember_free(st); return NULL; }
    st->ntasks = n;
    size_t k = 0;
    for (size_t p = 0; p < (kind == STAGE_RESULT ? job->nparts : kind == STAGE_SHUFFLE ? target->nmaps : target->nparts); p++) {
        if (kind == STAGE_CACHE && target->cache[p]) continue;
        task *t = &st->tasks[k++];
        t->part = kind == STAGE_RESULT ? job->parts[p] : p;
        if (kind == STAGE_SHUFFLE && !(t->bucket_bytes = ember_calloc(target->nparts, sizeof(uint64_t)))) {
            for (size_t i = 0; i < k; i++) ember_free(st->tasks[i].bucket_bytes);
            ember_free(st->tasks);
            ember_free(st);
            return NULL;
        }
    }
    if (kind != STAGE_RESULT) target->materializing = 1;
    st->barrier = has_barrier(st->computed);
    st->id = ctx->next_stage_id++;
    st->next = ctx->stages;
    ctx->stages = st;
    return st;
}

/* ---- sending a task ------------------------------------------------------------- */

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

/* Drops commands of released nodes from this worker. Caller holds ctx->mu. */
static int send_forgets(ember_context *ctx, emberX_worker *w) {
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

static void release_sending(task *t) {
    for (size_t i = 0; i < t->nsending; i++) emberG_part_release(t->sending[i]);
    ember_free(t->sending);
    t->sending = NULL;
    t->nsending = 0;
}

static int assign(ember_context *ctx, stage *st, task *t, emberX_worker *w) {
    encoder e = {0};
    cmd_ref above[256];
    int rc;
    struct ember_job *job = st->job;
    t->attempt_id = ++ctx->next_attempt_id;
    rc = emberB_put_u64(&e.b, t->attempt_id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)st->id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)t->part);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)t->attempts);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)job->id);
    rc = rc ? rc : emberB_put_u32(&e.b, (uint32_t)job->info_len);
    rc = rc ? rc : emberB_append(&e.b, job->info, job->info_len);
    if (rc) goto free_all;
    pthread_mutex_lock(&ctx->mu);
    rc = send_forgets(ctx, w);
    if (!rc) rc = encode_input(&e, st->computed, t->part, st->kind == STAGE_CACHE, above, 0, 256);
    pthread_mutex_unlock(&ctx->mu);
    if (rc) goto free_all;
    if ((rc = send_commands(w, st->computed, 0))) goto free_all;
    if (st->kind == STAGE_SHUFFLE) {
        char path[4096];
        map_output_path(path, sizeof path, ctx, st, t);
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
    /* The task holds the cached partitions it sends until the attempt ends. */
    t->sending = e.sending;
    t->nsending = e.nstreams;
    e.sending = NULL;
    e.nstreams = 0;
    t->state = TASK_RUNNING;
    t->attempts++;
    t->w = w;
    w->task = t;
    pthread_mutex_lock(&ctx->mu);
    st->nrunning++;
    pthread_mutex_unlock(&ctx->mu);
    rc = emberX_flush(w);
free_all:
    for (size_t i = 0; i < e.nstreams; i++) emberG_part_release(e.sending[i]);
    ember_free(e.sending);
    ember_free(e.streams);
    emberB_free(&e.b);
    return rc;
}

/* ---- task completion and failure ----------------------------------------------------- */

static void set_error(char **dst, const char *msg, size_t len) {
    ember_free(*dst);
    *dst = ember_malloc(len + 1);
    if (*dst) {
        memcpy(*dst, msg, len);
        (*dst)[len] = 0;
    }
}

static void finish_job(ember_context *ctx, struct ember_job *job, int rc, const char *error);

/* Ends a stage that will not complete: kills workers still running its tasks. */
/* Ends a stage that will not complete: kills workers still running its tasks and
 * removes the map output its finished tasks wrote (nothing will read it). */
static void abort_stage(ember_context *ctx, stage *st) {
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        if (t->w) {
            emberX_worker_kill(t->w);
            t->w = NULL;
        }
        release_sending(t);
        if (st->kind == STAGE_SHUFFLE && t->state == TASK_DONE) {
            char path[4096];
            map_output_path(path, sizeof path, ctx, st, t);
            unlink(path);
        }
    }
}

/* Keeps a finished stage's final counts for ember_finished_stages: a ring of the
 * last EMBER_STAGE_HISTORY stages, allocated on first use (without memory the
 * history is skipped, nothing fails). Caller holds ctx->mu. */
static void remember_stage(ember_context *ctx, const stage *st) {
    if (!ctx->history && !(ctx->history = ember_malloc(EMBER_STAGE_HISTORY * sizeof *ctx->history))) return;
    ctx->history[ctx->history_next] = (ember_stage_info){st->id, st->job->id, (int)st->ntasks, (int)st->ndone, 0,
                                                         (int)st->nfailed, (int64_t)st->submitted_ms};
    ctx->history_next = (ctx->history_next + 1) % EMBER_STAGE_HISTORY;
    if (ctx->nhistory < EMBER_STAGE_HISTORY) ctx->nhistory++;
}

static void free_stage(ember_context *ctx, stage *st) {
    pthread_mutex_lock(&ctx->mu);
    for (stage **pp = &ctx->stages; *pp; pp = &(*pp)->next)
        if (*pp == st) { *pp = st->next; break; }
    remember_stage(ctx, st);
    if (st->kind != STAGE_RESULT) st->target->materializing = 0;
    pthread_mutex_unlock(&ctx->mu);
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        emberG_blocks_clear(&t->out);
        ember_free(t->bucket_bytes);
        ember_free(t->error);
        release_sending(t);
    }
    ember_free(st->tasks);
    ember_free(st);
}

/* A task of a barrier stage failed: kills the stage's other running tasks, drops
 * what its finished ones made, and puts every task back to pending for a new stage
 * attempt (the attempts already made count toward max_failures). */
static void restart_barrier_stage(ember_context *ctx, stage *st) {
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        if (t->state == TASK_RUNNING) {
            if (t->w) emberX_worker_kill(t->w); /* frees its slot (w->task = NULL) */
            pthread_mutex_lock(&ctx->mu);
            st->nrunning--;
            pthread_mutex_unlock(&ctx->mu);
        } else if (t->state == TASK_DONE) {
            if (st->kind == STAGE_SHUFFLE) {
                char path[4096];
                map_output_path(path, sizeof path, ctx, st, t);
                unlink(path);
            }
            pthread_mutex_lock(&ctx->mu);
            st->ndone--;
            pthread_mutex_unlock(&ctx->mu);
        }
        t->w = NULL;
        t->state = TASK_PENDING;
        emberG_blocks_clear(&t->out);
        release_sending(t);
    }
    st->attempt++;
}

/* Records a failed attempt; the task goes back to pending, or the job fails. */
static void task_failed(ember_context *ctx, stage *st, task *t) {
    emberG_blocks_clear(&t->out);
    release_sending(t);
    if (t->w) t->w->task = NULL;
    t->w = NULL;
    t->state = TASK_PENDING;
    pthread_mutex_lock(&ctx->mu);
    st->nrunning--;
    st->nfailed++;
    pthread_mutex_unlock(&ctx->mu);
    if (t->attempts >= ctx->cfg.max_failures) {
        emberE_set(EMBER_ETASK,
                   "Job aborted due to stage failure: task %zu in stage %d failed %d times; most recent failure:\n%s",
                   t->part, st->id, t->attempts, t->error ? t->error : "(no message)");
        finish_job(ctx, st->job, EMBER_ETASK, ember_last_error());
    } else if (st->barrier) {
        restart_barrier_stage(ctx, st);
    }
}

static void worker_died(ember_context *ctx, emberX_worker *w, const char *why) {
    task *t = w->task;
    char msg[1024];
    snprintf(msg, sizeof msg,
             "Python worker exited unexpectedly (crashed or was killed; pid %d, %s) while running task %zu",
             (int)w->pid, why, t ? t->part : 0);
    emberX_worker_kill(w);
    if (!t) return;
    stage *st = NULL;
    for (stage *s = ctx->stages; s; s = s->next)
        if (t >= s->tasks && t < s->tasks + s->ntasks) st = s;
    set_error(&t->error, msg, strlen(msg));
    if (st) task_failed(ctx, st, t);
}

static stage *stage_of(ember_context *ctx, task *t) {
    for (stage *s = ctx->stages; s; s = s->next)
        if (t >= s->tasks && t < s->tasks + s->ntasks) return s;
    return NULL;
}

static void stage_complete(ember_context *ctx, stage *st);

static int add_report(ember_result *r, const uint8_t *p, size_t len) {
    ember_buf *nr = ember_realloc(r->reports, (r->nreports + 1) * sizeof *nr);
    if (!nr) return emberE_set(EMBER_ENOMEM, "out of memory keeping a task report");
    r->reports = nr;
    uint8_t *copy = ember_malloc(len ? len : 1);
    if (!copy) return emberE_set(EMBER_ENOMEM, "out of memory keeping a task report");
    memcpy(copy, p, len);
    r->reports[r->nreports++] = (ember_buf){copy, len};
    return 0;
}

static void handle_frame(ember_context *ctx, emberX_worker *w, uint32_t type, const uint8_t *p, size_t len) {
    task *t = w->task;
    stage *st = t ? stage_of(ctx, t) : NULL;
    if (!st) { worker_died(ctx, w, "it sent a frame while idle"); return; }
    switch (type) {
    case EMBER_FRAME_DATA: {
        if (st->kind == STAGE_SHUFFLE) { worker_died(ctx, w, "it sent data from a shuffle map task"); return; }
        uint8_t *copy = ember_malloc(len ? len : 1);
        if (copy) memcpy(copy, p, len);
        if (!copy || emberG_blocks_push(&t->out, copy, len)) {
            ember_free(copy);
            finish_job(ctx, st->job, EMBER_ENOMEM, "out of memory receiving a result batch");
        }
        return;
    }
    case EMBER_FRAME_TASK_DONE: {
        uint32_t n = len >= 4 ? emberB_load_u32(p) : UINT32_MAX;
        size_t off = 4 + 8 * (size_t)n;
        if (len < 4 || off + 4 > len || off + 4 + emberB_load_u32(p + off) != len ||
            (st->kind == STAGE_SHUFFLE && n != st->target->nparts)) {
            worker_died(ctx, w, "it sent a malformed TASK_DONE");
            return;
        }
        for (uint32_t i = 0; i < n && st->kind == STAGE_SHUFFLE; i++)
            t->bucket_bytes[i] = emberB_load_u64(p + 4 + 8 * (size_t)i);
        uint32_t rlen = emberB_load_u32(p + off);
        if (rlen && st->job->result && add_report(st->job->result, p + off + 4, rlen)) {
            finish_job(ctx, st->job, EMBER_ENOMEM, ember_last_error());
            return;
        }
        release_sending(t);
        t->state = TASK_DONE;
        t->w = NULL;
        w->task = NULL;
        pthread_mutex_lock(&ctx->mu);
        st->ndone++;
        st->nrunning--;
        pthread_mutex_unlock(&ctx->mu);
        if (st->ndone == st->ntasks) stage_complete(ctx, st);
        return;
    }
    case EMBER_FRAME_TASK_ERROR:
        set_error(&t->error, (const char *)p, len);
        task_failed(ctx, st, t);
        return;
    default: worker_died(ctx, w, "it sent an unexpected frame");
    }
}

/* Reads what a worker sent and handles whole frames. */
static void drain_worker(ember_context *ctx, emberX_worker *w) {
    for (;;) {
        long r = emberW_read_fd(&w->in, w->from_fd);
        if (r == -EAGAIN) return;
        if (r < 0) { worker_died(ctx, w, ember_last_error()); return; }
        if (r == 0) { worker_died(ctx, w, "its pipe closed"); return; }
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int got;
        while (w->alive && w->task && (got = emberW_next(&w->in, &type, &payload, &len)) > 0)
            handle_frame(ctx, w, type, payload, len);
        if (!w->alive) return;
        if (w->task && got < 0) { worker_died(ctx, w, ember_last_error()); return; }
    }
}

/* Moves a finished stage's output where it belongs: cache, shuffle registry or the
 * job's result; then the job plans its next stage. */
static void stage_complete(ember_context *ctx, stage *st) {
    ember_node *n = st->target;
    struct ember_job *job = st->job;
    int rc = 0;
    for (size_t i = 0; i < st->ntasks && !rc; i++) {
        task *t = &st->tasks[i];
        if (st->kind == STAGE_CACHE) {
            emberG_part *part = emberG_part_new();
            if (!part) { rc = EMBER_ENOMEM; break; }
            part->blocks = t->out;
            pthread_mutex_lock(&ctx->mu);
            if (n->cached && n->cache && !n->cache[t->part]) n->cache[t->part] = part;
            else emberG_part_release(part);
            pthread_mutex_unlock(&ctx->mu);
        } else if (st->kind == STAGE_SHUFFLE) {
            char path[4096];
            map_output_path(path, sizeof path, ctx, st, t);
            char *dup = ember_strdup(path);
            if (!dup) { rc = EMBER_ENOMEM; break; }
            pthread_mutex_lock(&ctx->mu);
            if (n->map_paths[t->part]) {
                unlink(n->map_paths[t->part]);
                ember_free(n->map_paths[t->part]);
            }
            n->map_paths[t->part] = dup;
            memcpy(&n->bucket_bytes[t->part * n->nparts], t->bucket_bytes, n->nparts * sizeof(uint64_t));
            pthread_mutex_unlock(&ctx->mu);
        } else {
            job->result->batches[i] = t->out.bufs;
            job->result->nbatches[i] = t->out.n;
        }
        memset(&t->out, 0, sizeof t->out);
    }
    int kind = st->kind;
    if (kind == STAGE_SHUFFLE && !rc) {
        pthread_mutex_lock(&ctx->mu);
        n->shuffle_done = 1;
        pthread_mutex_unlock(&ctx->mu);
    }
    job->stage = NULL;
    free_stage(ctx, st);
    if (rc) finish_job(ctx, job, rc, "out of memory committing a stage's output");
    else if (kind == STAGE_RESULT) finish_job(ctx, job, 0, NULL);
}

/* Marks a job finished (once): aborts its running stage, wakes its waiter. */
static void finish_job(ember_context *ctx, struct ember_job *job, int rc, const char *error) {
    if (job->stage) {
        stage *st = job->stage;
        job->stage = NULL;
        abort_stage(ctx, st);
        free_stage(ctx, st);
    }
    pthread_mutex_lock(&ctx->mu);
    for (struct ember_job **pp = &ctx->running; *pp; pp = &(*pp)->next)
        if (*pp == job) { *pp = job->next; break; }
    job->rc = rc;
    if (error) set_error(&job->error, error, strlen(error));
    if (rc && job->result) {
        /* Reports of successful tasks stay: accumulators count them even when the job fails. */
        for (size_t i = 0; i < job->result->nparts; i++) {
            if (!job->result->batches[i]) continue;
            for (size_t j = 0; j < job->result->nbatches[i]; j++) ember_free(job->result->batches[i][j].data);
            ember_free(job->result->batches[i]);
            job->result->batches[i] = NULL;
            job->result->nbatches[i] = 0;
        }
    }
    job->done = 1;
    int freed = job->freed;
    pthread_cond_broadcast(&job->done_cv);
    pthread_mutex_unlock(&ctx->mu);
    if (freed) {
        job->freed = 0;
        ember_job_free(job);
    }
}

/* ---- the engine loop --------------------------------------------------------------- */

/* Why a job was cancelled, as Spark words it. A label "tag:T" is a job tag T. Under mu. */
static void cancel_message(const struct ember_job *j, char *msg, size_t cap) {
    const char *label = j->cancel_label ? j->cancel_label : "";
    if (j->cancel_requested == CANCEL_GROUP && strncmp(label, "tag:", 4) == 0)
        snprintf(msg, cap, "Job %d cancelled part of cancelled job tag %s", j->id, label + 4);
    else if (j->cancel_requested == CANCEL_GROUP)
        snprintf(msg, cap, "Job %d cancelled part of cancelled job group %s", j->id, label);
    else if (j->cancel_requested == CANCEL_ALL)
        snprintf(msg, cap, "Job %d cancelled as part of cancellation of all jobs", j->id);
    else
        snprintf(msg, cap, "Job %d cancelled", j->id);
}

/* Gives each job without a running stage its next one; finishes jobs that cannot go on. */
static void plan(ember_context *ctx) {
    pthread_mutex_lock(&ctx->mu);
    while (ctx->incoming) {
        struct ember_job *j = ctx->incoming;
        ctx->incoming = j->next;
        /* Append: jobs are served in submission order. */
        struct ember_job **pp = &ctx->running;
        while (*pp) pp = &(*pp)->next;
        j->next = NULL;
        *pp = j;
    }
    pthread_mutex_unlock(&ctx->mu);
    for (;;) {
        struct ember_job *cancel = NULL;
        char msg[512];
        pthread_mutex_lock(&ctx->mu);
        for (struct ember_job *j = ctx->running; j && !cancel; j = j->next)
            if (j->cancel_requested) cancel = j;
        if (cancel) cancel_message(cancel, msg, sizeof msg);
        pthread_mutex_unlock(&ctx->mu);
        if (!cancel) break;
        finish_job(ctx, cancel, EMBER_ECANCELLED, msg);
    }
    /* Each pass gives one job its next stage; a stage with no tasks completes at
     * once (outside the lock), which can change the list: then look again. */
    for (;;) {
        struct ember_job *failed = NULL;
        int failed_rc = EMBER_ENOMEM;
        char why[1024] = "out of memory planning a stage";
        stage *empty = NULL;
        pthread_mutex_lock(&ctx->mu);
        for (struct ember_job *j = ctx->running; j && !failed && !empty; j = j->next) {
            if (j->stage) continue;
            int kind = STAGE_RESULT, wait = 0;
            ember_node *target = find_missing(j->node, 0, &kind, &wait);
            if (wait) continue;
            if (!target) {
                kind = STAGE_RESULT;
                target = j->node;
            }
            j->stage = new_stage(ctx, j, kind, target);
            if (!j->stage) {
                failed = j;
            } else if ((failed_rc = barrier_check(ctx, j->stage))) {
                snprintf(why, sizeof why, "%s", ember_last_error());
                failed = j;
            } else if (j->stage->ntasks == 0) {
                empty = j->stage;
            }
        }
        pthread_mutex_unlock(&ctx->mu);
        if (failed) finish_job(ctx, failed, failed_rc ? failed_rc : EMBER_ENOMEM, why);
        else if (empty) stage_complete(ctx, empty);
        else break;
    }
}

/* The first pending task, jobs in submission order. */
static task *next_task(ember_context *ctx, stage **out) {
    for (struct ember_job *j = ctx->running; j; j = j->next) {
        stage *st = j->stage;
        if (!st) continue;
        for (size_t i = 0; i < st->ntasks; i++)
            if (st->tasks[i].state == TASK_PENDING) {
                *out = st;
                return &st->tasks[i];
            }
    }
    return NULL;
}

/* Tells idle workers which commands they may drop, then forgets the ids no worker
 * holds any more, so the list stays as short as the commands workers still hold. */
static void tidy_forgets(ember_context *ctx) {
    emberX_pool *pool = &ctx->pool;
    pthread_mutex_lock(&ctx->mu);
    if (ctx->nforget == 0) {
        pthread_mutex_unlock(&ctx->mu);
        return;
    }
    for (size_t wi = 0; wi < pool->nworkers; wi++) {
        emberX_worker *w = &pool->workers[wi];
        if (w->alive && !w->task && send_forgets(ctx, w) == 0) emberX_flush(w);
    }
    size_t kept = 0;
    for (size_t i = 0; i < ctx->nforget; i++) {
        int held = 0;
        for (size_t wi = 0; wi < pool->nworkers && !held; wi++)
            held = pool->workers[wi].alive && emberX_worker_has(&pool->workers[wi], ctx->forget[i]);
        if (held) ctx->forget[kept++] = ctx->forget[i];
    }
    ctx->nforget = kept;
    pthread_mutex_unlock(&ctx->mu);
}

static void dispatch(ember_context *ctx) {
    emberX_pool *pool = &ctx->pool;
    size_t nfree = 0;
    for (size_t wi = 0; wi < pool->nworkers; wi++) nfree += !(pool->workers[wi].alive && pool->workers[wi].task);
    for (size_t wi = 0; wi < pool->nworkers; wi++) {
        emberX_worker *w = &pool->workers[wi];
        if (w->alive && w->task) continue;
        stage *st;
        task *t = next_task(ctx, &st);
        if (!t) break;
        /* A barrier stage starts only with a worker for each task; until then the
         * stages after it wait too, so that it is not starved. */
        if (st->barrier && st->nrunning == 0 && nfree < st->ntasks) break;
        nfree--;
        int rc = 0;
        if (!w->alive) rc = emberX_worker_start(pool, w);
        if (!rc) rc = assign(ctx, st, t, w);
        if (rc == EMBER_EWORKER) {
            worker_died(ctx, w, "its pipe closed");
        } else if (rc) {
            if (w->task) emberX_worker_kill(w);
            finish_job(ctx, st->job, rc, ember_last_error());
        }
    }
    tidy_forgets(ctx);
}

void *emberS_engine_main(void *arg) {
    ember_context *ctx = arg;
    emberX_pool *pool = &ctx->pool;
    struct pollfd *pfds = ember_calloc(2 * pool->nworkers + 1, sizeof *pfds);
    emberX_worker **pw = ember_calloc(2 * pool->nworkers + 1, sizeof *pw);
    for (;;) {
        pthread_mutex_lock(&ctx->mu);
        int stopping = ctx->stopped;
        pthread_mutex_unlock(&ctx->mu);
        if (stopping) break;
        plan(ctx);
        dispatch(ctx);
        nfds_t n = 0;
        pfds[n] = (struct pollfd){.fd = ctx->wake[0], .events = POLLIN};
        pw[n++] = NULL;
        for (size_t wi = 0; wi < pool->nworkers; wi++) {
            emberX_worker *w = &pool->workers[wi];
            if (!w->alive || !w->task) continue;
            pfds[n] = (struct pollfd){.fd = w->from_fd, .events = POLLIN};
            pw[n++] = w;
            if (emberX_pending(w)) {
                pfds[n] = (struct pollfd){.fd = w->to_fd, .events = POLLOUT};
                pw[n++] = w;
            }
        }
        int pr = poll(pfds, n, 1000);
        if (pr <= 0) continue;
        if (pfds[0].revents) {
            char buf[64];
            while (read(ctx->wake[0], buf, sizeof buf) > 0) {}
        }
        for (nfds_t i = 1; i < n; i++) {
            emberX_worker *w = pw[i];
            if (!pfds[i].revents || !w->alive || !w->task) continue;
            if (pfds[i].fd == w->to_fd) {
                if (emberX_flush(w)) worker_died(ctx, w, "its pipe closed");
            } else {
                drain_worker(ctx, w);
            }
        }
    }
    /* Stopping: every job still running ends. */
    for (;;) {
        pthread_mutex_lock(&ctx->mu);
        while (ctx->incoming) {
            struct ember_job *j = ctx->incoming;
            ctx->incoming = j->next;
            j->next = ctx->running;
            ctx->running = j;
        }
        struct ember_job *j = ctx->running;
        pthread_mutex_unlock(&ctx->mu);
        if (!j) break;
        finish_job(ctx, j, EMBER_ESTOPPED, "the SparkContext was stopped while the job ran");
    }
    ember_free(pfds);
    ember_free(pw);
    return NULL;
}

/* ---- the job API ----------------------------------------------------------------------- */

void ember_result_free(ember_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nparts; i++) {
        if (!r->batches || !r->batches[i]) continue;
        for (size_t j = 0; j < r->nbatches[i]; j++) ember_free(r->batches[i][j].data);
        ember_free(r->batches[i]);
    }
    for (size_t i = 0; i < r->nreports; i++) ember_free(r->reports[i].data);
    ember_free(r->reports);
    ember_free(r->batches);
    ember_free(r->nbatches);
    ember_free(r);
}

int ember_job_submit(ember_context *ctx, ember_node *node, const size_t *partitions, size_t npartitions,
                     const char *group, const void *info, size_t info_len, ember_job **out) {
    if (!partitions) npartitions = node->nparts;
    for (size_t i = 0; partitions && i < npartitions; i++)
        if (partitions[i] >= node->nparts)
            return emberE_set(EMBER_EINVAL, "partition %zu requested of an RDD with %zu partitions", partitions[i],
                              node->nparts);
    struct ember_job *job = ember_calloc(1, sizeof *job);
    if (!job) return emberE_set(EMBER_ENOMEM, "out of memory submitting a job");
    job->ctx = ctx;
    job->parts = ember_malloc((npartitions ? npartitions : 1) * sizeof *job->parts);
    job->result = ember_calloc(1, sizeof *job->result);
    if (job->result) {
        job->result->nparts = npartitions;
        job->result->batches = ember_calloc(npartitions ? npartitions : 1, sizeof *job->result->batches);
        job->result->nbatches = ember_calloc(npartitions ? npartitions : 1, sizeof *job->result->nbatches);
    }
    job->group = group ? ember_strdup(group) : NULL;
    job->info = ember_malloc(info_len ? info_len : 1);
    if (!job->parts || !job->result || !job->result->batches || !job->result->nbatches || (group && !job->group) ||
        !job->info) {
        ember_result_free(job->result);
        ember_free(job->parts);
        ember_free(job->group);
        ember_free(job->info);
        ember_free(job);
        return emberE_set(EMBER_ENOMEM, "out of memory submitting a job");
    }
    for (size_t i = 0; i < npartitions; i++) job->parts[i] = partitions ? partitions[i] : i;
    job->nparts = npartitions;
    if (info_len) memcpy(job->info, info, info_len);
    job->info_len = info_len;
    pthread_cond_init(&job->done_cv, NULL);
    ember_node_retain(node);
    job->node = node;
    pthread_mutex_lock(&ctx->mu);
    if (ctx->stopped) {
        pthread_mutex_unlock(&ctx->mu);
        job->done = 1;
        ember_job_free(job);
        return emberE_set(EMBER_ESTOPPED, "the SparkContext is stopped; create a new one to run jobs");
    }
    job->id = ctx->next_job_id++;
    job->next = NULL;
    struct ember_job **pp = &ctx->incoming;
    while (*pp) pp = &(*pp)->next;
    *pp = job;
    pthread_mutex_unlock(&ctx->mu);
    emberS_wake(ctx);
    *out = job;
    return 0;
}

int ember_job_wait(ember_job *job, int timeout_ms) {
    ember_context *ctx = job->ctx;
    pthread_mutex_lock(&ctx->mu);
    if (!job->done && timeout_ms != 0) {
        if (timeout_ms < 0) {
            while (!job->done) pthread_cond_wait(&job->done_cv, &ctx->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += timeout_ms / 1000;
            ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            while (!job->done && pthread_cond_timedwait(&job->done_cv, &ctx->mu, &ts) == 0) {}
        }
    }
    int done = job->done;
    pthread_mutex_unlock(&ctx->mu);
    return done;
}

void ember_job_cancel(ember_job *job) {
    pthread_mutex_lock(&job->ctx->mu);
    if (!job->cancel_requested) job->cancel_requested = CANCEL_JOB;
    pthread_mutex_unlock(&job->ctx->mu);
    emberS_wake(job->ctx);
}

int ember_job_id(const ember_job *job) { return job->id; }

int ember_job_finish(ember_job *job, ember_result **out) {
    ember_job_wait(job, -1);
    *out = job->result;
    job->result = NULL;
    if (job->rc) {
        emberE_set(job->rc, "%s", job->error ? job->error : ember_strerror(job->rc));
        return job->rc;
    }
    return 0;
}

void ember_job_free(ember_job *job) {
    if (!job) return;
    ember_context *ctx = job->ctx;
    pthread_mutex_lock(&ctx->mu);
    if (!job->done) {
        /* The engine still holds it: cancel, and let the engine free it when done. */
        if (!job->cancel_requested) job->cancel_requested = CANCEL_JOB;
        job->freed = 1;
        pthread_mutex_unlock(&ctx->mu);
        emberS_wake(ctx);
        return;
    }
    pthread_mutex_unlock(&ctx->mu);
    pthread_cond_destroy(&job->done_cv);
    ember_result_free(job->result);
    ember_node_release(job->node);
    ember_free(job->parts);
    ember_free(job->group);
    ember_free(job->cancel_label);
    ember_free(job->info);
    ember_free(job->error);
    ember_free(job);
}

/* 1 when label is one of the '\n'-separated labels of a job's group string. */
static int has_label(const char *labels, const char *label) {
    size_t n = strlen(label);
    for (const char *p = labels;;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, label, n) == 0) return 1;
        if (!end) return 0;
        p = end + 1;
    }
}

int ember_cancel_group(ember_context *ctx, const char *group) {
    int n = 0;
    pthread_mutex_lock(&ctx->mu);
    struct ember_job *lists[2] = {ctx->incoming, ctx->running};
    for (int l = 0; l < 2; l++)
        for (struct ember_job *j = lists[l]; j; j = j->next)
            if (!group || (j->group && has_label(j->group, group))) {
                if (!j->cancel_requested) {
                    /* Out of memory for the label only loses it from the message. */
                    j->cancel_label = group ? ember_strdup(group) : NULL;
                    j->cancel_requested = group ? CANCEL_GROUP : CANCEL_ALL;
                }
                n++;
            }
    pthread_mutex_unlock(&ctx->mu);
    emberS_wake(ctx);
    return n;
}

int ember_cancel_all(ember_context *ctx) { return ember_cancel_group(ctx, NULL); }

int ember_run_job(ember_context *ctx, ember_node *node, const size_t *partitions, size_t npartitions,
                  ember_interrupt_fn interrupt, void *arg, ember_result **out) {
    ember_job *job;
    int rc = ember_job_submit(ctx, node, partitions, npartitions, NULL, NULL, 0, &job);
    if (rc) return rc;
    while (!ember_job_wait(job, interrupt ? 50 : -1))
        if (interrupt(arg)) ember_job_cancel(job);
    rc = ember_job_finish(job, out);
    if (rc) {
        ember_result_free(*out);
        *out = NULL;
    }
    ember_job_free(job);
    return rc;
}

/* 1 when target is n or in its lineage. Each node is visited once per walk (marked
 * with `walk`), so shared ancestors cost nothing twice. Caller holds ctx->mu. */
static int lineage_holds(ember_node *n, const ember_node *target, unsigned walk) {
    if (n == target) return 1;
    if (n->walk_mark == walk) return 0;
    n->walk_mark = walk;
    for (size_t i = 0; i < n->nparents; i++)
        if (lineage_holds(n->parents[i], target, walk)) return 1;
    return 0;
}

int ember_node_clean_shuffle(ember_node *n) {
    if (n->kind != EMBER_NODE_SHUFFLE) return 0;
    ember_context *ctx = n->ctx;
    int rc = 0;
    pthread_mutex_lock(&ctx->mu);
    if (n->materializing) {
        rc = emberE_set(EMBER_EBUSY, "shuffle node %d is being computed by a running job", n->id);
        goto unlock;
    }
    struct ember_job *lists[2] = {ctx->incoming, ctx->running};
    for (int l = 0; l < 2; l++)
        for (struct ember_job *j = lists[l]; j; j = j->next)
            if (lineage_holds(j->node, n, ++ctx->next_walk)) {
                rc = emberE_set(EMBER_EBUSY, "shuffle node %d is in the lineage of running job %d", n->id, j->id);
                goto unlock;
            }
    for (size_t m = 0; m < n->nmaps; m++) {
        if (!n->map_paths[m]) continue;
        unlink(n->map_paths[m]);
        ember_free(n->map_paths[m]);
        n->map_paths[m] = NULL;
        rc = 1;
    }
    memset(n->bucket_bytes, 0, n->nmaps * n->nparts * sizeof *n->bucket_bytes);
    rc = rc || n->shuffle_done;
    n->shuffle_done = 0;
unlock:
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

size_t ember_active_stages(ember_context *ctx, ember_stage_info *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&ctx->mu);
    for (stage *st = ctx->stages; st; st = st->next, n++) {
        if (n >= max) continue;
        out[n] = (ember_stage_info){st->id, st->job->id, (int)st->ntasks, (int)st->ndone, (int)st->nrunning,
                                    (int)st->nfailed, (int64_t)st->submitted_ms};
    }
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

size_t ember_finished_stages(ember_context *ctx, ember_stage_info *out, size_t max) {
    pthread_mutex_lock(&ctx->mu);
    size_t n = ctx->nhistory, skip = n > max ? n - max : 0;
    size_t first = (ctx->history_next + EMBER_STAGE_HISTORY - n) % EMBER_STAGE_HISTORY;
    for (size_t i = skip; i < n; i++) out[i - skip] = ctx->history[(first + i) % EMBER_STAGE_HISTORY];
    pthread_mutex_unlock(&ctx->mu);
    return n;
}
