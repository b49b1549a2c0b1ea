/* engine.c — the engine thread: plans stages, hands tasks to workers, handles what
 * they send back.
 *
 * Design. One engine thread per context owns the worker pool and every running
 * stage; other threads talk to it through the context (jobs.c): they submit jobs onto
 * the `incoming` list, ask for cancellation with a flag, and read progress, all under
 * ctx->mu, and wake it with a byte on ctx->wake. It never touches Python objects.
 *
 * A job asks for some partitions of a node. Before it can run them, every shuffle
 * and every cached node its partitions read from must exist. Walking the lineage
 * through narrow dependencies, the engine finds every such node whose own inputs
 * exist and runs a stage making each (a shuffle's map output, or a node's cached
 * partitions, both kept in the block store), so independent stages of a job (the two
 * map stages of a join) run at the same time; finished ones stay for later jobs. A
 * node another job is making already is waited for, not made twice. When a shuffle's
 * map output is complete, the blocks of its parent go if the parent was marked with
 * ember_node_drop_after_shuffle. When nothing is
 * missing, the job's result stage runs. A task computes one partition of a node;
 * tasks.c encodes it.
 *
 * Results stream: a result task's batches are handed to the job's caller when the
 * task finishes (ember_job_next), so it can use them, and stop the job, while the
 * job runs; a barrier stage's all at once when it completes. The bytes of result
 * batches a job receives are counted against max_result_size
 * (spark.driver.maxResultSize): past it, the job fails before holding more.
 *
 * Tasks of all running stages share the workers first come, first served. A failed
 * attempt (the user's error, or a worker that died) is retried up to max_failures
 * times; then the job fails and its other running tasks are killed. Reports of
 * attempts that succeeded go back to the caller whatever the job's outcome (a
 * failed attempt's never do), and each finished stage's final counts are kept in a
 * small ring for status queries. As Spark reports them, a job's stages include the
 * map stages it skips because their shuffle output exists already: each gets a stage
 * id and a history entry with no completed task when the job is submitted. Every
 * attempt's start and end, and every stage's, go into the task log (tasklog.c) for
 * the web UI: a copy under the log's own lock, nothing that waits. Lock order:
 * ctx->mu, then the block store's lock or the task log's.
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

typedef emberS_task task;
typedef emberS_stage stage;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void emberS_wake(ember_context *ctx) {
    char b = 1;
    ssize_t r;
    do
        r = write(ctx->wake[1], &b, 1);
    while (r < 0 && errno == EINTR);
}

int emberS_making(ember_context *ctx, const ember_node *n) {
    for (stage *st = ctx->stages; st; st = st->next)
        if (st->kind != STAGE_RESULT && st->target == n) return 1;
    return 0;
}

/* ---- planning -------------------------------------------------------------------- */

/* 1 when n is persisted and some of its partitions are not in the block store. */
static int wants_cache(ember_node *n) {
    for (size_t p = 0; p < n->nparts; p++)
        if (emberM_wants(&n->ctx->blocks, n->id, p)) return 1;
    return 0;
}

/* What a job's node needs made before its result stage can run. */
typedef struct needs {
    int missing; /* something is missing (ready, being made, or waiting on its inputs) */
    size_t n;    /* ready[0..n): missing nodes whose inputs exist, nobody making them */
    ember_node *ready[32];
    int kind[32];
} needs;

static void add_ready(needs *nd, ember_node *n, int kind) {
    for (size_t i = 0; i < nd->n; i++)
        if (nd->ready[i] == n) return;
    if (nd->n < sizeof nd->ready / sizeof *nd->ready) {
        nd->ready[nd->n] = n;
        nd->kind[nd->n++] = kind;
    }
}

/* Walks n's lineage for the nodes its partitions need made (shuffle output or cache):
 * each one whose own inputs exist and that no stage is making goes into nd->ready.
 * Caller holds ctx->mu. */
