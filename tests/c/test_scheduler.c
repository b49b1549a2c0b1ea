/* test_scheduler.c — the scheduler (engine.c, jobs.c, tasks.c) against a fake worker
 * written in C (fake_worker.c, started through ember_config.daemon), so these tests
 * run without Python: a job's success, a failed task retried, a worker that dies,
 * cancellation, results streamed in completion order and a job stopped early,
 * spark.driver.maxResultSize, independent map stages running at the same time,
 * cached partitions at each storage level under a memory budget.
 * Behaviours are chosen by the command text of a pipeline node (see fake_worker.c). */
#include "internal.h"
#include "test.h"
#include "test_jobs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FAKE_WORKER
#error "FAKE_WORKER must name the fake worker executable (meson.build sets it)"
#endif

static ember_context *new_context_budget(int slots, int64_t max_result_size, int64_t memory_limit) {
    ember_config cfg = {0};
    cfg.memory_limit = memory_limit;
    cfg.slots = slots;
    cfg.max_failures = 3;
    cfg.daemon = FAKE_WORKER;
    cfg.max_result_size = max_result_size;
    ember_context *ctx = NULL;
    int rc = ember_context_create(&cfg, &ctx);
    if (rc) fprintf(stderr, "ember_context_create: %s\n", ember_last_error());
    return ctx;
}

static ember_context *new_context(int slots, int64_t max_result_size) {
    return new_context_budget(slots, max_result_size, 0);
}

static int batch_is(const ember_buf *b, const char *text) {
    return b->len == strlen(text) && memcmp(b->data, text, b->len) == 0;
}

/* The finished stages of job `job`: how many, and the sum of their failed attempts. */
static size_t stages_of(ember_context *ctx, int job, int *failed, int *tasks_done) {
    static ember_stage_info info[EMBER_STAGE_HISTORY];
    size_t n = ember_finished_stages(ctx, info, EMBER_STAGE_HISTORY), k = 0;
    if (failed) *failed = 0;
    if (tasks_done) *tasks_done = 0;
    for (size_t i = 0; i < n; i++) {
        if (info[i].job_id != job) continue;
        k++;
        if (failed) *failed += info[i].num_failed;
        if (tasks_done) *tasks_done += info[i].num_completed;
    }
    return k;
}

static void test_job_success(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 3);
    ember_result *res = NULL;
    CHECK(ember_run_job(ctx, src, NULL, 0, NULL, NULL, &res) == 0);
    CHECK(res && res->nparts == 3);
    for (size_t p = 0; res && p < 3; p++) {
        char want[32];
        CHECK(res->nbatches[p] == 2);
        snprintf(want, sizeof want, "%zu.1", p);
        CHECK(res->nbatches[p] == 2 && batch_is(&res->batches[p][1], want));
    }
    CHECK(res && res->nreports == 3 && batch_is(&res->reports[0], "report"));
    ember_result_free(res);
    /* A range node: the worker reads it itself. */
    ember_node *r = NULL;
    CHECK(ember_node_range(ctx, 0, 10, 1, 2, &r) == 0);
    size_t second = 1;
    CHECK(ember_run_job(ctx, r, &second, 1, NULL, NULL, &res) == 0);
    CHECK(res && res->nparts == 1 && res->nbatches[0] == 1 && batch_is(&res->batches[0][0], "r:5:10"));
    ember_result_free(res);
    ember_node_release(r);
    ember_node_release(src);
    ember_context_free(ctx);
}

static void test_task_failure_and_retry(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 2);
    ember_node *once = pipeline(ctx, src, "fail-once");
    ember_job *job;
    CHECK(ember_job_submit(ctx, once, NULL, 0, NULL, NULL, 0, &job) == 0);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == 0);
    CHECK(res && res->nbatches[0] == 2 && res->nbatches[1] == 2);
    int failed = 0;
    CHECK(stages_of(ctx, ember_job_id(job), &failed, NULL) == 1);
    CHECK(failed == 2); /* each task's first attempt */
    ember_result_free(res);
    ember_job_free(job);
    /* Always failing: the job fails after max_failures attempts, with the worker's error. */
    ember_node *always = pipeline(ctx, src, "fail");
    CHECK(ember_run_job(ctx, always, NULL, 0, NULL, NULL, &res) == EMBER_ETASK);
    CHECK(res == NULL);
    CHECK(strstr(ember_last_error(), "failed 3 times") != NULL);
    CHECK(strstr(ember_last_error(), "fake failure in partition") != NULL);
    /* The context stays usable. */
    CHECK(ember_run_job(ctx, src, NULL, 0, NULL, NULL, &res) == 0);
    ember_result_free(res);
    ember_node_release(always);
    ember_node_release(once);
    ember_node_release(src);
    ember_context_free(ctx);
}

