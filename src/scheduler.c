/* scheduler.c — jobs, stages and tasks.
 *
 * Design. A job asks for some partitions of a node. Walking the lineage through its
 * narrow dependencies (pipelines, unions) finds what must exist first: shuffles
 * whose map output is not written yet and cached nodes whose partitions are not
 * stored yet. Each is materialized by a stage of its own (recursively, parents
 * first); finished shuffle output and cached partitions stay for later jobs.
 *
 * A task computes one partition of a node. Resolving it through the narrow
 * dependencies gives where its records come from (parallelized or cached batches
 * sent over the pipe, a text split or a range the worker reads itself, buckets of
 * shuffle files the worker reads itself) and the commands to apply in order. Its
 * output goes back over the pipe (results, cached partitions) or into a shuffle
 * file the worker writes.
 *
 * The stage loop runs in the thread that called ember_run_job, with the Python GIL
 * released by the caller: it hands tasks to free workers, polls their pipes, and
 * retries a failed task (a user error, or a worker that died) up to max_failures
 * times on a fresh attempt. It calls the interrupt callback about every 50 ms.
 * One job runs at a time per context (the job lock).
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

enum task_kind { TASK_RESULT, TASK_SHUFFLE, TASK_CACHE };
enum task_state { TASK_PENDING, TASK_RUNNING, TASK_DONE };

typedef struct task {
    ember_node *node;    /* computes partition `part` of node (for a shuffle: of its parent) */
    size_t part;
    int state;
    int attempts;        /* attempts started so far */
    emberX_worker *w;
    uint64_t attempt_id;
    emberG_blocks out;   /* DATA frames received */
    uint64_t *bucket_bytes;
    char *error;         /* the last failure */
} task;

typedef struct stage {
    ember_context *ctx;
    int id;
    int kind;
    ember_node *target;  /* the node whose partitions (or, for a shuffle, map output) this stage makes */
    task *tasks;
    size_t ntasks, ndone;
} stage;

/* ---- resolving a partition through narrow dependencies ----------------------- */

typedef struct resolved {
    uint64_t *cmds;      /* command ids, in application order */
    uint32_t *splits;    /* the partition index each command sees (of its own node) */
    size_t ncmds, capcmds;
    ember_node *source;  /* the node the input comes from */
    size_t part;         /* its partition */
    int from_cache;
} resolved;

static int push_cmd(resolved *r, uint64_t id, size_t split) {
    if (r->ncmds == r->capcmds) {
        size_t cap = r->capcmds ? r->capcmds * 2 : 8;
        uint64_t *c = ember_realloc(r->cmds, cap * sizeof *c);
        if (c) r->cmds = c;
        uint32_t *s = c ? ember_realloc(r->splits, cap * sizeof *s) : NULL;
        if (!s) return emberE_set(EMBER_ENOMEM, "out of memory resolving a task");
        r->splits = s;
        r->capcmds = cap;
    }
    r->cmds[r->ncmds] = id;
    r->splits[r->ncmds++] = (uint32_t)split;
    return 0;
}

/* Fills r for partition p of n, commands in application order. */
static int resolve(ember_node *n, size_t p, int skip_cache, resolved *r) {
    if (!skip_cache && n->cached && n->cache_done[p]) {
        r->source = n;
        r->part = p;
        r->from_cache = 1;
        return 0;
    }
    switch (n->kind) {
    case EMBER_NODE_PIPELINE: {
        int rc = resolve(n->parents[0], p, 0, r);
        return rc ? rc : push_cmd(r, n->cmd_id, p);
    }
    case EMBER_NODE_UNION:
        for (size_t i = 0; i < n->nparents; i++) {
            if (p < n->parents[i]->nparts) return resolve(n->parents[i], p, 0, r);
            p -= n->parents[i]->nparts;
        }
        return emberE_set(EMBER_EINVAL, "partition out of range in union node %d", n->id);
    default:
        r->source = n;
        r->part = p;
        r->from_cache = 0;
        return 0;
    }
}

/* ---- materializing dependencies ------------------------------------------------ */