static void find_ready(ember_context *ctx, ember_node *n, int skip_cache, needs *nd) {
    if (!skip_cache && wants_cache(n)) {
        nd->missing = 1;
        needs inner = {0};
        find_ready(ctx, n, 1, &inner);
        for (size_t i = 0; i < inner.n; i++)
            add_ready(nd, inner.ready[i], inner.kind[i]);
        if (!inner.missing && !emberS_making(ctx, n)) add_ready(nd, n, STAGE_CACHE);
        return;
    }
    if (n->kind == EMBER_NODE_SHUFFLE) {
        if (emberM_shuffle_done(&ctx->blocks, n->id)) return;
        nd->missing = 1;
        needs inner = {0};
        find_ready(ctx, n->parents[0], 0, &inner);
        for (size_t i = 0; i < inner.n; i++)
            add_ready(nd, inner.ready[i], inner.kind[i]);
        if (!inner.missing && !emberS_making(ctx, n)) add_ready(nd, n, STAGE_SHUFFLE);
        return;
    }
    for (size_t i = 0; i < n->nparents; i++)
        find_ready(ctx, n->parents[i], 0, nd);
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

/* A stage of the given kind making target, listed in ctx->stages (which marks
 * target as being made). Caller holds ctx->mu. NULL when out of memory. */
static stage *new_stage(ember_context *ctx, struct ember_job *job, int kind, ember_node *target) {
    stage *st = ember_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->kind = kind;
    st->target = target;
    st->computed = kind == STAGE_SHUFFLE ? target->parents[0] : target;
    st->job = job;
    st->submitted_ms = now_ms();
    size_t n = 0, nmaps = kind == STAGE_SHUFFLE ? target->parents[0]->nparts : 0;
    size_t all = kind == STAGE_RESULT ? job->nparts : kind == STAGE_SHUFFLE ? nmaps : target->nparts;
    uint8_t *wanted = NULL;
    st->barrier = has_barrier(st->computed);
    if (kind == STAGE_CACHE || (kind == STAGE_SHUFFLE && !st->barrier) || (kind == STAGE_RESULT && job->narrived)) {
        /* Only what is missing: partitions not cached, map outputs not registered (all
         * the first time; one whose file was lost, later), results not yet delivered
         * (after a stage that lost a shuffle file was dropped, see fetch_failed). */
        if (!(wanted = ember_calloc(all ? all : 1, 1))) {
            ember_free(st);
            return NULL;
        }
        for (size_t p = 0; p < all; p++)
            wanted[p] = 1;
        for (size_t i = 0; kind == STAGE_RESULT && i < job->narrived; i++)
            wanted[job->arrived[i]] = 0;
        for (size_t p = 0; p < all; p++) {
            if (kind == STAGE_CACHE)
                wanted[p] = (uint8_t)emberM_wants(&ctx->blocks, target->id, p);
            else if (kind == STAGE_SHUFFLE)
                wanted[p] = (uint8_t)!emberM_shuffle_has(&ctx->blocks, target->id, p);
            n += wanted[p];
        }
    } else {
        n = all;
    }
    st->tasks = ember_calloc(n ? n : 1, sizeof *st->tasks);
    if (!st->tasks) {
        ember_free(wanted);
        ember_free(st);
        return NULL;
    }
    st->ntasks = n;
    size_t k = 0;
    for (size_t p = 0; p < all; p++) {
        if (wanted && !wanted[p]) continue;
        task *t = &st->tasks[k++];
        t->part = kind == STAGE_RESULT ? job->parts[p] : p;
        t->index = p;
        if (kind == STAGE_SHUFFLE && !(t->bucket_bytes = ember_calloc(target->nparts, sizeof(uint64_t)))) {
            for (size_t i = 0; i < k; i++)
                ember_free(st->tasks[i].bucket_bytes);
            ember_free(st->tasks);
            ember_free(st);
            return NULL;
        }
    }
    ember_free(wanted);
    st->id = ctx->next_stage_id++;
    emberL_stage_begin(&ctx->tasklog, &(ember_stage_record){.stage_id = st->id,
                                                            .job_id = job->id,
                                                            .kind = kind,
                                                            .node_id = target->id,
                                                            .status = EMBER_STAGE_ACTIVE,
                                                            .num_tasks = (int)n,
                                                            .submitted_ms = emberL_now_ms()});
    st->next = ctx->stages;
    ctx->stages = st;
    stage **pp = &job->stages;
    while (*pp)
        pp = &(*pp)->job_next;
    *pp = st;
    return st;
}

/* ---- starting a task ------------------------------------------------------------- */

static void release_sending(task *t) {
    for (size_t i = 0; i < t->nsending; i++)
        emberM_part_release(t->sending[i]);
    ember_free(t->sending);
    t->sending = NULL;
    t->nsending = 0;
}

/* Starts task t's next attempt on worker w. */
static int assign(ember_context *ctx, stage *st, task *t, emberX_worker *w) {
    t->attempt_id = ++ctx->next_attempt_id;
    t->place = w->remote;
    t->stored = 0;
    t->stored_bytes = 0;
    int rc = emberA_send_task(ctx, st, t, w);
    if (rc) return rc;
    emberL_task_begin(&ctx->tasklog, &(ember_task_info){.task_id = t->attempt_id,
                                                        .stage_id = st->id,
                                                        .stage_attempt = st->attempt,
                                                        .job_id = st->job->id,
                                                        .index = (int)(t - st->tasks),
                                                        .partition = (int)t->part,
                                                        .attempt = t->attempts,
                                                        .worker = (int)(w - ctx->pool.workers),
                                                        .pid = (int)w->pid,
                                                        .executor = w->remote,
                                                        .status = EMBER_TASK_RUNNING,
                                                        .launch_ms = emberL_now_ms(),
                                                        .input_bytes = t->input_bytes,
                                                        .shuffle_read_bytes = t->shuffle_read_bytes});
    t->state = TASK_RUNNING;
    t->attempts++;
    t->w = w;
    w->task = t;
    pthread_mutex_lock(&ctx->mu);
    st->nrunning++;
    pthread_mutex_unlock(&ctx->mu);
    return emberX_flush(w);
}

/* Takes back an attempt that never reached its worker (assign's first write found
 * the worker gone): the task is pending again, its attempt count as before. */
static void unassign(ember_context *ctx, stage *st, task *t) {
    emberL_task_drop(&ctx->tasklog, t->attempt_id);
    t->attempts--;
    t->state = TASK_PENDING;
    if (t->w) t->w->task = NULL;
    t->w = NULL;
    release_sending(t);
    pthread_mutex_lock(&ctx->mu);
    st->nrunning--;
    pthread_mutex_unlock(&ctx->mu);
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

/* Kills worker w, which runs task t of stage st (NULL: not known). A cache task on an
 * executor whose BLOCK_STORED the engine has not read may have had its block kept
 * there already (the answer on its way): the transport has the executor drop it, as
 * no record of the driver's will ever name it. */
static void kill_task_worker(ember_context *ctx, const stage *st, const task *t, emberX_worker *w) {
    if (st && st->kind == STAGE_CACHE && !t->stored && w->remote > 0) emberX_worker_discard(&ctx->pool, w);
    emberX_worker_kill(w);
}

/* Ends a stage that will not complete: kills workers still running its tasks and
 * removes the map output its finished tasks wrote (nothing will read it). */
static void abort_stage(ember_context *ctx, stage *st) {
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        if (t->w) {
            kill_task_worker(ctx, st, t, t->w);
            t->w = NULL;
        }
        release_sending(t);
        if (st->kind == STAGE_SHUFFLE && t->state == TASK_DONE) {
            char path[4096];
            emberA_map_output_path(path, sizeof path, ctx, st, t);
            unlink(path);
        }
    }
}

/* Keeps a finished stage's final counts for ember_finished_stages: a ring of the
 * last EMBER_STAGE_HISTORY stages, allocated on first use (without memory the
 * history is skipped, nothing fails). Caller holds ctx->mu. */
static void remember(ember_context *ctx, ember_stage_info info) {
    if (!ctx->history && !(ctx->history = ember_malloc(EMBER_STAGE_HISTORY * sizeof *ctx->history))) return;
    ctx->history[ctx->history_next] = info;
    ctx->history_next = (ctx->history_next + 1) % EMBER_STAGE_HISTORY;
    if (ctx->nhistory < EMBER_STAGE_HISTORY) ctx->nhistory++;
}

static void remember_stage(ember_context *ctx, const stage *st) {
    remember(ctx, (ember_stage_info){st->id, st->job->id, (int)st->ntasks, (int)st->ndone, 0, (int)st->nfailed,
                                     (int64_t)st->submitted_ms});
}

/* The nodes a walk of the lineage has seen (a lineage is a DAG: union(a, a) reads a twice). */
typedef struct {
    const ember_node **nodes;
    size_t n, cap;
} seen_set;

/* 1 when n was seen already, else adds it and returns 0; -1 when out of memory. */
static int seen_add(seen_set *seen, const ember_node *n) {
    for (size_t i = 0; i < seen->n; i++)
        if (seen->nodes[i] == n) return 1;
    if (emberB_grow(&seen->nodes, &seen->cap, seen->n + 1, sizeof *seen->nodes, 16)) return -1;
    seen->nodes[seen->n++] = n;
    return 0;
}

/* Records a skipped map stage for each shuffle in n's lineage whose map stage job will
 * not run: its output exists, or so does the output of a shuffle after it (skipped is
 * set below such a shuffle). Parents first, so that their ids are the lower ones, as
 * Spark numbers stages. Out of memory leaves entries out; nothing fails. Caller holds
 * ctx->mu. */
static void remember_skipped(ember_context *ctx, struct ember_job *job, const ember_node *n, int skipped,
                             seen_set *seen) {
    if (seen_add(seen, n) != 0) return;
    int shuffle = n->kind == EMBER_NODE_SHUFFLE;
    if (shuffle) skipped = skipped || emberM_shuffle_done(&ctx->blocks, n->id);
    for (size_t i = 0; i < n->nparents; i++)
        remember_skipped(ctx, job, n->parents[i], skipped, seen);
    if (shuffle && skipped) {
        int id = ctx->next_stage_id++;
        remember(ctx, (ember_stage_info){id, job->id, (int)n->parents[0]->nparts, 0, 0, 0, (int64_t)now_ms()});
        emberL_stage_begin(&ctx->tasklog, &(ember_stage_record){.stage_id = id,
                                                                .job_id = job->id,
                                                                .kind = EMBER_STAGE_KIND_SHUFFLE_MAP,
                                                                .node_id = n->id,
                                                                .status = EMBER_STAGE_SKIPPED,
                                                                .num_tasks = (int)n->parents[0]->nparts});
    }
}

/* Removes st from its job's and the context's lists and frees it. */
static void free_stage(ember_context *ctx, stage *st) {
    for (stage **pp = &st->job->stages; *pp; pp = &(*pp)->job_next)
        if (*pp == st) {
            *pp = st->job_next;
            break;
        }
    pthread_mutex_lock(&ctx->mu);
    for (stage **pp = &ctx->stages; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    remember_stage(ctx, st);
    pthread_mutex_unlock(&ctx->mu);
    emberL_stage_end(&ctx->tasklog, st->id, st->ndone == st->ntasks ? EMBER_STAGE_COMPLETE : EMBER_STAGE_FAILED,
                     emberL_now_ms());
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        emberM_batches_clear(&t->out);
        ember_free(t->bucket_bytes);
        ember_free(t->error);
        release_sending(t);
    }
    ember_free(st->tasks);
    ember_free(st);
}

/* Drops what a result task's attempt sent (its bytes leave the job's count). */
static void drop_output(stage *st, task *t) {
    st->job->result_bytes -= t->out_bytes;
    t->out_bytes = 0;
    emberM_batches_clear(&t->out);
}

/* A task of a barrier stage failed: kills the stage's other running tasks, drops
 * what its finished ones made, and puts every task back to pending for a new stage
 * attempt (the attempts already made count toward max_failures). */
static void restart_barrier_stage(ember_context *ctx, stage *st) {
    for (size_t i = 0; i < st->ntasks; i++) {
        task *t = &st->tasks[i];
        if (t->state == TASK_RUNNING) {
            emberL_task_end(&ctx->tasklog, t->attempt_id, EMBER_TASK_KILLED, emberL_now_ms(), NULL,
                            "killed: another task of its barrier stage failed");
            if (t->w) kill_task_worker(ctx, st, t, t->w); /* frees its slot (w->task = NULL) */
            pthread_mutex_lock(&ctx->mu);
            st->nrunning--;
            pthread_mutex_unlock(&ctx->mu);
        } else if (t->state == TASK_DONE) {
            if (st->kind == STAGE_SHUFFLE) {
                char path[4096];
                emberA_map_output_path(path, sizeof path, ctx, st, t);
                unlink(path);
            }
            pthread_mutex_lock(&ctx->mu);
            st->ndone--;
            pthread_mutex_unlock(&ctx->mu);
        }
        t->w = NULL;
        t->state = TASK_PENDING;
        drop_output(st, t);
        release_sending(t);
    }
    st->attempt++;
    emberL_stage_attempt(&ctx->tasklog, st->id, st->attempt);
}

/* Records a failed attempt; the task goes back to pending, or the job fails. */
static void task_failed(ember_context *ctx, stage *st, task *t) {
    emberL_task_end(&ctx->tasklog, t->attempt_id, EMBER_TASK_FAILED, emberL_now_ms(),
                    &(ember_task_info){.output_bytes = t->out_bytes}, t->error);
    drop_output(st, t);
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

/* A worker is gone (why == NULL: it closed its pipe, i.e. it ended; else why it is
 * killed). The daemon that reaped it says how it ended and gives the last Python
 * traceback it wrote; the task's error says so with the partition and stage, and a
 * map attempt's partial shuffle file goes at once. */
static void worker_died(ember_context *ctx, emberX_worker *w, const char *why) {
    task *t = w->task;
    stage *st = NULL;
    for (stage *s = ctx->stages; t && s; s = s->next)
        if (t >= s->tasks && t < s->tasks + s->ntasks) st = s;
    pid_t pid = w->pid;
    char how[160], text[4096] = "";
    int status = -2;
    if (!t) {
        emberX_worker_kill(w); /* an idle worker: nothing to report */
        return;
    }
    if (!why) {
        if (emberX_worker_status(&ctx->pool, w, &status, text, sizeof text) == 0 && status >= 0) {
            w->alive = 0; /* reaped: no kill for a pid that may be reused */
            emberX_describe_status(status, how, sizeof how);
        } else {
            snprintf(how, sizeof how, "closed its pipe; exit status unknown");
        }
    } else {
        snprintf(how, sizeof how, "killed by the engine: %s", why);
    }
    kill_task_worker(ctx, st, t, w);
    if (st && st->kind == STAGE_SHUFFLE) {
        char path[4096], tmp[4200];
        emberA_map_output_path(path, sizeof path, ctx, st, t);
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)pid);
        unlink(tmp);
        unlink(path);
    }
    size_t cap = 1024 + strlen(text);
    char *msg = ember_malloc(cap);
    if (msg) {
        int n = snprintf(msg, cap,
                         "Python worker exited unexpectedly: %s (pid %d) while running partition %zu of stage %d "
                         "(attempt %d)",
                         how, (int)pid, t->part, st ? st->id : -1, t->attempts);
        if (text[0] && n > 0 && (size_t)n < cap)
            snprintf(msg + n, cap - (size_t)n, "\nThe last Python traceback the worker wrote:\n%s", text);
        set_error(&t->error, msg, strlen(msg));
        ember_free(msg);
    }
    if (st) task_failed(ctx, st, t);
}