static void test_worker_death(void) {
    ember_context *ctx = new_context(1, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 3);
    ember_node *dies = pipeline(ctx, src, "die-once");
    ember_job *job;
    CHECK(ember_job_submit(ctx, dies, NULL, 0, NULL, NULL, 0, &job) == 0);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == 0);
    for (size_t p = 0; res && p < 3; p++)
        CHECK(res->nbatches[p] == 2);
    int failed = 0;
    stages_of(ctx, ember_job_id(job), &failed, NULL);
    CHECK(failed == 3); /* a new worker for each task's second attempt */
    ember_result_free(res);
    ember_job_free(job);
    ember_node_release(dies);
    ember_node_release(src);
    ember_context_free(ctx);
}

static void test_cancellation(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 4);
    ember_node *hang = pipeline(ctx, src, "hang");
    ember_job *job;
    CHECK(ember_job_submit(ctx, hang, NULL, 0, "my group", NULL, 0, &job) == 0);
    CHECK(ember_job_wait(job, 100) == 0);
    CHECK(ember_cancel_group(ctx, "my group") == 1);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == EMBER_ECANCELLED);
    CHECK(strstr(ember_last_error(), "cancelled part of cancelled job group my group") != NULL);
    ember_result_free(res);
    ember_job_free(job);
    /* The killed workers are replaced: the next job runs. */
    CHECK(ember_run_job(ctx, src, NULL, 0, NULL, NULL, &res) == 0);
    ember_result_free(res);
    ember_node_release(hang);
    ember_node_release(src);
    ember_context_free(ctx);
}

/* Partition 0 waits on a gate that the test opens only after partition 1's result was
 * taken: results arrive in completion order, each as soon as its task finished. */
static void test_streaming_order(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    char gate[4096], cmd[4200];
    snprintf(gate, sizeof gate, "%s/gate-order", ember_context_tmpdir(ctx));
    snprintf(cmd, sizeof cmd, "gate0:%s", gate);
    ember_node *src = parallel(ctx, 2);
    ember_node *slow0 = pipeline(ctx, src, cmd);
    ember_job *job;
    CHECK(ember_job_submit(ctx, slow0, NULL, 0, NULL, NULL, 0, &job) == 0);
    ember_part *part = NULL;
    CHECK(ember_job_next(job, 30000, &part) == 1);
    CHECK(part && part->index == 1 && part->nbatches == 2 && batch_is(&part->batches[0], "1.0"));
    ember_part_free(part);
    CHECK(ember_job_next(job, 0, &part) == EMBER_JOB_TIMEOUT && part == NULL);
    int fd = open(gate, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK(ember_job_next(job, 30000, &part) == 1);
    CHECK(part && part->index == 0 && part->nbatches == 2 && batch_is(&part->batches[1], "0.1"));
    ember_part_free(part);
    CHECK(ember_job_next(job, 30000, &part) == 0);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == 0);
    CHECK(res && res->batches[0] == NULL && res->batches[1] == NULL); /* both were taken */
    ember_result_free(res);
    ember_job_free(job);
    ember_node_release(slow0);
    ember_node_release(src);
    ember_context_free(ctx);
}

/* One slot, 8 partitions; all but partition 0 wait on a gate that never opens. After
 * the first result the job is cancelled: no more tasks are launched, the one waiting
 * is killed. */
static void test_stop_after_first_result(void) {
    ember_context *ctx = new_context(1, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    char gate[4096], cmd[4200];
    snprintf(gate, sizeof gate, "%s/gate-stop", ember_context_tmpdir(ctx));
    snprintf(cmd, sizeof cmd, "gaterest:%s", gate);
    ember_node *src = parallel(ctx, 8);
    ember_node *gated = pipeline(ctx, src, cmd);
    ember_job *job;
    CHECK(ember_job_submit(ctx, gated, NULL, 0, NULL, NULL, 0, &job) == 0);
    ember_part *part = NULL;
    CHECK(ember_job_next(job, 30000, &part) == 1);
    CHECK(part && part->index == 0);
    ember_part_free(part);
    ember_job_cancel(job);
    int r;
    while ((r = ember_job_next(job, 30000, &part)) == 1)
        ember_part_free(part);
    CHECK(r == 0);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == EMBER_ECANCELLED);
    ember_result_free(res);
    int done = 0;
    stages_of(ctx, ember_job_id(job), NULL, &done);
    CHECK(done == 1); /* partition 0 only */
    /* Partition 1 had started (and was killed); partitions 2-7 never were. */
    char started[4300];
    struct stat sb;
    snprintf(started, sizeof started, "%s.started.0.2", gate);
    CHECK(stat(started, &sb) != 0);
    ember_job_free(job);
    ember_node_release(gated);
    ember_node_release(src);
    ember_context_free(ctx);
}

