/* mpi.c — cluster mode: the MPI transport of the driver, and the executor.
 *
 * Design. `mpirun -np K python app.py` starts K copies of the program. Rank 0 is the
 * driver: its context's worker pool holds the task slots of every executor, reached
 * through this transport (emberX_transport, internal.h). Ranks 1..K-1 are executors:
 * ember_mpi_executor (context.c) runs one until the driver stops. MPI only starts the
 * processes and moves bytes; libember never includes mpi.h: it calls MPI through the
 * shim of mpi_shim.h, a shared library loaded with dlopen when cluster mode starts
 * (built only when meson finds Open MPI or MPICH), so ember builds and runs without
 * MPI and local mode never loads it.
 *
 * One network thread per process makes every MPI call (it initialises MPI and uses
 * a communicator of its own). It relays the bytes of worker pipes, without reading
 * their frames:
 *   driver: each remote slot is a socketpair. The engine holds one end as the
 *     worker's two pipes (emberX_worker.to_fd/from_fd, marked remote); the network
 *     thread holds the other, sends what the engine writes to the executor in DATA
 *     messages, and writes back what comes from there. The engine closing its end
 *     (emberX_worker_kill) sends CLOSE, which kills the worker on the executor.
 *   executor: its own worker pool (its own daemon, started with posix_spawn in an
 *     environment without OMPI_/PMIX_/PMI_ variables, workers.c) forks the workers;
 *     DATA is written to a worker's task pipe, what it writes to its result pipe goes
 *     to the driver; when it ends, ENDED says how (the daemon's wait status and
 *     traceback), and the driver closes the slot's socket: the engine sees the worker
 *     end as it would locally.
 * Every message of a slot carries the slot's generation (one per START), so bytes of
 * a worker already replaced are dropped. A relay stops reading its source while
 * RELAY_WINDOW bytes it sent are not yet written by the other side (CREDIT messages
 * say how much was). Messages are matched (improbe) and received without blocking,
 * RECVS at once, and handled in the order matched, so the next pieces of a bucket
 * arrive while the thread writes the one before. MPI has no file descriptor to wait
 * on, and moves bytes only while called: the thread sleeps in poll() on its own
 * descriptors between looks at MPI, 0 ms while something moves or moved less than
 * SPIN_MS ago with sends or receives under way, 1 ms while those wait on a peer
 * longer, and growing to 10 ms when idle (50 ms after a second of nothing), so an
 * idle context costs nothing noticeable.
 *
 * Losing an executor: each executor sends BEAT every 250 ms. The driver counts one
 * lost when nothing came from it for 3 s, or when mpirun's SIGTERM reaches the
 * driver (Open MPI sends it about a second after a rank died; the driver's handler
 * is this file's) while its last word is over 400 ms old and nothing more comes from
 * it within TERM_LOST_MS (a late beat on a loaded host is not a loss). The engine then
 * fails every job (emberX_pool_failure) naming the rank and host; mpirun ends the
 * processes; each executor's daemon, seeing its executor gone, kills its workers
 * and removes its temp dir, as the driver's does.
 * SIGTERM also comes when the launch is interrupted (Ctrl-C or a signal to mpirun:
 * every rank gets it) or the driver alone is signalled: the jobs fail saying so, and
 * from then on nothing is sent to an executor until a message of its shows it still
 * there (TERM_HEARD_MS), one unheard for TERM_LOST_MS counting lost; stopping waits
 * that long at most to know which executors get QUIT.
 *
 * Messages (emberP_msg_encode/decode, fuzzed by fuzz_mpi): u8 type, u32 slot (the
 * executor's own slot index), u32 generation, a fixed part by type, and for some
 * types the rest of the message as bytes:
 *   HELLO        executor -> driver  u32 slots, u64 pid; rest: host name
 *   START        driver -> executor  start a worker in the slot
 *   STARTED      executor -> driver  u32 pid
 *   START_FAILED executor -> driver  rest: the error
 *   DATA         both                rest: bytes of the slot's pipe
 *   CREDIT       both                u64 bytes written to the pipe
 *   CLOSE        driver -> executor  kill the slot's worker; u32 flags (1: the engine
 *                                    gave up the worker's cache task before reading
 *                                    its BLOCK_STORED: drop the block it kept, if it
 *                                    did and no task computed that block since)
 *   ENDED        executor -> driver  u32 wait status (-1 unknown); rest: traceback
 *   BEAT         executor -> driver  (nothing)
 *   QUIT         driver -> executor  the driver stops: stop too; u32 flags (1: a rank
 *                                    was lost, so end without MPI_Finalize, which
 *                                    would wait for it)
 *   FETCH        executor -> any     slot: request id; u32 bucket (all ones: the whole
 *                                    file, or a cached block as its block file);
 *                                    rest: the driver's name of the file
 *   RANGE        the answer          slot: request id; u32 CRC-32C, u64 length of a
 *                                    range of the bucket (one segment's bytes in the
 *                                    map output, as they stand there); rest: its
 *                                    first bytes
 *   FETCHED      the answer          slot: request id; u32 flags (1 last, 2 error);
 *                                    rest: more bytes of the range (of the file for
 *                                    a whole file), or the error
 *   REMOVE       driver -> executor  rest: the driver's name of a map output the
 *                                    block store dropped (its shuffle was released,
 *                                    or the output replaced or lost): remove the file;
 *                                    or of a cached block it keeps: drop it
 *   PUT          driver -> executor  u32 flags (1 first, 2 last, 4 remove); rest: a
 *                                    name under the temp dirs, NUL, a piece of the
 *                                    file (see "files shared with every executor")
 */
#include "internal.h"
#include "mpi_shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { QUIT_LOST = 1 };     /* QUIT's flag */
enum { CLOSE_DISCARD = 1 }; /* CLOSE's flag */
enum { RELAY_CHUNK = 256 * 1024, RELAY_WINDOW = 4 * 1024 * 1024, CREDIT_BATCH = 64 * 1024 };
/* A served bucket goes in pieces of PIECE bytes, SERVE_WINDOW of them in flight per
 * request. A message that fits is built in a buffer of POOL_BUF bytes, which the
 * network thread keeps for the next one (POOL_KEEP at most): a shuffle does not
 * fault in fresh pages for every piece. */
enum { PIECE = 1024 * 1024, SERVE_WINDOW = 4, POOL_BUF = EMBER_MPI_HEADER + 12 + PIECE, POOL_KEEP = 16 };
/* Messages matched and being received at once: the next pieces of a bucket flow in
 * while the one before is written. */
enum { RECVS = 8 };
/* How long the loop spins (polls without sleeping) after the last thing moved while
 * MPI still has sends or receives of ours under way. */
enum { SPIN_MS = 2 };

/* ---- messages ------------------------------------------------------------------ */

static const struct {
    uint8_t fixed; /* bytes of the fixed part after the header */
    uint8_t rest;  /* the message may carry trailing bytes */
} msg_layout[EMBER_MPI_LAST + 1] = {
    [EMBER_MPI_HELLO] = {12, 1},       [EMBER_MPI_START] = {0, 0}, [EMBER_MPI_STARTED] = {4, 0},
    [EMBER_MPI_START_FAILED] = {0, 1}, [EMBER_MPI_DATA] = {0, 1},  [EMBER_MPI_CREDIT] = {8, 0},
    [EMBER_MPI_CLOSE] = {4, 0},        [EMBER_MPI_ENDED] = {4, 1}, [EMBER_MPI_BEAT] = {0, 0},
    [EMBER_MPI_QUIT] = {4, 0},         [EMBER_MPI_FETCH] = {4, 1}, [EMBER_MPI_FETCHED] = {4, 1},
    [EMBER_MPI_REMOVE] = {0, 1},       [EMBER_MPI_PUT] = {4, 1},   [EMBER_MPI_RANGE] = {12, 1},
};

/* Writes m's header and fixed part at p (a known type): how many bytes that is. */
static size_t msg_head(const emberP_msg *m, uint8_t *p) {
    size_t fixed = msg_layout[m->type].fixed;
    p[0] = (uint8_t)m->type;
    emberB_store_u32(p + 1, m->slot);
    emberB_store_u32(p + 5, m->gen);
    p += EMBER_MPI_HEADER;
    if (m->type == EMBER_MPI_HELLO || m->type == EMBER_MPI_RANGE) {
        emberB_store_u32(p, m->num);
        emberB_store_u64(p + 4, m->u64);
    } else if (m->type == EMBER_MPI_CREDIT) {
        emberB_store_u64(p, m->u64);
    } else if (fixed == 4) {
        emberB_store_u32(p, m->num);
    }
    return EMBER_MPI_HEADER + fixed;
}

int emberP_msg_encode(const emberP_msg *m, emberB_buf *out) {
    if (m->type < EMBER_MPI_HELLO || m->type > EMBER_MPI_LAST)
        return emberE_set(EMBER_EINVAL, "unknown cluster message type %d", m->type);
    size_t fixed = msg_layout[m->type].fixed, rest = msg_layout[m->type].rest ? m->nrest : 0;
    if (EMBER_MPI_HEADER + fixed + rest > EMBER_MPI_MAX_MSG)
        return emberE_set(EMBER_EINVAL, "a cluster message of %zu bytes is over the limit", rest);
    if (emberB_reserve(out, EMBER_MPI_HEADER + fixed + rest)) return EMBER_ENOMEM;
    uint8_t *p = out->data + out->len;
    size_t head = msg_head(m, p);
    if (rest) memcpy(p + head, m->rest, rest);
    out->len += head + rest;
    return 0;
}

int emberP_msg_decode(const uint8_t *p, size_t len, emberP_msg *m) {
    memset(m, 0, sizeof *m);
    if (len < EMBER_MPI_HEADER) return emberE_set(EMBER_EPROTO, "a cluster message of %zu bytes is too short", len);
    if (len > EMBER_MPI_MAX_MSG) return emberE_set(EMBER_EPROTO, "a cluster message of %zu bytes is too long", len);
    int type = p[0];
    if (type < EMBER_MPI_HELLO || type > EMBER_MPI_LAST)
        return emberE_set(EMBER_EPROTO, "a cluster message has unknown type %d", type);
    size_t fixed = msg_layout[type].fixed, body = len - EMBER_MPI_HEADER;
    if (body < fixed || (!msg_layout[type].rest && body != fixed))
        return emberE_set(EMBER_EPROTO, "a cluster message of type %d has %zu bytes after its header", type, body);
    m->type = type;
    m->slot = emberB_load_u32(p + 1);
    m->gen = emberB_load_u32(p + 5);
    p += EMBER_MPI_HEADER;
    if (type == EMBER_MPI_HELLO || type == EMBER_MPI_RANGE) {
        m->num = emberB_load_u32(p);
        m->u64 = emberB_load_u64(p + 4);
    } else if (type == EMBER_MPI_CREDIT) {
        m->u64 = emberB_load_u64(p);
    } else if (fixed == 4) {
        m->num = emberB_load_u32(p);
    }
    m->rest = p + fixed;
    m->nrest = body - fixed;
    return 0;
}

/* ---- the network thread's state ------------------------------------------------ */

enum { SLOT_IDLE, SLOT_STARTING, SLOT_STARTED, SLOT_FAILED };

typedef struct slot {
    int fd_in, fd_out; /* driver: the socket's end (both); executor: the worker's result / task pipe */
    uint32_t gen;
    emberB_buf q; /* bytes from the other side to write to fd_out, from qhead */
    size_t qhead;
    uint64_t unacked;    /* bytes sent that the other side did not say it wrote */
    uint64_t uncredited; /* bytes written to fd_out not yet credited back */
    int closing;         /* driver: the worker ended; close the socket once q is written */
    /* driver: where the slot lives */
    int rank;
    uint32_t local;
    /* driver, under net->mu: the engine's requests and their answers */
    int state;
    int pending; /* a START for new_fd waits for the network thread */
    int new_fd;
    pid_t pid;
    int status; /* how the worker ended (ENDED), -1 unknown */
    char text[4096];
    int discard; /* the engine gave up the worker's cache task: its CLOSE says so (emberX_worker_discard) */
    /* executor: the two streams as frames, the current task and its files (see "the
     * executor's files") */
    emberW_parser from_driver, from_worker;
    int held;          /* a TASK waits for its fetches; the frames after it wait in from_driver */
    uint64_t task_seq; /* one per task begun or slot reset */
    uint8_t *task_bytes;
    size_t task_len;
    emberW_task task; /* decoded from task_bytes while held */
    size_t nfetching;
    /* what the current task's bucket fetches moved, sent on in its TASK_DONE's metrics
     * (EMBER_METRIC_REMOTE_BYTES_FETCHED ...): bytes, when the first FETCH went and
     * when the last bucket was complete (microseconds since the epoch; 0: none yet) */
    uint64_t fetched_bytes;
    int64_t fetch_begin_us, fetch_end_us;
    struct {
        char *local, *theirs; /* the file here, and the driver's name for it */
    } * paths;
    size_t npaths, cappaths;
    /* executor: a cache task's block (see "the executor's block store") */
    int caching; /* 1: keeping a cache task's DATA; 2: out of memory doing so */
    uint32_t cache_node, cache_part;
    /* The block the slot's last cache task kept, until the driver shows it took it
     * (the slot's next TASK) or a task computes that block again: what a CLOSE with
     * CLOSE_DISCARD drops. */
    int made;
    uint32_t made_node, made_part;
    emberM_batches cached; /* its DATA, kept here instead of relayed */
    uint32_t *stream_map;  /* the driver's stream numbers' new ones, when blocks became streams */
    uint32_t nstream_map;
    struct inject { /* blocks of this store sent to the worker as input streams */
        uint32_t stream;
        emberM_part *part;
    } * inject;
    size_t ninject, capinject, inject_i, inject_b; /* the stream being sent, its next batch */
    int inject_begun;
} slot;

