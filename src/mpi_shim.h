/* mpi_shim.h — the few MPI calls cluster mode makes, as a table of functions with
 * no MPI type in it. src/mpi_shim.c implements it against an MPI library (Open MPI
 * or MPICH) and is built as a shared library of its own (ember/_mpi_shim.so) only
 * when meson finds one; mpi.c loads it with dlopen when a context runs in cluster
 * mode, so that libember never links MPI and local mode never loads it. All calls are
 * made from one thread, the network thread that called init. Every call returns 0
 * or a negative value on error (with a message in err where there is one). */
#ifndef EMBER_MPI_SHIM_H
#define EMBER_MPI_SHIM_H

#include <stddef.h>

#define EMBER_MPI_SHIM_VERSION 2

typedef struct ember_mpi_ops {
    int version; /* EMBER_MPI_SHIM_VERSION */
    /* Initialises MPI (MPI_THREAD_FUNNELED: this thread only) and a communicator of
     * ember's own (MPI_Comm_dup of MPI_COMM_WORLD, errors returned, not fatal). */
    int (*init)(int *rank, int *size, char *err, size_t errcap);
    /* Starts sending buf[0, len) to rank dest; buf must stay until test says done. */
    int (*isend)(int dest, const void *buf, size_t len, void **req);
    /* 1 when the send or receive is done (req freed; a failed one is done too), 0
     * while it is not. */
    int (*test)(void *req);
    /* 1 with the source and byte count of a message waiting, 0 when none waits. The
     * message is matched (MPI_Improbe): only imrecv of *msg receives it, and messages
     * are matched in the order each source sent them. */
    int (*improbe)(int *src, size_t *len, void **msg);
    /* Starts receiving the matched message msg into buf (len bytes, as improbe said);
     * buf must stay until test(*req) says done. */
    int (*imrecv)(void *msg, void *buf, size_t len, void **req);
    void (*finalize)(void);
} ember_mpi_ops;

/* The one symbol the shim library exports. */
typedef const ember_mpi_ops *(*ember_mpi_shim_fn)(void);
#define EMBER_MPI_SHIM_SYMBOL "ember_mpi_shim"

#endif
