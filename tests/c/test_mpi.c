/* test_mpi.c — cluster mode (mpi.c) without MPI: the messages (each type round trips
 * through emberP_msg_encode/decode; short, long, unknown and wrongly sized messages
 * are rejected with EMBER_EPROTO; MAKE_CORPUS=dir writes them as fuzz_mpi's corpus),
 * and the transport over the fake MPI of fake_mpi.c (a driver context and two
 * executors as threads of this process, fake_worker.c's workers): jobs, retries and
 * big results through the relay, cached blocks on the executors (none left behind
 * by a cancelled job), a lost executor failing the job and naming its
 * rank, SIGTERM naming the silent one within 700 ms, and a SIGTERM to the driver alone while
 * beats come late (a loaded host) losing no executor. tests/test_cluster.py runs the real
 * thing under mpirun. */
#include "internal.h"
#include "test.h"
#include "test_jobs.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if !defined(FAKE_WORKER) || !defined(FAKE_MPI)
#error "FAKE_WORKER and FAKE_MPI must name the fake worker and the fake MPI shim (meson.build sets them)"
#endif

static const char *corpus_dir;

static void save(const char *name, const emberB_buf *b) {
    if (!corpus_dir) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

static void round_trip(const emberP_msg *m, const char *name) {
    emberB_buf b = {0};
    CHECK(emberP_msg_encode(m, &b) == 0);
    save(name, &b);
    emberP_msg d;
    CHECK(emberP_msg_decode(b.data, b.len, &d) == 0);
    CHECK(d.type == m->type && d.slot == m->slot && d.gen == m->gen);
    CHECK(d.num == m->num && d.u64 == m->u64 && d.nrest == m->nrest);
    CHECK(d.nrest == 0 || memcmp(d.rest, m->rest, d.nrest) == 0);
    /* every shorter prefix is rejected, and so is one byte more where no rest is allowed */
    for (size_t cut = 0; cut < EMBER_MPI_HEADER; cut++)
        CHECK(emberP_msg_decode(b.data, cut, &d) == EMBER_EPROTO);
    emberB_free(&b);
}

static void test_round_trips(void) {
    round_trip(
        &(emberP_msg){.type = EMBER_MPI_HELLO, .num = 4, .u64 = 12345, .rest = (const uint8_t *)"node7", .nrest = 5},
        "hello");
    round_trip(&(emberP_msg){.type = EMBER_MPI_START, .slot = 3, .gen = 9}, "start");
    round_trip(&(emberP_msg){.type = EMBER_MPI_STARTED, .slot = 3, .gen = 9, .num = 4242}, "started");
    round_trip(
        &(emberP_msg){
            .type = EMBER_MPI_START_FAILED, .slot = 1, .gen = 2, .rest = (const uint8_t *)"no daemon", .nrest = 9},
        "start_failed");
    round_trip(
        &(emberP_msg){.type = EMBER_MPI_DATA, .slot = 0, .gen = 1, .rest = (const uint8_t *)"\x01\x02\x03", .nrest = 3},
        "data");
    round_trip(&(emberP_msg){.type = EMBER_MPI_DATA, .slot = 0, .gen = 1}, "data_empty");
    round_trip(&(emberP_msg){.type = EMBER_MPI_CREDIT, .slot = 5, .gen = 7, .u64 = 1ull << 40}, "credit");
    round_trip(&(emberP_msg){.type = EMBER_MPI_CLOSE, .slot = 2, .gen = 3, .num = 1}, "close");
    round_trip(&(emberP_msg){.type = EMBER_MPI_ENDED,
                             .slot = 2,
                             .gen = 3,
                             .num = 0xffffffffu,
                             .rest = (const uint8_t *)"Traceback",
                             .nrest = 9},
               "ended");
    round_trip(&(emberP_msg){.type = EMBER_MPI_BEAT}, "beat");
    round_trip(&(emberP_msg){.type = EMBER_MPI_QUIT, .num = 1}, "quit");
    round_trip(&(emberP_msg){.type = EMBER_MPI_FETCH,
                             .slot = 17,
                             .num = 3,
                             .rest = (const uint8_t *)"/tmp/ember-x/e2/shuffle-1-0-4.data",
                             .nrest = 34},
               "fetch");
    round_trip(&(emberP_msg){.type = EMBER_MPI_FETCHED,
                             .slot = 17,
                             .num = 1,
                             .rest = (const uint8_t *)"\x02\x00\x00\x00"
                                                      "ab",
                             .nrest = 6},
               "fetched");
    round_trip(&(emberP_msg){.type = EMBER_MPI_RANGE,
                             .slot = 17,
                             .num = 0xdeadbeefu,
                             .u64 = 6,
                             .rest = (const uint8_t *)"\x02\x00\x00\x00"
                                                      "ab",
                             .nrest = 6},
               "range");
    round_trip(
        &(emberP_msg){.type = EMBER_MPI_PUT, .num = 3, .rest = (const uint8_t *)"userFiles/a.txt\0hello", .nrest = 21},
        "put");
    round_trip(&(emberP_msg){.type = EMBER_MPI_REMOVE,
                             .rest = (const uint8_t *)"/tmp/ember-x/e1/shuffle-1-0-4.data",
                             .nrest = 34},
               "remove");
}

/* Which executor holds a file, by the name the driver gives it. */
static void test_file_owner(void) {
    int rank = -1;
    const char *name = NULL;
    CHECK(emberP_file_owner("/tmp/ember-x/e12/shuffle-3-0-7.data", &rank, &name) && rank == 12 &&
          strcmp(name, "shuffle-3-0-7.data") == 0);
    CHECK(!emberP_file_owner("/tmp/ember-x/shuffle-3-0-7.data", &rank, &name)); /* the driver's own */
    CHECK(!emberP_file_owner("/tmp/ember-x/e1x/shuffle-3-0-7.data", &rank, &name));
    CHECK(!emberP_file_owner("/tmp/ember-x/e2/other-3", &rank, &name));
    CHECK(!emberP_file_owner("e2", &rank, &name));
}

static void test_rejects(void) {
    emberP_msg d;
    uint8_t buf[32] = {0};
    buf[0] = 0; /* type 0 */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_LAST + 1;
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_FETCH; /* a bucket at least */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 3, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_CREDIT; /* needs 8 bytes after the header, exactly */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 7, &d) == EMBER_EPROTO);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 9, &d) == EMBER_EPROTO);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 8, &d) == 0);
    buf[0] = EMBER_MPI_HELLO; /* 12 bytes at least */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 11, &d) == EMBER_EPROTO);
    buf[0] = EMBER_MPI_RANGE; /* so is a range: CRC and length */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 11, &d) == EMBER_EPROTO);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 12, &d) == 0 && d.nrest == 0);
    buf[0] = EMBER_MPI_START; /* nothing after the header */
    CHECK(emberP_msg_decode(buf, EMBER_MPI_HEADER + 1, &d) == EMBER_EPROTO);
    CHECK(strstr(ember_last_error(), "after its header") != NULL);
    CHECK(emberP_msg_decode(buf, EMBER_MPI_MAX_MSG + 1, &d) == EMBER_EPROTO);
    emberB_buf b = {0};
    CHECK(emberP_msg_encode(&(emberP_msg){.type = 99}, &b) == EMBER_EINVAL);
    CHECK(emberP_msg_encode(&(emberP_msg){.type = EMBER_MPI_DATA, .rest = buf, .nrest = EMBER_MPI_MAX_MSG}, &b) ==
          EMBER_EINVAL);
    CHECK(b.len == 0);
    emberB_free(&b);
}

