/* mpi_shim.c — ember's MPI shim (mpi_shim.h) over a real MPI library. The only
 * file of ember that includes mpi.h; built as ember/_mpi_shim.so when meson finds
 * Open MPI or MPICH. */
#include "mpi_shim.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static MPI_Comm comm = MPI_COMM_NULL;

static int shim_init(int *rank, int *size, char *err, size_t errcap) {
    int provided = 0, inited = 0;
    MPI_Initialized(&inited);
    if (inited) {
        snprintf(err, errcap, "MPI is initialised already in this process (one SparkContext per MPI launch)");
        return -1;
    }
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errcap, "MPI_Init_thread failed");
        return -1;
    }
    if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS) {
        snprintf(err, errcap, "MPI_Comm_dup failed");
        return -1;
    }
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, rank);
    MPI_Comm_size(comm, size);
    return 0;
}

static int shim_isend(int dest, const void *buf, size_t len, void **req) {
    MPI_Request *r = malloc(sizeof *r);
    if (!r) return -1;
    if (MPI_Isend(buf, (int)len, MPI_BYTE, dest, 0, comm, r) != MPI_SUCCESS) {
        free(r);
        return -1;
    }
    *req = r;
    return 0;
}

static int shim_test(void *req) {
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) done = 1; /* a failed send is over too */
    if (done) free(req);
    return done;
}

static int shim_improbe(int *src, size_t *len, void **msg) {
    int found = 0, count = 0;
    MPI_Status st;
    MPI_Message *m = malloc(sizeof *m);
    if (!m) return -1;
    if (MPI_Improbe(MPI_ANY_SOURCE, 0, comm, &found, m, &st) != MPI_SUCCESS || !found) {
        free(m);
        return found ? -1 : 0;
    }
    MPI_Get_count(&st, MPI_BYTE, &count);
    *src = st.MPI_SOURCE;
    *len = (size_t)count;
    *msg = m;
    return 1;
}

static int shim_imrecv(void *msg, void *buf, size_t len, void **req) {
    MPI_Message *m = msg;
    MPI_Request *r = malloc(sizeof *r);
    int rc = r && MPI_Imrecv(buf, (int)len, MPI_BYTE, m, r) == MPI_SUCCESS ? 0 : -1;
    free(m);
    if (rc) {
        free(r);
        return -1;
    }
    *req = r;
    return 0;
}

static void shim_finalize(void) {
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    MPI_Finalize();
}

static const ember_mpi_ops shim = {EMBER_MPI_SHIM_VERSION, shim_init,   shim_isend,   shim_test,
                                   shim_improbe,           shim_imrecv, shim_finalize};

__attribute__((visibility("default"))) const ember_mpi_ops *ember_mpi_shim(void);
const ember_mpi_ops *ember_mpi_shim(void) { return &shim; }
