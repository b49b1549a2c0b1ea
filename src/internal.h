/* internal.h — declarations shared between libember's source files, not exported.
 *
 * Dependency order (a file may use only what is to its left):
 *   common (alloc.c, error.c) <- wire.c <- textsplit.c, shuffle.c <- workers.c
 *   <- graph.c <- scheduler.c <- context.c
 * so each piece can be built, tested and fuzzed alone.
 */
#ifndef EMBER_INTERNAL_H
#define EMBER_INTERNAL_H

#include "ember.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* error.c: sets this thread's message for ember_last_error() and returns code. */
int emberE_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, appending ": strerror(errno_value)". */
int emberE_errno(int code, int errno_value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A growable byte buffer; owns its data. */
typedef struct emberB_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} emberB_buf;
int emberB_reserve(emberB_buf *b, size_t extra);
int emberB_append(emberB_buf *b, const void *p, size_t n);
int emberB_put_u32(emberB_buf *b, uint32_t v);
int emberB_put_u64(emberB_buf *b, uint64_t v);
int emberB_put_str(emberB_buf *b, const char *s); /* u32 length + bytes */
void emberB_free(emberB_buf *b);

static inline void emberB_store_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t emberB_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void emberB_store_u64(uint8_t *p, uint64_t v) {
    emberB_store_u32(p, (uint32_t)v); emberB_store_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t emberB_load_u64(const uint8_t *p) {
    return (uint64_t)emberB_load_u32(p) | (uint64_t)emberB_load_u32(p + 4) << 32;
}


/* ---- workers.c: the Python worker daemon and the pool of workers ------------ */
#include "wire.h"
#include <sys/types.h>

typedef struct emberX_outframe {
    uint8_t hdr[EMBER_WIRE_HEADER];
    const uint8_t *payload; /* borrowed, or == owned */
    uint8_t *owned;
    size_t len;
    size_t off;             /* bytes of header + payload already written */
} emberX_outframe;

typedef struct emberX_worker {
    int alive;
    pid_t pid;
    int to_fd, from_fd;     /* engine side: task pipe (write), result pipe (read) */
    uint64_t *sent;         /* ids of the commands this worker holds */
    size_t nsent, capsent;
    emberX_outframe *outq;  /* frames not yet written, from outq_head */
    size_t outq_head, outq_len, outq_cap;
    emberW_parser in;
    void *task;             /* the scheduler's running task, or NULL */
} emberX_worker;

typedef struct emberX_pool {
    pid_t daemon_pid;
    int ctl_fd;
    size_t nworkers;
    emberX_worker *workers;
} emberX_pool;

/* Spawns the daemon (python -m ember.daemon) in its own process group. */
int emberX_pool_start(emberX_pool *pool, const ember_config *cfg, const char *tmpdir);
/* Kills every worker, ends the daemon and waits for it. */
void emberX_pool_stop(emberX_pool *pool);
/* Asks the daemon for a new worker process in slot w (which must not be alive). */
int emberX_worker_start(emberX_pool *pool, emberX_worker *w);
/* SIGKILLs the worker, closes its pipes, drops its queues; the slot can be restarted. */
void emberX_worker_kill(emberX_worker *w);
int emberX_worker_has(const emberX_worker *w, uint64_t cmd_id);
int emberX_worker_note(emberX_worker *w, uint64_t cmd_id);
void emberX_worker_unnote(emberX_worker *w, uint64_t cmd_id);
/* Queues a frame; the payload is copied when `copy`, else borrowed until written. */
int emberX_queue(emberX_worker *w, uint32_t type, const void *payload, size_t len, int copy);
/* Writes what the pipe takes without blocking. Returns 0, or EMBER_EWORKER when the
 * worker's pipe is closed. */
int emberX_flush(emberX_worker *w);
static inline int emberX_pending(const emberX_worker *w) { return w->outq_head < w->outq_len; }

/* ---- graph.c: lineage nodes ----------------------------------------------- */
#include <pthread.h>
#include <stdatomic.h>

enum emberG_kind { EMBER_NODE_PARALLEL = 1, EMBER_NODE_TEXT, EMBER_NODE_RANGE, EMBER_NODE_PIPELINE,
                   EMBER_NODE_SHUFFLE, EMBER_NODE_UNION, EMBER_NODE_COALESCE, EMBER_NODE_ZIP,
                   EMBER_NODE_CARTESIAN };

/* Batches held for one partition (parallelized data, a cached partition). */
typedef struct emberG_blocks {
    ember_buf *bufs;
    size_t n, cap;
} emberG_blocks;
int emberG_blocks_push(emberG_blocks *b, uint8_t *data, size_t len); /* takes data */
void emberG_blocks_clear(emberG_blocks *b);

/* A cached partition, shared by its node and the tasks that are sending it. */
typedef struct emberG_part {
    atomic_int refcnt;
    emberG_blocks blocks;
} emberG_part;
emberG_part *emberG_part_new(void);
void emberG_part_retain(emberG_part *p);
void emberG_part_release(emberG_part *p);

struct ember_node {
    atomic_int refcnt;
    int kind;
    int id;
    ember_context *ctx;
    size_t nparts;
    ember_node **parents;
    size_t nparents;
    /* PIPELINE: the command; SHUFFLE: the spec. Both travel to workers once each. */
    uint64_t cmd_id;
    uint8_t *cmd;
    size_t cmd_len;
    emberG_blocks *data;       /* PARALLEL: per partition */
    ember_split *splits;       /* TEXT: one per partition */
    int as_bytes;
    int64_t rstart, rstep;     /* RANGE: partition p is elements [bounds[p], bounds[p+1]) */
    int64_t *bounds;
    size_t *groups;            /* COALESCE: partition i is parent partitions [groups[i], groups[i+1]) */
    /* SHUFFLE, written by the engine thread (and ember_node_clean_shuffle) under mu: */
    int shuffle_done;
    size_t nmaps;              /* map partitions (the parent's partition count) */
    char **map_paths;          /* one per map partition (= parent partition) */
    uint64_t *bucket_bytes;    /* [map partition * nparts + bucket] */
    int materializing;         /* under mu: a stage is computing this node's shuffle/cache */
    unsigned walk_mark;        /* under mu: the last lineage walk that visited it */
    /* Cache, under the context's mu: */
    int cached;
    emberG_part **cache;       /* per partition; NULL until computed */
    int barrier;               /* under mu: a stage computing it is a barrier stage */
};

struct ember_context {
    atomic_int refcnt;         /* the owner's reference plus one per live node */
    ember_config cfg;          /* strings owned */
    char *tmpdir;
    pthread_mutex_t mu;        /* ids, the forget list, jobs' shared state, caches, stage counters */
    int stopped;
    emberX_pool pool;          /* owned by the engine thread */
    pthread_t engine;          /* the scheduler thread (scheduler.c) */
    int engine_started;
    int wake[2];               /* a byte written here wakes the engine thread */
    struct ember_job *incoming; /* submitted, not yet taken by the engine (under mu) */
    struct ember_job *running;  /* taken by the engine (list under mu) */
    struct emberS_stage *stages; /* running stages (list under mu, for ember_active_stages) */
    ember_stage_info *history;  /* finished stages, a ring of EMBER_STAGE_HISTORY (under mu) */
    size_t nhistory, history_next;
    int next_job_id;
    int next_node_id;
    uint64_t next_cmd_id;
    uint64_t next_attempt_id;
    int next_stage_id;
    unsigned next_walk;        /* lineage walks (ember_node_clean_shuffle), under mu */
    uint64_t *forget;          /* command ids of released nodes, to drop from workers */
    size_t nforget, capforget;
};

void emberC_context_release(ember_context *ctx); /* context.c: drops one reference */

/* scheduler.c: the engine thread. */
void *emberS_engine_main(void *ctx);
void emberS_wake(ember_context *ctx);

/* ---- textsplit.c ---------------------------------------------------------- */
/* The line reader's starting buffer size (tests shrink it to hit buffer edges). */
extern size_t emberT_buffer_size;

#endif