typedef struct fetch {
    uint32_t id;
    slot *s;
    uint64_t seq; /* s->task_seq of the task it is for */
    int rank;
    uint32_t bucket; /* FETCH_WHOLE: the whole file */
    int asked, fd;
    ember_shuffle_writer *w;
    char *theirs, *local; /* owned */
} fetch;

typedef struct peer {
    int hello, lost;
    uint32_t slots, first; /* its slots are the pool's [first, first + slots) */
    uint64_t pid;
    char host[256];
    double last_ms; /* when its last message came */
} peer;

typedef struct share_chunk {
    struct share_chunk *next;
    uint32_t flags;
    size_t len; /* of data: the name, NUL, a piece of the file */
    uint8_t data[];
} share_chunk;

/* A bucket (or a whole file) this rank sends to a fetching executor, a piece at a
 * time (see "the executor's files"). */
typedef struct serve {
    int dest;
    uint32_t id; /* the request's */
    int fd, whole, ended;
    emberF_range *ranges; /* whole: one, the file */
    size_t nranges, cur, inflight;
    uint64_t pos; /* bytes of ranges[cur] sent */
    char *path;
} serve;

typedef struct recv_req {
    void *req;
    uint8_t *buf;
    size_t len;
    int src;
    int pooled; /* buf goes back to the pool */
} recv_req;

typedef struct send_req {
    void *req;
    uint8_t *buf;
    int pooled; /* buf goes back to the pool */
    serve *sv;  /* a piece of this serve */
} send_req;

typedef struct emberP_net {
    const ember_mpi_ops *mpi;
    void *dl;
    int executor; /* role: executor (1) or driver (0) */
    int rank, size;
    pthread_t thread;
    int thread_started;
    int wake[2]; /* wakes the network thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: */
    int inited, init_rc, stopping, done, failed;
    char init_err[512];
    char failure[1024];
    size_t nhello;
    char **drops; /* driver: map outputs on executors to remove (emberP_drop_file) */
    size_t ndrops, capdrops;
    share_chunk *shares, **shares_tail; /* driver: PUTs to send (emberP_share) */
    size_t share_bytes;
    int sharers;              /* emberP_share calls under way: driver_stop waits for them */
    pthread_mutex_t share_mu; /* one emberP_share at a time; taken before mu */
    /* the network thread's */
    peer *peers; /* by rank (driver) */
    slot *slots;
    size_t nslots;
    send_req *sends;
    size_t nsends, capsends;
    uint8_t *bufs[POOL_KEEP]; /* buffers of POOL_BUF bytes for messages, reused */
    size_t npool;
    recv_req recvs[RECVS]; /* receives under way, from recv_head on (a ring) */
    size_t recv_head, nrecvs;
    serve **serves;
    size_t nserves, capserves;
    int engine_wake; /* driver: ctx->wake[1] */
    emberX_pool *pool;
    int quit, quit_lost; /* executor: QUIT came (saying a rank was lost) */
    char host[256];
    int put_fd, put_failed; /* executor: the shared file being written */
    fetch *fetches;         /* executor: queued and asked, MAX_ASKED asked at most */
    size_t nfetches, capfetches, asked;
    uint32_t next_fetch;
    emberM_store store;   /* executor: its block store (cached partitions) */
    emberW_stored *moved; /* executor: blocks the store moved out of memory, to report */
    size_t nmoved, capmoved;
    emberM_store *blocks; /* driver: the context's store (a lost executor's blocks go) */
    double sigterm_ms;    /* driver: when SIGTERM reached it (0: never) */
    int term_suspect;     /* driver: the executor silent when SIGTERM came, not yet judged (0: none) */
} emberP_net;

/* After SIGTERM, mpirun is usually ending every rank at once (Ctrl-C, a signal to
 * mpirun, a lost rank): an executor counts as alive only once a message of its comes
 * TERM_HEARD_MS after the signal (it beats every 250 ms); one still unheard
 * TERM_LOST_MS after it is counted lost. Nothing is sent meanwhile to an executor not
 * heard from: Open MPI's TCP transport can block for seconds on a rank that is gone. */
enum { TERM_HEARD_MS = 300, TERM_LOST_MS = 700 };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Microseconds since the epoch: the fetch times a task reports, comparable between
 * the executors of one host (the task log's are wall-clock too). */
static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits (under n->mu) until pred holds or deadline_ms passes; 0 when it held. */
#define WAIT_UNTIL(n, pred, deadline_ms)                                                                               \
    ({                                                                                                                 \
        int timed_out_ = 0;                                                                                            \
        while (!(pred) && !timed_out_) {                                                                               \
            struct timespec ts_;                                                                                       \
            clock_gettime(CLOCK_REALTIME, &ts_);                                                                       \
            ts_.tv_nsec += 50 * 1000 * 1000;                                                                           \
            if (ts_.tv_nsec >= 1000000000) {                                                                           \
                ts_.tv_sec++;                                                                                          \
                ts_.tv_nsec -= 1000000000;                                                                             \
            }                                                                                                          \
            pthread_cond_timedwait(&(n)->cv, &(n)->mu, &ts_);                                                          \
            timed_out_ = now_ms() > (deadline_ms);                                                                     \
        }                                                                                                              \
        timed_out_ && !(pred);                                                                                         \
    })

static void poke(int fd, char c) {
    ssize_t r;
    do
        r = write(fd, &c, 1);
    while (r < 0 && errno == EINTR);
}

static uint8_t *pool_get(emberP_net *n) { return n->npool ? n->bufs[--n->npool] : ember_malloc(POOL_BUF); }

static void pool_put(emberP_net *n, uint8_t *buf) {
    if (n->npool < POOL_KEEP)
        n->bufs[n->npool++] = buf;
    else
        ember_free(buf);
}

/* Hands buf[0, len) to MPI for rank dest; buf is MPI's until the send is over, then
 * the pool's (pooled) or freed, and a piece of serve sv no longer in flight. On
 * failure buf is released at once. */
static int heard_since_sigterm(const emberP_net *n, int r) {
    return n->sigterm_ms == 0 || n->peers[r].last_ms >= n->sigterm_ms + TERM_HEARD_MS;
}

static int send_buf(emberP_net *n, int dest, uint8_t *buf, size_t len, int pooled, serve *sv) {
    void *req = NULL;
    if (!n->executor && n->peers && dest > 0 && dest < n->size &&
        (n->peers[dest].lost || !heard_since_sigterm(n, dest))) { /* gone, or maybe going: dropped */
        if (pooled)
            pool_put(n, buf);
        else
            ember_free(buf);
        return 0;
    }
    int rc = emberB_grow(&n->sends, &n->capsends, n->nsends + 1, sizeof *n->sends, 16);
    if (!rc && n->mpi->isend(dest, buf, len, &req) < 0)
        rc = emberE_set(EMBER_EIO, "MPI could not send to rank %d", dest);
    if (rc) {
        if (pooled)
            pool_put(n, buf);
        else
            ember_free(buf);
        return rc;
    }
    n->sends[n->nsends++] = (send_req){req, buf, pooled, sv};
    if (sv) sv->inflight++;
    return 0;
}

/* Sends a message to rank dest (its bytes kept until MPI is done with them). */
static int send_msg(emberP_net *n, int dest, const emberP_msg *m) {
    int pooled = EMBER_MPI_HEADER + 12 + m->nrest <= POOL_BUF; /* 12: the largest fixed part */
    emberB_buf b = {0};
    if (pooled && !(b.data = pool_get(n))) return EMBER_ENOMEM;
    b.cap = pooled ? POOL_BUF : 0;
    int rc = emberP_msg_encode(m, &b);
    if (rc) {
        if (pooled)
            pool_put(n, b.data);
        else
            emberB_free(&b);
        return rc;
    }
    return send_buf(n, dest, b.data, b.len, pooled, NULL);
}

/* Releases the sends MPI is done with: 1 when there was one. */
static int test_sends(emberP_net *n) {
    size_t kept = 0, before = n->nsends;
    for (size_t i = 0; i < n->nsends; i++) {
        send_req *q = &n->sends[i];
        if (!n->mpi->test(q->req)) {
            n->sends[kept++] = *q;
            continue;
        }
        if (q->pooled)
            pool_put(n, q->buf);
        else
            ember_free(q->buf);
        if (q->sv) q->sv->inflight--;
    }
    n->nsends = kept;
    return kept < before;
}

static void clear_paths(slot *s);
static void clear_cache(slot *s);

static void slot_reset(slot *s) {
    emberB_free(&s->q);
    s->qhead = 0;
    s->unacked = s->uncredited = 0;
    s->closing = 0;
    s->from_driver.pos = s->from_driver.len = 0;
    s->from_worker.pos = s->from_worker.len = 0;
    if (s->task_bytes) emberW_task_free(&s->task);
    ember_free(s->task_bytes);
    s->task_bytes = NULL;
    s->held = 0;
    s->nfetching = 0;
    s->task_seq++; /* fetches still under way for it are dropped when they end */
    clear_paths(s);
    clear_cache(s);
}

/* The rank a slot's messages go to, and the slot number they carry. */
static int slot_dest(const emberP_net *n, const slot *s, uint32_t *local) {
    *local = n->executor ? (uint32_t)(s - n->slots) : s->local;
    return n->executor ? 0 : s->rank;
}

static void send_slot(emberP_net *n, slot *s, int type, uint32_t num, const void *rest, size_t nrest) {
    uint32_t local;
    int dest = slot_dest(n, s, &local);
    emberP_msg m = {.type = type, .slot = local, .gen = s->gen, .num = num, .rest = rest, .nrest = nrest};
    send_msg(n, dest, &m);
}

/* ---- the driver's side ------------------------------------------------------------- */

/* Closes the driver's end of a slot's socket: the engine sees the worker end. */
static void driver_close(slot *s) {
    if (s->fd_in >= 0) close(s->fd_in);
    s->fd_in = s->fd_out = -1;
    slot_reset(s);
}

/* Tells the executor to kill the slot's worker (CLOSE), saying whether the engine
 * gave up its cache task (emberX_worker_discard). */
static void send_close(emberP_net *n, slot *s) {
    pthread_mutex_lock(&n->mu);
    uint32_t flags = s->discard ? CLOSE_DISCARD : 0;
    s->discard = 0;
    pthread_mutex_unlock(&n->mu);
    send_slot(n, s, EMBER_MPI_CLOSE, flags, NULL, 0);
}

/* Counts executor rank r lost: the engine fails its jobs and every start on its slots. */
static void lose_peer(emberP_net *n, int r, const char *why) {
    peer *p = &n->peers[r];
    if (p->lost) return;
    p->lost = 1;
    /* The blocks it kept are gone with it: forgotten before any job hears of the loss. */
    if (n->blocks) emberM_forget_rank(n->blocks, r);
    pthread_mutex_lock(&n->mu);
    if (!n->failed)
        snprintf(n->failure, sizeof n->failure,
                 "executor rank %d (host %s, pid %llu) was lost: %s. Its tasks and the files it held are gone, so "
                 "the job cannot go on; mpirun ends the other ranks. Look at that host's logs (out of memory? killed?) "
                 "and run the program again.",
                 r, p->host, (unsigned long long)p->pid, why);
    n->failed = 1;
    for (uint32_t i = 0; i < p->slots; i++) {
        slot *s = &n->slots[p->first + i];
        s->status = -1;
        snprintf(s->text, sizeof s->text, "%s", n->failure);
        if (s->state == SLOT_STARTING) s->state = SLOT_FAILED;
    }
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    for (uint32_t i = 0; i < p->slots; i++)
        driver_close(&n->slots[p->first + i]);
    poke(n->engine_wake, 1);
}

/* Set by the handler (any thread), read by the network thread: lock-free atomics. */
static atomic_int got_sigterm;
static atomic_int sigterm_fd = -1;
static struct sigaction old_sigterm;

static void on_sigterm(int sig) {
    (void)sig;
    int saved = errno;
    atomic_store(&got_sigterm, 1);
    int fd = atomic_load(&sigterm_fd);
    if (fd >= 0) {
        char c = 'T';
        ssize_t r = write(fd, &c, 1);
        (void)r;
    }
    errno = saved;
}

/* The job fails because mpirun is ending the launch (SIGTERM reached the driver). */
static void fail_for_sigterm(emberP_net *n) {
    pthread_mutex_lock(&n->mu);
    if (!n->failed)
        snprintf(n->failure, sizeof n->failure,
                 "mpirun is ending the job (SIGTERM reached the driver, rank 0): the launch was interrupted "
                 "(Ctrl-C or a signal to mpirun or to the driver) or a rank ended; mpirun's own message says "
                 "which");
    n->failed = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    poke(n->engine_wake, 1);
}

/* Which executor is gone: one silent 3 s, or after SIGTERM the one that was silent
 * longest when it came. An executor silent over 400 ms then is only a suspect: on a
 * loaded host a beat can be that late, so it is judged by whether anything comes from
 * it after the signal (then the SIGTERM was the driver's own, or the whole launch's)
 * or not by TERM_LOST_MS after it (then it ended and mpirun is ending the rest). */
static void check_peers(emberP_net *n, double now) {
    int stalest = -1;
    for (int r = 1; r < n->size; r++) {
        peer *p = &n->peers[r];
        if (p->lost || !p->hello) continue;
        if (now - p->last_ms > 3000) {
            char why[128];
            snprintf(why, sizeof why, "nothing came from it for %.1f s", (now - p->last_ms) / 1e3);
            lose_peer(n, r, why);
        } else if (stalest < 0 || p->last_ms < n->peers[stalest].last_ms) {
            stalest = r;
        }
    }
    int s = n->term_suspect;
    if (s > 0 && (n->peers[s].lost || n->peers[s].last_ms > n->sigterm_ms)) {
        n->term_suspect = 0; /* lost meanwhile (its loss named it), or alive */
        fail_for_sigterm(n);
    } else if (s > 0 && now > n->sigterm_ms + TERM_LOST_MS) {
        n->term_suspect = 0;
        lose_peer(n, s, "it stopped answering and mpirun is ending the job (a rank ended)");
    }
    for (int r = 1; n->sigterm_ms > 0 && now > n->sigterm_ms + TERM_LOST_MS && r < n->size; r++)
        if (!n->peers[r].lost && n->peers[r].hello && !heard_since_sigterm(n, r))
            lose_peer(n, r, "it did not answer after mpirun's SIGTERM reached the driver");
    if (!atomic_exchange(&got_sigterm, 0)) return;
    if (n->sigterm_ms == 0) n->sigterm_ms = now;
    if (stalest >= 0 && now - n->peers[stalest].last_ms > 400 && !n->term_suspect)
        n->term_suspect = stalest;
    else if (!n->term_suspect)
        fail_for_sigterm(n);
}

static int map_output_owner(const char *path, int *owner, const char **name);

/* Sends REMOVE for each map output the block store dropped to the executor holding it. */
static void driver_drops(emberP_net *n) {
    pthread_mutex_lock(&n->mu);
    char **drops = n->drops;
    size_t ndrops = n->ndrops;
    n->drops = NULL;
    n->ndrops = n->capdrops = 0;
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < ndrops; i++) {
        int owner;
        const char *name;
        if (map_output_owner(drops[i], &owner, &name) && owner > 0 && owner < n->size && n->peers[owner].hello &&
            !n->peers[owner].lost) {
            emberP_msg m = {.type = EMBER_MPI_REMOVE, .rest = (const uint8_t *)drops[i], .nrest = strlen(drops[i])};
            send_msg(n, owner, &m);
        }
        ember_free(drops[i]);
    }
    ember_free(drops);
}