/* ---- the relay, over the fake MPI of fake_mpi.c ------------------------------------- */
/* A driver context (rank 0) and two executors (ranks 1, 2, 2 slots each), all threads
 * of this process; the workers are fake_worker.c's. */

typedef struct world {
    ember_context *ctx;
    pthread_t exec[2];
    int exec_rc[2];
} world;

static ember_config executor_cfg(void) {
    ember_config cfg = {0};
    cfg.slots = 2;
    cfg.daemon = FAKE_WORKER;
    cfg.mpi = FAKE_MPI;
    return cfg;
}

static void *executor_main(void *arg) {
    int *rc = arg;
    ember_config cfg = executor_cfg();
    *rc = ember_mpi_executor(&cfg);
    return NULL;
}

static void *driver_main(void *arg) {
    world *w = arg;
    ember_config cfg = executor_cfg();
    cfg.slots = 1; /* ignored: the executors' slots count */
    cfg.max_failures = 3;
    cfg.locality_wait_ms = 60000; /* a task waits for the executor holding its input */
    if (ember_context_create(&cfg, &w->ctx)) {
        fprintf(stderr, "ember_context_create: %s\n", ember_last_error());
        w->ctx = NULL;
    }
    return NULL;
}

static int (*fake_inited)(void);
static void (*fake_silence)(int);
static void (*fake_reset)(void);
static void (*fake_hold)(int, int);

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Starts the world: the driver first (rank 0), then the executors. */
static int world_start(world *w) {
    memset(w, 0, sizeof *w);
    if (!fake_inited) {
        void *dl = dlopen(FAKE_MPI, RTLD_NOW | RTLD_GLOBAL);
        if (!dl) return -1;
        fake_inited = (int (*)(void))dlsym(dl, "fake_mpi_inited");
        fake_silence = (void (*)(int))dlsym(dl, "fake_mpi_silence");
        fake_reset = (void (*)(void))dlsym(dl, "fake_mpi_reset");
        fake_hold = (void (*)(int, int))dlsym(dl, "fake_mpi_hold");
        if (!fake_inited || !fake_silence || !fake_reset || !fake_hold) return -1;
    }
    fake_reset();
    setenv("EMBER_FAKE_MPI_SIZE", "3", 1);
    pthread_t driver;
    pthread_create(&driver, NULL, driver_main, w);
    for (int i = 0; i < 500 && fake_inited() < 1; i++)
        sleep_ms(10);
    for (int i = 0; i < 2; i++) {
        pthread_create(&w->exec[i], NULL, executor_main, &w->exec_rc[i]);
        for (int k = 0; k < 500 && fake_inited() < 2 + i; k++) /* ranks in order */
            sleep_ms(10);
    }
    pthread_join(driver, NULL);
    return w->ctx ? 0 : -1;
}