/* A task could not read shuffle file `path` (corrupt or missing), as Spark's fetch
 * failure: that map output is forgotten, the task's stage is dropped (its worker
 * stays: it is idle and well) and the job plans again, so the map task that wrote
 * the file runs again, then the stage. A cached partition's block file is handled
 * the same way: forgotten, it is computed (and cached) again before the stage runs
 * again. A job gives up after max_failures of these. */
static void fetch_failed(ember_context *ctx, stage *st, task *t, emberX_worker *w, const char *path,
                         const uint8_t *text, size_t len) {
    struct ember_job *job = st->job;
    int id = -1;
    size_t map = 0;
    int lost = emberM_shuffle_lose(&ctx->blocks, path, &id, &map);
    int block = !lost && emberM_block_lose(&ctx->blocks, path, &id, &map);
    set_error(&t->error, (const char *)text, len);
    emberL_task_end(&ctx->tasklog, t->attempt_id, EMBER_TASK_FAILED, emberL_now_ms(), NULL, t->error);
    if (++job->fetch_failures > ctx->cfg.max_failures) {
        emberE_set(EMBER_ETASK,
                   "Job aborted: task %zu in stage %d could not read %s file %s (%d file reads of this job "
                   "failed; after each, the %s ran again); most recent failure:\n%s",
                   t->part, st->id, block ? "block" : "shuffle", path, job->fetch_failures,
                   block ? "task that caches the partition" : "map task that wrote the file",
                   t->error ? t->error : "(no message)");
        finish_job(ctx, job, EMBER_ETASK, ember_last_error());
        return;
    }
    /* Not registered: another job lost it first, and is making it again. */
    w->task = NULL;
    t->w = NULL;
    for (size_t i = 0; i < st->ntasks; i++)
        if (st->tasks[i].state != TASK_DONE) drop_output(st, &st->tasks[i]);
    abort_stage(ctx, st);
    free_stage(ctx, st); /* plan() makes the lost map output, then this stage's undone part */
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

/* Spark's way of writing a size: "512.0 B", "1024.0 KiB", "1.5 GiB" ... */
static void size_text(char *buf, size_t cap, uint64_t n) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (u < 5 && v >= 2 * 1024.0) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
}