void emberP_drop_file(void *arg, const char *path) {
    emberX_pool *pool = arg;
    emberP_net *n = pool->net;
    int owner;
    const char *name;
    if (!n || n->executor || !map_output_owner(path, &owner, &name)) return;
    char *copy = ember_strdup(path);
    if (!copy) return; /* out of memory: the file stays until its executor ends */
    pthread_mutex_lock(&n->mu);
    if (emberB_grow(&n->drops, &n->capdrops, n->ndrops + 1, sizeof *n->drops, 16) == 0) {
        n->drops[n->ndrops++] = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&n->mu);
    ember_free(copy);
    poke(n->wake[1], 'r');
}

/* ---- files shared with every executor (broadcast values, addFile) ----------------
 *
 * emberP_share runs in the caller's thread: it reads the driver's file <temp
 * dir>/<name> in pieces of SHARE_PIECE bytes and queues them (SHARE_QUEUED bytes at
 * most); the network thread sends each to every executor as a PUT while fewer than
 * SHARE_SENDS sends are under way. An executor writes <its temp dir>/<name>.put and
 * renames it to <name> with the last piece, so a task never reads half a copy; the
 * call returns once every piece was handed to MPI, and MPI delivers messages between
 * two ranks in order, so a task sent after it finds the copy complete. */

enum { SHARE_PIECE = 512 * 1024, SHARE_QUEUED = 4 * 1024 * 1024, SHARE_SENDS = 32 };
enum { PUT_FIRST = 1, PUT_LAST = 2, PUT_REMOVE = 4 };

int emberP_share_name_ok(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len >= EMBER_WIRE_MAX_PATH || name[0] == '/') return 0;
    for (const char *part = name; part;) {
        const char *slash = strchr(part, '/');
        size_t k = slash ? (size_t)(slash - part) : strlen(part);
        if (k == 0 || (k == 1 && part[0] == '.') || (k == 2 && part[0] == '.' && part[1] == '.')) return 0;
        part = slash ? slash + 1 : NULL;
    }
    return 1;
}

/* Sends the queued pieces to every executor while MPI has room for them. */
static void driver_shares(emberP_net *n) {
    for (;;) {
        pthread_mutex_lock(&n->mu);
        share_chunk *c = n->nsends < SHARE_SENDS ? n->shares : NULL;
        if (c) {
            n->shares = c->next;
            if (!n->shares) n->shares_tail = &n->shares;
            n->share_bytes -= c->len;
            pthread_cond_broadcast(&n->cv);
        }
        pthread_mutex_unlock(&n->mu);
        if (!c) return;
        for (int r = 1; r < n->size; r++)
            if (n->peers[r].hello && !n->peers[r].lost) {
                emberP_msg m = {.type = EMBER_MPI_PUT, .num = c->flags, .rest = c->data, .nrest = c->len};
                send_msg(n, r, &m);
            }
        ember_free(c);
    }
}

void *emberP_share_hold(emberX_pool *pool) {
    emberP_net *n = pool->net;
    if (!n || n->executor) return NULL;
    pthread_mutex_lock(&n->mu);
    n->sharers++;
    pthread_mutex_unlock(&n->mu);
    return n;
}

/* Queues piece c (taking it), waiting while the queue is full. Call under n->mu. */
static int share_queue(emberP_net *n, share_chunk *c) {
    while (n->share_bytes >= SHARE_QUEUED && !n->failed && !n->done) {
        poke(n->wake[1], 'p');
        WAIT_UNTIL(n, n->share_bytes < SHARE_QUEUED || n->failed || n->done, now_ms() + 1000);
    }
    if (n->failed || n->done) {
        ember_free(c);
        return n->failed ? emberE_set(EMBER_EWORKER, "%s", n->failure)
                         : emberE_set(EMBER_EINVAL, "the context stopped while a file was sent to its executors");
    }
    c->next = NULL;
    *n->shares_tail = c;
    n->shares_tail = &c->next;
    n->share_bytes += c->len;
    return 0;
}