static int run_stage(ember_context *ctx, int kind, ember_node *target, const size_t *parts, size_t nparts,
                     ember_interrupt_fn interrupt, void *arg, ember_result *result);

static int materialize(ember_context *ctx, ember_node *n, int skip_cache, ember_interrupt_fn interrupt, void *arg);

static int materialize_shuffle(ember_context *ctx, ember_node *s, ember_interrupt_fn interrupt, void *arg) {
    int rc = materialize(ctx, s->parents[0], 0, interrupt, arg);
    if (rc) return rc;
    rc = run_stage(ctx, TASK_SHUFFLE, s, NULL, s->nmaps, interrupt, arg, NULL);
    if (rc == 0) s->shuffle_done = 1;
    return rc;
}

static int materialize_cache(ember_context *ctx, ember_node *n, ember_interrupt_fn interrupt, void *arg) {
    int rc = materialize(ctx, n, 1, interrupt, arg);
    if (rc) return rc;
    size_t *todo = ember_malloc((n->nparts ? n->nparts : 1) * sizeof *todo), k = 0;
    if (!todo) return emberE_set(EMBER_ENOMEM, "out of memory scheduling a cache");
    for (size_t p = 0; p < n->nparts; p++)
        if (!n->cache_done[p]) todo[k++] = p;
    rc = run_stage(ctx, TASK_CACHE, n, todo, k, interrupt, arg, NULL);
    ember_free(todo);
    return rc;
}