static void world_stop(world *w);

/* Starts the world, or fails the test (stopping what started): 1 when it runs. */
static int world_up(world *w) {
    if (world_start(w) == 0) return 1;
    CHECK(0);
    world_stop(w);
    return 0;
}

static void world_stop(world *w) {
    if (w->ctx) ember_context_free(w->ctx); /* QUIT to the executors still there */
    for (int i = 0; i < 2; i++)
        pthread_join(w->exec[i], NULL);
}

static void test_relay_runs_jobs(void) {
    world w;
    if (!world_up(&w)) return;
    CHECK(ember_context_slots(w.ctx) == 4);
    ember_executor_info info[4];
    CHECK(ember_context_executors(w.ctx, info, 4) == 2);
    CHECK(info[0].rank == 1 && info[0].slots == 2 && info[1].rank == 2 && info[0].host[0]);
    ember_node *src = parallel(w.ctx, 6);
    ember_result *res = NULL;
    CHECK(ember_run_job(w.ctx, src, NULL, 0, NULL, NULL, &res) == 0);
    for (size_t p = 0; res && p < 6; p++) {
        char want[32];
        snprintf(want, sizeof want, "%zu.1", p);
        CHECK(res->nbatches[p] == 2 && res->batches[p][1].len == strlen(want) &&
              memcmp(res->batches[p][1].data, want, strlen(want)) == 0);
    }
    ember_result_free(res);
    /* A failed task and a worker that dies are retried, as locally. */
    ember_node *flaky = pipeline(w.ctx, src, "fail-once die-once");
    res = NULL;
    CHECK(ember_run_job(w.ctx, flaky, NULL, 0, NULL, NULL, &res) == 0);
    for (size_t p = 0; res && p < 6; p++)
        CHECK(res->nbatches[p] == 2);
    ember_result_free(res);
    ember_node *always = pipeline(w.ctx, src, "fail");
    CHECK(ember_run_job(w.ctx, always, NULL, 0, NULL, NULL, &res) == EMBER_ETASK);
    CHECK(strstr(ember_last_error(), "fake failure in partition") != NULL);
    /* Results bigger than the relay's window (4 MiB) come through whole. */
    ember_node *big = pipeline(w.ctx, src, "big:6000000");
    size_t parts[2] = {0, 5};
    res = NULL;
    CHECK(ember_run_job(w.ctx, big, parts, 2, NULL, NULL, &res) == 0);
    for (size_t p = 0; res && p < 2; p++) {
        CHECK(res->nbatches[p] == 1 && res->batches[p][0].len == 6000000);
        CHECK(res->batches[p][0].data[0] == 'x' && res->batches[p][0].data[5999999] == 'x');
    }
    ember_result_free(res);
    ember_node_release(big);
    ember_node_release(always);
    ember_node_release(flaky);
    ember_node_release(src);
    world_stop(&w);
    CHECK(w.exec_rc[0] == 0 && w.exec_rc[1] == 0);
}

/* How many map outputs of shuffle id the executors' temp dirs (under TMPDIR) hold. */
static size_t executor_map_outputs(int id) {
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/ember-executor-*/shuffle-%d-*", getenv("TMPDIR"), id);
    glob_t g;
    size_t found = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return found;
}

/* Makes tmp (a mkdtemp template) the TMPDIR of the driver and both executors; returns
 * the TMPDIR it replaces (malloc'd, or NULL), for tmpdir_leave. */
static char *tmpdir_enter(char *tmp) {
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    CHECK(mkdtemp(tmp) != NULL);
    setenv("TMPDIR", tmp, 1);
    return saved;
}

/* Checks every temp dir under tmp was removed (tmp is empty), removes it and puts back
 * the TMPDIR tmpdir_enter replaced. */
static void tmpdir_leave(const char *tmp, char *saved) {
    CHECK(rmdir(tmp) == 0);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
}

/* A shuffle: each executor keeps its map outputs in its own temp dir, and a reduce
 * task fetches its bucket of the others' from them; every record lands where the
 * partitioner says, none lost; releasing the shuffle removes the executors' files
 * while the context runs. A DISK_ONLY cached node: its block files (the driver's)
 * are read by the executors (this host sees them). */
