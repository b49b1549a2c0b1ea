/* The raw MPI baseline of bench/cluster.py's shuffle: every rank sends an equal share of
 * its BYTES bytes to every rank (itself included) with one MPI_Alltoallv, as a shuffle
 * of BYTES bytes per executor spreads its buckets evenly over the reducers.
 *
 *     mpirun -np K alltoallv BYTES REPEATS
 *
 * After one untimed exchange (connections set up, pages touched), each repeat is timed
 * from a barrier to the slowest rank's end; rank 0 prints one line of JSON: ranks,
 * bytes per rank, every repeat's seconds. Exits 1 (saying why) on a bad argument or
 * when the buffers cannot be allocated. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long long bytes = argc == 3 ? atoll(argv[1]) : 0;
    int repeats = argc == 3 ? atoi(argv[2]) : 0;
    /* MPI_Alltoallv's counts are ints: a share must fit in one. */
    if (bytes <= 0 || repeats <= 0 || bytes / size > 2147483647LL) {
        if (rank == 0)
            fprintf(stderr, "usage: alltoallv BYTES REPEATS (BYTES > 0, at most 2 GiB per rank pair, "
                            "REPEATS > 0)\n");
        MPI_Finalize();
        return 1;
    }
    int share = (int)(bytes / size);
    char *send = malloc((size_t)share * size), *recv = malloc((size_t)share * size);
    int *counts = malloc(sizeof(int) * size), *displs = malloc(sizeof(int) * size);
    int ok = send && recv && counts && displs, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (rank == 0) fprintf(stderr, "alltoallv: cannot allocate 2 x %lld bytes per rank\n", (long long)share * size);
        MPI_Finalize();
        return 1;
    }
    memset(send, rank + 1, (size_t)share * size);
    for (int i = 0; i < size; i++) {
        counts[i] = share;
        displs[i] = i * share;
    }
    if (rank == 0) printf("{\"ranks\": %d, \"bytes_per_rank\": %lld, \"seconds\": [", size, (long long)share * size);
    for (int r = -1; r < repeats; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Alltoallv(send, counts, displs, MPI_BYTE, recv, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
        double mine = MPI_Wtime() - t0, slowest;
        MPI_Reduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0 && r >= 0) printf("%s%.6f", r ? ", " : "", slowest);
    }
    /* Every rank checks what it received: share i came from rank i. */
    int bad = 0, any_bad;
    for (int i = 0; i < size; i++)
        bad |= recv[(size_t)i * share] != (char)(i + 1) || recv[(size_t)i * share + share - 1] != (char)(i + 1);
    MPI_Reduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("], \"received_ok\": %s}\n", any_bad ? "false" : "true");
    free(send);
    free(recv);
    free(counts);
    free(displs);
    MPI_Finalize();
    return rank == 0 && any_bad;
}
