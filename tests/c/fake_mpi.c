/* fake_mpi.c — an MPI shim (src/mpi_shim.h) for the C tests of cluster mode, so they
 * run without MPI: the "ranks" are threads of one process, numbered in the order
 * they call init (the first is rank 0), and messages go through in-memory queues.
 * fake_mpi_silence(rank) makes a rank vanish as a killed one would: what it sends
 * and what is sent to it is dropped, and it is handed a QUIT so that its executor
 * ends (the driver hears nothing more from it). fake_mpi_hold(rank, type) holds
 * back the messages of one type sent to a rank, as a slow link would, until
 * fake_mpi_hold(rank, 0) delivers them in the order sent. fake_mpi_reset starts a new world.
 * A send is delivered at once, a matched message copied at once, but each says it
 * is done only when tested a second time, so that the network threads meet sends
 * and receives still under way, as with a real MPI. */
#include "mpi_shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RANKS = 8 };

typedef struct msg {
    struct msg *next;
    int src;
    size_t len;
    unsigned char data[];
} msg;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static msg *queue[MAX_RANKS];
static int inited, world, silenced[MAX_RANKS];
static msg *held[MAX_RANKS]; /* messages to a rank held back (fake_mpi_hold), in order */
static int hold_type[MAX_RANKS];
static __thread int me = -1;

static void push(int dest, int src, const void *p, size_t len) {
    msg *m = malloc(sizeof *m + len);
    if (!m) return;
    m->next = NULL;
    m->src = src;
    m->len = len;
    memcpy(m->data, p, len);
    msg **pp = hold_type[dest] && len && m->data[0] == hold_type[dest] ? &held[dest] : &queue[dest];
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
}

static int fake_init(int *rank, int *size, char *err, size_t errcap) {
    const char *w = getenv("EMBER_FAKE_MPI_SIZE");
    pthread_mutex_lock(&mu);
    world = w ? atoi(w) : 3;
    me = inited++;
    pthread_mutex_unlock(&mu);
    if (world < 1 || world > MAX_RANKS || me >= world) {
        snprintf(err, errcap, "fake MPI: rank %d of a world of %d", me, world);
        return -1;
    }
    *rank = me;
    *size = world;
    return 0;
}

static int fake_isend(int dest, const void *buf, size_t len, void **req) {
    pthread_mutex_lock(&mu);
    if (dest >= 0 && dest < world && !silenced[me] && !silenced[dest]) push(dest, me, buf, len);
    pthread_mutex_unlock(&mu);
    (void)buf;
    int *tests = calloc(1, sizeof *tests);
    if (!tests) return -1;
    *req = tests;
    return 0;
}

static int fake_test(void *req) {
    int *tests = req;
    if (++*tests < 2) return 0;
    free(tests);
    return 1;
}

static int fake_improbe(int *src, size_t *len, void **handle) {
    pthread_mutex_lock(&mu);
    msg *m = queue[me];
    if (m) {
        queue[me] = m->next;
        *src = m->src;
        *len = m->len;
        *handle = m;
    }
    pthread_mutex_unlock(&mu);
    return m != NULL;
}

static int fake_imrecv(void *handle, void *buf, size_t len, void **req) {
    msg *m = handle;
    int ok = m->len == len;
    if (ok) memcpy(buf, m->data, len);
    free(m);
    int *tests = ok ? calloc(1, sizeof *tests) : NULL;
    if (!tests) return -1;
    *req = tests;
    return 0;
}

static void fake_finalize(void) {}

static const ember_mpi_ops ops = {EMBER_MPI_SHIM_VERSION, fake_init,   fake_isend,   fake_test,
                                  fake_improbe,           fake_imrecv, fake_finalize};

const ember_mpi_ops *ember_mpi_shim(void);
const ember_mpi_ops *ember_mpi_shim(void) { return &ops; }

/* How many ranks have called init. */
int fake_mpi_inited(void);
int fake_mpi_inited(void) {
    pthread_mutex_lock(&mu);
    int n = inited;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Rank `rank` is gone: its messages vanish; it is handed a QUIT (type 10, see mpi.c). */
void fake_mpi_silence(int rank);
void fake_mpi_silence(int rank) {
    static const unsigned char quit[13] = {10}; /* header, flags 0 */
    pthread_mutex_lock(&mu);
    while (queue[rank]) {
        msg *m = queue[rank];
        queue[rank] = m->next;
        free(m);
    }
    push(rank, 0, quit, sizeof quit);
    silenced[rank] = 1;
    pthread_mutex_unlock(&mu);
}

/* Holds back the messages of `type` (their first byte; mpi.c's message types) sent
 * to rank from now on, letting the others through; type 0 delivers the held ones,
 * after what the rank has received, in the order they were sent. Messages of other
 * types overtake the held ones, which MPI would not do between two ranks: a test
 * holds only a type whose overtaking the network threads do not mind. */
void fake_mpi_hold(int rank, int type);
void fake_mpi_hold(int rank, int type) {
    pthread_mutex_lock(&mu);
    hold_type[rank] = type;
    if (type == 0) {
        msg **pp = &queue[rank];
        while (*pp)
            pp = &(*pp)->next;
        *pp = held[rank];
        held[rank] = NULL;
    }
    pthread_mutex_unlock(&mu);
}

/* A new world: no rank, no message. */
void fake_mpi_reset(void);
void fake_mpi_reset(void) {
    pthread_mutex_lock(&mu);
    for (int r = 0; r < MAX_RANKS; r++) {
        for (msg **q = &queue[r]; q; q = q == &queue[r] ? &held[r] : NULL)
            while (*q) {
                msg *m = *q;
                *q = m->next;
                free(m);
            }
        silenced[r] = hold_type[r] = 0;
    }
    inited = 0;
    pthread_mutex_unlock(&mu);
}