static void test_relay_shuffle_and_blocks(void) {
    char tmp[] = "/tmp/ember-test-mpi-XXXXXX", *saved_tmp = tmpdir_enter(tmp);
    world w;
    if (!world_up(&w)) goto restore;
    ember_node *src = parallel(w.ctx, 6);
    ember_node *sh = NULL;
    CHECK(ember_node_shuffle(w.ctx, src, 3, "spec", 4, &sh) == 0);
    for (int round = 0; round < 2; round++) { /* the second reads the shuffle's files again */
        ember_result *res = NULL;
        CHECK(ember_run_job(w.ctx, sh, NULL, 0, NULL, NULL, &res) == 0);
        size_t total = 0;
        for (size_t p = 0; res && p < 3; p++) {
            for (size_t j = 0; j < res->nbatches[p]; j++)
                CHECK(res->batches[p][j].len > 0 && res->batches[p][j].data[0] % 3 == p);
            total += res->nbatches[p];
        }
        CHECK(total == 12);
        ember_result_free(res);
    }
    /* Nothing of the shuffle sits in the driver's temp dir: the executors hold it. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/e1", ember_context_tmpdir(w.ctx));
    CHECK(access(dir, F_OK) != 0);
    ember_node *r = NULL;
    CHECK(ember_node_range(w.ctx, 0, 40, 1, 4, &r) == 0);
    CHECK(ember_node_persist(r, EMBER_STORAGE_DISK) == 0);
    for (int round = 0; round < 2; round++) {
        ember_result *res = NULL;
        CHECK(ember_run_job(w.ctx, r, NULL, 0, NULL, NULL, &res) == 0);
        CHECK(res && res->nparts == 4 && res->nbatches[3] == 1);
        CHECK(res && res->batches[3][0].len == 7 && memcmp(res->batches[3][0].data, "r:30:40", 7) == 0);
        ember_result_free(res);
    }
    /* Released, the shuffle's map outputs (6, over both executors) go from their
     * temp dirs, told over MPI. */
    int id = ember_node_id(sh);
    CHECK(executor_map_outputs(id) == 6);
    ember_node_release(r);
    ember_node_release(sh);
    for (int i = 0; i < 200 && executor_map_outputs(id) > 0; i++)
        sleep_ms(10);
    CHECK(executor_map_outputs(id) == 0);
    ember_node_release(src);
    world_stop(&w);
restore:
    tmpdir_leave(tmp, saved_tmp);
}

/* Buckets bigger than a piece (1 MiB) and than a fetch's window of pieces (4 MiB)
 * come through whole: each map task writes one record of 3 MB, all to bucket 0
 * ('x' % 2), so its reduce task fetches those of the other executor. Its task log row
 * says what it fetched (whole records: 4 bytes of length and 3 MB each) and when,
 * inside the task's run. */
static void test_relay_big_buckets(void) {
    world w;
    if (!world_up(&w)) return;
    ember_node *src = parallel(w.ctx, 6), *big = pipeline(w.ctx, src, "big:3000000"), *sh = NULL;
    CHECK(ember_node_shuffle(w.ctx, big, 2, "spec", 4, &sh) == 0);
    ember_result *res = NULL;
    CHECK(ember_run_job(w.ctx, sh, NULL, 0, NULL, NULL, &res) == 0);
    CHECK(res && res->nparts == 2 && res->nbatches[0] == 6 && res->nbatches[1] == 0);
    for (size_t j = 0; res && j < res->nbatches[0]; j++) {
        const ember_buf *b = &res->batches[0][j];
        CHECK(b->len == 3000000 && b->data[0] == 'x' && b->data[1500000] == 'x' && b->data[2999999] == 'x');
    }
    ember_result_free(res);
    ember_task_info tasks[32];
    size_t nt = ember_task_infos(w.ctx, -1, tasks, 32), reducers = 0;
    for (size_t i = 0; i < nt && i < 32; i++) {
        const ember_task_info *t = &tasks[i];
        CHECK(t->status == EMBER_TASK_SUCCESS);
        if (t->shuffle_read_bytes == 0) { /* a map task, or the empty bucket 1: nothing fetched */
            CHECK(t->remote_bytes_fetched == 0 && t->fetch_begin_us == 0 && t->fetch_end_us == 0);
            continue;
        }
        reducers++;
        CHECK(t->shuffle_read_bytes == 6 * 3000004u);
        CHECK(t->remote_bytes_fetched > 0 && t->remote_bytes_fetched < t->shuffle_read_bytes &&
              t->remote_bytes_fetched % 3000004u == 0);
        CHECK(t->fetch_begin_us >= t->launch_ms * 1000 - 1000 && t->fetch_begin_us <= t->fetch_end_us);
        CHECK(t->fetch_end_us <= t->finish_ms * 1000 + 1000);
    }
    CHECK(reducers == 1);
    ember_node_release(sh);
    ember_node_release(big);
    ember_node_release(src);
    world_stop(&w);
    CHECK(w.exec_rc[0] == 0 && w.exec_rc[1] == 0);
}