/* Makes sure every shuffle and cache that n's partitions read from exists. */
static int materialize(ember_context *ctx, ember_node *n, int skip_cache, ember_interrupt_fn interrupt, void *arg) {
    if (!skip_cache && n->cached) {
        for (size_t p = 0; p < n->nparts; p++)
            if (!n->cache_done[p]) return materialize_cache(ctx, n, interrupt, arg);
        return 0;
    }
    switch (n->kind) {
    case EMBER_NODE_PIPELINE: return materialize(ctx, n->parents[0], 0, interrupt, arg);
    case EMBER_NODE_UNION:
        for (size_t i = 0; i < n->nparents; i++) {
            int rc = materialize(ctx, n->parents[i], 0, interrupt, arg);
            if (rc) return rc;
        }
        return 0;
    case EMBER_NODE_SHUFFLE: return n->shuffle_done ? 0 : materialize_shuffle(ctx, n, interrupt, arg);
    default: return 0;
    }
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

/* The command bytes of id, found along the lineage of n. */
static const ember_node *command_node(const ember_node *n, uint64_t id) {
    if (n->cmd_id == id) return n;
    for (size_t i = 0; i < n->nparents; i++) {
        const ember_node *f = command_node(n->parents[i], id);
        if (f) return f;
    }
    return NULL;
}

/* Drops commands of released nodes from this worker. */
static int send_forgets(ember_context *ctx, emberX_worker *w) {
    int rc = 0;
    pthread_mutex_lock(&ctx->mu);
    for (size_t i = 0; i < ctx->nforget && rc == 0; i++) {
        if (!emberX_worker_has(w, ctx->forget[i])) continue;
        uint8_t id[8];
        emberB_store_u64(id, ctx->forget[i]);
        rc = emberX_queue(w, EMBER_FRAME_FORGET, id, 8, 1);
        emberX_worker_unnote(w, ctx->forget[i]);
    }
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

static int assign(stage *st, task *t, emberX_worker *w) {
    ember_context *ctx = st->ctx;
    resolved r = {0};
    emberB_buf b = {0};
    int rc;
    ember_node *node = st->kind == TASK_SHUFFLE ? st->target->parents[0] : st->target;
    if ((rc = resolve(node, t->part, st->kind == TASK_CACHE, &r))) goto free_all;
    if ((rc = send_forgets(ctx, w))) goto free_all;
    for (size_t i = 0; i < r.ncmds; i++) {
        const ember_node *cn = command_node(node, r.cmds[i]);
        if ((rc = send_command(w, cn->cmd_id, cn->cmd, cn->cmd_len))) goto free_all;
    }
    if (st->kind == TASK_SHUFFLE &&
        (rc = send_command(w, st->target->cmd_id, st->target->cmd, st->target->cmd_len)))
        goto free_all;

    pthread_mutex_lock(&ctx->mu);
    t->attempt_id = ++ctx->next_attempt_id;
    pthread_mutex_unlock(&ctx->mu);
    rc = emberB_put_u64(&b, t->attempt_id);
    rc = rc ? rc : emberB_put_u32(&b, (uint32_t)st->id);
    rc = rc ? rc : emberB_put_u32(&b, (uint32_t)t->part);
    rc = rc ? rc : emberB_put_u32(&b, (uint32_t)t->attempts);
    rc = rc ? rc : emberB_put_u32(&b, (uint32_t)r.ncmds);
    for (size_t i = 0; i < r.ncmds && !rc; i++) {
        rc = emberB_put_u64(&b, r.cmds[i]);
        rc = rc ? rc : emberB_put_u32(&b, r.splits[i]);
    }
    if (rc) goto free_all;

    ember_node *src = r.source;
    const emberG_blocks *data = NULL;
    if (r.from_cache) {
        data = &src->cache[r.part];
    } else if (src->kind == EMBER_NODE_PARALLEL) {
        data = &src->data[r.part];
    }
    if (data) {
        rc = emberB_put_u32(&b, EMBER_IN_DATA);
    } else if (src->kind == EMBER_NODE_TEXT) {
        const ember_split *s = &src->splits[r.part];
        uint32_t flags = (s->gzip ? EMBER_TEXT_GZIP : 0) | (src->as_bytes ? EMBER_TEXT_BYTES : 0);
        rc = emberB_put_u32(&b, EMBER_IN_TEXT);
        rc = rc ? rc : emberB_put_str(&b, s->path);
        rc = rc ? rc : emberB_put_u64(&b, (uint64_t)s->start);
        rc = rc ? rc : emberB_put_u64(&b, (uint64_t)s->end);
        rc = rc ? rc : emberB_put_u32(&b, flags);
    } else if (src->kind == EMBER_NODE_RANGE) {
        int64_t lo = src->bounds[r.part], hi = src->bounds[r.part + 1];
        rc = emberB_put_u32(&b, EMBER_IN_RANGE);
        rc = rc ? rc : emberB_put_u64(&b, (uint64_t)(src->rstart + lo * src->rstep));
        rc = rc ? rc : emberB_put_u64(&b, (uint64_t)(src->rstart + hi * src->rstep));
        rc = rc ? rc : emberB_put_u64(&b, (uint64_t)src->rstep);
    } else if (src->kind == EMBER_NODE_SHUFFLE) {
        uint32_t n = 0;
        for (size_t m = 0; m < src->nmaps; m++)
            if (src->bucket_bytes[m * src->nparts + r.part]) n++;
        rc = emberB_put_u32(&b, EMBER_IN_SHUFFLE);
        rc = rc ? rc : emberB_put_u32(&b, (uint32_t)r.part);
        rc = rc ? rc : emberB_put_u32(&b, n);
        for (size_t m = 0; m < src->nmaps && !rc; m++)
            if (src->bucket_bytes[m * src->nparts + r.part]) rc = emberB_put_str(&b, src->map_paths[m]);
    } else {
        rc = emberE_set(EMBER_EINVAL, "node %d cannot be a task's input", src->id);
    }
    if (rc) goto free_all;

    if (st->kind == TASK_SHUFFLE) {
        char path[4096];
        snprintf(path, sizeof path, "%s/shuffle-%d-%zu-%llu.data", ctx->tmpdir, st->target->id, t->part,
                 (unsigned long long)t->attempt_id);
        rc = emberB_put_u32(&b, EMBER_OUT_SHUFFLE);
        rc = rc ? rc : emberB_put_str(&b, path);
        rc = rc ? rc : emberB_put_u32(&b, (uint32_t)st->target->nparts);
        rc = rc ? rc : emberB_put_u64(&b, st->target->cmd_id);
    } else {
        rc = emberB_put_u32(&b, EMBER_OUT_RESULT);
    }
    if (rc) goto free_all;
    if ((rc = emberX_queue(w, EMBER_FRAME_TASK, b.data, b.len, 1))) goto free_all;
    if (data) {
        for (size_t i = 0; i < data->n && !rc; i++)
            rc = emberX_queue(w, EMBER_FRAME_DATA, data->bufs[i].data, data->bufs[i].len, 0);
        rc = rc ? rc : emberX_queue(w, EMBER_FRAME_INPUT_END, NULL, 0, 0);
        if (rc) goto free_all;
    }
    t->state = TASK_RUNNING;
    t->attempts++;
    t->w = w;
    w->task = t;
    rc = emberX_flush(w);
free_all:
    ember_free(r.cmds);
    ember_free(r.splits);
    emberB_free(&b);
    return rc;
}

/* ---- the stage loop --------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void set_error(task *t, const char *msg, size_t len) {
    ember_free(t->error);
    t->error = ember_malloc(len + 1);
    if (t->error) {
        memcpy(t->error, msg, len);
        t->error[len] = 0;
    }
}

/* Records a failed attempt; the task goes back to pending unless it is out of tries. */
static int task_failed(stage *st, task *t) {
    emberG_blocks_clear(&t->out);
    if (t->w) t->w->task = NULL;
    t->w = NULL;
    t->state = TASK_PENDING;
    if (t->attempts >= st->ctx->cfg.max_failures)
        return emberE_set(EMBER_ETASK, "Job aborted due to stage failure: task %zu in stage %d failed %d times; most recent failure:\n%s",
                          t->part, st->id, t->attempts, t->error ? t->error : "(no message)");
    return 0;
}

static int worker_died(stage *st, emberX_worker *w, const char *why) {
    task *t = w->task;
    char msg[512];
    snprintf(msg, sizeof msg,
             "Python worker exited unexpectedly (pid %d, %s): it crashed or was killed while running task %zu",
             (int)w->pid, why, t ? t->part : 0);
    emberX_worker_kill(w);
    if (!t) return 0;
    set_error(t, msg, strlen(msg));
    return task_failed(st, t);
}

static int handle_frame(stage *st, emberX_worker *w, uint32_t type, const uint8_t *p, size_t len) {
    task *t = w->task;
    if (!t) return worker_died(st, w, "sent a frame while idle");
    switch (type) {
    case EMBER_FRAME_DATA: {
        if (st->kind == TASK_SHUFFLE) return worker_died(st, w, "sent data from a shuffle map task");
        uint8_t *copy = ember_malloc(len ? len : 1);
        if (!copy) return emberE_set(EMBER_ENOMEM, "out of memory receiving a result batch of %zu bytes", len);
        memcpy(copy, p, len);
        int rc = emberG_blocks_push(&t->out, copy, len);
        if (rc) ember_free(copy);
        return rc;
    }
    case EMBER_FRAME_TASK_DONE: {
        if (len < 4) return worker_died(st, w, "sent a short TASK_DONE");
        uint32_t n = emberB_load_u32(p);
        if ((size_t)n * 8 != len - 4) return worker_died(st, w, "sent a malformed TASK_DONE");
        if (st->kind == TASK_SHUFFLE) {
            if (n != st->target->nparts) return worker_died(st, w, "reported the wrong number of buckets");
            for (uint32_t i = 0; i < n; i++) t->bucket_bytes[i] = emberB_load_u64(p + 4 + 8 * (size_t)i);
        }
        t->state = TASK_DONE;
        t->w = NULL;
        w->task = NULL;
        st->ndone++;
        return 0;
    }
    case EMBER_FRAME_TASK_ERROR:
        set_error(t, (const char *)p, len);
        return task_failed(st, t);
    default: return worker_died(st, w, "sent an unexpected frame");
    }
}

/* Reads what a worker sent; handles whole frames. */
static int drain_worker(stage *st, emberX_worker *w) {
    for (;;) {
        long r = emberW_read_fd(&w->in, w->from_fd);
        if (r == -EAGAIN) break;
        if (r < 0) return worker_died(st, w, ember_last_error());
        if (r == 0) return worker_died(st, w, "its pipe closed");
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int got;
        while (w->alive && (got = emberW_next(&w->in, &type, &payload, &len)) > 0) {
            int rc = handle_frame(st, w, type, payload, len);
            if (rc) return rc;
        }
        if (!w->alive) return 0;
        if (got < 0) return worker_died(st, w, ember_last_error());
    }
    return 0;
}

static void stage_free(stage *st) {
    for (size_t i = 0; i < st->ntasks; i++) {
        emberG_blocks_clear(&st->tasks[i].out);
        ember_free(st->tasks[i].bucket_bytes);
        ember_free(st->tasks[i].error);
    }
    ember_free(st->tasks);
}

/* Moves finished output where it belongs: cache, shuffle registry or result. */
static int stage_commit(stage *st, ember_result *result) {
    ember_node *n = st->target;
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        if (st->kind == TASK_CACHE) {
            emberG_blocks_clear(&n->cache[t->part]);
            n->cache[t->part] = t->out;
            n->cache_done[t->part] = 1;
        } else if (st->kind == TASK_SHUFFLE) {
            char path[4096];
            snprintf(path, sizeof path, "%s/shuffle-%d-%zu-%llu.data", st->ctx->tmpdir, n->id, t->part,
                     (unsigned long long)t->attempt_id);
            char *dup = ember_strdup(path);
            if (!dup) return emberE_set(EMBER_ENOMEM, "out of memory recording shuffle output");
            if (n->map_paths[t->part]) {
                unlink(n->map_paths[t->part]);
                ember_free(n->map_paths[t->part]);
            }
            n->map_paths[t->part] = dup;
            memcpy(&n->bucket_bytes[t->part * n->nparts], t->bucket_bytes, n->nparts * sizeof(uint64_t));
        } else {
            result->batches[i] = t->out.bufs;
            result->nbatches[i] = t->out.n;
        }
        memset(&t->out, 0, sizeof t->out);
    }
    return 0;
}

static int run_stage(ember_context *ctx, int kind, ember_node *target, const size_t *parts, size_t nparts,
                     ember_interrupt_fn interrupt, void *arg, ember_result *result) {
    stage st = {.ctx = ctx, .kind = kind, .target = target};
    int rc = 0;
    emberX_pool *pool = &ctx->pool;
    struct pollfd *pfds = NULL;
    emberX_worker **pw = NULL;
    pthread_mutex_lock(&ctx->mu);
    st.id = ctx->next_stage_id++;
    pthread_mutex_unlock(&ctx->mu);
    st.ntasks = nparts;
    st.tasks = ember_calloc(nparts ? nparts : 1, sizeof *st.tasks);
    pfds = ember_calloc(2 * pool->nworkers, sizeof *pfds);
    pw = ember_calloc(2 * pool->nworkers, sizeof *pw);
    if (!st.tasks || !pfds || !pw) { rc = emberE_set(EMBER_ENOMEM, "out of memory starting a stage"); goto free_stage; }
    for (size_t i = 0; i < nparts; i++) {
        st.tasks[i].node = target;
        st.tasks[i].part = parts ? parts[i] : i;
        if (kind == TASK_SHUFFLE) {
            st.tasks[i].bucket_bytes = ember_calloc(target->nparts, sizeof(uint64_t));
            if (!st.tasks[i].bucket_bytes) { rc = emberE_set(EMBER_ENOMEM, "out of memory starting a stage"); goto free_stage; }
        }
    }
    size_t next_pending = 0;
    double last_check = now_ms();
    while (st.ndone < st.ntasks) {
        /* Hand pending tasks to free workers, starting dead ones on demand. */
        for (size_t wi = 0; wi < pool->nworkers; wi++) {
            emberX_worker *w = &pool->workers[wi];
            if (w->alive && w->task) continue;
            while (next_pending < st.ntasks && st.tasks[next_pending].state != TASK_PENDING) next_pending++;
            size_t ti = next_pending;
            if (ti >= st.ntasks) {
                for (ti = 0; ti < st.ntasks && st.tasks[ti].state != TASK_PENDING; ti++) {}
                if (ti >= st.ntasks) break;
            }
            if (!w->alive && (rc = emberX_worker_start(pool, w))) goto cancel;
            rc = assign(&st, &st.tasks[ti], w);
            if (rc == EMBER_EWORKER) { rc = worker_died(&st, w, "its pipe closed"); if (rc) goto cancel; continue; }
            if (rc) goto cancel;
        }
        /* Wait for any of the busy workers. */
        nfds_t n = 0;
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
        int pr = poll(pfds, n, 50);
        if (pr < 0 && errno != EINTR) { rc = emberE_errno(EMBER_EIO, errno, "waiting for workers"); goto cancel; }
        for (nfds_t i = 0; pr > 0 && i < n; i++) {
            emberX_worker *w = pw[i];
            if (!pfds[i].revents || !w->alive || !w->task) continue;
            if (pfds[i].fd == w->to_fd) {
                if (emberX_flush(w)) rc = worker_died(&st, w, "its pipe closed");
            } else {
                rc = drain_worker(&st, w);
            }
            if (rc) goto cancel;
        }
        if (interrupt && now_ms() - last_check >= 50) {
            last_check = now_ms();
            if (interrupt(arg)) { rc = emberE_set(EMBER_ECANCELLED, "job cancelled"); goto cancel; }
        }
    }
    rc = stage_commit(&st, result);
    goto free_stage;
cancel:
    /* Workers still running this stage's tasks are killed; new ones start on demand. */
    for (size_t wi = 0; wi < pool->nworkers; wi++)
        if (pool->workers[wi].task) emberX_worker_kill(&pool->workers[wi]);
free_stage:
    if (st.tasks) stage_free(&st);
    ember_free(pfds);
    ember_free(pw);
    return rc;
}

/* ---- jobs ------------------------------------------------------------------------ */

void ember_result_free(ember_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nparts; i++) {
        if (!r->batches || !r->batches[i]) continue;
        for (size_t j = 0; j < r->nbatches[i]; j++) ember_free(r->batches[i][j].data);
        ember_free(r->batches[i]);
    }
    ember_free(r->batches);
    ember_free(r->nbatches);
    ember_free(r);
}