static void test_max_result_size(void) {
    ember_context *ctx = new_context(2, 1000);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 4);
    ember_node *big = pipeline(ctx, src, "big:400");
    ember_result *res = NULL;
    CHECK(ember_run_job(ctx, big, NULL, 0, NULL, NULL, &res) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "spark.driver.maxResultSize (1000.0 B)") != NULL);
    CHECK(strstr(ember_last_error(), "Total size of serialized results of") != NULL);
    /* Under the limit, and the context is still usable. */
    size_t two[2] = {0, 1};
    CHECK(ember_run_job(ctx, big, two, 2, NULL, NULL, &res) == 0);
    CHECK(res && res->nbatches[0] == 1 && res->batches[0][0].len == 400);
    ember_result_free(res);
    ember_node_release(big);
    ember_node_release(src);
    ember_context_free(ctx);
}

/* A join's shape: union of two shuffles. Both map stages' tasks wait on one gate; the
 * test opens it only once both stages are running at the same time. */
static void test_independent_stages_run_together(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    char gate[4096], cmd[4200];
    snprintf(gate, sizeof gate, "%s/gate-join", ember_context_tmpdir(ctx));
    snprintf(cmd, sizeof cmd, "gate:%s", gate);
    ember_node *a = parallel(ctx, 1), *b = parallel(ctx, 1);
    ember_node *sa = NULL, *sb_ = NULL, *both = NULL;
    CHECK(ember_node_shuffle(ctx, a, 2, cmd, strlen(cmd), &sa) == 0);
    CHECK(ember_node_shuffle(ctx, b, 2, cmd, strlen(cmd), &sb_) == 0);
    ember_node *parents[2] = {sa, sb_};
    CHECK(ember_node_union(ctx, parents, 2, &both) == 0);
    ember_job *job;
    CHECK(ember_job_submit(ctx, both, NULL, 0, NULL, NULL, 0, &job) == 0);
    int together = 0;
    for (int i = 0; i < 3000 && !together; i++) {
        ember_stage_info info[8];
        size_t n = ember_active_stages(ctx, info, 8), active = 0;
        for (size_t k = 0; k < n && k < 8; k++)
            active += info[k].num_active > 0;
        together = active >= 2;
        if (!together) sleep_ms(10);
    }
    CHECK(together);
    int fd = open(gate, O_CREAT | O_WRONLY, 0644);
    close(fd);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == 0);
    /* Every batch went through a shuffle: 2 from each side, 4 in all. */
    size_t total = 0;
    for (size_t p = 0; res && p < res->nparts; p++)
        total += res->nbatches[p];
    CHECK(res && res->nparts == 4 && total == 4);
    CHECK(stages_of(ctx, ember_job_id(job), NULL, NULL) == 3);
    ember_result_free(res);
    ember_job_free(job);
    ember_node_release(both);
    ember_node_release(sa);
    ember_node_release(sb_);
    ember_node_release(a);
    ember_node_release(b);
    ember_context_free(ctx);
}

/* The engine writes each attempt and stage into the task log: a retried failure with
 * its error, successes with their bytes and the counts their TASK_DONE carried, and the
 * attempts a cancellation kills. */