/* How many block files of node id the executors' temp dirs (under TMPDIR) hold. */
static size_t executor_blocks(int id) {
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/ember-executor-*/rdd-%d-*.block", getenv("TMPDIR"), id);
    glob_t g;
    size_t found = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return found;
}

/* Runs node n's job and checks partition p holds the one batch "r:10p:10p+10". */
static void check_range_job(ember_context *ctx, ember_node *n) {
    ember_result *res = NULL;
    CHECK(ember_run_job(ctx, n, NULL, 0, NULL, NULL, &res) == 0);
    for (size_t p = 0; res && p < 4; p++) {
        char want[32];
        snprintf(want, sizeof want, "r:%zu:%zu", 10 * p, 10 * p + 10);
        CHECK(res->nbatches[p] == 1 && res->batches[p][0].len == strlen(want) &&
              memcmp(res->batches[p][0].data, want, strlen(want)) == 0);
    }
    ember_result_free(res);
}

/* Cached partitions stay on the executors that computed them: the driver records
 * only where (both executors hold some) and how big; a second job's tasks run where
 * their block is and read it there (memory: sent from the executor's store), giving
 * the same records. DISK blocks are files in the executors' temp dirs; one removed
 * behind the store's back is computed again; unpersist removes the files there. */
static void test_blocks_on_executors(void) {
    char tmp[] = "/tmp/ember-test-mpi-XXXXXX", *saved_tmp = tmpdir_enter(tmp);
    world w;
    if (!world_up(&w)) goto restore;
    ember_node *r = NULL;
    CHECK(ember_node_range(w.ctx, 0, 40, 1, 4, &r) == 0);
    CHECK(ember_node_persist(r, EMBER_STORAGE_MEMORY) == 0);
    check_range_job(w.ctx, r);
    ember_storage_info info[4];
    CHECK(ember_storage_status(w.ctx, info, 4) == 1 && info[0].cached_partitions == 4);
    CHECK(info[0].memory_bytes == 6 + 3 * 7 && info[0].disk_bytes == 0); /* "r:0:10", "r:10:20" ... */
    ember_block_info where[4];
    CHECK(ember_storage_blocks(w.ctx, ember_node_id(r), where, 4) == 4);
    int on[3] = {0, 0, 0};
    for (size_t p = 0; p < 4; p++) {
        CHECK(where[p].partition == p && where[p].executor >= 1 && where[p].executor <= 2);
        CHECK(where[p].memory_bytes == (p ? 7u : 6u) && where[p].disk_bytes == 0);
        on[where[p].executor >= 1 && where[p].executor <= 2 ? where[p].executor : 0]++;
    }
    CHECK(on[1] > 0 && on[2] > 0 && on[0] == 0);
    CHECK(executor_blocks(ember_node_id(r)) == 0); /* in the executors' memory, not in files */
    /* The second job: each task on the executor holding its block. */
    ember_node *again = pipeline(w.ctx, r, "x");
    check_range_job(w.ctx, again);
    ember_task_info tasks[64];
    size_t nt = ember_task_infos(w.ctx, -1, tasks, 64), seen = 0;
    for (size_t i = nt > 4 ? nt - 4 : 0; i < nt && i < 64; i++) {
        CHECK(tasks[i].status == EMBER_TASK_SUCCESS && tasks[i].partition >= 0 && tasks[i].partition < 4);
        if (tasks[i].partition >= 0 && tasks[i].partition < 4) /* it read the block: its bytes */
            seen += tasks[i].executor == where[tasks[i].partition].executor &&
                    tasks[i].input_bytes == where[tasks[i].partition].memory_bytes;
    }
    CHECK(seen == 4);
    CHECK(ember_storage_blocks(w.ctx, ember_node_id(r), where, 4) == 4); /* nothing computed again */
    /* One task reading every block runs on one executor: the other's blocks come over
     * MPI from its store's memory, as block files. */
    ember_node *one = NULL;
    CHECK(ember_node_coalesce(w.ctx, r, 1, &one) == 0);
    ember_result *res = NULL;
    CHECK(ember_run_job(w.ctx, one, NULL, 0, NULL, NULL, &res) == 0);
    CHECK(res && res->nparts == 1 && res->nbatches[0] == 4);
    for (size_t p = 0; res && p < 4 && p < res->nbatches[0]; p++) {
        char want[32];
        snprintf(want, sizeof want, "r:%zu:%zu", 10 * p, 10 * p + 10);
        CHECK(res->batches[0][p].len == strlen(want) && memcmp(res->batches[0][p].data, want, strlen(want)) == 0);
    }
    ember_result_free(res);
    CHECK(ember_task_infos(w.ctx, -1, tasks, 64) == nt + 1); /* its one task: no block was computed again */
    ember_node_release(one);
    CHECK(ember_node_persist(r, 0) == 0);
    CHECK(ember_storage_blocks(w.ctx, ember_node_id(r), where, 4) == 0);
    /* DISK: block files in the executors' temp dirs, none in the driver's. */
    ember_node *d = NULL;
    CHECK(ember_node_range(w.ctx, 0, 40, 1, 4, &d) == 0);
    CHECK(ember_node_persist(d, EMBER_STORAGE_DISK) == 0);
    check_range_job(w.ctx, d);
    int id = ember_node_id(d);
    CHECK(executor_blocks(id) == 4);
    CHECK(ember_storage_status(w.ctx, info, 4) == 1 && info[0].cached_partitions == 4 && info[0].disk_bytes > 0 &&
          info[0].memory_bytes == 0);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/e1", ember_context_tmpdir(w.ctx));
    CHECK(access(dir, F_OK) != 0);
    /* A block file gone behind the store's back: the task reading it fails to, and
     * the partition is computed (and kept) again. */
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/ember-executor-*/rdd-%d-2.block", tmp, id);
    glob_t g;
    CHECK(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1 && unlink(g.gl_pathv[0]) == 0);
    globfree(&g);
    ember_node *reread = pipeline(w.ctx, d, "y");
    check_range_job(w.ctx, reread);
    CHECK(executor_blocks(id) == 4);
    /* Unpersisted, its files go from the executors' temp dirs, told over MPI. */
    CHECK(ember_node_persist(d, 0) == 0);
    for (int i = 0; i < 200 && executor_blocks(id) > 0; i++)
        sleep_ms(10);
    CHECK(executor_blocks(id) == 0);
    ember_node_release(reread);
    ember_node_release(d);
    ember_node_release(again);
    ember_node_release(r);
    world_stop(&w);
restore:
    tmpdir_leave(tmp, saved_tmp);
}