/* Counts len more bytes of result batches from task t; when the job's total goes past
 * max_result_size, fails the job (Spark's message, naming the size and the key) and
 * returns 1, before the bytes are held. */
static int result_too_big(ember_context *ctx, stage *st, task *t, size_t len) {
    struct ember_job *job = st->job;
    t->out_bytes += len;
    job->result_bytes += len;
    if (!ctx->cfg.max_result_size || job->result_bytes <= (uint64_t)ctx->cfg.max_result_size) return 0;
    size_t tasks = 0;
    for (size_t i = 0; i < st->ntasks; i++)
        tasks += st->tasks[i].state == TASK_DONE || st->tasks[i].out_bytes > 0;
    char total[32], limit[32];
    size_text(total, sizeof total, job->result_bytes);
    size_text(limit, sizeof limit, (uint64_t)ctx->cfg.max_result_size);
    emberE_set(EMBER_ETASK,
               "Job aborted due to stage failure: Total size of serialized results of %zu tasks (%s) is bigger "
               "than spark.driver.maxResultSize (%s); collect less (take, toLocalIterator, or write the RDD out) "
               "or raise spark.driver.maxResultSize (0 = unlimited)",
               tasks, total, limit);
    finish_job(ctx, job, EMBER_ETASK, ember_last_error());
    return 1;
}

