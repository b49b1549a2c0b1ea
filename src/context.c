/* context.c — the context: configuration, the temp dir, the worker pool, lifecycle.
 *
 * The context is reference counted: its creator holds one reference and every live
 * node holds one, so a node that outlives ember_context_free() stays a valid object
 * (it just cannot run jobs). ember_context_free() stops the engine and the workers,
 * drops every block and removes the temp dir at once; the memory goes with the last
 * reference (emberG_context_release). This file is the top of the dependency order.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *dup_or_null(const char *s) { return s ? ember_strdup(s) : NULL; }

int ember_context_create(const ember_config *cfg, ember_context **out) {
    int rc = 0;
    /* A daemon started ahead: ours from here on. */
    pid_t started_pid = cfg && cfg->started_pid > 0 ? cfg->started_pid : 0;
    int started_fd = started_pid ? cfg->started_fd : -1;
    if (!cfg || cfg->slots < 1) {
        emberX_daemon_discard(started_pid, started_fd);
        return emberE_set(EMBER_EINVAL, "a context needs at least one task slot");
    }
    ember_context *ctx = ember_calloc(1, sizeof *ctx);
    if (!ctx) {
        emberX_daemon_discard(started_pid, started_fd);
        return emberE_set(EMBER_ENOMEM, "out of memory creating a context");
    }
    atomic_init(&ctx->refcnt, 1);
    pthread_mutex_init(&ctx->mu, NULL);
    emberL_init(&ctx->tasklog);
    ctx->wake[0] = ctx->wake[1] = -1;
    ctx->cfg.slots = cfg->slots;
    ctx->cfg.max_failures = cfg->max_failures > 0 ? cfg->max_failures : 4;
    ctx->cfg.python = dup_or_null(cfg->python);
    ctx->cfg.pythonpath = dup_or_null(cfg->pythonpath);
    ctx->cfg.max_result_size = cfg->max_result_size > 0 ? cfg->max_result_size : 0;
    ctx->cfg.daemon = dup_or_null(cfg->daemon);
    ctx->cfg.mpi = NULL; /* used at creation only */
    ctx->cfg.typed_results = cfg->typed_results;
    ctx->cfg.locality_wait_ms = cfg->locality_wait_ms > 0 ? cfg->locality_wait_ms : 0;
    ctx->cfg.started_pid = 0; /* used at creation only: a restart spawns a new daemon */
    const char *base = cfg->local_dir ? cfg->local_dir : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + 32;
    ctx->tmpdir = ember_malloc(len);
    if ((cfg->python && !ctx->cfg.python) || !ctx->tmpdir || (cfg->daemon && !ctx->cfg.daemon)) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory creating a context");
        goto fail;
    }
    snprintf(ctx->tmpdir, len, "%s/ember-XXXXXX", base);
    if (!mkdtemp(ctx->tmpdir)) {
        rc = emberE_errno(EMBER_EIO, errno, "creating a temp dir under %s (set spark.local.dir or TMPDIR)", base);
        ember_free(ctx->tmpdir);
        ctx->tmpdir = NULL;
        goto fail;
    }
    if ((rc = emberM_init(&ctx->blocks, ctx->tmpdir))) goto fail;
    emberM_set_budget(&ctx->blocks, cfg->memory_limit, cfg->storage_reserve);
    ctx->pool.nworkers = (size_t)cfg->slots;
    ctx->pool.workers = ember_calloc((size_t)cfg->slots, sizeof *ctx->pool.workers);
    if (!ctx->pool.workers) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory creating a context");
        goto fail;
    }
    for (int i = 0; i < cfg->slots; i++) {
        ctx->pool.workers[i].to_fd = ctx->pool.workers[i].from_fd = -1;
        ctx->pool.workers[i].pid = -1;
    }
    ctx->pool.ctl_fd = -1;
    ctx->pool.daemon_pid = -1;
    ctx->pool.note_mu = &ctx->mu;
    if (pipe2(ctx->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = emberE_errno(EMBER_EIO, errno, "creating the engine's wake-up pipe");
        goto fail;
    }
    /* Cluster mode: the slots are the executors'. The driver's own daemon still runs:
     * it removes the temp dir should the driver be killed (as mpirun does). */
    if (cfg->mpi) {
        if ((rc = emberP_driver_start(&ctx->pool, cfg->mpi, ctx->wake[1]))) goto fail;
        ctx->cfg.slots = (int)ctx->pool.nworkers;
        pthread_mutex_lock(&ctx->blocks.mu); /* map outputs it drops go on their executors too */
        ctx->blocks.on_drop = emberP_drop_file;
        ctx->blocks.on_drop_arg = &ctx->pool;
        pthread_mutex_unlock(&ctx->blocks.mu);
        emberP_watch_blocks(&ctx->pool, &ctx->blocks);
    }
    rc = emberX_pool_adopt(&ctx->pool, &ctx->cfg, ctx->tmpdir, started_pid, started_fd);
    started_pid = 0;
    started_fd = -1;
    if (rc) goto fail;
    if ((errno = pthread_create(&ctx->engine, NULL, emberS_engine_main, ctx)) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "starting the engine thread");
        goto fail;
    }
    ctx->engine_started = 1;
    *out = ctx;
    return 0;