static void test_task_log(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 2);
    ember_node *once = pipeline(ctx, src, "fail-once");
    ember_result *res = NULL;
    CHECK(ember_run_job(ctx, once, NULL, 0, NULL, NULL, &res) == 0);
    ember_result_free(res);
    ember_task_info t[16];
    size_t n = ember_task_infos(ctx, -1, t, 16);
    CHECK(n == 4); /* two partitions, each failing once */
    int failed = 0, ok = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        CHECK(t[i].launch_ms > 0 && t[i].finish_ms >= t[i].launch_ms && t[i].pid > 0);
        CHECK(t[i].input_bytes > 0); /* the parallelized batches sent */
        if (t[i].status == EMBER_TASK_FAILED) {
            char err[256];
            failed++;
            CHECK(t[i].has_error && t[i].attempt == 0);
            CHECK(ember_task_error(ctx, t[i].task_id, err, sizeof err) > 0 && strstr(err, "fake failure") != NULL);
        } else if (t[i].status == EMBER_TASK_SUCCESS) {
            ok++;
            CHECK(t[i].attempt == 1 && t[i].output_bytes > 0 && !t[i].has_error);
            /* the worker's counts, from its TASK_DONE (the fake worker's are (i + 1) * 1000 + partition) */
            uint64_t p = (uint64_t)t[i].partition;
            CHECK(t[i].records_read == 1000 + p && t[i].records_written == 2000 + p);
            CHECK(t[i].shuffle_records_read == 3000 + p && t[i].shuffle_records_written == 4000 + p);
            CHECK(t[i].memory_bytes_spilled == 5000 + p && t[i].disk_bytes_spilled == 6000 + p);
            /* locally nothing is fetched between executors */
            CHECK(t[i].remote_bytes_fetched == 0 && t[i].fetch_begin_us == 0 && t[i].fetch_end_us == 0);
        } else {
            CHECK(t[i].records_read == 0 && t[i].disk_bytes_spilled == 0); /* a failed attempt sends none */
        }
    }
    CHECK(failed == 2 && ok == 2);
    ember_stage_record st[4];
    CHECK(ember_stage_records(ctx, st, 4) == 1);
    CHECK(st[0].status == EMBER_STAGE_COMPLETE && st[0].kind == EMBER_STAGE_KIND_RESULT && st[0].num_tasks == 2);
    CHECK(st[0].completed_ms >= st[0].submitted_ms && st[0].node_id == ember_node_id(once));

    ember_node *hang = pipeline(ctx, src, "hang");
    ember_job *job;
    CHECK(ember_job_submit(ctx, hang, NULL, 0, "log group", NULL, 0, &job) == 0);
    CHECK(ember_job_wait(job, 100) == 0);
    CHECK(ember_cancel_group(ctx, "log group") == 1);
    CHECK(ember_job_finish(job, &res) == EMBER_ECANCELLED);
    ember_result_free(res);
    CHECK(ember_stage_records(ctx, st, 4) == 2 && st[1].status == EMBER_STAGE_FAILED);
    n = ember_task_infos(ctx, st[1].stage_id, t, 16);
    CHECK(n == 2);
    for (size_t i = 0; i < n && i < 16; i++)
        CHECK(t[i].status == EMBER_TASK_KILLED && t[i].finish_ms > 0);
    ember_job_free(job);
    ember_node_release(hang);
    ember_node_release(once);
    ember_node_release(src);
    ember_context_free(ctx);
}

/* A context stopped by one thread while another holds a reference to it (as the
 * Python binding does across a call that releases the GIL): its readers still work on
 * the stopped context, which is freed with the last reference (ASan checks that). */