/* Hands result task t's batches to the job's caller (ember_job_next). */
static void deliver(ember_context *ctx, stage *st, task *t) {
    struct ember_job *job = st->job;
    size_t i = t->index;
    pthread_mutex_lock(&ctx->mu);
    job->result->batches[i] = t->out.bufs;
    job->result->nbatches[i] = t->out.n;
    job->arrived[job->narrived++] = i;
    pthread_cond_broadcast(&job->done_cv);
    pthread_mutex_unlock(&ctx->mu);
    memset(&t->out, 0, sizeof t->out);
}

static void handle_frame(ember_context *ctx, emberX_worker *w, uint32_t type, const uint8_t *p, size_t len) {
    task *t = w->task;
    stage *st = t ? stage_of(ctx, t) : NULL;
    if (!st) {
        worker_died(ctx, w, "it sent a frame while idle");
        return;
    }
    switch (type) {
    case EMBER_FRAME_DATA: {
        if (st->kind == STAGE_SHUFFLE) {
            worker_died(ctx, w, "it sent data from a shuffle map task");
            return;
        }
        if (st->kind == STAGE_RESULT && result_too_big(ctx, st, t, len)) return;
        uint8_t *copy = ember_malloc(len ? len : 1);
        if (copy) memcpy(copy, p, len);
        if (!copy || emberM_batches_push(&t->out, copy, len)) {
            ember_free(copy);
            finish_job(ctx, st->job, EMBER_ENOMEM, "out of memory receiving a result batch");
        } else if (emberM_trim(&ctx->blocks)) { /* cached blocks make room for it, within the budget */
            finish_job(ctx, st->job, EMBER_EIO, ember_last_error());
        }
        return;
    }
    case EMBER_FRAME_TASK_DONE: {
        emberW_done d;
        if (emberW_done_decode(p, len, &d) || (st->kind == STAGE_SHUFFLE && d.nsizes != st->target->nparts)) {
            worker_died(ctx, w, "it sent a malformed TASK_DONE");
            return;
        }
        for (uint32_t i = 0; i < d.nsizes && st->kind == STAGE_SHUFFLE; i++)
            t->bucket_bytes[i] = emberW_done_size(&d, i);
        if (d.report.len && st->job->result && add_report(st->job->result, d.report.p, d.report.len)) {
            finish_job(ctx, st->job, EMBER_ENOMEM, ember_last_error());
            return;
        }
        release_sending(t);
        ember_task_info end = {.output_bytes = st->kind == STAGE_RESULT ? t->out_bytes
                                               : t->stored              ? t->stored_bytes
                                                                        : emberM_batches_bytes(&t->out),
                               .records_read = emberW_done_metric(&d, EMBER_METRIC_RECORDS_READ),
                               .records_written = emberW_done_metric(&d, EMBER_METRIC_RECORDS_WRITTEN),
                               .shuffle_records_read = emberW_done_metric(&d, EMBER_METRIC_SHUFFLE_RECORDS_READ),
                               .shuffle_records_written = emberW_done_metric(&d, EMBER_METRIC_SHUFFLE_RECORDS_WRITTEN),
                               .memory_bytes_spilled = emberW_done_metric(&d, EMBER_METRIC_MEMORY_BYTES_SPILLED),
                               .disk_bytes_spilled = emberW_done_metric(&d, EMBER_METRIC_DISK_BYTES_SPILLED),
                               .remote_bytes_fetched = emberW_done_metric(&d, EMBER_METRIC_REMOTE_BYTES_FETCHED),
                               .fetch_begin_us = (int64_t)emberW_done_metric(&d, EMBER_METRIC_FETCH_BEGIN_US),
                               .fetch_end_us = (int64_t)emberW_done_metric(&d, EMBER_METRIC_FETCH_END_US)};
        for (size_t i = 0; st->kind == STAGE_SHUFFLE && i < st->target->nparts; i++)
            end.shuffle_write_bytes += t->bucket_bytes[i];
        emberL_task_end(&ctx->tasklog, t->attempt_id, EMBER_TASK_SUCCESS, emberL_now_ms(), &end, NULL);
        t->state = TASK_DONE;
        t->w = NULL;
        w->task = NULL;
        pthread_mutex_lock(&ctx->mu);
        st->ndone++;
        st->nrunning--;
        pthread_mutex_unlock(&ctx->mu);
        if (st->kind == STAGE_RESULT && !st->barrier) deliver(ctx, st, t);
        if (st->kind == STAGE_CACHE && !st->barrier && !t->stored) { /* stored at once: the budget sees it now */
            int rc = emberM_put(&ctx->blocks, st->target->id, t->part, &t->out);
            if (rc) {
                finish_job(ctx, st->job, rc, ember_last_error());
                return;
            }
        }
        if (st->ndone == st->ntasks) stage_complete(ctx, st);
        return;
    }
    case EMBER_FRAME_BLOCK_STORED: {
        /* Cluster mode: the executor kept the cache task's block in its own store (the
         * task's DATA stayed there); the driver's store records where. Then the
         * blocks its storing moved out of memory there. */
        uint32_t n;
        emberW_stored mine = {0};
        if (emberW_stored_decode(p, len, &n) == 0 && n > 0) mine = emberW_stored_entry(p, 0);
        if (st->kind != STAGE_CACHE || w->remote <= 0 || n == 0 || (int)mine.node != st->target->id ||
            mine.partition != t->part) {
            worker_died(ctx, w, "it sent a malformed or unexpected BLOCK_STORED");
            return;
        }
        emberM_put_remote(&ctx->blocks, st->target->id, t->part, w->remote, (int)mine.where, mine.bytes);
        t->stored = 1;
        t->stored_bytes = mine.bytes;
        for (uint32_t i = 1; i < n; i++) {
            emberW_stored e = emberW_stored_entry(p, i);
            emberM_remote_moved(&ctx->blocks, (int)e.node, e.partition, w->remote, (int)e.where, e.bytes);
        }
        return;
    }
    case EMBER_FRAME_TASK_ERROR:
        set_error(&t->error, (const char *)p, len);
        task_failed(ctx, st, t);
        return;
    case EMBER_FRAME_FETCH_FAILED: {
        emberW_bytes file, text;
        if (emberW_fetch_failed_decode(p, len, &file, &text)) {
            worker_died(ctx, w, "it sent a malformed FETCH_FAILED");
            return;
        }
        char path[EMBER_WIRE_MAX_PATH];
        memcpy(path, file.p, file.len);
        path[file.len] = 0;
        fetch_failed(ctx, st, t, w, path, text.p, text.len);
        return;
    }
    default:
        worker_died(ctx, w, "it sent an unexpected frame");
    }
}