/* A job cancelled while its cache task's answer (BLOCK_STORED, TASK_DONE) is on its
 * way to the driver, the executor having kept the block already: the driver never
 * records the block, so the executor is told to drop it and does (its DISK_ONLY
 * block file goes), and the next job computes and keeps it again. The answer is
 * held back in the fake MPI until the job has been cancelled. */
static void test_cancel_drops_unrecorded_block(void) {
    char tmp[] = "/tmp/ember-test-mpi-XXXXXX", *saved_tmp = tmpdir_enter(tmp);
    world w;
    if (!world_up(&w)) goto restore;
    ember_node *r = NULL;
    CHECK(ember_node_range(w.ctx, 0, 10, 1, 1, &r) == 0);
    CHECK(ember_node_persist(r, EMBER_STORAGE_DISK) == 0);
    int id = ember_node_id(r);
    fake_hold(0, EMBER_MPI_DATA); /* what workers send the driver waits */
    ember_job *job = NULL;
    CHECK(ember_job_submit(w.ctx, r, NULL, 0, NULL, NULL, 0, &job) == 0);
    for (int i = 0; i < 1000 && executor_blocks(id) == 0; i++)
        sleep_ms(10);
    CHECK(executor_blocks(id) == 1); /* the executor kept it; the driver has not heard */
    ember_job_cancel(job);
    CHECK(ember_job_wait(job, 30000) == 1);
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == EMBER_ECANCELLED);
    ember_result_free(res);
    ember_job_free(job);
    fake_hold(0, 0);
    for (int i = 0; i < 500 && executor_blocks(id) > 0; i++)
        sleep_ms(10);
    CHECK(executor_blocks(id) == 0);
    ember_block_info where[1];
    CHECK(ember_storage_blocks(w.ctx, id, where, 1) == 0);
    res = NULL;
    CHECK(ember_run_job(w.ctx, r, NULL, 0, NULL, NULL, &res) == 0);
    CHECK(res && res->nparts == 1 && res->nbatches[0] == 1 && res->batches[0][0].len == 6 &&
          memcmp(res->batches[0][0].data, "r:0:10", 6) == 0);
    ember_result_free(res);
    CHECK(executor_blocks(id) == 1 && ember_storage_blocks(w.ctx, id, where, 1) == 1);
    ember_node_release(r);
    world_stop(&w);
    CHECK(w.exec_rc[0] == 0 && w.exec_rc[1] == 0);
restore:
    tmpdir_leave(tmp, saved_tmp);
}

/* Where a reduce task prefers to run, by Spark's rule: map task p of a parallel
 * source writes its two records to bucket p % 3, so bucket b's bytes are maps b's and
 * b + 3's, half each: one preferred executor that waits for a slot when both ran
 * there, else both executors, neither waited for. */