fail:
    emberX_daemon_discard(started_pid, started_fd);
    ember_context_free(ctx);
    return rc;
}

const char *ember_context_tmpdir(const ember_context *ctx) { return ctx->tmpdir; }

size_t ember_context_executors(ember_context *ctx, ember_executor_info *out, size_t max) {
    return emberP_executors(&ctx->pool, out, max);
}

int ember_mpi_executor(const ember_config *cfg) {
    int rc;
    if (!cfg || cfg->slots < 1 || !cfg->mpi)
        return emberE_set(EMBER_EINVAL, "an executor needs task slots and the MPI shim");
    const char *base = cfg->local_dir ? cfg->local_dir : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char tmpdir[4096];
    snprintf(tmpdir, sizeof tmpdir, "%s/ember-executor-XXXXXX", base);
    if (!mkdtemp(tmpdir))
        return emberE_errno(EMBER_EIO, errno,
                            "creating an executor's temp dir under %s (set spark.local.dir or TMPDIR)", base);
    emberX_pool pool = {0};
    pool.nworkers = (size_t)cfg->slots;
    pool.workers = ember_calloc(pool.nworkers, sizeof *pool.workers);
    if (!pool.workers) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory starting an executor");
        goto remove_dir;
    }
    for (size_t i = 0; i < pool.nworkers; i++) {
        pool.workers[i].to_fd = pool.workers[i].from_fd = -1;
        pool.workers[i].pid = -1;
    }
    if ((rc = emberX_pool_start(&pool, cfg, tmpdir)) == 0)
        rc = emberP_executor_run(&pool, cfg->mpi, cfg->memory_limit, cfg->storage_reserve);
    emberX_pool_stop(&pool);
    ember_free(pool.workers);
remove_dir:
    remove_tree(tmpdir);
    return rc;
}
int ember_context_share(ember_context *ctx, const char *name, int remove) {
    if (!name) return emberE_set(EMBER_EINVAL, "ember_context_share needs a file name");
    pthread_mutex_lock(&ctx->mu); /* the transport stops only after `stopped` is set */
    void *held = ctx->stopped ? NULL : emberP_share_hold(&ctx->pool);
    pthread_mutex_unlock(&ctx->mu);
    if (!held) return 0;
    return emberP_share(held, ctx->tmpdir, name, remove);
}

int ember_context_slots(const ember_context *ctx) { return ctx->cfg.slots; }

int ember_context_daemon_restarts(ember_context *ctx, char *note, size_t cap) {
    pthread_mutex_lock(&ctx->mu);
    int n = ctx->pool.restarts;
    if (cap) snprintf(note, cap, "%s", ctx->pool.restart_note);
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

size_t ember_context_freed_nodes(ember_context *ctx, int *ids, size_t max) {
    pthread_mutex_lock(&ctx->mu);
    ctx->track_freed = 1;
    size_t n = ctx->nfreed < max ? ctx->nfreed : max;
    if (n) memcpy(ids, ctx->freed + (ctx->nfreed - n), n * sizeof *ids);
    ctx->nfreed -= n;
    if (ctx->nfreed == 0 && ctx->capfreed > 1024) { /* a burst is over: give its room back */
        ember_free(ctx->freed);
        ctx->freed = NULL;
        ctx->capfreed = 0;
    }
    pthread_mutex_unlock(&ctx->mu);
    return n;
}

size_t ember_storage_status(ember_context *ctx, ember_storage_info *out, size_t max) {
    return emberM_status(&ctx->blocks, out, max);
}

size_t ember_storage_blocks(ember_context *ctx, int id, ember_block_info *out, size_t max) {
    return emberM_blocks(&ctx->blocks, id, out, max);
}

void ember_context_free(ember_context *ctx) {
    if (!ctx) return;
    pthread_mutex_lock(&ctx->mu);
    int was_stopped = ctx->stopped;
    ctx->stopped = 1;
    pthread_mutex_unlock(&ctx->mu);
    if (was_stopped) return;
    /* The engine thread fails the jobs still running and exits; then its pool is ours. */
    if (ctx->engine_started) {
        emberS_wake(ctx);
        pthread_join(ctx->engine, NULL);
        ctx->engine_started = 0;
    }
    if (ctx->blocks.ready) { /* the transport stops: the executors remove their files as they end */
        pthread_mutex_lock(&ctx->blocks.mu);
        ctx->blocks.on_drop = NULL;
        pthread_mutex_unlock(&ctx->blocks.mu);
    }
    if (ctx->pool.workers) {
        emberX_pool_stop(&ctx->pool);
        ember_free(ctx->pool.workers);
        ctx->pool.workers = NULL;
        ctx->pool.nworkers = 0;
    }
    emberM_clear(&ctx->blocks);
    if (ctx->tmpdir) remove_tree(ctx->tmpdir);
    for (int i = 0; i < 2; i++)
        if (ctx->wake[i] >= 0) close(ctx->wake[i]);
    ctx->wake[0] = ctx->wake[1] = -1;
    emberG_context_release(ctx);
}