/* Reads what a worker sent and handles whole frames. */
static void drain_worker(ember_context *ctx, emberX_worker *w) {
    for (;;) {
        long r = emberW_read_fd(&w->in, w->from_fd);
        if (r == -EAGAIN) return;
        if (r < 0) {
            worker_died(ctx, w, ember_last_error());
            return;
        }
        if (r == 0) {
            worker_died(ctx, w, NULL);
            return;
        }
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int got;
        while (w->alive && w->task && (got = emberW_next(&w->in, &type, &payload, &len)) > 0)
            handle_frame(ctx, w, type, payload, len);
        if (!w->alive) return;
        if (w->task && got < 0) {
            worker_died(ctx, w, ember_last_error());
            return;
        }
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
        if (st->kind == STAGE_CACHE && st->barrier &&
            !t->stored) { /* a barrier stage's blocks, once it has completed */
            rc = emberM_put(&ctx->blocks, n->id, t->part, &t->out);
        } else if (st->kind == STAGE_SHUFFLE) {
            char path[4096];
            emberA_map_output_path(path, sizeof path, ctx, st, t);
            rc = emberM_shuffle_put(&ctx->blocks, n->id, n->parents[0]->nparts, n->nparts, t->part, path,
                                    t->bucket_bytes);
        } else if (st->barrier) {
            deliver(ctx, st, t); /* a barrier stage's results, once it has completed */
        }
    }
    int kind = st->kind;
    if (kind == STAGE_SHUFFLE && !rc) {
        emberM_shuffle_set_done(&ctx->blocks, n->id);
        pthread_mutex_lock(&ctx->mu);
        int drop = n->parents[0]->drop_after_shuffle;
        pthread_mutex_unlock(&ctx->mu);
        if (drop) emberM_unpersist(&ctx->blocks, n->parents[0]->id); /* read: no longer needed */
    }
    free_stage(ctx, st);
    if (rc)
        finish_job(ctx, job, rc, ember_last_error());
    else if (kind == STAGE_RESULT)
        finish_job(ctx, job, 0, NULL);
}