static void test_preferred_places(void) {
    world w;
    if (!world_up(&w)) return;
    ember_node *src = parallel(w.ctx, 6), *sh = NULL;
    CHECK(ember_node_shuffle(w.ctx, src, 3, "spec", 4, &sh) == 0);
    ember_result *res = NULL;
    CHECK(ember_run_job(w.ctx, sh, NULL, 0, NULL, NULL, &res) == 0);
    ember_result_free(res);
    ember_task_info tasks[32];
    size_t nt = ember_task_infos(w.ctx, -1, tasks, 32);
    int map_stage = nt ? tasks[0].stage_id : -1, ran[6] = {0};
    for (size_t i = 0; i < nt && i < 32; i++)
        if (tasks[i].stage_id == map_stage && tasks[i].partition >= 0 && tasks[i].partition < 6)
            ran[tasks[i].partition] = tasks[i].executor;
    emberS_stage st = {.kind = STAGE_RESULT, .computed = sh};
    for (size_t b = 0; b < 3; b++) {
        emberS_task t = {.part = b};
        int places[EMBER_PREFER_MAX], wait = -1;
        int n = emberA_preferred_places(w.ctx, &st, &t, places, &wait);
        CHECK(ran[b] >= 1 && ran[b] <= 2 && ran[b + 3] >= 1 && ran[b + 3] <= 2);
        if (ran[b] == ran[b + 3]) {
            CHECK(n == 1 && places[0] == ran[b] && wait == 1);
        } else {
            CHECK(n == 2 && places[0] == 1 && places[1] == 2 && wait == 0);
        }
    }
    ember_node_release(sh);
    ember_node_release(src);
    world_stop(&w);
}

/* Reads the file at path whole into buf (cap bytes at most): its length, or -1. */
static long slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

/* The copies of `name` in the executors' temp dirs (under TMPDIR) equal to want[0, len). */
static int executor_copies(const char *name, const char *want, size_t len) {
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/ember-executor-*/%s", getenv("TMPDIR"), name);
    glob_t g;
    int same = 0;
    if (glob(pattern, 0, NULL, &g) == 0) {
        char *buf = malloc(len + 1);
        for (size_t i = 0; buf && i < g.gl_pathc; i++)
            same += slurp(g.gl_pathv[i], buf, len + 1) == (long)len && memcmp(buf, want, len) == 0;
        free(buf);
        globfree(&g);
    }
    return same;
}

/* Files the driver shares (broadcast values, added files) reach every executor's temp
 * dir whole, in pieces bigger files need several of, nested names included; removing
 * takes the copies away; names that could escape the temp dir are refused. */
static void test_share_files(void) {
    char tmp[] = "/tmp/ember-test-mpi-XXXXXX", *saved_tmp = tmpdir_enter(tmp);
    world w;
    if (!world_up(&w)) goto restore;
    size_t len = 1300 * 1000; /* three PUT pieces */
    char *data = malloc(len);
    for (size_t i = 0; data && i < len; i++)
        data[i] = (char)(i * 7 + i / 1000);
    char path[4200];
    snprintf(path, sizeof path, "%s/broadcast-7", ember_context_tmpdir(w.ctx));
    FILE *f = fopen(path, "wb");
    CHECK(f && data && fwrite(data, 1, len, f) == len);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/userFiles", ember_context_tmpdir(w.ctx));
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/userFiles/small.txt", ember_context_tmpdir(w.ctx));
    f = fopen(path, "wb");
    CHECK(f && fwrite("small", 1, 5, f) == 5);
    if (f) fclose(f);
    CHECK(ember_context_share(w.ctx, "broadcast-7", 0) == 0);
    CHECK(ember_context_share(w.ctx, "userFiles/small.txt", 0) == 0);
    for (int i = 0; i < 200 && executor_copies("userFiles/small.txt", "small", 5) < 2; i++)
        sleep_ms(10);
    CHECK(executor_copies("broadcast-7", data, len) == 2);
    CHECK(executor_copies("userFiles/small.txt", "small", 5) == 2);
    CHECK(ember_context_share(w.ctx, "broadcast-7", 1) == 0);
    for (int i = 0; i < 200 && executor_copies("broadcast-7", data, len) > 0; i++)
        sleep_ms(10);
    CHECK(executor_copies("broadcast-7", data, len) == 0);
    CHECK(ember_context_share(w.ctx, "../escape", 0) == EMBER_EINVAL);
    CHECK(strstr(ember_last_error(), "../escape") != NULL);
    CHECK(ember_context_share(w.ctx, "/etc/passwd", 0) == EMBER_EINVAL);
    CHECK(ember_context_share(w.ctx, "userFiles/./x", 0) == EMBER_EINVAL);
    CHECK(ember_context_share(w.ctx, "missing", 0) == EMBER_ENOENT);
    CHECK(strstr(ember_last_error(), "/missing") != NULL);
    free(data);
    world_stop(&w);
restore:
    tmpdir_leave(tmp, saved_tmp);
}

/* Executor `rank` goes silent while a job's four tasks hang (with `sigterm`, 700 ms
 * later mpirun's SIGTERM reaches the driver). Returns the job's code, its error in
 * ember_last_error(), and in *ms how long the failure took from the silence (from
 * the signal). */