static void test_held_context_outlives_its_stop(void) {
    ember_context *ctx = new_context(1, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    ember_node *src = parallel(ctx, 2);
    ember_result *res = NULL;
    CHECK(ember_run_job(ctx, src, NULL, 0, NULL, NULL, &res) == 0);
    ember_result_free(res);
    ember_node_release(src); /* no node left: the held reference alone keeps the memory */
    emberG_context_retain(ctx);
    ember_context_free(ctx);
    ember_stage_info info[4];
    CHECK(ember_active_stages(ctx, info, 4) == 0);
    CHECK(ember_finished_stages(ctx, info, 4) == 1);
    ember_storage_info st[2];
    CHECK(ember_storage_status(ctx, st, 2) == 0);
    ember_task_info t[4];
    CHECK(ember_task_infos(ctx, -1, t, 4) == 2);
    emberG_context_release(ctx);
}

/* A persisted range node at each level: the second job reads what the first kept
 * (DISK: files the worker reads by path; MEMORY with a 1-byte budget: nothing fits,
 * every job computes it again); the results are the same; unpersist removes files. */
static void test_storage_levels(void) {
    ember_context *ctx = new_context_budget(2, 0, 1);
    if (!ctx) {
        CHECK(0);
        return;
    }
    int levels[3] = {EMBER_STORAGE_DISK, EMBER_STORAGE_MEMORY, EMBER_STORAGE_MEMORY | EMBER_STORAGE_DISK};
    for (int l = 0; l < 3; l++) {
        ember_node *r = NULL;
        CHECK(ember_node_range(ctx, 0, 40, 1, 4, &r) == 0);
        CHECK(ember_node_persist(r, levels[l]) == 0);
        for (int round = 0; round < 2; round++) {
            ember_result *res = NULL;
            CHECK(ember_run_job(ctx, r, NULL, 0, NULL, NULL, &res) == 0);
            for (size_t p = 0; res && p < 4; p++) {
                char want[32];
                snprintf(want, sizeof want, "r:%zu:%zu", 10 * p, 10 * p + 10);
                CHECK(res->nbatches[p] == 1 && batch_is(&res->batches[p][0], want));
            }
            ember_result_free(res);
        }
        ember_storage_info info[4];
        CHECK(ember_storage_status(ctx, info, 4) == 1 && info[0].id == ember_node_id(r));
        CHECK(info[0].memory_bytes == 0); /* DISK, or nothing fits the 1-byte budget */
        if (levels[l] & EMBER_STORAGE_DISK)
            CHECK(info[0].cached_partitions == 4 && info[0].disk_bytes > 0);
        else
            CHECK(info[0].cached_partitions == 0 && info[0].disk_bytes == 0);
        char path[4096];
        snprintf(path, sizeof path, "%s/rdd-%d-0.block", ember_context_tmpdir(ctx), ember_node_id(r));
        struct stat sb;
        CHECK((stat(path, &sb) == 0) == ((levels[l] & EMBER_STORAGE_DISK) != 0));
        CHECK(ember_node_persist(r, 0) == 0);
        CHECK(stat(path, &sb) != 0 && ember_storage_status(ctx, info, 4) == 0);
        ember_node_release(r);
    }
    ember_context_free(ctx);
}

/* A DISK-persisted node marked drop_after_shuffle keeps its blocks for the jobs that
 * read it directly, and loses them (files and all) as soon as a shuffle over it has
 * its map output; a later job needing it computes it again. Unmarked, they stay. */
static void test_drop_after_shuffle(void) {
    ember_context *ctx = new_context(2, 0);
    if (!ctx) {
        CHECK(0);
        return;
    }
    for (int drop = 1; drop >= 0; drop--) {
        ember_node *r = NULL, *s = NULL;
        CHECK(ember_node_range(ctx, 0, 40, 1, 4, &r) == 0);
        CHECK(ember_node_persist(r, EMBER_STORAGE_DISK) == 0);
        ember_node_drop_after_shuffle(r, drop);
        ember_result *res = NULL;
        CHECK(ember_run_job(ctx, r, NULL, 0, NULL, NULL, &res) == 0);
        ember_result_free(res);
        char path[4096];
        snprintf(path, sizeof path, "%s/rdd-%d-0.block", ember_context_tmpdir(ctx), ember_node_id(r));
        struct stat sb;
        ember_storage_info info[4];
        CHECK(stat(path, &sb) == 0 && ember_storage_status(ctx, info, 4) == 1);
        CHECK(ember_node_shuffle(ctx, r, 2, "x", 1, &s) == 0);
        for (int round = 0; round < 2; round++) {
            res = NULL;
            CHECK(ember_run_job(ctx, s, NULL, 0, NULL, NULL, &res) == 0);
            size_t total = 0; /* the 4 range batches, each in one bucket */
            for (size_t p = 0; res && p < res->nparts; p++)
                total += res->nbatches[p];
            CHECK(res && total == 4);
            ember_result_free(res);
            CHECK((stat(path, &sb) == 0) == !drop && ember_storage_status(ctx, info, 4) == (size_t)!drop);
        }
        res = NULL; /* computed again from the range when dropped */
        CHECK(ember_run_job(ctx, r, NULL, 0, NULL, NULL, &res) == 0);
        CHECK(res && res->nbatches[0] == 1 && batch_is(&res->batches[0][0], "r:0:10"));
        ember_result_free(res);
        CHECK(ember_node_persist(r, 0) == 0);
        ember_node_release(s);
        ember_node_release(r);
    }
    ember_context_free(ctx);
}

int main(void) {
    RUN(test_job_success);
    RUN(test_task_failure_and_retry);
    RUN(test_worker_death);
    RUN(test_cancellation);
    RUN(test_streaming_order);
    RUN(test_stop_after_first_result);
    RUN(test_max_result_size);
    RUN(test_independent_stages_run_together);
    RUN(test_storage_levels);
    RUN(test_drop_after_shuffle);
    RUN(test_task_log);
    RUN(test_held_context_outlives_its_stop);
    return TEST_REPORT();
}