/* Marks a job finished (once): aborts its running stages, wakes its waiter. */
static void finish_job(ember_context *ctx, struct ember_job *job, int rc, const char *error) {
    while (job->stages) {
        stage *st = job->stages;
        abort_stage(ctx, st);
        free_stage(ctx, st);
    }
    pthread_mutex_lock(&ctx->mu);
    for (struct ember_job **pp = &ctx->running; *pp; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            break;
        }
    job->rc = rc;
    if (error) set_error(&job->error, error, strlen(error));
    if (rc && job->result) {
        /* Reports of successful tasks stay: accumulators count them even when the job fails. */
        for (size_t i = 0; i < job->result->nparts; i++) {
            if (!job->result->batches[i]) continue;
            for (size_t j = 0; j < job->result->nbatches[i]; j++)
                ember_free(job->result->batches[i][j].data);
            ember_free(job->result->batches[i]);
            job->result->batches[i] = NULL;
            job->result->nbatches[i] = 0;
        }
        job->ntaken = job->narrived; /* what arrived and was not taken is gone */
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
    if (j->cancel_requested == EMBER_CANCEL_GROUP && strncmp(label, "tag:", 4) == 0)
        snprintf(msg, cap, "Job %d cancelled part of cancelled job tag %s", j->id, label + 4);
    else if (j->cancel_requested == EMBER_CANCEL_GROUP)
        snprintf(msg, cap, "Job %d cancelled part of cancelled job group %s", j->id, label);
    else if (j->cancel_requested == EMBER_CANCEL_ALL)
        snprintf(msg, cap, "Job %d cancelled as part of cancellation of all jobs", j->id);
    else
        snprintf(msg, cap, "Job %d cancelled", j->id);
}

/* Gives each job a stage for every node it needs made whose inputs exist (they run
 * together), or its result stage when nothing is missing; finishes jobs that cannot
 * go on. */
static void plan(ember_context *ctx) {
    pthread_mutex_lock(&ctx->mu);
    while (ctx->incoming) {
        struct ember_job *j = ctx->incoming;
        ctx->incoming = j->next;
        /* Append: jobs are served in submission order. */
        struct ember_job **pp = &ctx->running;
        while (*pp)
            pp = &(*pp)->next;
        j->next = NULL;
        *pp = j;
        seen_set seen = {0};
        remember_skipped(ctx, j, j->node, 0, &seen);
        ember_free(seen.nodes);
        emberM_new_job(&ctx->blocks); /* partitions dropped for want of room: cached again if they fit */
    }
    pthread_mutex_unlock(&ctx->mu);
    /* The transport lost what every job needs (an executor in cluster mode): every
     * job fails, naming what was lost. */
    char lost[1024];
    if (emberX_pool_failure(&ctx->pool, lost, sizeof lost)) {
        for (;;) {
            pthread_mutex_lock(&ctx->mu);
            struct ember_job *j = ctx->running;
            pthread_mutex_unlock(&ctx->mu);
            if (!j) break;
            finish_job(ctx, j, EMBER_EWORKER, lost);
        }
    }
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
            int has_result = 0;
            for (stage *s = j->stages; s; s = s->job_next)
                has_result |= s->kind == STAGE_RESULT;
            if (has_result) continue;
            needs nd = {0};
            find_ready(ctx, j->node, 0, &nd);
            if (!nd.missing && !j->stages) {
                nd.ready[0] = j->node;
                nd.kind[0] = STAGE_RESULT;
                nd.n = 1;
            }
            for (size_t i = 0; i < nd.n && !failed && !empty; i++) {
                stage *st = new_stage(ctx, j, nd.kind[i], nd.ready[i]);
                if (!st) {
                    failed = j;
                } else if ((failed_rc = barrier_check(ctx, st))) {
                    snprintf(why, sizeof why, "%s", ember_last_error());
                    failed = j;
                } else if (st->ntasks == 0) {
                    empty = st;
                }
            }
        }
        pthread_mutex_unlock(&ctx->mu);
        if (failed)
            finish_job(ctx, failed, failed_rc ? failed_rc : EMBER_ENOMEM, why);
        else if (empty)
            stage_complete(ctx, empty);
        else
            break;
    }
}

