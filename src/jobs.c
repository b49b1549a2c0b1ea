/* jobs.c — the job API: submitting, waiting for and freeing jobs, cancelling them
 * (one job, a group or tag, all), removing a shuffle's output, the stage figures
 * status queries read, and the task log's readers. Everything here runs on the caller's thread and talks to the
 * engine thread (engine.c) through the context, under ctx->mu.
 */
#include "internal.h"

#include <time.h>

typedef emberS_stage stage;

void ember_result_free(ember_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nparts; i++) {
        if (!r->batches || !r->batches[i]) continue;
        for (size_t j = 0; j < r->nbatches[i]; j++)
            ember_free(r->batches[i][j].data);
        ember_free(r->batches[i]);
    }
    for (size_t i = 0; i < r->nreports; i++)
        ember_free(r->reports[i].data);
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
    job->arrived = ember_malloc((npartitions ? npartitions : 1) * sizeof *job->arrived);
    if (!job->arrived || !job->parts || !job->result || !job->result->batches || !job->result->nbatches ||
        (group && !job->group) || !job->info) {
        ember_result_free(job->result);
        ember_free(job->parts);
        ember_free(job->group);
        ember_free(job->info);
        ember_free(job->arrived);
        ember_free(job);
        return emberE_set(EMBER_ENOMEM, "out of memory submitting a job");
    }
    for (size_t i = 0; i < npartitions; i++)
        job->parts[i] = partitions ? partitions[i] : i;
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
    while (*pp)
        pp = &(*pp)->next;
    *pp = job;
    pthread_mutex_unlock(&ctx->mu);
    emberS_wake(ctx);
    *out = job;
    return 0;
}

/* The CLOCK_REALTIME time timeout_ms from now, for pthread_cond_timedwait. */
static void deadline_in(struct timespec *ts, int timeout_ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int ember_job_wait(ember_job *job, int timeout_ms) {
    ember_context *ctx = job->ctx;
    pthread_mutex_lock(&ctx->mu);
    if (!job->done && timeout_ms != 0) {
        if (timeout_ms < 0) {
            while (!job->done)
                pthread_cond_wait(&job->done_cv, &ctx->mu);
        } else {
            struct timespec ts;
            deadline_in(&ts, timeout_ms);
            while (!job->done && pthread_cond_timedwait(&job->done_cv, &ctx->mu, &ts) == 0) {}
        }
    }
    int done = job->done;
    pthread_mutex_unlock(&ctx->mu);
    return done;
}

void ember_job_cancel(ember_job *job) {
    pthread_mutex_lock(&job->ctx->mu);
    if (!job->cancel_requested) job->cancel_requested = EMBER_CANCEL_JOB;
    pthread_mutex_unlock(&job->ctx->mu);
    emberS_wake(job->ctx);
}

int ember_job_id(const ember_job *job) { return job->id; }

int ember_job_next(ember_job *job, int timeout_ms, ember_part **out) {
    ember_context *ctx = job->ctx;
    *out = NULL;
    struct timespec ts;
    if (timeout_ms > 0) deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&ctx->mu);
    while (job->ntaken == job->narrived && !job->done && timeout_ms != 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&job->done_cv, &ctx->mu);
        else if (pthread_cond_timedwait(&job->done_cv, &ctx->mu, &ts) != 0)
            break;
    }
    int rc = job->ntaken < job->narrived ? 1 : job->done ? 0 : EMBER_JOB_TIMEOUT;
    if (rc == 1) {
        ember_part *p = ember_calloc(1, sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&ctx->mu);
            return emberE_set(EMBER_ENOMEM, "out of memory taking a result partition");
        }
        size_t i = job->arrived[job->ntaken++];
        p->index = i;
        p->batches = job->result->batches[i];
        p->nbatches = job->result->nbatches[i];
        job->result->batches[i] = NULL;
        job->result->nbatches[i] = 0;
        *out = p;
    }
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

void ember_part_free(ember_part *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nbatches; i++)
        ember_free(p->batches[i].data);
    ember_free(p->batches);
    ember_free(p);
}

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
        if (!job->cancel_requested) job->cancel_requested = EMBER_CANCEL_JOB;
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
    ember_free(job->arrived);
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
                    j->cancel_requested = group ? EMBER_CANCEL_GROUP : EMBER_CANCEL_ALL;
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

int ember_node_clean_shuffle(ember_node *n) {
    if (n->kind != EMBER_NODE_SHUFFLE) return 0;
    ember_context *ctx = n->ctx;
    int rc = 0;
    pthread_mutex_lock(&ctx->mu);
    if (emberS_making(ctx, n)) {
        rc = emberE_set(EMBER_EBUSY, "shuffle node %d is being computed by a running job", n->id);
        goto unlock;
    }
    struct ember_job *lists[2] = {ctx->incoming, ctx->running};
    for (int l = 0; l < 2; l++)
        for (struct ember_job *j = lists[l]; j; j = j->next)
            if (emberG_lineage_holds(j->node, n, ++ctx->next_walk)) {
                rc = emberE_set(EMBER_EBUSY, "shuffle node %d is in the lineage of running job %d", n->id, j->id);
                goto unlock;
            }
    rc = emberM_shuffle_remove(&ctx->blocks, n->id);
unlock:
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

size_t ember_active_stages(ember_context *ctx, ember_stage_info *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&ctx->mu);
    for (stage *st = ctx->stages; st; st = st->next, n++) {
        if (n >= max) continue;
        out[n] = (ember_stage_info){st->id,
                                    st->job->id,
                                    (int)st->ntasks,
                                    (int)st->ndone,
                                    (int)st->nrunning,
                                    (int)st->nfailed,
                                    (int64_t)st->submitted_ms};
    }
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

size_t ember_finished_stages(ember_context *ctx, ember_stage_info *out, size_t max) {
    pthread_mutex_lock(&ctx->mu);
    size_t n = ctx->nhistory, skip = n > max ? n - max : 0;
    size_t first = (ctx->history_next + EMBER_STAGE_HISTORY - n) % EMBER_STAGE_HISTORY;
    for (size_t i = skip; i < n; i++)
        out[i - skip] = ctx->history[(first + i) % EMBER_STAGE_HISTORY];
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

/* ---- the task log (tasklog.c holds it; the engine writes it) ----------------------- */

void ember_tasklog_retain(ember_context *ctx, size_t tasks, size_t stages) {
    emberL_retain(&ctx->tasklog, tasks, stages);
}

size_t ember_task_infos(ember_context *ctx, int stage_id, ember_task_info *out, size_t max) {
    return emberL_tasks(&ctx->tasklog, stage_id, out, max);
}

size_t ember_task_error(ember_context *ctx, uint64_t task_id, char *buf, size_t cap) {
    return emberL_error(&ctx->tasklog, task_id, buf, cap);
}

uint64_t ember_tasklog_changes(ember_context *ctx) { return emberL_changes(&ctx->tasklog); }

size_t ember_stage_records(ember_context *ctx, ember_stage_record *out, size_t max) {
    return emberL_stages(&ctx->tasklog, out, max);
}