/* Reads up to cap bytes of fd into p: how many (fewer only at the end), or -1. */
static ssize_t read_full(int fd, uint8_t *p, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, p + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int emberP_share(void *held, const char *dir, const char *name, int remove) {
    emberP_net *n = held;
    int rc = 0, fd = -1;
    char path[2 * EMBER_WIRE_MAX_PATH + 2];
    size_t nlen = strlen(name) + 1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pthread_mutex_lock(&n->share_mu);
    if (!emberP_share_name_ok(name))
        rc = emberE_set(EMBER_EINVAL, "cannot send %s to the executors: not a plain relative name", name);
    else if (!remove && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = emberE_errno(EMBER_ENOENT, errno, "opening %s to send it to the executors", path);
    uint32_t flags = remove ? PUT_REMOVE : PUT_FIRST;
    while (!rc) {
        share_chunk *c = ember_malloc(sizeof *c + nlen + (remove ? 0 : SHARE_PIECE));
        if (!c) {
            rc = emberE_set(EMBER_ENOMEM, "out of memory sending %s to the executors", path);
            break;
        }
        memcpy(c->data, name, nlen);
        ssize_t got = remove ? 0 : read_full(fd, c->data + nlen, SHARE_PIECE);
        if (got < 0) {
            rc = emberE_errno(EMBER_EIO, errno, "reading %s to send it to the executors", path);
            ember_free(c);
            break;
        }
        int last = remove || got < SHARE_PIECE;
        c->len = nlen + (size_t)got;
        c->flags = flags | (last ? PUT_LAST : 0);
        flags &= ~(uint32_t)PUT_FIRST;
        pthread_mutex_lock(&n->mu);
        rc = share_queue(n, c);
        pthread_mutex_unlock(&n->mu);
        poke(n->wake[1], 'p');
        if (last) break;
    }
    pthread_mutex_lock(&n->mu);
    while (!rc && n->shares && !n->failed && !n->done)
        WAIT_UNTIL(n, !n->shares || n->failed || n->done, now_ms() + 1000);
    if (!rc && n->shares) /* the queue was not sent: say why */
        rc = n->failed ? emberE_set(EMBER_EWORKER, "%s", n->failure)
                       : emberE_set(EMBER_EINVAL, "the context stopped while %s was sent to its executors", path);
    n->sharers--;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (fd >= 0) close(fd);
    pthread_mutex_unlock(&n->share_mu);
    return rc;
}

/* PUT: a piece of a file the driver shares (or its removal), into this executor's
 * temp dir. A copy that cannot be written is removed and said on stderr: tasks that
 * read it then fail naming it. */
static void put_file(emberP_net *n, const emberP_msg *m) {
    const uint8_t *nul = memchr(m->rest, 0, m->nrest);
    if (!nul) return;
    const char *name = (const char *)m->rest;
    char path[2 * EMBER_WIRE_MAX_PATH + 2], part[2 * EMBER_WIRE_MAX_PATH + 8];
    if (!emberP_share_name_ok(name)) return;
    snprintf(path, sizeof path, "%s/%s", n->pool->tmpdir, name);
    snprintf(part, sizeof part, "%s.put", path);
    if (m->num & PUT_REMOVE) {
        unlink(path);
        return;
    }
    if (m->num & PUT_FIRST) {
        if (n->put_fd >= 0) close(n->put_fd);
        for (char *slash = strchr(path + strlen(n->pool->tmpdir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
            *slash = 0; /* the directories of the name */
            mkdir(path, 0700);
            *slash = '/';
        }
        n->put_fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        n->put_failed = n->put_fd < 0 ? errno : 0;
    }
    const uint8_t *p = nul + 1;
    size_t left = m->nrest - (size_t)(p - m->rest);
    while (n->put_fd >= 0 && !n->put_failed && left) {
        ssize_t w = write(n->put_fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            n->put_failed = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!(m->num & PUT_LAST)) return;
    if (n->put_fd >= 0 && close(n->put_fd) < 0 && !n->put_failed) n->put_failed = errno;
    n->put_fd = -1;
    if (!n->put_failed && rename(part, path) < 0) n->put_failed = errno;
    if (n->put_failed) {
        unlink(part);
        fprintf(stderr,
                "ember: executor rank %d (host %s) could not write its copy of %s (%s): tasks that read it "
                "fail; free space under its temp dir (spark.local.dir)\n",
                n->rank, n->host, path, strerror(n->put_failed));
    }
}

/* The engine asked for workers: sends START for each (a CLOSE first for a worker
 * the slot still relays). A worker whose cache task the engine gave up after the
 * relay ended (the executor said ENDED) gets its CLOSE with CLOSE_DISCARD now; one
 * still relayed gets it when the engine's end of the socket is seen closed. */
static void driver_requests(emberP_net *n) {
    pthread_mutex_lock(&n->mu);
    for (size_t g = 0; g < n->nslots; g++) {
        slot *s = &n->slots[g];
        if (s->discard && (s->fd_in < 0 || n->peers[s->rank].lost)) {
            if (n->peers[s->rank].lost) {
                s->discard = 0; /* its blocks are gone with it */
            } else {
                pthread_mutex_unlock(&n->mu);
                send_close(n, s);
                pthread_mutex_lock(&n->mu);
            }
        }
        if (!s->pending) continue;
        s->pending = 0;
        int fd = s->new_fd;
        s->new_fd = -1;
        if (n->peers[s->rank].lost) {
            close(fd);
            s->state = SLOT_FAILED;
            continue;
        }
        pthread_mutex_unlock(&n->mu);
        if (s->fd_in >= 0) {
            send_close(n, s);
            driver_close(s);
        }
        s->gen++;
        s->fd_in = s->fd_out = fd;
        send_slot(n, s, EMBER_MPI_START, 0, NULL, 0);
        pthread_mutex_lock(&n->mu);
    }
    pthread_mutex_unlock(&n->mu);
}

static void serve_fetch(emberP_net *n, int src, const emberP_msg *m);

static void driver_message(emberP_net *n, int src, const emberP_msg *m) {
    if (src <= 0 || src >= n->size) return;
    peer *p = &n->peers[src];
    p->last_ms = now_ms();
    if (m->type == EMBER_MPI_FETCH) { /* a block file of this driver's */
        serve_fetch(n, src, m);
        return;
    }
    if (m->type == EMBER_MPI_HELLO) {
        if (p->hello) return;
        size_t hl = m->nrest < sizeof p->host - 1 ? m->nrest : sizeof p->host - 1;
        memcpy(p->host, m->rest, hl);
        p->host[hl] = 0;
        p->slots = m->num;
        p->pid = m->u64;
        p->hello = 1;
        pthread_mutex_lock(&n->mu);
        n->nhello++;
        pthread_cond_broadcast(&n->cv);
        pthread_mutex_unlock(&n->mu);
        return;
    }
    if (m->type == EMBER_MPI_BEAT || !p->hello || p->lost || m->slot >= p->slots || !n->slots) return;
    slot *s = &n->slots[p->first + m->slot];
    if (m->gen != s->gen) return; /* a worker already replaced */
    switch (m->type) {
    case EMBER_MPI_STARTED:
    case EMBER_MPI_START_FAILED:
        pthread_mutex_lock(&n->mu);
        if (m->type == EMBER_MPI_STARTED) {
            s->state = SLOT_STARTED;
            s->pid = (pid_t)m->num;
        } else {
            s->state = SLOT_FAILED;
            snprintf(s->text, sizeof s->text, "on executor rank %d (host %s): %.*s", src, p->host,
                     (int)(m->nrest < 3800 ? m->nrest : 3800), (const char *)m->rest);
        }
        pthread_cond_broadcast(&n->cv);
        pthread_mutex_unlock(&n->mu);
        if (m->type == EMBER_MPI_START_FAILED) driver_close(s);
        return;
    case EMBER_MPI_DATA:
        if (s->fd_out >= 0 && emberB_append(&s->q, m->rest, m->nrest)) driver_close(s);
        return;
    case EMBER_MPI_CREDIT:
        s->unacked = m->u64 < s->unacked ? s->unacked - m->u64 : 0;
        return;
    case EMBER_MPI_ENDED: {
        pthread_mutex_lock(&n->mu);
        s->status = (int32_t)m->num;
        size_t tl = m->nrest < sizeof s->text - 1 ? m->nrest : sizeof s->text - 1;
        memcpy(s->text, m->rest, tl);
        s->text[tl] = 0;
        pthread_mutex_unlock(&n->mu);
        s->closing = 1;
        return;
    }
    default:
        return;
    }
}

/* ---- the executor's files: a task's paths, fetched buckets --------------------------
 *
 * An executor keeps its shuffle files in its own temp dir. The driver names a map
 * output <driver tmpdir>/e<rank>/<name> (tasks.c); the executor of that rank writes
 * it as <its temp dir>/<name>. So it reads the frames the driver sends its workers:
 * in a TASK, its own map outputs (written or read) become its local files, and each
 * bucket of another executor's map output, or a block file the driver holds that is
 * not readable here, is fetched first (FETCH / FETCHED, at most MAX_ASKED requests in
 * flight per executor) into a local copy <temp dir>/fetched-<id>-<name>; the TASK and
 * the frames after it wait until every copy is there. A fetch that fails leaves no
 * copy: the worker reports FETCH_FAILED for it, which is sent on under the driver's
 * name, so the engine runs that map task again, as it does locally. Copies are
 * removed when the task ends. A server sends a bucket as its map output holds it:
 * for each of its ranges (one a segment of the file, emberF_bucket_ranges) a RANGE
 * with the range's length, its CRC-32C from the file's index and its first bytes,
 * then FETCHED with the rest, PIECE bytes a message, read with pread straight into
 * the message (a block file goes the same way, as one range without RANGE). It keeps
 * SERVE_WINDOW pieces of each request in flight, so neither side holds more than a
 * few MiB of a bucket however big. The fetching side writes the bytes into its copy
 * as they come (emberF_writer_segment, emberF_writer_raw): no byte is decoded or
 * checksummed on the way; the reduce task's reader checks each range against its
 * CRC, and a copy that fails it fails the task as a lost map output would. */

enum { MAX_ASKED = 4 };
#define FETCH_WHOLE 0xffffffffu /* FETCH's bucket: the whole file */
enum { FETCHED_LAST = 1, FETCHED_ERROR = 2 };

/* 1 with the owner's rank and the file name when path is a file a cluster-mode engine
 * named as an executor's: a map output (.../e<rank>/shuffle-...) or a cached block
 * (.../e<rank>/rdd-<id>-<partition>.block). */
static int map_output_owner(const char *path, int *owner, const char **name) {
    const char *slash = strrchr(path, '/');
    if (!slash || (strncmp(slash + 1, "shuffle-", 8) != 0 && strncmp(slash + 1, "rdd-", 4) != 0)) return 0;
    const char *dir = slash;
    while (dir > path && dir[-1] != '/')
        dir--;
    if (*dir != 'e' || dir + 1 >= slash) return 0;
    int r = 0;
    for (const char *c = dir + 1; c < slash; c++) {
        if (*c < '0' || *c > '9' || r > 1000000) return 0;
        r = r * 10 + (*c - '0');
    }
    *owner = r;
    *name = slash + 1;
    return 1;
}

/* Remembers that the current task of s reads or writes `local` for the driver's
 * `theirs` (both copied); returns the local copy, or NULL when out of memory. */
static const char *note_path(slot *s, const char *local, const char *theirs) {
    if (emberB_grow(&s->paths, &s->cappaths, s->npaths + 1, sizeof *s->paths, 8)) return NULL;
    char *l = ember_strdup(local), *t = ember_strdup(theirs);
    if (!l || !t) {
        ember_free(l);
        ember_free(t);
        return NULL;
    }
    s->paths[s->npaths].local = l;
    s->paths[s->npaths++].theirs = t;
    return l;
}

/* The task of s ended (or never will): its fetched copies go. */
static void clear_paths(slot *s) {
    for (size_t i = 0; i < s->npaths; i++) {
        if (strstr(s->paths[i].local, "/fetched-")) unlink(s->paths[i].local);
        ember_free(s->paths[i].local);
        ember_free(s->paths[i].theirs);
    }
    s->npaths = 0;
}

static void fetch_pump(emberP_net *n);

/* Queues a fetch of bucket (or FETCH_WHOLE) of rank's file `theirs` into `local`. */
static int fetch_add(emberP_net *n, slot *s, int rank, const char *theirs, const char *local, uint32_t bucket) {
    if (emberB_grow(&n->fetches, &n->capfetches, n->nfetches + 1, sizeof *n->fetches, 8)) return EMBER_ENOMEM;
    fetch *f = &n->fetches[n->nfetches++];
    memset(f, 0, sizeof *f);
    f->id = ++n->next_fetch;
    f->s = s;
    f->seq = s->task_seq;
    f->rank = rank;
    f->bucket = bucket;
    f->fd = -1;
    f->theirs = ember_strdup(theirs);
    f->local = ember_strdup(local);
    if (!f->theirs || !f->local) {
        ember_free(f->theirs);
        ember_free(f->local);
        n->nfetches--;
        return EMBER_ENOMEM;
    }
    s->nfetching++;
    return 0;
}

/* Points *bp at the local file for the driver's path in it: this executor's own map
 * output, or a fetched copy of another's (whole: a block file not readable here). */
static void rewrite_path(emberP_net *n, slot *s, emberW_bytes *bp, uint32_t bucket, int whole) {
    char theirs[EMBER_WIRE_MAX_PATH], local[2 * EMBER_WIRE_MAX_PATH + 32];
    if (bp->len >= sizeof theirs) return;
    memcpy(theirs, bp->p, bp->len);
    theirs[bp->len] = 0;
    int owner = 0;
    const char *name;
    if (whole) {
        if (map_output_owner(theirs, &owner, &name)) {
            /* a block an executor keeps: this one's is its store's file (when there
             * is none, the worker says so, and the driver has it computed again) */
        } else if (access(theirs, R_OK) == 0) {
            return; /* a block file of the driver's this host sees */
        } else {
            name = strrchr(theirs, '/') ? strrchr(theirs, '/') + 1 : theirs;
        }
    } else if (!map_output_owner(theirs, &owner, &name)) {
        return;
    }
    const char *dir = n->pool->tmpdir;
    if (owner == n->rank)
        snprintf(local, sizeof local, "%s/%s", dir, name);
    else
        snprintf(local, sizeof local, "%s/fetched-%u-%s", dir, n->next_fetch + 1, name);
    if (strlen(local) >= EMBER_WIRE_MAX_PATH) return; /* the worker reads the driver's name and fails */
    const char *l = note_path(s, local, theirs);
    if (!l) return; /* out of memory: the worker reads the driver's name and fails */
    if (owner != n->rank && fetch_add(n, s, owner, s->paths[s->npaths - 1].theirs, l, whole ? FETCH_WHOLE : bucket))
        return;
    bp->p = (const uint8_t *)l;
    bp->len = (uint32_t)strlen(l);
}

static void rewrite_input(emberP_net *n, slot *s, emberW_input *in) {
    if (in->kind == EMBER_IN_SHUFFLE)
        for (uint32_t i = 0; i < in->npaths; i++)
            rewrite_path(n, s, &in->paths[i], in->bucket, 0);
    if (in->kind == EMBER_IN_BLOCK) rewrite_path(n, s, &in->path, 0, 1);
    for (uint32_t i = 0; i < in->nchildren; i++)
        rewrite_input(n, s, &in->children[i]);
}

static void queue_frame(slot *s, uint32_t type, const void *p, size_t len) {
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, type, (uint32_t)len);
    if (emberB_append(&s->q, hdr, sizeof hdr) || (len && emberB_append(&s->q, p, len))) s->q.len = s->qhead = 0;
}

/* ---- the executor's block store ------------------------------------------------------
 *
 * A cache task (output EMBER_OUT_CACHE) on an executor keeps its partition there: the
 * relay takes the DATA frames its worker sends instead of relaying them and, at its
 * TASK_DONE, stores them in the executor's own store (blocks.c: its budget, its temp
 * dir for block files), then sends the driver BLOCK_STORED (where the block went and
 * its size, then the blocks the store moved out of memory on the way) and the
 * TASK_DONE. The driver names such a block <driver tmpdir>/e<rank>/rdd-<id>-<p>.block
 * in a task's input (EMBER_IN_BLOCK). On its own executor, a block in memory becomes
 * an input stream of the task (the DATA leaves are numbered again in tree order, the
 * driver's INPUT_BEGINs renumbered on the way, and the block's batches sent right
 * after the TASK, a few at a time as the worker's pipe takes them); one in its file
 * is read there by the worker. Another executor fetches it whole, as a block file
 * (FETCH, served from memory or the file). A block that is not there (dropped since)
 * makes the worker report FETCH_FAILED under the driver's name: the driver forgets it
 * and has it computed again. REMOVE with such a name drops it (unpersist). */

static void clear_cache(slot *s) {
    emberM_batches_clear(&s->cached);
    s->caching = 0;
    for (size_t i = s->inject_i; i < s->ninject; i++)
        emberM_part_release(s->inject[i].part);
    ember_free(s->inject);
    s->inject = NULL;
    s->ninject = s->capinject = s->inject_i = s->inject_b = 0;
    s->inject_begun = 0;
    ember_free(s->stream_map);
    s->stream_map = NULL;
    s->nstream_map = 0;
}

/* The store moved a block out of memory (under its lock): noted for the next BLOCK_STORED. */
static void note_moved(void *arg, int id, size_t p, int where, uint64_t bytes) {
    emberP_net *n = arg;
    if (emberB_grow(&n->moved, &n->capmoved, n->nmoved + 1, sizeof *n->moved, 8)) return; /* see below */
    n->moved[n->nmoved++] = (emberW_stored){(uint32_t)id, (uint32_t)p, (uint32_t)where, bytes};
    /* Out of memory, the driver keeps the old record: a task reading the block then
     * does not find it, and the driver has it computed again. */
}

/* Partition and node of a block's file name rdd-<id>-<partition>.block; 1 when it is one. */
static int block_name(const char *name, int *id, size_t *part) {
    char tail[8] = "";
    return sscanf(name, "rdd-%d-%zu.%7s", id, part, tail) == 3 && strcmp(tail, "block") == 0 && *id >= 0;
}

/* Numbers the DATA leaves of the task of s in tree order, making each block this
 * executor holds in memory a DATA leaf whose batches it sends itself; the driver's
 * stream numbers' new ones go to s->stream_map when anything moved. */
static int inject_blocks(emberP_net *n, slot *s, emberW_input *in, uint32_t *next) {
    int rc = 0;
    if (in->kind == EMBER_IN_DATA) {
        if (in->stream < s->nstream_map) s->stream_map[in->stream] = *next;
        in->stream = (*next)++;
    } else if (in->kind == EMBER_IN_BLOCK && in->path.len < EMBER_WIRE_MAX_PATH) {
        char theirs[EMBER_WIRE_MAX_PATH];
        memcpy(theirs, in->path.p, in->path.len);
        theirs[in->path.len] = 0;
        int owner, id;
        size_t part;
        const char *name;
        emberM_part *held = map_output_owner(theirs, &owner, &name) && owner == n->rank && block_name(name, &id, &part)
                                ? emberM_get(&n->store, id, part)
                                : NULL;
        if (held && emberB_grow(&s->inject, &s->capinject, s->ninject + 1, sizeof *s->inject, 4)) {
            emberM_part_release(held); /* out of memory: the worker reads the block's file, or fails */
            held = NULL;
        }
        if (held) {
            s->inject[s->ninject++] = (struct inject){*next, held};
            in->kind = EMBER_IN_DATA;
            in->path = (emberW_bytes){NULL, 0};
            in->stream = (*next)++;
        }
    }
    for (uint32_t i = 0; i < in->nchildren && !rc; i++)
        rc = inject_blocks(n, s, &in->children[i], next);
    return rc;
}

/* Queues the next frames of the blocks s sends as input streams, while its queue is
 * short; at the end the driver's frames flow again (pump_in). */
static void inject_more(slot *s) {
    while (s->inject_i < s->ninject && s->q.len - s->qhead < RELAY_CHUNK) {
        struct inject *j = &s->inject[s->inject_i];
        uint8_t idx[4];
        if (!s->inject_begun) {
            emberW_u32_encode(idx, j->stream);
            queue_frame(s, EMBER_FRAME_INPUT_BEGIN, idx, 4);
            s->inject_begun = 1;
        } else if (s->inject_b < j->part->batches.n) {
            const emberM_batches *b = &j->part->batches;
            queue_frame(s, EMBER_FRAME_DATA, b->bufs[s->inject_b].data, b->bufs[s->inject_b].len);
            s->inject_b++;
        } else {
            queue_frame(s, EMBER_FRAME_INPUT_END, NULL, 0);
            emberM_part_release(j->part);
            j->part = NULL;
            s->inject_i++;
            s->inject_b = 0;
            s->inject_begun = 0;
        }
    }
    if (s->inject_i == s->ninject) {
        ember_free(s->inject);
        s->inject = NULL;
        s->ninject = s->capinject = s->inject_i = 0;
    }
}

/* The cache task of s finished: its batches go into the store; appends BLOCK_STORED
 * (this block, then what the store moved out of memory) to out. */
static void store_block(emberP_net *n, slot *s, emberB_buf *out) {
    uint64_t total = emberM_batches_bytes(&s->cached), bytes = 0;
    n->nmoved = 0;
    if (emberM_put(&n->store, (int)s->cache_node, s->cache_part, &s->cached))
        fprintf(stderr, "ember: executor rank %d (host %s) could not keep a cached partition: %s\n", n->rank, n->host,
                ember_last_error()); /* not kept: the driver has it computed where needed */
    int where = emberM_kept(&n->store, (int)s->cache_node, s->cache_part, &bytes);
    s->made = where != EMBERM_GONE;
    s->made_node = s->cache_node;
    s->made_part = s->cache_part;
    emberW_stored first = {s->cache_node, s->cache_part, (uint32_t)where, where == EMBERM_GONE ? total : bytes};
    emberW_stored *all = ember_malloc((n->nmoved + 1) * sizeof *all);
    emberB_buf b = {0};
    if (all) {
        all[0] = first;
        if (n->nmoved) memcpy(all + 1, n->moved, n->nmoved * sizeof *all);
    }
    if (emberW_stored_encode(&b, all ? all : &first, all ? (uint32_t)(n->nmoved + 1) : 1) == 0) {
        uint8_t hdr[EMBER_WIRE_HEADER];
        emberW_header(hdr, EMBER_FRAME_BLOCK_STORED, (uint32_t)b.len);
        if (emberB_append(out, hdr, sizeof hdr) || emberB_append(out, b.data, b.len)) out->len = 0;
    }
    emberB_free(&b);
    ember_free(all);
    n->nmoved = 0;
    s->caching = 0;
}

/* Sends the held TASK of s on (its paths rewritten) to the worker. */
static void task_send(slot *s) {
    emberB_buf b = {0};
    if (emberW_task_encode(&b, &s->task) == 0)
        queue_frame(s, EMBER_FRAME_TASK, b.data, b.len);
    else /* cannot happen: it decoded; the worker then reads the driver's bytes */
        queue_frame(s, EMBER_FRAME_TASK, s->task_bytes, s->task_len);
    emberB_free(&b);
    emberW_task_free(&s->task);
    ember_free(s->task_bytes);
    s->task_bytes = NULL;
    s->held = 0;
    if (s->ninject) inject_more(s); /* the blocks of this store it reads, as its first streams */
}

/* A TASK frame for the worker of s: rewrites its paths, fetching what is elsewhere. */
static void task_begin(emberP_net *n, slot *s, const uint8_t *p, size_t len) {
    s->made = 0; /* a TASK comes to an idle worker: the driver read what its last task sent */
    clear_paths(s);
    s->task_seq++;
    s->nfetching = 0;
    s->fetched_bytes = 0;
    s->fetch_begin_us = s->fetch_end_us = 0;
    s->task_bytes = ember_malloc(len ? len : 1);
    if (!s->task_bytes) {
        queue_frame(s, EMBER_FRAME_TASK, p, len);
        return;
    }
    memcpy(s->task_bytes, p, len);
    s->task_len = len;
    if (emberW_task_decode(s->task_bytes, len, &s->task)) {
        emberW_task_free(&s->task);
        queue_frame(s, EMBER_FRAME_TASK, p, len); /* the worker reports what is wrong */
        ember_free(s->task_bytes);
        s->task_bytes = NULL;
        return;
    }
    clear_cache(s);
    if (s->task.output == EMBER_OUT_CACHE &&
        emberM_persist(&n->store, (int)s->task.cache_node, s->task.cache_parts, (int)s->task.cache_level) == 0 &&
        s->task.partition < s->task.cache_parts) {
        emberM_drop_block(&n->store, (int)s->task.cache_node, s->task.partition); /* computed anew: an old copy goes */
        for (size_t i = 0; i < n->nslots; i++) /* and is no other slot's to drop any more */
            if (n->slots[i].made && n->slots[i].made_node == s->task.cache_node &&
                n->slots[i].made_part == s->task.partition)
                n->slots[i].made = 0;
        s->caching = 1;
        s->cache_node = s->task.cache_node;
        s->cache_part = s->task.partition;
    }
    if (s->task.nstreams && (s->stream_map = ember_calloc(s->task.nstreams, sizeof *s->stream_map)))
        s->nstream_map = s->task.nstreams;
    uint32_t next = 0;
    inject_blocks(n, s, &s->task.input, &next);
    if (!s->ninject) { /* nothing moved: the driver's numbers stand */
        ember_free(s->stream_map);
        s->stream_map = NULL;
        s->nstream_map = 0;
    }
    rewrite_input(n, s, &s->task.input);
    int owner;
    const char *name;
    char out[EMBER_WIRE_MAX_PATH], local[2 * EMBER_WIRE_MAX_PATH];
    if (s->task.output == EMBER_OUT_SHUFFLE && s->task.shuffle_path.len < sizeof out) {
        memcpy(out, s->task.shuffle_path.p, s->task.shuffle_path.len);
        out[s->task.shuffle_path.len] = 0;
        if (map_output_owner(out, &owner, &name) && owner == n->rank) {
            snprintf(local, sizeof local, "%s/%s", n->pool->tmpdir, name);
            const char *l = strlen(local) < EMBER_WIRE_MAX_PATH ? note_path(s, local, out) : NULL;
            if (l) s->task.shuffle_path = (emberW_bytes){(const uint8_t *)l, (uint32_t)strlen(l)};
        }
    }
    if (s->nfetching) {
        s->held = 1;
        fetch_pump(n);
    } else {
        task_send(s);
    }
}

/* Takes the driver's frames for the worker of s into its queue (rewriting TASKs),
 * while no TASK waits for fetches and the queue is under the window; credits what
 * was taken. */
static void pump_in(emberP_net *n, slot *s) {
    uint32_t type;
    const uint8_t *p;
    size_t len;
    while (!s->held && !s->ninject && s->fd_out >= 0 && s->q.len - s->qhead < RELAY_WINDOW &&
           emberW_next(&s->from_driver, &type, &p, &len) > 0) {
        s->uncredited += EMBER_WIRE_HEADER + len;
        uint32_t stream;
        uint8_t idx[4];
        if (type == EMBER_FRAME_TASK) {
            task_begin(n, s, p, len);
        } else if (type == EMBER_FRAME_INPUT_BEGIN && s->stream_map && emberW_u32_decode(p, len, &stream) == 0 &&
                   stream < s->nstream_map) {
            emberW_u32_encode(idx, s->stream_map[stream]);
            queue_frame(s, type, idx, 4);
        } else {
            queue_frame(s, type, p, len);
        }
    }
    if (s->uncredited) {
        emberP_msg m = {
            .type = EMBER_MPI_CREDIT, .slot = (uint32_t)(s - n->slots), .gen = s->gen, .u64 = s->uncredited};
        send_msg(n, 0, &m);
        s->uncredited = 0;
    }
}

/* A fetch is over (copy complete, or failed: no copy): the task may go on. */
static void fetch_done(emberP_net *n, size_t i, int ok) {
    fetch f = n->fetches[i];
    n->fetches[i] = n->fetches[--n->nfetches];
    if (f.asked) n->asked--;
    if (f.w) {
        if (ok) {
            uint64_t *sizes = ember_calloc((size_t)f.bucket + 1, sizeof *sizes);
            if (!sizes || ember_shuffle_writer_commit(f.w, sizes)) ok = 0;
            ember_free(sizes);
        }
        if (!ok) ember_shuffle_writer_abort(f.w);
    }
    if (f.fd >= 0 && close(f.fd) < 0) ok = 0;
    slot *s = f.s;
    int gone = f.seq != s->task_seq; /* the task is gone: so is its copy */
    if (!ok || gone) unlink(f.local);
    if (ok && !gone && f.bucket != FETCH_WHOLE) s->fetch_end_us = wall_us();
    ember_free(f.theirs);
    ember_free(f.local);
    if (gone) return;
    if (--s->nfetching == 0 && s->held) {
        task_send(s);
        pump_in(n, s);
    }
}

/* Asks for queued fetches while fewer than MAX_ASKED are in flight. */
static void fetch_pump(emberP_net *n) {
    for (size_t i = 0; i < n->nfetches && n->asked < MAX_ASKED; i++) {
        fetch *f = &n->fetches[i];
        if (f->asked) continue;
        int rc = 0;
        if (f->bucket == FETCH_WHOLE) {
            f->fd = open(f->local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            rc = f->fd < 0;
        } else {
            rc = ember_shuffle_writer_open(f->local, f->bucket + 1, 1 << 20, &f->w);
        }
        emberP_msg m = {.type = EMBER_MPI_FETCH,
                        .slot = f->id,
                        .num = f->bucket,
                        .rest = (const uint8_t *)f->theirs,
                        .nrest = strlen(f->theirs)};
        if (rc || send_msg(n, f->rank, &m)) {
            f->w = NULL; /* ember_shuffle_writer_open leaves none on failure */
            fetch_done(n, i, 0);
            i = (size_t)-1; /* the list changed: look again from the start */
            continue;
        }
        f->asked = 1;
        n->asked++;
        if (f->bucket != FETCH_WHOLE && f->seq == f->s->task_seq && !f->s->fetch_begin_us)
            f->s->fetch_begin_us = wall_us();
    }
}

/* Writes p[0, n) whole to fd: 0, or -1 with errno. */
static int write_full(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* RANGE or FETCHED from rank src: a piece of a fetched bucket or file, its end, or
 * its failure. A bucket's bytes go into the copy as they came (the copy's index
 * takes each range's CRC from RANGE: the reduce task's reader checks them); bytes
 * beyond a range's length, or a copy that ends inside a range, fail the fetch. */
static void fetched(emberP_net *n, int src, const emberP_msg *m) {
    size_t i = 0;
    while (i < n->nfetches && !(n->fetches[i].id == m->slot && n->fetches[i].rank == src && n->fetches[i].asked))
        i++;
    if (i == n->nfetches) return;
    fetch *f = &n->fetches[i];
    int range = m->type == EMBER_MPI_RANGE, ok = range || !(m->num & FETCHED_ERROR);
    if (ok && f->fd >= 0)
        ok = !range && write_full(f->fd, m->rest, m->nrest) == 0;
    else if (ok)
        ok = (!range || emberF_writer_segment(f->w, f->bucket, m->u64, m->num) == 0) &&
             emberF_writer_raw(f->w, m->rest, m->nrest) == 0;
    if (ok && f->w && f->seq == f->s->task_seq) f->s->fetched_bytes += m->nrest;
    if (!ok || (!range && (m->num & FETCHED_LAST))) fetch_done(n, i, ok);
    if (n->asked < MAX_ASKED) fetch_pump(n);
}

static void send_fetched(emberP_net *n, int dest, uint32_t id, uint32_t flags, const void *p, size_t len) {
    emberP_msg m = {.type = EMBER_MPI_FETCHED, .slot = id, .num = flags, .rest = p, .nrest = len};
    send_msg(n, dest, &m);
}

static void serve_free(serve *sv) {
    if (sv->fd >= 0) close(sv->fd);
    ember_free(sv->ranges);
    ember_free(sv->path);
    ember_free(sv);
}

/* Reads n bytes at off of fd into p: 0, or a negative code with a message. */
static int pread_piece(int fd, uint8_t *p, size_t n, uint64_t off, const char *path) {
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return emberE_errno(EMBER_EIO, errno, "reading %s", path);
        if (r == 0) return emberE_set(EMBER_EIO, "%s ends early, at byte %llu", path, (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Sends the pieces of the serves while fewer than SERVE_WINDOW of each are in
 * flight; a serve goes once its last message is sent. */
static void serve_pump(emberP_net *n) {
    size_t kept = 0;
    for (size_t k = 0; k < n->nserves; k++) {
        serve *sv = n->serves[k];
        while (!sv->ended && sv->inflight < SERVE_WINDOW) {
            if (sv->cur == sv->nranges) {
                sv->ended = 1;
                emberP_msg m = {.type = EMBER_MPI_FETCHED, .slot = sv->id, .num = FETCHED_LAST};
                send_msg(n, sv->dest, &m);
                break;
            }
            const emberF_range *r = &sv->ranges[sv->cur];
            uint64_t left = r->len - sv->pos;
            size_t len = left < PIECE ? (size_t)left : PIECE;
            emberP_msg m = {.type = !sv->whole && sv->pos == 0 ? EMBER_MPI_RANGE : EMBER_MPI_FETCHED,
                            .slot = sv->id,
                            .num = r->crc,
                            .u64 = r->len};
            if (m.type == EMBER_MPI_FETCHED) m.num = 0;
            uint8_t *buf = pool_get(n);
            size_t head = EMBER_MPI_HEADER + msg_layout[m.type].fixed;
            int rc = buf ? pread_piece(sv->fd, buf + head, len, r->off + sv->pos, sv->path)
                         : emberE_set(EMBER_ENOMEM, "out of memory sending %s", sv->path);
            if (rc) {
                if (buf) pool_put(n, buf);
                sv->ended = 1;
                const char *e = ember_last_error();
                send_fetched(n, sv->dest, sv->id, FETCHED_ERROR, e, strlen(e));
                break;
            }
            msg_head(&m, buf);
            if (send_buf(n, sv->dest, buf, head + len, 1, sv)) {
                sv->ended = 1; /* MPI cannot send to it: the fetch fails there when its rank is counted lost */
                break;
            }
            sv->pos += len;
            if (sv->pos == r->len) {
                sv->cur++;
                sv->pos = 0;
            }
        }
        if (sv->ended && sv->inflight == 0)
            serve_free(sv);
        else
            n->serves[kept++] = sv;
    }
    n->nserves = kept;
}

/* FETCH from rank src: starts sending the bucket (or the whole file) it asks for, as
 * the file holds it; an error (no such file, a bad index) is sent at once. */
static void serve_fetch(emberP_net *n, int src, const emberP_msg *m) {
    char asked[EMBER_WIRE_MAX_PATH], path[2 * EMBER_WIRE_MAX_PATH];
    int owner;
    const char *name;
    if (m->nrest >= sizeof asked) {
        send_fetched(n, src, m->slot, FETCHED_ERROR, "path too long", 13);
        return;
    }
    memcpy(asked, m->rest, m->nrest);
    asked[m->nrest] = 0;
    int mine = n->executor && map_output_owner(asked, &owner, &name) && owner == n->rank, id;
    size_t part;
    if (mine)
        snprintf(path, sizeof path, "%s/%s", n->pool->tmpdir, name);
    else
        snprintf(path, sizeof path, "%s", asked);
    int rc = 0;
    emberM_part *held =
        mine && m->num == FETCH_WHOLE && block_name(name, &id, &part) ? emberM_get(&n->store, id, part) : NULL;
    if (held) { /* a cached block in this executor's memory: sent as its block file would be */
        emberB_buf b = {0};
        rc = emberM_block_encode(&held->batches, &b);
        emberM_part_release(held);
        for (size_t off = 0; !rc && off < b.len; off += PIECE)
            send_fetched(n, src, m->slot, 0, b.data + off, b.len - off < PIECE ? b.len - off : PIECE);
        if (rc) {
            const char *e = ember_last_error();
            send_fetched(n, src, m->slot, FETCHED_ERROR, e, strlen(e));
        } else {
            send_fetched(n, src, m->slot, FETCHED_LAST, NULL, 0);
        }
        emberB_free(&b);
        return;
    }
    serve *sv = ember_calloc(1, sizeof *sv);
    if (sv) sv->fd = -1;
    if (!sv || !(sv->path = ember_strdup(path)) ||
        emberB_grow(&n->serves, &n->capserves, n->nserves + 1, sizeof *n->serves, 8)) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory serving %s", path);
    } else if (m->num == FETCH_WHOLE) {
        struct stat st;
        sv->whole = 1;
        if ((sv->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(sv->fd, &st) < 0)
            rc = emberE_errno(EMBER_ENOENT, errno, "opening %s", path);
        else if (!(sv->ranges = ember_malloc(sizeof *sv->ranges)))
            rc = emberE_set(EMBER_ENOMEM, "out of memory serving %s", path);
        else if (st.st_size > 0)
            sv->ranges[sv->nranges++] = (emberF_range){0, (uint64_t)st.st_size, 0};
    } else {
        rc = emberF_bucket_ranges(path, m->num, &sv->fd, &sv->ranges, &sv->nranges);
    }
    if (rc) {
        const char *e = ember_last_error();
        send_fetched(n, src, m->slot, FETCHED_ERROR, e, strlen(e));
        if (sv) serve_free(sv);
        return;
    }
    sv->dest = src;
    sv->id = m->slot;
    n->serves[n->nserves++] = sv;
    serve_pump(n);
}

/* REMOVE: the driver dropped one of this executor's map outputs, or a cached block;
 * its file (and memory) goes. */
static void remove_map_output(emberP_net *n, const emberP_msg *m) {
    char theirs[EMBER_WIRE_MAX_PATH], path[2 * EMBER_WIRE_MAX_PATH];
    int owner;
    const char *name;
    if (m->nrest >= sizeof theirs) return;
    memcpy(theirs, m->rest, m->nrest);
    theirs[m->nrest] = 0;
    if (!map_output_owner(theirs, &owner, &name) || owner != n->rank) return;
    int id;
    size_t part;
    if (block_name(name, &id, &part)) { /* a cached block: memory and file */
        emberM_drop_block(&n->store, id, part);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", n->pool->tmpdir, name);
    unlink(path);
}

/* A TASK_DONE (p, len) of the task of s, re-encoded into out with what its fetches
 * moved in its last metrics (the worker sends them as 0): 0, or -1 when it does not
 * decode or memory runs out (the worker's frame then goes as it is). */
static int done_with_fetches(const slot *s, const uint8_t *p, size_t len, emberB_buf *out) {
    emberW_done d;
    if (emberW_done_decode(p, len, &d)) return -1;
    uint64_t metrics[EMBER_METRICS], *sizes = ember_calloc(d.nsizes ? d.nsizes : 1, sizeof *sizes);
    if (!sizes) return -1;
    for (uint32_t i = 0; i < d.nsizes; i++)
        sizes[i] = emberW_done_size(&d, i);
    for (uint32_t i = 0; i < EMBER_METRICS; i++)
        metrics[i] = emberW_done_metric(&d, i);
    metrics[EMBER_METRIC_REMOTE_BYTES_FETCHED] = s->fetched_bytes;
    metrics[EMBER_METRIC_FETCH_BEGIN_US] = (uint64_t)s->fetch_begin_us;
    metrics[EMBER_METRIC_FETCH_END_US] = (uint64_t)s->fetch_end_us;
    int rc = emberW_done_encode(out, sizes, d.nsizes, d.report.p, d.report.len, metrics, EMBER_METRICS);
    ember_free(sizes);
    return rc ? -1 : 0;
}

/* The worker's frames on their way to the driver: a FETCH_FAILED names the driver's
 * path, not the local copy; a TASK_DONE gets what the task's fetches moved; a task's
 * end removes its copies. */
static void relay_worker_frames(emberP_net *n, slot *s) {
    uint32_t type;
    const uint8_t *p;
    size_t len;
    emberB_buf out = {0};
    while (emberW_next(&s->from_worker, &type, &p, &len) > 0) {
        emberB_buf fixed = {0};
        emberW_bytes path, text;
        char msg[512];
        if (s->caching && type == EMBER_FRAME_DATA) { /* the block stays here */
            uint8_t *copy = ember_malloc(len ? len : 1);
            if (copy) memcpy(copy, p, len);
            if (!copy || emberM_batches_push(&s->cached, copy, len)) {
                ember_free(copy);
                emberM_batches_clear(&s->cached);
                s->caching = 2; /* out of memory: the rest goes too, and the task fails (below) */
            }
            continue;
        }
        if (s->caching == 2 && type == EMBER_FRAME_TASK_DONE) { /* retried, as any failed task */
            snprintf(msg, sizeof msg, "executor rank %d (host %s) ran out of memory keeping a cached partition",
                     n->rank, n->host);
            s->caching = 0;
            type = EMBER_FRAME_TASK_ERROR;
            p = (const uint8_t *)msg;
            len = strlen(msg);
        }
        if (s->caching && type == EMBER_FRAME_TASK_DONE) store_block(n, s, &out);
        if (type == EMBER_FRAME_TASK_DONE && s->fetch_begin_us && done_with_fetches(s, p, len, &fixed) == 0) {
            p = fixed.data;
            len = fixed.len;
        }
        if (type == EMBER_FRAME_TASK_ERROR || type == EMBER_FRAME_FETCH_FAILED) { /* nothing to keep */
            emberM_batches_clear(&s->cached);
            s->caching = 0;
        }
        if (type == EMBER_FRAME_FETCH_FAILED && emberW_fetch_failed_decode(p, len, &path, &text) == 0) {
            for (size_t i = 0; i < s->npaths; i++)
                if (strlen(s->paths[i].local) == path.len && memcmp(s->paths[i].local, path.p, path.len) == 0 &&
                    emberW_fetch_failed_encode(&fixed, s->paths[i].theirs, strlen(s->paths[i].theirs), text.p,
                                               text.len) == 0) {
                    p = fixed.data;
                    len = fixed.len;
                    break;
                }
        }
        uint8_t hdr[EMBER_WIRE_HEADER];
        emberW_header(hdr, type, (uint32_t)len);
        if (emberB_append(&out, hdr, sizeof hdr) || (len && emberB_append(&out, p, len))) out.len = 0;
        emberB_free(&fixed);
        if (type == EMBER_FRAME_TASK_DONE || type == EMBER_FRAME_TASK_ERROR || type == EMBER_FRAME_FETCH_FAILED)
            clear_paths(s);
    }
    for (size_t off = 0; off < out.len; off += RELAY_CHUNK) {
        size_t k = out.len - off < RELAY_CHUNK ? out.len - off : RELAY_CHUNK;
        send_slot(n, s, EMBER_MPI_DATA, 0, out.data + off, k);
        s->unacked += k;
    }
    emberB_free(&out);
}

/* ---- the executor's side ----------------------------------------------------------- */

static void executor_worker_ended(emberP_net *n, slot *s);

static void executor_message(emberP_net *n, int src, const emberP_msg *m) {
    if (m->type == EMBER_MPI_FETCH) {
        serve_fetch(n, src, m);
        return;
    }
    if (m->type == EMBER_MPI_FETCHED || m->type == EMBER_MPI_RANGE) {
        fetched(n, src, m);
        return;
    }
    if (src != 0) return;
    if (m->type == EMBER_MPI_QUIT) {
        n->quit = 1;
        n->quit_lost = m->num & QUIT_LOST;
        return;
    }
    if (m->type == EMBER_MPI_REMOVE) {
        remove_map_output(n, m);
        return;
    }
    if (m->type == EMBER_MPI_PUT) {
        put_file(n, m);
        return;
    }
    if (m->slot >= n->nslots) return;
    slot *s = &n->slots[m->slot];
    emberX_worker *w = &n->pool->workers[m->slot];
    if (m->type == EMBER_MPI_START) {
        emberX_worker_kill(w);
        slot_reset(s);
        s->made = 0; /* a CLOSE with CLOSE_DISCARD for the worker before came first */
        s->gen = m->gen;
        s->fd_in = s->fd_out = -1;
        int rc = emberX_worker_start(n->pool, w);
        if (rc) {
            const char *e = ember_last_error();
            send_slot(n, s, EMBER_MPI_START_FAILED, 0, e, strlen(e));
            return;
        }
        s->fd_in = w->from_fd;
        s->fd_out = w->to_fd;
        send_slot(n, s, EMBER_MPI_STARTED, (uint32_t)w->pid, NULL, 0);
        return;
    }
    if (m->gen != s->gen) return;
    switch (m->type) {
    case EMBER_MPI_DATA:
        if (s->fd_out < 0) return;
        if (emberW_feed(&s->from_driver, m->rest, m->nrest))
            executor_worker_ended(n, s); /* out of memory: the worker ends, the driver hears how */
        else
            pump_in(n, s);
        return;
    case EMBER_MPI_CREDIT:
        s->unacked = m->u64 < s->unacked ? s->unacked - m->u64 : 0;
        return;
    case EMBER_MPI_CLOSE:
        if ((m->num & CLOSE_DISCARD) && s->made) /* the driver never took it: nothing would read or remove it */
            emberM_drop_block(&n->store, (int)s->made_node, s->made_part);
        s->made = 0;
        emberX_worker_kill(w);
        s->fd_in = s->fd_out = -1;
        slot_reset(s);
        return;
    default:
        return;
    }
}

/* The executor's worker in slot s ended (its result pipe closed): tells the driver how. */
static void executor_worker_ended(emberP_net *n, slot *s) {
    emberX_worker *w = &n->pool->workers[s - n->slots];
    int status = -1;
    char text[4096] = "";
    if (emberX_worker_status(n->pool, w, &status, text, sizeof text) == 0 && status >= 0) w->alive = 0;
    send_slot(n, s, EMBER_MPI_ENDED, (uint32_t)status, text, strlen(text));
    emberX_worker_kill(w);
    s->fd_in = s->fd_out = -1;
    slot_reset(s);
}

/* ---- the loop ------------------------------------------------------------------------ */

/* The source of slot s closed (driver: the engine killed the worker; executor: the
 * worker ended). */
static void source_closed(emberP_net *n, slot *s) {
    if (n->executor) {
        executor_worker_ended(n, s);
    } else {
        send_close(n, s);
        driver_close(s);
    }
}

/* Reads what slot s's source has and sends it on. 1 when something moved. */
static int relay_in(emberP_net *n, slot *s, uint8_t *buf) {
    ssize_t r;
    do
        r = read(s->fd_in, buf, RELAY_CHUNK);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r <= 0) {
        source_closed(n, s);
        return 1;
    }
    if (!n->executor) {
        send_slot(n, s, EMBER_MPI_DATA, 0, buf, (size_t)r);
        s->unacked += (uint64_t)r;
    } else if (emberW_feed(&s->from_worker, buf, (size_t)r)) {
        executor_worker_ended(n, s);
    } else {
        relay_worker_frames(n, s);
    }
    return 1;
}

/* Writes what slot s's queue holds to its destination, crediting the other side. */
static int relay_out(emberP_net *n, slot *s) {
    int moved = 0;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (;;) {
        if (s->qhead == s->q.len && s->ninject && s->fd_out >= 0) { /* the next frames of a block it sends */
            s->q.len = s->qhead = 0;
            inject_more(s);
        }
        if (s->qhead >= s->q.len) break;
        ssize_t r = write(s->fd_out, s->q.data + s->qhead, s->q.len - s->qhead);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            if (err == EPIPE) {
                struct timespec zero = {0, 0};
                sigtimedwait(&block, NULL, &zero);
            }
            if (err != EAGAIN && err != EWOULDBLOCK) {
                /* The destination is gone; its source says so when read. */
                s->q.len = s->qhead = 0;
            }
            break;
        }
        s->qhead += (size_t)r;
        if (!n->executor) s->uncredited += (uint64_t)r; /* an executor credits frames taken (pump_in) */
        moved = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (s->qhead == s->q.len) s->q.len = s->qhead = 0;
    if (n->executor) {
        pump_in(n, s);
        return moved;
    }
    if (s->uncredited >= CREDIT_BATCH || (s->uncredited && s->q.len == 0)) {
        uint32_t local;
        int dest = slot_dest(n, s, &local);
        emberP_msg m = {.type = EMBER_MPI_CREDIT, .slot = local, .gen = s->gen, .u64 = s->uncredited};
        send_msg(n, dest, &m);
        s->uncredited = 0;
    }
    return moved;
}

static void recv_release(emberP_net *n, recv_req *q) {
    if (q->pooled)
        pool_put(n, q->buf);
    else
        ember_free(q->buf);
}

/* Starts receiving the messages MPI holds for us (RECVS at most under way), and
 * handles those received, in the order they were matched. 1 when something came. */
static int take_messages(emberP_net *n) {
    int any = 0;
    while (n->nrecvs < RECVS) {
        int src;
        size_t len;
        void *msg;
        uint8_t *buf = pool_get(n); /* before the match: a matched message must be received */
        if (!buf) break;            /* left for later: out of memory now */
        if (n->mpi->improbe(&src, &len, &msg) <= 0) {
            pool_put(n, buf);
            break;
        }
        any = 1;
        recv_req *q = &n->recvs[(n->recv_head + n->nrecvs) % RECVS];
        *q = (recv_req){NULL, buf, len, src, 1};
        if (len > POOL_BUF) { /* none of ours is: out of memory, it is received truncated and lost */
            uint8_t *big = ember_malloc(len);
            if (big) {
                pool_put(n, buf);
                *q = (recv_req){NULL, big, len, src, 0};
            }
        }
        if (n->mpi->imrecv(msg, q->buf, q->pooled ? (len < POOL_BUF ? len : POOL_BUF) : len, &q->req) < 0) {
            recv_release(n, q);
            continue;
        }
        if (len > POOL_BUF && q->pooled) q->len = 0; /* truncated: decoding drops it */
        n->nrecvs++;
    }
    while (n->nrecvs && n->mpi->test(n->recvs[n->recv_head].req)) {
        recv_req q = n->recvs[n->recv_head];
        n->recv_head = (n->recv_head + 1) % RECVS;
        n->nrecvs--;
        any = 1;
        emberP_msg m;
        if (emberP_msg_decode(q.buf, q.len, &m) == 0) {
            if (n->executor)
                executor_message(n, q.src, &m);
            else
                driver_message(n, q.src, &m);
        }
        recv_release(n, &q);
    }
    return any;
}

static void *net_main(void *arg) {
    emberP_net *n = arg;
    char err[512] = "";
    int rc = n->mpi->init(&n->rank, &n->size, err, sizeof err);
    if (!rc && n->executor && n->rank == 0) {
        snprintf(err, sizeof err, "rank 0 of an MPI launch is the driver, not an executor");
        rc = -1;
    } else if (!rc && !n->executor && n->rank != 0) {
        snprintf(err, sizeof err, "this process is rank %d; only rank 0 runs the driver", n->rank);
        rc = -1;
    } else if (!rc && !n->executor && n->size < 2) {
        snprintf(err, sizeof err,
                 "this MPI launch has one rank, so no executor: launch with `mpirun -np K` (K >= 2: rank 0 the "
                 "driver, the others executors) or use master local[N]");
        rc = -1;
    }
    if (!rc && !n->executor && !(n->peers = ember_calloc((size_t)n->size, sizeof *n->peers))) {
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
    }
    pthread_mutex_lock(&n->mu);
    n->inited = 1;
    n->init_rc = rc;
    snprintf(n->init_err, sizeof n->init_err, "%s", err);
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (rc) return NULL;
    uint8_t *buf = ember_malloc(RELAY_CHUNK);
    if (n->executor) {
        emberP_msg hello = {.type = EMBER_MPI_HELLO,
                            .num = (uint32_t)n->nslots,
                            .u64 = (uint64_t)getpid(),
                            .rest = (const uint8_t *)n->host,
                            .nrest = strlen(n->host)};
        send_msg(n, 0, &hello);
    } else {
        double t = now_ms();
        for (int r = 1; r < n->size; r++)
            n->peers[r].last_ms = t;
    }
    struct pollfd *pfds = NULL;
    slot **ps = NULL;
    size_t room = 0; /* pfds and ps have 2 * room + 1 entries */
    int idle_ms = 0;
    double last_beat = 0, last_busy = now_ms();
    for (;;) {
        pthread_mutex_lock(&n->mu);
        int stopping = n->stopping;
        size_t nslots = n->nslots; /* the driver's grows once, after every HELLO */
        pthread_mutex_unlock(&n->mu);
        if (nslots > room || !pfds) {
            ember_free(pfds);
            ember_free(ps);
            pfds = ember_calloc(2 * nslots + 1, sizeof *pfds);
            ps = ember_calloc(2 * nslots + 1, sizeof *ps);
            room = nslots;
        }
        if (!buf || !pfds || !ps || n->quit || stopping) break;
        int busy = 0;
        if (!n->executor) {
            driver_requests(n);
            driver_drops(n);
            driver_shares(n);
        }
        nfds_t k = 0;
        pfds[k] = (struct pollfd){.fd = n->wake[0], .events = POLLIN};
        ps[k++] = NULL;
        for (size_t i = 0; i < nslots; i++) {
            slot *s = &n->slots[i];
            if (s->closing && s->qhead == s->q.len) driver_close(s);
            if (s->fd_in >= 0 && s->unacked < RELAY_WINDOW) {
                pfds[k] = (struct pollfd){.fd = s->fd_in, .events = POLLIN};
                ps[k++] = s;
            }
            if (s->fd_out >= 0 && s->qhead < s->q.len) {
                pfds[k] = (struct pollfd){.fd = s->fd_out, .events = POLLOUT};
                ps[k++] = s;
            }
        }
        int pr = poll(pfds, k, idle_ms);
        if (pr > 0 && pfds[0].revents) {
            char tmp[64];
            while (read(n->wake[0], tmp, sizeof tmp) > 0) {}
            busy = 1;
        }
        for (nfds_t i = 1; pr > 0 && i < k; i++) {
            slot *s = ps[i];
            if (!pfds[i].revents) continue;
            if (pfds[i].events == POLLOUT) {
                if (s->fd_out == pfds[i].fd) busy |= relay_out(n, s);
            } else if (s->fd_in == pfds[i].fd) {
                busy |= relay_in(n, s, buf);
            }
        }
        busy |= take_messages(n);
        busy |= test_sends(n);
        serve_pump(n);
        double t = now_ms();
        if (n->executor && t - last_beat >= 250) {
            emberP_msg beat = {.type = EMBER_MPI_BEAT};
            send_msg(n, 0, &beat);
            last_beat = t;
        }
        if (!n->executor) check_peers(n, t);
        if (busy) {
            idle_ms = 0;
            last_busy = t;
        } else if (n->nsends || n->nrecvs) {
            /* MPI moves their bytes only while called: spin while they move, but a
             * peer that keeps them waiting gets looks every ms, not a core. */
            idle_ms = t - last_busy < SPIN_MS ? 0 : 1;
        } else {
            int cap = t - last_busy > 1000 ? 50 : 10;
            idle_ms = idle_ms ? (idle_ms * 2 > cap ? cap : idle_ms * 2) : 1;
        }
    }
    /* Stopping. The driver tells every executor; each side waits (2 s at most) for
     * its sends, and ends MPI unless a rank was lost: MPI_Finalize would wait for the
     * lost rank until mpirun's SIGKILL, so the process ends without it (mpirun sees
     * every rank end, and ends too). After SIGTERM, QUIT goes only to the executors
     * that answered after it (waiting TERM_LOST_MS at most to know which). */
    if (!n->executor) check_peers(n, now_ms()); /* a SIGTERM that came meanwhile */
    while (!n->executor && n->sigterm_ms > 0 && now_ms() <= n->sigterm_ms + TERM_LOST_MS) {
        int undecided = 0;
        for (int r = 1; r < n->size; r++)
            undecided |= n->peers[r].hello && !n->peers[r].lost && !heard_since_sigterm(n, r);
        if (!undecided) break;
        take_messages(n);
        test_sends(n);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!n->executor) check_peers(n, now_ms()); /* those still unheard count as lost */
    int lost = n->quit_lost;
    for (int r = 1; !n->executor && r < n->size; r++)
        lost |= n->peers[r].lost;
    for (int r = 1; !n->executor && r < n->size; r++) {
        if (!n->peers[r].lost && n->peers[r].hello) {
            emberP_msg quit = {.type = EMBER_MPI_QUIT, .num = lost ? QUIT_LOST : 0};
            send_msg(n, r, &quit);
        }
    }
    double end = now_ms() + (lost ? 200 : 2000);
    while ((n->nsends || n->nrecvs) && now_ms() < end) {
        test_sends(n);
        while (n->nrecvs && n->mpi->test(n->recvs[n->recv_head].req)) { /* what still came is dropped */
            recv_release(n, &n->recvs[n->recv_head]);
            n->recv_head = (n->recv_head + 1) % RECVS;
            n->nrecvs--;
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!lost && !n->nsends && !n->nrecvs) n->mpi->finalize();
    ember_free(buf);
    ember_free(pfds);
    ember_free(ps);
    pthread_mutex_lock(&n->mu);
    n->done = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    emberE_thread_exit();
    return NULL;
}

/* ---- starting and stopping ------------------------------------------------------------- */

static int shim_load(emberP_net *n, const char *path) {
    n->dl = dlopen(path, RTLD_NOW | RTLD_GLOBAL); /* MPI's own plugins need its symbols global */
    if (!n->dl)
        return emberE_set(EMBER_EINVAL,
                          "cannot load ember's MPI shim %s (%s): cluster mode needs ember built with MPI (install "
                          "Open MPI or MPICH with its headers, e.g. libopenmpi-dev, and reinstall ember)",
                          path, dlerror());
    ember_mpi_shim_fn fn = (ember_mpi_shim_fn)dlsym(n->dl, EMBER_MPI_SHIM_SYMBOL);
    n->mpi = fn ? fn() : NULL;
    if (!n->mpi || n->mpi->version != EMBER_MPI_SHIM_VERSION)
        return emberE_set(EMBER_EINVAL, "%s is not ember's MPI shim of this version: reinstall ember", path);
    return 0;
}

static void net_free(emberP_net *n) {
    if (!n) return;
    for (size_t i = 0; n->slots && i < n->nslots; i++) {
        slot *s = &n->slots[i];
        if (!n->executor) driver_close(s);
        slot_reset(s);
        emberW_parser_free(&s->from_driver);
        emberW_parser_free(&s->from_worker);
        ember_free(s->paths);
    }
    if (n->store.ready) emberM_destroy(&n->store); /* its files go with the temp dir */
    ember_free(n->moved);
    for (size_t i = 0; i < n->nfetches; i++) {
        fetch *f = &n->fetches[i];
        if (f->w) ember_shuffle_writer_abort(f->w);
        if (f->fd >= 0) close(f->fd);
        ember_free(f->theirs);
        ember_free(f->local);
    }
    ember_free(n->fetches);
    for (size_t i = 0; i < n->ndrops; i++)
        ember_free(n->drops[i]);
    ember_free(n->drops);
    while (n->shares) {
        share_chunk *c = n->shares;
        n->shares = c->next;
        ember_free(c);
    }
    if (n->put_fd >= 0) close(n->put_fd);
    for (size_t i = 0; i < n->nsends; i++)
        ember_free(n->sends[i].buf); /* MPI is done or gone by now */
    ember_free(n->sends);
    for (size_t i = 0; i < n->nserves; i++)
        serve_free(n->serves[i]);
    ember_free(n->serves);
    for (size_t i = 0; i < n->nrecvs; i++) /* MPI is done or gone by now */
        ember_free(n->recvs[(n->recv_head + i) % RECVS].buf);
    for (size_t i = 0; i < n->npool; i++)
        ember_free(n->bufs[i]);
    ember_free(n->slots);
    ember_free(n->peers);
    if (n->wake[0] >= 0) close(n->wake[0]);
    if (n->wake[1] >= 0) close(n->wake[1]);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->share_mu);
    pthread_cond_destroy(&n->cv);
    /* The shim stays loaded: MPI cannot be started twice in a process anyway. */
    ember_free(n);
}

static int net_new(const char *shim, int executor, emberP_net **out) {
    emberP_net *n = ember_calloc(1, sizeof *n);
    if (!n) return emberE_set(EMBER_ENOMEM, "out of memory starting cluster mode");
    n->wake[0] = n->wake[1] = -1;
    n->engine_wake = -1;
    n->executor = executor;
    n->put_fd = -1;
    n->shares_tail = &n->shares;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->share_mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (gethostname(n->host, sizeof n->host - 1) < 0) snprintf(n->host, sizeof n->host, "?");
    int rc = shim_load(n, shim);
    if (!rc && pipe2(n->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        rc = emberE_errno(EMBER_EIO, errno, "creating the network thread's wake-up pipe");
    if (rc) {
        net_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int new_slots(emberP_net *n, size_t count) {
    n->slots = ember_calloc(count ? count : 1, sizeof *n->slots);
    if (!n->slots) return emberE_set(EMBER_ENOMEM, "out of memory for the cluster's task slots");
    for (size_t i = 0; i < count; i++) {
        n->slots[i].fd_in = n->slots[i].fd_out = n->slots[i].new_fd = -1;
        n->slots[i].status = -1;
    }
    return 0;
}

static int driver_worker_start(emberX_pool *pool, emberX_worker *w) {
    emberP_net *n = pool->net;
    slot *s = &n->slots[w - pool->workers];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return emberE_errno(EMBER_ESPAWN, errno, "creating a socket for a worker on executor rank %d", s->rank);
    int dup_fd = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) {
        close(sv[0]);
        close(sv[1]);
        return emberE_errno(EMBER_ESPAWN, errno, "creating a socket for a worker on executor rank %d", s->rank);
    }
    pthread_mutex_lock(&n->mu);
    if (n->failed) {
        int rc = emberE_set(EMBER_EWORKER, "%s", n->failure);
        pthread_mutex_unlock(&n->mu);
        close(sv[0]);
        close(sv[1]);
        close(dup_fd);
        return rc;
    }
    if (s->pending) close(s->new_fd); /* cannot happen: the engine waits for each start */
    s->new_fd = sv[1];
    s->pending = 1;
    s->state = SLOT_STARTING;
    s->status = -1;
    s->text[0] = 0;
    poke(n->wake[1], 's');
    int timed_out = WAIT_UNTIL(n, s->state != SLOT_STARTING || n->done, now_ms() + 60000);
    int state = s->state;
    char text[4096];
    snprintf(text, sizeof text, "%s", s->text);
    pid_t pid = s->pid;
    int rank = s->rank, failed = n->failed;
    const char *host = n->peers ? n->peers[rank].host : "?";
    pthread_mutex_unlock(&n->mu);
    if (state != SLOT_STARTED && failed) { /* an executor was lost: the engine fails every job */
        close(sv[0]);
        close(dup_fd);
        return emberE_set(EMBER_EWORKER, "%s", text);
    }
    if (state != SLOT_STARTED) {
        close(sv[0]);
        close(dup_fd);
        if (timed_out)
            return emberE_set(EMBER_ESPAWN, "executor rank %d (host %s) did not start a worker within 60 s", rank,
                              host);
        return emberE_set(EMBER_ESPAWN, "%s", text[0] ? text : "the network thread stopped");
    }
    w->pid = pid;
    w->to_fd = sv[0];
    w->from_fd = dup_fd;
    w->alive = 1;
    w->remote = rank;
    w->nsent = 0;
    w->task = NULL;
    w->in.pos = w->in.len = 0;
    return 0;
}

static int driver_worker_status(emberX_pool *pool, emberX_worker *w, int *status, char *text, size_t cap) {
    emberP_net *n = pool->net;
    slot *s = &n->slots[w - pool->workers];
    pthread_mutex_lock(&n->mu);
    *status = s->status;
    if (cap) snprintf(text, cap, "%s", s->text);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* The engine gave up the cache task of w before reading its BLOCK_STORED (it kills
 * w next): the CLOSE that follows tells the executor to drop the block, should it
 * have kept it. */
static void driver_discard(emberX_pool *pool, emberX_worker *w) {
    emberP_net *n = pool->net;
    if (!n || !n->slots) return;
    pthread_mutex_lock(&n->mu);
    n->slots[w - pool->workers].discard = 1;
    pthread_mutex_unlock(&n->mu);
    poke(n->wake[1], 'd');
}

static int driver_failure(emberX_pool *pool, char *msg, size_t cap) {
    emberP_net *n = pool->net;
    pthread_mutex_lock(&n->mu);
    int failed = n->failed;
    if (failed && cap) snprintf(msg, cap, "%s", n->failure);
    pthread_mutex_unlock(&n->mu);
    return failed;
}

/* Stops the network thread (telling the executors), then what the in-process
 * transport has: the engine's ends of the sockets and the driver's own daemon. */
static void driver_stop(emberX_pool *pool) {
    emberP_net *n = pool->net;
    /* The daemon is told nothing but EOF: it then removes the temp dir itself, so the
     * dir goes even when mpirun kills this process while it stops. */
    if (pool->ctl_fd >= 0) shutdown(pool->ctl_fd, SHUT_WR);
    if (n) {
        pthread_mutex_lock(&n->mu);
        n->stopping = 1;
        pthread_mutex_unlock(&n->mu);
        poke(n->wake[1], 'q');
        if (n->thread_started) pthread_join(n->thread, NULL);
        pthread_mutex_lock(&n->mu); /* emberP_share calls see the thread done and return */
        while (n->sharers)
            WAIT_UNTIL(n, n->sharers == 0, now_ms() + 1000);
        pthread_mutex_unlock(&n->mu);
        atomic_store(&sigterm_fd, -1);
        sigaction(SIGTERM, &old_sigterm, NULL);
        net_free(n);
        pool->net = NULL;
    }
    emberX_in_process.stop(pool);
}

static const emberX_transport driver_transport = {"mpi",          driver_worker_start, driver_worker_status,
                                                  driver_failure, driver_stop,         driver_discard};

int emberP_driver_start(emberX_pool *pool, const char *shim, int engine_wake) {
    emberP_net *n;
    int rc = net_new(shim, 0, &n);
    if (rc) return rc;
    n->engine_wake = engine_wake;
    if ((errno = pthread_create(&n->thread, NULL, net_main, n)) != 0) {
        rc = emberE_errno(EMBER_EIO, errno, "starting the network thread");
        net_free(n);
        return rc;
    }
    n->thread_started = 1;
    pool->net = n;
    pool->transport = &driver_transport;
    /* The executors say hello, each with its slots: the pool has them all, in rank order. */
    pthread_mutex_lock(&n->mu);
    WAIT_UNTIL(n, n->inited, now_ms() + 60000);
    if (!n->inited || n->init_rc) {
        rc = emberE_set(EMBER_EIO, "cluster mode could not start MPI: %s",
                        n->inited ? n->init_err : "MPI_Init did not return within 60 s");
        pthread_mutex_unlock(&n->mu);
        goto fail;
    }
    int missing = WAIT_UNTIL(n, n->nhello == (size_t)n->size - 1, now_ms() + 120000);
    pthread_mutex_unlock(&n->mu);
    if (missing) {
        char which[256] = "";
        size_t used = 0;
        for (int r = 1; r < n->size && used < sizeof which - 16; r++)
            if (!n->peers[r].hello) used += (size_t)snprintf(which + used, sizeof which - used, " %d", r);
        rc = emberE_set(EMBER_EIO,
                        "executor ranks did not start within 120 s (missing:%s); each rank must run the same "
                        "program and reach its SparkContext",
                        which);
        goto fail;
    }
    size_t total = 0;
    for (int r = 1; r < n->size; r++) {
        n->peers[r].first = (uint32_t)total;
        total += n->peers[r].slots;
    }
    emberX_worker *workers = ember_calloc(total ? total : 1, sizeof *workers);
    if (!workers) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory for the cluster's task slots");
        goto fail;
    }
    if ((rc = new_slots(n, total))) {
        ember_free(workers);
        goto fail;
    }
    slot *slots = n->slots;
    for (int r = 1; r < n->size; r++)
        for (uint32_t i = 0; i < n->peers[r].slots; i++) {
            slots[n->peers[r].first + i].rank = r;
            slots[n->peers[r].first + i].local = i;
        }
    for (size_t i = 0; i < total; i++) {
        workers[i].to_fd = workers[i].from_fd = -1;
        workers[i].pid = -1;
        workers[i].remote = slots[i].rank; /* the slot's executor, also before its first worker */
    }
    pthread_mutex_lock(&n->mu);
    n->nslots = total;
    pthread_mutex_unlock(&n->mu);
    ember_free(pool->workers);
    pool->workers = workers;
    pool->nworkers = total;
    atomic_store(&sigterm_fd, n->wake[1]);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, &old_sigterm);
    return 0;
fail:
    pthread_mutex_lock(&n->mu);
    n->stopping = 1;
    pthread_mutex_unlock(&n->mu);
    poke(n->wake[1], 'q');
    /* A thread stuck in MPI_Init is left behind: the process cannot use MPI anyway. */
    if (n->inited) {
        pthread_join(n->thread, NULL);
        net_free(n);
    }
    pool->net = NULL;
    pool->transport = NULL;
    return rc;
}

int emberP_file_owner(const char *path, int *rank, const char **name) { return map_output_owner(path, rank, name); }

void emberP_watch_blocks(emberX_pool *pool, emberM_store *blocks) {
    emberP_net *n = pool->net;
    if (n && !n->executor) n->blocks = blocks; /* before any executor can be lost: set at start */
}

size_t emberP_executors(emberX_pool *pool, ember_executor_info *out, size_t max) {
    emberP_net *n = pool->net;
    if (!n || n->executor || !n->peers) return 0;
    size_t k = 0;
    for (int r = 1; r < n->size; r++) {
        if (k < max) {
            out[k].rank = r;
            out[k].slots = (int)n->peers[r].slots;
            out[k].pid = (int64_t)n->peers[r].pid;
            snprintf(out[k].host, sizeof out[k].host, "%s", n->peers[r].host);
        }
        k++;
    }
    return k;
}

int emberP_executor_run(emberX_pool *pool, const char *shim, int64_t memory_limit, int64_t storage_reserve) {
    emberP_net *n;
    int rc = net_new(shim, 1, &n);
    if (rc) return rc;
    n->pool = pool;
    if ((rc = emberM_init(&n->store, pool->tmpdir))) {
        net_free(n);
        return rc;
    }
    emberM_set_budget(&n->store, memory_limit, storage_reserve);
    n->store.on_move = note_moved;
    n->store.on_move_arg = n;
    if ((rc = new_slots(n, pool->nworkers))) {
        net_free(n);
        return rc;
    }
    n->nslots = pool->nworkers;
    net_main(n); /* this thread is the executor's network thread */
    if (n->init_rc) rc = emberE_set(EMBER_EIO, "cluster mode could not start MPI: %s", n->init_err);
    for (size_t i = 0; i < n->nslots; i++)
        n->slots[i].fd_in = n->slots[i].fd_out = -1; /* the pool's: emberX_pool_stop closes them */
    net_free(n);
    return rc;
}