/* The first pending task, jobs in submission order. */
static task *next_task(ember_context *ctx, stage **out) {
    for (struct ember_job *j = ctx->running; j; j = j->next)
        for (stage *st = j->stages; st; st = st->job_next)
            for (size_t i = 0; i < st->ntasks; i++)
                if (st->tasks[i].state == TASK_PENDING) {
                    *out = st;
                    return &st->tasks[i];
                }
    return NULL;
}

/* Cluster mode: the pending task for a free slot of executor `rank`, jobs in
 * submission order: the first that prefers this executor (much of its input lives
 * there: emberA_preferred_places); else the first that prefers none, whose input is
 * spread (it does not wait), or whose locality wait (cfg.locality_wait_ms from when
 * it was first seen pending) is over. NULL when every pending task still waits for
 * its own executor; *wake_ms is then lowered to when the first wait ends. Barrier
 * stages have no preference: their tasks start together. */
static task *next_task_at(ember_context *ctx, int rank, double now, double *wake_ms, stage **out) {
    task *any = NULL;
    stage *any_st = NULL;
    for (struct ember_job *j = ctx->running; j; j = j->next)
        for (stage *st = j->stages; st; st = st->job_next)
            for (size_t i = 0; i < st->ntasks; i++) {
                task *t = &st->tasks[i];
                if (t->state != TASK_PENDING) continue;
                if (!t->prefer_known) {
                    t->nprefer = st->barrier ? 0 : emberA_preferred_places(ctx, st, t, t->prefer, &t->prefer_wait);
                    t->prefer_known = 1;
                    t->pending_ms = now;
                }
                for (int k = 0; k < t->nprefer; k++)
                    if (t->prefer[k] == rank) {
                        *out = st;
                        return t;
                    }
                double until = t->pending_ms + (double)ctx->cfg.locality_wait_ms;
                if (!any && (!t->prefer_wait || now >= until)) {
                    any = t;
                    any_st = st;
                } else if (!any && until < *wake_ms) {
                    *wake_ms = until;
                }
            }
    *out = any_st;
    return any;
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
        if (w->alive && !w->task && emberA_send_forgets(ctx, w) == 0) emberX_flush(w);
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

/* Starts pending tasks on free workers. Returns how long (ms) the engine may sleep
 * before a task's locality wait ends (1000 when none waits). */
static int dispatch(ember_context *ctx) {
    emberX_pool *pool = &ctx->pool;
    size_t nfree = 0;
    double now = now_ms(), wake_ms = now + 1000;
    for (size_t wi = 0; wi < pool->nworkers; wi++)
        nfree += !(pool->workers[wi].alive && pool->workers[wi].task);
    for (size_t wi = 0; wi < pool->nworkers; wi++) {
        emberX_worker *w = &pool->workers[wi];
        if (w->alive && w->task) continue;
        stage *st;
        /* w->remote: the slot's executor rank (fixed per slot, whether its worker runs or not) */
        task *t = pool->net ? next_task_at(ctx, w->remote, now, &wake_ms, &st) : next_task(ctx, &st);
        if (!t && pool->net && next_task(ctx, &st)) continue; /* tasks wait for other executors */
        if (!t) break;
        /* A barrier stage starts only with a worker for each task; until then the
         * stages after it wait too, so that it is not starved. */
        if (st->barrier && st->nrunning == 0 && nfree < st->ntasks) break;
        nfree--;
        int rc = 0, reused = w->alive;
        if (!w->alive) rc = emberX_worker_start(pool, w);
        if (!rc) rc = assign(ctx, st, t, w);
        if (rc == EMBER_EWORKER && reused && w->task == t) {
            /* The idle worker had exited (as one does after reporting a crash in a
             * native function): the task never reached it, so this attempt does
             * not count. It goes to a new worker in the same slot. */
            unassign(ctx, st, t);
            emberX_worker_kill(w);
            rc = emberX_worker_start(pool, w);
            if (!rc) rc = assign(ctx, st, t, w);
        }
        if (rc == EMBER_EWORKER) {
            worker_died(ctx, w, NULL);
        } else if (rc) {
            if (w->task) kill_task_worker(ctx, st, t, w);
            finish_job(ctx, st->job, rc, ember_last_error());
        }
    }
    tidy_forgets(ctx);
    double left = wake_ms - now;
    return left < 1 ? 1 : left > 1000 ? 1000 : (int)left;
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
        int timeout = dispatch(ctx);
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
        int pr = poll(pfds, n, timeout);
        if (pr <= 0) continue;
        if (pfds[0].revents) {
            char buf[64];
            while (read(ctx->wake[0], buf, sizeof buf) > 0) {}
        }
        for (nfds_t i = 1; i < n; i++) {
            emberX_worker *w = pw[i];
            if (!pfds[i].revents || !w->alive || !w->task) continue;
            if (pfds[i].fd == w->to_fd) {
                if (emberX_flush(w)) worker_died(ctx, w, NULL);
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
    emberE_thread_exit();
    return NULL;
}