int ember_run_job(ember_context *ctx, ember_node *node, const size_t *partitions, size_t npartitions,
                  ember_interrupt_fn interrupt, void *arg, ember_result **out) {
    int rc;
    size_t *all = NULL;
    if (!partitions) {
        npartitions = node->nparts;
        all = ember_malloc((npartitions ? npartitions : 1) * sizeof *all);
        if (!all) return emberE_set(EMBER_ENOMEM, "out of memory starting a job");
        for (size_t i = 0; i < npartitions; i++) all[i] = i;
        partitions = all;
    }
    for (size_t i = 0; i < npartitions; i++)
        if (partitions[i] >= node->nparts) {
            ember_free(all);
            return emberE_set(EMBER_EINVAL, "partition %zu requested of an RDD with %zu partitions", partitions[i],
                              node->nparts);
        }
    ember_result *res = ember_calloc(1, sizeof *res);
    if (res) {
        res->nparts = npartitions;
        res->batches = ember_calloc(npartitions ? npartitions : 1, sizeof *res->batches);
        res->nbatches = ember_calloc(npartitions ? npartitions : 1, sizeof *res->nbatches);
    }
    if (!res || !res->batches || !res->nbatches) {
        ember_result_free(res);
        ember_free(all);
        return emberE_set(EMBER_ENOMEM, "out of memory starting a job");
    }
    pthread_mutex_lock(&ctx->job_mu);
    if (ctx->stopped) {
        rc = emberE_set(EMBER_ESTOPPED, "the SparkContext is stopped; create a new one to run jobs");
    } else {
        rc = materialize(ctx, node, 0, interrupt, arg);
        if (!rc) rc = run_stage(ctx, TASK_RESULT, node, partitions, npartitions, interrupt, arg, res);
    }
    pthread_mutex_unlock(&ctx->job_mu);
    ember_free(all);
    if (rc) {
        ember_result_free(res);
        return rc;
    }
    *out = res;
    return 0;
}