static int lose_executor(world *w, int rank, int sigterm, double *ms) {
    ember_node *src = parallel(w->ctx, 4);
    ember_node *hang = pipeline(w->ctx, src, "hang");
    ember_job *job;
    CHECK(ember_job_submit(w->ctx, hang, NULL, 0, NULL, NULL, 0, &job) == 0);
    sleep_ms(300);
    fake_silence(rank);
    if (sigterm) sleep_ms(700); /* silent for longer than 400 ms, shorter than 3 s */
    double t0 = mono_ms();
    if (sigterm) raise(SIGTERM);
    ember_result *res = NULL;
    int rc = ember_job_finish(job, &res);
    *ms = mono_ms() - t0;
    char error[2048];
    snprintf(error, sizeof error, "%s", ember_last_error());
    ember_result_free(res);
    ember_job_free(job);
    /* Later jobs fail at once, with the same error. */
    CHECK(ember_run_job(w->ctx, src, NULL, 0, NULL, NULL, &res) == EMBER_EWORKER);
    CHECK(strcmp(ember_last_error(), error) == 0);
    ember_node_release(hang);
    ember_node_release(src);
    emberE_set(rc, "%s", error);
    return rc;
}

/* An executor that goes silent fails the running job within 5 s, naming its rank. */
static void test_lost_executor(void) {
    world w;
    if (!world_up(&w)) return;
    /* Blocks cached on both executors first: rank 1's go with it. */
    ember_node *r = NULL;
    CHECK(ember_node_range(w.ctx, 0, 40, 1, 4, &r) == 0);
    CHECK(ember_node_persist(r, EMBER_STORAGE_MEMORY) == 0);
    check_range_job(w.ctx, r);
    ember_block_info where[4];
    size_t on1 = 0, held = ember_storage_blocks(w.ctx, ember_node_id(r), where, 4);
    for (size_t i = 0; i < held && i < 4; i++)
        on1 += where[i].executor == 1;
    CHECK(held == 4 && on1 > 0 && on1 < 4);
    double ms;
    CHECK(lose_executor(&w, 1, 0, &ms) == EMBER_EWORKER);
    CHECK(strstr(ember_last_error(), "executor rank 1 (host ") != NULL);
    CHECK(ms < 5000);
    held = ember_storage_blocks(w.ctx, ember_node_id(r), where, 4);
    CHECK(held == 4 - on1);
    for (size_t i = 0; i < held && i < 4; i++)
        CHECK(where[i].executor == 2);
    ember_node_release(r);
    world_stop(&w);
}

/* mpirun's SIGTERM names the silent executor within 700 ms, without waiting 3 s. */
static void test_sigterm_names_the_silent_executor(void) {
    world w;
    if (!world_up(&w)) return;
    double ms;
    CHECK(lose_executor(&w, 2, 1, &ms) == EMBER_EWORKER);
    CHECK(strstr(ember_last_error(), "executor rank 2 (host ") != NULL);
    CHECK(strstr(ember_last_error(), "mpirun is ending the job") != NULL);
    CHECK(ms < 1500);
    world_stop(&w);
}

/* SIGTERM to the driver alone while the executors' beats are 600 ms late, as on a
 * loaded host: the late one is only a suspect, it answers after the signal, and the
 * job fails naming the SIGTERM, not a lost executor. */
static void test_sigterm_with_late_beats_loses_no_executor(void) {
    world w;
    if (!world_up(&w)) return;
    ember_node *src = parallel(w.ctx, 4);
    ember_node *hang = pipeline(w.ctx, src, "hang");
    ember_job *job;
    CHECK(ember_job_submit(w.ctx, hang, NULL, 0, NULL, NULL, 0, &job) == 0);
    sleep_ms(300);
    fake_hold(0, EMBER_MPI_BEAT);
    sleep_ms(600); /* every executor silent for longer than 400 ms */
    raise(SIGTERM);
    sleep_ms(100);
    fake_hold(0, 0); /* the late beats arrive */
    ember_result *res = NULL;
    CHECK(ember_job_finish(job, &res) == EMBER_EWORKER);
    CHECK(strstr(ember_last_error(), "SIGTERM reached the driver") != NULL);
    int lost = strstr(ember_last_error(), "was lost") != NULL;
    CHECK(!lost);
    if (lost) { /* the driver sends a lost executor no QUIT: end both, or world_stop waits for them */
        fake_silence(1);
        fake_silence(2);
    }
    ember_result_free(res);
    ember_job_free(job);
    ember_node_release(hang);
    ember_node_release(src);
    world_stop(&w);
}

int main(void) {
    corpus_dir = getenv("MAKE_CORPUS");
    RUN(test_round_trips);
    RUN(test_rejects);
    RUN(test_file_owner);
    RUN(test_relay_runs_jobs);
    RUN(test_relay_shuffle_and_blocks);
    RUN(test_relay_big_buckets);
    RUN(test_blocks_on_executors);
    RUN(test_cancel_drops_unrecorded_block);
    RUN(test_preferred_places);
    RUN(test_share_files);
    RUN(test_lost_executor);
    RUN(test_sigterm_names_the_silent_executor);
    RUN(test_sigterm_with_late_beats_loses_no_executor);
    return TEST_REPORT();
}
