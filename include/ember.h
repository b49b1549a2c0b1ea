/* ember.h — the public C API of libember, the engine behind ember.
 *
 * A C program (or the Python extension ember._core) builds an RDD lineage out of
 * nodes, then runs jobs over it. Records are opaque byte strings to the engine:
 * only Python workers (or native functions) decode them.
 *
 * Conventions, once for the whole API:
 *  - Functions that can fail return 0 (or a positive count) on success and a
 *    negative EMBER_E* code on failure; ember_strerror() names a code and
 *    ember_last_error() gives this thread's detailed message for the last failure
 *    (it names the file, node or task that went wrong).
 *  - Whoever calls *_create / *_open / *_new owns the result and releases it with
 *    the matching *_free / *_close / *_release; passing NULL to those is a no-op.
 *  - Every allocation goes through ember_malloc and friends, which keep a live
 *    byte count (ember_mem_used()).
 */
#ifndef EMBER_H
#define EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API: raised when a declaration here changes incompatibly
 * (2: C jobs, the section at the end; 3: ember_config.typed_results, Python steps in
 * C jobs). The record format carries its own version
 * (EMBER_RECORD_VERSION). */
#define EMBER_API_VERSION 3

#if defined(EMBER_BUILDING) && defined(__GNUC__)
#define EMBER_EXTERN __attribute__((visibility("default")))
#else
#define EMBER_EXTERN
#endif

/* ---- errors ----------------------------------------------------------------
 * One table drives the codes and ember_strerror(). */
#define EMBER_ERRNO_MAP(X)                                                                                             \
    X(NOMEM, -1, "out of memory")                                                                                      \
    X(INVAL, -2, "invalid argument")                                                                                   \
    X(NOENT, -3, "no such file or directory")                                                                          \
    X(IO, -4, "input/output error")                                                                                    \
    X(EXIST, -5, "already exists")                                                                                     \
    X(PROTO, -6, "malformed frame on a worker pipe")                                                                   \
    X(CORRUPT, -7, "corrupt data")                                                                                     \
    X(SPAWN, -8, "could not start a worker daemon or a worker")                                                        \
    X(WORKER, -9, "a Python worker process failed")                                                                    \
    X(TASK, -10, "a task failed")                                                                                      \
    X(CANCELLED, -11, "job cancelled")                                                                                 \
    X(STOPPED, -12, "the context is stopped")                                                                          \
    X(BUSY, -13, "in use by a running job")

enum {
    EMBER_OK = 0,
#define EMBER_ERR_ENUM(name, code, msg) EMBER_E##name = (code),
    EMBER_ERRNO_MAP(EMBER_ERR_ENUM)
#undef EMBER_ERR_ENUM
};

/* Returns a static string naming the code ("unknown error" for others). */
EMBER_EXTERN const char *ember_strerror(int code);
/* Returns this thread's message for the last failure (never NULL; "" if none). */
EMBER_EXTERN const char *ember_last_error(void);

/* ---- memory ------------------------------------------------------------- */
EMBER_EXTERN void *ember_malloc(size_t n);
EMBER_EXTERN void *ember_calloc(size_t count, size_t n);
EMBER_EXTERN void *ember_realloc(void *p, size_t n);
EMBER_EXTERN void ember_free(void *p);
EMBER_EXTERN char *ember_strdup(const char *s);
/* Bytes currently allocated through the functions above, in this process. */
EMBER_EXTERN int64_t ember_mem_used(void);

/* ---- typed records and native functions ------------------------------------
 * The record format of native functions and C jobs: see ember/record.h; the
 * signatures of native functions: see ember/native.h. */
#include "ember/record.h"
#include "ember/native.h"

/* ---- text input ------------------------------------------------------------
 * A split is a byte range [start, end) of one file. As in Hadoop, a line belongs to
 * the split with start < (the line's first byte) <= end, the split at 0 also holding
 * the line at 0; a line that straddles `end` is read whole by its split. Lines end at
 * "\n", "\r\n" or a lone "\r"; terminators are dropped; a last line without a
 * terminator is kept. A compressed file (its codec chosen by its extension, see
 * below) is read whole (start 0, end -1 meaning "to the end"), except that a bzip2
 * file may be cut into byte ranges of its compressed bytes, read from block to block
 * as Hadoop reads them; its first bytes must be that codec's magic bytes, else
 * reading fails with EMBER_ECORRUPT saying what the file looks like.
 */
typedef struct ember_split {
    char *path; /* owned by the array */
    int64_t start;
    int64_t end; /* exclusive; -1 = to the end of the file */
    int codec;   /* EMBER_CODEC_*: NONE, or the file's codec */
} ember_split;

/* Compression codecs, Hadoop's by file extension: ".gz" gzip, ".deflate" a zlib
 * stream (Hadoop's DefaultCodec), ".bz2" bzip2, ".xz" xz, ".zst" zstd. gzip and
 * deflate are always built; the others only when meson found their library.
 * ".lz4" and ".snappy" (Hadoop's block framing) are recognised, never available. */
enum ember_codec {
    EMBER_CODEC_NONE = 0,
    EMBER_CODEC_GZIP = 1,
    EMBER_CODEC_DEFLATE = 2,
    EMBER_CODEC_BZIP2 = 3,
    EMBER_CODEC_XZ = 4,
    EMBER_CODEC_ZSTD = 5,
    EMBER_CODEC_LZ4 = 6,
    EMBER_CODEC_SNAPPY = 7
};
/* The codec a file name asks for (EMBER_CODEC_NONE for other names). */
EMBER_EXTERN int ember_codec_of_name(const char *path);
/* A static name ("gzip", "bzip2" ...) and the file extension (".gz" ...) of a codec. */
EMBER_EXTERN const char *ember_codec_name(int codec);
EMBER_EXTERN const char *ember_codec_extension(int codec);
/* 1 when this build can read and write the codec (its library was found). */
EMBER_EXTERN int ember_codec_available(int codec);

/* A file written through a compressor: open creates (truncates) `path`, write
 * compresses bytes into it, finish ends the stream and closes the file (0 or a
 * negative code naming the file); close releases the writer (finished or not). A
 * codec not built fails at open with EMBER_EINVAL naming its library. */
typedef struct ember_compressed_writer ember_compressed_writer;
EMBER_EXTERN int ember_compressed_writer_open(int codec, const char *path, ember_compressed_writer **out);
EMBER_EXTERN int ember_compressed_writer_write(ember_compressed_writer *w, const void *p, size_t n);
EMBER_EXTERN int ember_compressed_writer_finish(ember_compressed_writer *w);
EMBER_EXTERN void ember_compressed_writer_close(ember_compressed_writer *w);

/* Expands `paths` — one path or several separated by commas; each a file, a
 * directory (its files, not descending; names starting with '_' or '.' skipped) or
 * a glob pattern — and cuts the files into splits as Hadoop's FileInputFormat does
 * for `min_partitions`: goal = total / min_partitions, size = max(1, min(goal, 32 MiB)),
 * keep cutting while remaining / size > 1.1; total counts every file, and plain and
 * bzip2 files are cut (other compressed files are one split each). An empty file gives one empty split.
 * On success *out is an array of *n splits, freed with ember_splits_free().
 * Fails with EMBER_ENOENT (message names the path) when a path or pattern matches
 * nothing. */
EMBER_EXTERN int ember_text_splits(const char *paths, int min_partitions, ember_split **out, size_t *n);
EMBER_EXTERN void ember_splits_free(ember_split *splits, size_t n);

typedef struct ember_line_reader ember_line_reader;
/* Opens a reader over one split. Fails with EMBER_ENOENT / EMBER_EIO naming the path. */
EMBER_EXTERN int ember_line_reader_open(const ember_split *split, ember_line_reader **out);
/* Returns 1 and sets *line / *len to the next line (without its terminator; valid
 * until the next call), 0 at the end of the split, or a negative code. */
EMBER_EXTERN int ember_line_reader_next(ember_line_reader *r, const char **line, size_t *len);
EMBER_EXTERN void ember_line_reader_close(ember_line_reader *r);

/* ---- Hadoop SequenceFiles ----------------------------------------------------
 * A reader of the records of one split [start, end) (end -1: to the end) of an
 * uncompressed SequenceFile (version 6): the records after the last sync marker at or
 * after start and before end (the split at 0 also holds those before the first
 * marker). When Hadoop's ".NAME.crc" checksum file sits beside it, every byte read is
 * verified. open fails with EMBER_EINVAL for a file that is not a SequenceFile (saying
 * what it looks like), EMBER_ECORRUPT for damage, both naming the file and the byte;
 * a compressed file opens (see ember_seq_reader_compression) but next fails. */
typedef struct ember_seq_reader ember_seq_reader;
typedef struct ember_seq_record {
    const uint8_t *key, *value; /* valid until the next call */
    size_t key_len, value_len;
    int64_t offset; /* of the record in the file */
} ember_seq_record;
EMBER_EXTERN int ember_seq_reader_open(const char *path, int64_t start, int64_t end, ember_seq_reader **out);
/* The class names of the keys and values (owned by the reader). */
EMBER_EXTERN const char *ember_seq_reader_key_class(const ember_seq_reader *r);
EMBER_EXTERN const char *ember_seq_reader_value_class(const ember_seq_reader *r);
/* NULL for an uncompressed file, else "record" or "block" and *codec its codec class. */
EMBER_EXTERN const char *ember_seq_reader_compression(const ember_seq_reader *r, const char **codec);
/* 1 and the next record, 0 at the end of the split, or a negative code (the same
 * error on every later call). */
EMBER_EXTERN int ember_seq_reader_next(ember_seq_reader *r, ember_seq_record *rec);
EMBER_EXTERN void ember_seq_reader_close(ember_seq_reader *r);

/* ---- shuffle files -----------------------------------------------------------
 * A map task writes one shuffle file: records appended to buckets (one bucket per
 * reduce partition), then an index. Memory held by the writer is bounded by
 * `buffer_limit`: past it, the buffered buckets are written out as a segment. A
 * record of 256 KiB or more (and 16 times a segment's index, 20 bytes a bucket) is
 * written at once from the caller's memory, in a segment of its bucket's own.
 * Layout (little-endian): segments of records [u32 len][bytes]...; then the index
 * (u32 nbuckets, u32 nsegments, for each segment and bucket u64 offset, u64 length,
 * u32 CRC-32C of those bytes); then a trailer (u64 index offset, u32 magic "EMSH",
 * u32 version 2). The reader checks every range it reads against its CRC.
 */
typedef struct ember_shuffle_writer ember_shuffle_writer;
/* Creates `path` (written under a temporary name and renamed at commit). */
EMBER_EXTERN int ember_shuffle_writer_open(const char *path, uint32_t nbuckets, size_t buffer_limit,
                                           ember_shuffle_writer **out);
/* Appends one record to a bucket. */
EMBER_EXTERN int ember_shuffle_writer_append(ember_shuffle_writer *w, uint32_t bucket, const void *data, size_t len);
/* Writes what is buffered and the index, renames the file into place, fills
 * bucket_bytes[nbuckets] (may be NULL) with each bucket's record bytes, and frees w
 * whatever the result. */
EMBER_EXTERN int ember_shuffle_writer_commit(ember_shuffle_writer *w, uint64_t *bucket_bytes);
/* Removes the partial file and frees w. */
EMBER_EXTERN void ember_shuffle_writer_abort(ember_shuffle_writer *w);

typedef struct ember_shuffle_reader ember_shuffle_reader;
/* Opens a reader over one bucket of several shuffle files, read in the order given. */
EMBER_EXTERN int ember_shuffle_reader_open(const char *const *paths, size_t npaths, uint32_t bucket,
                                           ember_shuffle_reader **out);
/* Returns 1 with the next record (valid until the next call), 0 at the end, or a
 * negative code (EMBER_ECORRUPT naming the file on a bad index, length or checksum;
 * EMBER_ENOENT for a missing file). */
EMBER_EXTERN int ember_shuffle_reader_next(ember_shuffle_reader *r, const void **data, size_t *len);
/* The file being read, or the one a failure came from (owned by r); NULL without files. */
EMBER_EXTERN const char *ember_shuffle_reader_file(const ember_shuffle_reader *r);
EMBER_EXTERN void ember_shuffle_reader_close(ember_shuffle_reader *r);

/* ---- context, lineage and jobs ---------------------------------------------- */
typedef struct ember_context ember_context;
typedef struct ember_node ember_node;

typedef struct ember_config {
    int slots;        /* task slots = Python workers; >= 1 */
    int max_failures; /* attempts per task before the job fails (default 4) */
    /* Interpreter for workers, e.g. sys.executable. NULL with daemon NULL too: native
     * workers, no Python anywhere (see "C jobs" below). */
    const char *python;
    const char *pythonpath; /* PYTHONPATH for workers (may be NULL) */
    const char *local_dir;  /* parent of the context's temp dir (NULL: $TMPDIR or /tmp) */
    /* Bytes of result batches one job may send back (spark.driver.maxResultSize; 0:
     * unlimited). Past it the job fails with EMBER_ETASK, its message naming the size
     * and the key, before more results are held. */
    int64_t max_result_size;
    /* The block store's memory budget (bytes; 0: none). Cached partitions in memory
     * may use what the rest of the engine's counted bytes (ember_mem_used) leave of
     * memory_limit, and at least storage_reserve whatever the rest uses; past it the
     * least-recently-used ones leave memory (see ember_node_persist). Python derives
     * them from spark.executor.memory, spark.memory.fraction and
     * spark.memory.storageFraction. */
    int64_t memory_limit;
    int64_t storage_reserve;
    /* The worker daemon to run instead of ember.daemon (NULL: that one, in cfg->python):
     * an executable started as `daemon 3 TMPDIR`, speaking the control protocol of
     * src/workers.c on fd 3 and the frames of src/wire.h with its workers. Tests point
     * it at a fake worker written in C (tests/c/fake_worker.c). */
    const char *daemon;
    /* Cluster mode: the path of ember's MPI shim (ember/_mpi_shim.so, built when MPI
     * was found). Set in the driver (rank 0 of an MPI launch), the context's task slots
     * are the executors' (`slots` is ignored); each executor runs ember_mpi_executor
     * with its own config. NULL: local mode. */
    const char *mpi;
    /* 1: Python workers send result batches as typed records (ember/record.h), which
     * a C program reads, instead of pickles, which only Python reads; a result that
     * does not fit the record format fails its task naming its type. Set by
     * ember_context_create_python; a Python driver leaves it 0. */
    int typed_results;
    /* A Python worker daemon started ahead of the context (ember's Python driver
     * starts it as it imports ember.context), or started_pid 0: its process id and
     * its control socket, started as the context would start it but with "-" for its
     * temp dir (src/workers.c). ember_context_create takes both over whatever
     * happens: it uses that daemon when /proc shows the command line and the
     * environment the context would give one, else ends it and starts its own. */
    int started_pid;
    int started_fd;
    /* Cluster mode (spark.locality.wait): how long a task whose input lives mostly on
     * one executor (its shuffle buckets' bytes, its cached block) waits for a free slot
     * there before it runs on another executor, in ms from when it could first run.
     * 0: it runs on any free slot at once (a free slot of that executor still takes
     * it first). */
    int64_t locality_wait_ms;
} ember_config;

/* Creates a context: makes its temp dir and starts the worker daemon. */
EMBER_EXTERN int ember_context_create(const ember_config *cfg, ember_context **out);
/* Stops the workers and the daemon, removes the temp dir, frees ctx. Nodes still
 * referenced stay valid as objects but can no longer run jobs. */
EMBER_EXTERN void ember_context_free(ember_context *ctx);
EMBER_EXTERN const char *ember_context_tmpdir(const ember_context *ctx);
EMBER_EXTERN int ember_context_slots(const ember_context *ctx);
/* An executor of a cluster-mode context: its MPI rank, task slots, process id and host. */
typedef struct ember_executor_info {
    int rank;
    int slots;
    int64_t pid;
    char host[256];
} ember_executor_info;
/* Fills out[0, max) with the context's executors in rank order; returns how many
 * there are (0 in local mode). */
EMBER_EXTERN size_t ember_context_executors(ember_context *ctx, ember_executor_info *out, size_t max);
/* Cluster mode: copies the file `name` of the context's temp dir (a relative path,
 * e.g. "userFiles/data.txt") to the same name in every executor's temp dir, or with
 * remove, removes those copies; tasks submitted after it returns find the copies
 * complete. Does nothing in local mode or once the context is stopped. Returns 0, or
 * EMBER_EINVAL (a name that is absolute or has "." or ".." parts), EMBER_ENOENT or
 * EMBER_EIO (the file cannot be read), EMBER_EWORKER (an executor was lost). */
EMBER_EXTERN int ember_context_share(ember_context *ctx, const char *name, int remove);
/* Runs this process as an executor of an MPI launch (rank >= 1; cfg->mpi the shim,
 * cfg->slots its task slots, cfg->python/pythonpath/local_dir for its workers): its
 * own temp dir and worker daemon, the driver's tasks relayed to its workers, until
 * the driver stops. Returns 0 then (the caller should exit), or a negative code when
 * it could not start (message set). */
EMBER_EXTERN int ember_mpi_executor(const ember_config *cfg);
/* How many times the worker daemon died and was replaced (when the next worker was
 * needed); the note of the last replacement goes to note (cap bytes, NUL-terminated). */
EMBER_EXTERN int ember_context_daemon_restarts(ember_context *ctx, char *note, size_t cap);
/* Takes up to max ids of nodes freed since the last call into ids; returns how many.
 * The first call starts the tracking (until then no id is kept), so that a caller
 * keeping something per node id can drop it when the node goes. */
EMBER_EXTERN size_t ember_context_freed_nodes(ember_context *ctx, int *ids, size_t max);

/* A byte string: one serialized batch of records. */
typedef struct ember_buf {
    uint8_t *data;
    size_t len;
} ember_buf;

/* Nodes. Each constructor returns a new reference (release with ember_node_release)
 * and takes its own references to parents. Commands are opaque bytes (for Python:
 * a pickled list of operations), copied. */
EMBER_EXTERN int ember_node_parallelize(ember_context *ctx, size_t nparts, const ember_buf *const *batches,
                                        const size_t *nbatches, ember_node **out);
EMBER_EXTERN int ember_node_text(ember_context *ctx, const char *paths, int min_partitions, int as_bytes,
                                 ember_node **out);
EMBER_EXTERN int ember_node_range(ember_context *ctx, int64_t start, int64_t stop, int64_t step, size_t nparts,
                                  ember_node **out);
EMBER_EXTERN int ember_node_pipeline(ember_context *ctx, ember_node *parent, const void *cmd, size_t cmd_len,
                                     ember_node **out);
/* A shuffle: the parent's records are partitioned into nparts buckets by the
 * workers as `spec` (opaque: partitioner and optional map-side combiner) says. */
EMBER_EXTERN int ember_node_shuffle(ember_context *ctx, ember_node *parent, size_t nparts, const void *spec,
                                    size_t spec_len, ember_node **out);
EMBER_EXTERN int ember_node_union(ember_context *ctx, ember_node *const *parents, size_t nparents, ember_node **out);
/* nparts partitions, each the concatenation of neighbouring parent partitions:
 * partition i holds parent partitions [i*N/nparts, (i+1)*N/nparts). No shuffle. */
EMBER_EXTERN int ember_node_coalesce(ember_context *ctx, ember_node *parent, size_t nparts, ember_node **out);
/* Partition i pairs partition i of a with partition i of b (record by record, done by
 * the workers). Fails with EMBER_EINVAL when the partition counts differ. */
EMBER_EXTERN int ember_node_zip(ember_context *ctx, ember_node *a, ember_node *b, ember_node **out);
/* Partition i*nb + j pairs every record of a's partition i with every record of b's
 * partition j. */
EMBER_EXTERN int ember_node_cartesian(ember_context *ctx, ember_node *a, ember_node *b, ember_node **out);
EMBER_EXTERN void ember_node_retain(ember_node *n);
EMBER_EXTERN void ember_node_release(ember_node *n);
EMBER_EXTERN int ember_node_id(const ember_node *n);
EMBER_EXTERN size_t ember_node_num_partitions(const ember_node *n);
/* Storage level flags (Spark's StorageLevel without its replication and
 * serialization, which mean nothing here): where a persisted node's partitions go.
 * MEMORY: in memory within the budget (ember_config.memory_limit); the least
 * recently used are dropped past it and computed again from their lineage when
 * used. MEMORY|DISK: past the budget they go to block files under the context's
 * temp dir (spark.local.dir) and are read back from there. DISK: straight to block
 * files. A block file that is missing or damaged (checked with CRC-32C) is computed
 * again; one that cannot be written fails the job, naming it and spark.local.dir. */
enum { EMBER_STORAGE_MEMORY = 1, EMBER_STORAGE_DISK = 2 };
/* Keeps a node's partitions in the block store once computed, at `level` (a
 * combination of EMBER_STORAGE_*; a second call changes the level for the blocks
 * stored after it), or with level 0 drops its blocks (memory and files) at once.
 * Returns 0, or EMBER_ENOMEM (then nothing is kept). */
EMBER_EXTERN int ember_node_persist(ember_node *n, int level);
/* ember_node_persist(n, cached ? EMBER_STORAGE_MEMORY : 0). */
EMBER_EXTERN int ember_node_set_cached(ember_node *n, int cached);
/* With drop 1, the node's blocks are dropped (as by ember_node_persist(n, 0)) as soon
 * as a shuffle node reading it has all its map output: for a copy kept only until a
 * shuffle has read it (sortByKey's DISK_ONLY copy of its input, which its sample job
 * and its shuffle read). A later job needing the node again computes it from its
 * lineage. With drop 0, the blocks stay until ember_node_persist(n, 0). */
EMBER_EXTERN void ember_node_drop_after_shuffle(ember_node *n, int drop);
/* What the block store holds of one persisted node. */
typedef struct ember_storage_info {
    int id;    /* the node's id */
    int level; /* EMBER_STORAGE_* flags */
    size_t num_partitions;
    size_t cached_partitions; /* held in memory or in a block file */
    uint64_t memory_bytes;    /* bytes of its partitions in memory */
    uint64_t disk_bytes;      /* bytes of its block files */
} ember_storage_info;
/* Fills out[0, max) with one entry per persisted node, and returns how many
 * persisted nodes there are (call again with more room when that exceeds max). */
EMBER_EXTERN size_t ember_storage_status(ember_context *ctx, ember_storage_info *out, size_t max);
/* Where one cached partition is held: executor 0 is this process; in cluster mode
 * an executor's rank, whose own block store holds it (the driver knows its size). */
typedef struct ember_block_info {
    size_t partition;
    int executor;
    uint64_t memory_bytes; /* in memory */
    uint64_t disk_bytes;   /* in a block file */
} ember_block_info;
/* Fills out[0, max) with the held partitions of node id, in partition order; returns
 * how many there are (call again with more room when that exceeds max). */
EMBER_EXTERN size_t ember_storage_blocks(ember_context *ctx, int id, ember_block_info *out, size_t max);
/* 1 when the node is marked to be kept (ember_node_set_cached), else 0. */
EMBER_EXTERN int ember_node_is_cached(ember_node *n);
/* Marks a node as a barrier node (1) or not (0). A stage whose tasks compute a
 * barrier node through narrow dependencies (not across a shuffle) is a barrier stage:
 * its tasks are launched all at once, when a free task slot exists for each of them;
 * a job fails at once (EMBER_ETASK, naming both numbers) when a barrier stage has more
 * tasks than the context has slots, or computes only some of the node's partitions.
 * When one of its tasks fails, the others are killed and the whole stage runs again
 * (each task's attempts count toward max_failures). Its tasks learn the stage's task
 * count and attempt from the TASK frame (src/wire.h), to synchronise with each other. */
EMBER_EXTERN void ember_node_set_barrier(ember_node *n, int barrier);
EMBER_EXTERN int ember_node_is_barrier(ember_node *n);
/* Removes a shuffle node's map output (its shuffle files), so that the next job
 * needing it runs the map stage again. Returns 1 when output was removed, 0 when
 * there was none (not computed yet, or n is not a shuffle node), EMBER_EBUSY when a
 * scheduled or running job's lineage holds n (nothing is removed then). */
EMBER_EXTERN int ember_node_clean_shuffle(ember_node *n);
/* Lineage introspection, for debug strings and checkpointing. The kind's name is a
 * static string ("parallelize", "text", "range", "pipeline", "shuffle", "union",
 * "coalesce", "zip", "cartesian"). ember_node_parent returns parent i, borrowed (valid
 * while n is; retain it to keep it longer), or NULL when i >= ember_node_num_parents. */
EMBER_EXTERN const char *ember_node_kind_name(const ember_node *n);
EMBER_EXTERN size_t ember_node_num_parents(const ember_node *n);
EMBER_EXTERN ember_node *ember_node_parent(const ember_node *n, size_t i);

/* Result of a job: for each requested partition, the serialized batches the action
 * produced; and the opaque reports (for Python: accumulator updates) of every task
 * attempt that succeeded, in completion order. Free with ember_result_free. */
typedef struct ember_result {
    size_t nparts;
    ember_buf **batches; /* batches[i] is an array of nbatches[i] buffers */
    size_t *nbatches;
    ember_buf *reports;
    size_t nreports;
} ember_result;
EMBER_EXTERN void ember_result_free(ember_result *r);

/* Jobs. The engine runs them on its own thread, several at a time: their tasks share
 * the task slots first come, first served. A job computes the given partitions of
 * `node` (NULL = all), running parent stages (shuffles, caches) first and reusing
 * shuffle output that earlier jobs finished. `group` (may be NULL) labels the job for
 * ember_cancel_group: one label, or several separated by '\n' (for Python: the job
 * group, then "tag:<tag>" for each job tag); `info` (may be NULL) is opaque bytes sent
 * with every task of the job (for Python: local properties and broadcasts). */
typedef struct ember_job ember_job;
EMBER_EXTERN int ember_job_submit(ember_context *ctx, ember_node *node, const size_t *partitions, size_t npartitions,
                                  const char *group, const void *info, size_t info_len, ember_job **out);
/* Waits up to timeout_ms (-1: forever). Returns 1 when the job has finished, else 0. */
EMBER_EXTERN int ember_job_wait(ember_job *job, int timeout_ms);
/* Asks the engine to cancel the job: its running tasks are killed, it finishes with
 * EMBER_ECANCELLED. No effect on a finished job. */
EMBER_EXTERN void ember_job_cancel(ember_job *job);
EMBER_EXTERN int ember_job_id(const ember_job *job);
/* For a finished job: returns its code, and *out receives the result (the caller
 * frees it; NULL when finish was called before). On failure ember_last_error() holds
 * the message (EMBER_ETASK: the failing task and its last error, for Python the
 * worker's traceback; EMBER_ECANCELLED: the job and why), and the result has no
 * batches but keeps the reports of the task attempts that succeeded before the job
 * failed or was cancelled (accumulators count them, as Spark does). */
EMBER_EXTERN int ember_job_finish(ember_job *job, ember_result **out);
/* Results as they arrive. A result task's batches are handed over when the task
 * finishes (a failed attempt's never are), one partition at a time in completion
 * order, so that the caller can use them, and free them, while the job runs.
 * ember_job_next waits up to timeout_ms (-1: forever) and returns:
 *   1  with *out, one partition's result: the caller owns it (ember_part_free);
 *   0  when the job has finished and every partition that arrived was taken (then
 *      ember_job_finish gives its code; the result it returns has no batches for
 *      the partitions taken here);
 *   EMBER_JOB_TIMEOUT when none arrived in time.
 * Partitions of a barrier stage arrive when the whole stage has finished. To stop a
 * job early (enough results), cancel it and take until 0; ember_job_finish then
 * says EMBER_ECANCELLED. */
typedef struct ember_part {
    size_t index;       /* position in the job's list of partitions */
    ember_buf *batches; /* nbatches buffers, owned by the struct */
    size_t nbatches;
} ember_part;
#define EMBER_JOB_TIMEOUT 2
EMBER_EXTERN int ember_job_next(ember_job *job, int timeout_ms, ember_part **out);
/* Frees the batches (those whose data is not NULL) and the struct. */
EMBER_EXTERN void ember_part_free(ember_part *p);
/* Frees the handle; a job still running is cancelled first. */
EMBER_EXTERN void ember_job_free(ember_job *job);
/* Cancels the scheduled and running jobs that carry `group` among their labels
 * (NULL: all jobs); returns how many. The cancelled job's error names the label: "Job
 * N cancelled part of cancelled job group L", or "... job tag T" for a label "tag:T". */
EMBER_EXTERN int ember_cancel_group(ember_context *ctx, const char *group);
EMBER_EXTERN int ember_cancel_all(ember_context *ctx);

/* Polled by ember_run_job about every 50 ms from the calling thread; returning
 * non-zero cancels the job (EMBER_ECANCELLED). */
typedef int (*ember_interrupt_fn)(void *arg);

/* Submits a job and waits for it: ember_job_submit + wait + finish. On failure *out
 * is NULL (ember_job_finish gives the reports of a failed job). */
EMBER_EXTERN int ember_run_job(ember_context *ctx, ember_node *node, const size_t *partitions, size_t npartitions,
                               ember_interrupt_fn interrupt, void *interrupt_arg, ember_result **out);

/* A snapshot of a running stage, for progress bars and status trackers. */
typedef struct ember_stage_info {
    int stage_id;
    int job_id;
    int num_tasks;
    int num_completed;
    int num_active;
    int num_failed;       /* failed attempts so far */
    int64_t submitted_ms; /* CLOCK_MONOTONIC milliseconds */
} ember_stage_info;
/* Fills up to max entries with the running stages; returns how many are running. */
EMBER_EXTERN size_t ember_active_stages(ember_context *ctx, ember_stage_info *out, size_t max);
/* The engine remembers the final counts of the last EMBER_STAGE_HISTORY stages that
 * finished (completed, failed or cancelled; num_active is 0). Fills up to max entries
 * with the most recent of them, oldest first; returns how many are remembered. */
#define EMBER_STAGE_HISTORY 1000
EMBER_EXTERN size_t ember_finished_stages(ember_context *ctx, ember_stage_info *out, size_t max);

/* ---- C jobs -------------------------------------------------------------------
 * A C program builds RDDs from C functions and runs jobs over them with no Python
 * interpreter anywhere. Records are values of the typed record format (ember/record.h);
 * the functions have the signatures of ember/native.h.
 *
 *     ember_context *ctx;
 *     ember_node *lines, *words, *counts;
 *     ember_context_create_local("local[2]", &ctx);
 *     ember_node_text(ctx, "big.txt", 4, 0, &lines);            // records: str lines
 *     ember_node_flat_map(lines, tokenize, NULL, &words);         // (word, 1) pairs
 *     ember_node_reduce_by_key(words, add, NULL, 0, &counts);
 *     ember_writer out = {0};
 *     size_t n;
 *     ember_collect(counts, &out, &n);                            // n encoded (word, count)
 *
 * Where native functions run. Never in the driver: tasks run in worker processes.
 * A context created without a Python interpreter (ember_context_create_local, or
 * ember_config.python and .daemon both NULL) starts its worker daemon by running the
 * driver's own executable again (/proc/self/exe) with EMBER_NATIVE_DAEMON=1 in its
 * environment: libember's constructor sees it before main() and serves as the daemon,
 * forking one worker per task slot (src/nworker.c). A function pointer reaches the
 * workers as the file it was loaded from (the executable itself, or a shared library)
 * and its offset in that file's mapping, so any function of the program or of a
 * library it loaded can be used, static ones included. A context with a Python
 * interpreter (a Python driver, ember.native) runs the same commands in its Python
 * workers, which load the library by path.
 *
 * Records through the engine: sources and native steps make batches of typed records
 * (a text file's lines are str, invalid UTF-8 replaced by U+FFFD as Python decodes
 * them; a range's are int); a shuffle partitions (key, value) pairs — 2-tuples or
 * 2-lists — by the portable hash Python partitions by (ember.rdd.portable_hash), so a
 * key lands in the same partition whichever worker writes it.
 *
 * Building a C program. libember is a static library (meson builds libember.a and
 * installs these headers); link it with its dependencies:
 *
 *     cc -O2 -std=c11 prog.c -lember -lz -lpthread -ldl -lm [-lbz2 -llzma -lzstd]
 *
 * (the last three when meson found those codecs). Functions of the program itself need
 * no flag: the workers are the program, and find them by offset (a stripped program
 * works; its errors then name functions by `name` or address). A program that loads
 * native functions from a shared library built against ember.h (its ember_* symbols
 * undefined, as ember.native.compile leaves them) — with dlopen, or in a context with
 * Python workers, which need every native function in a shared library — must export
 * libember's symbols to that library: link with -rdynamic (-Wl,--export-dynamic);
 * without it dlopen fails with "undefined symbol: ember_put_...".
 *
 * Failures: a function returning a negative code fails its task with the message of
 * ember_set_error; a crash (SIGSEGV ...) kills only its worker. Either way the task is
 * retried up to max_failures times, then the action fails with EMBER_ETASK and
 * ember_last_error() names the function (by `name`, else its symbol) and the error or
 * signal.
 */

/* mapPartitions: reads the partition's records with ember_iter_next and writes its
 * output records into out (held in memory until the function returns). */
typedef struct ember_iter ember_iter;
typedef int (*ember_partition_fn)(ember_iter *in, ember_writer *out);
/* Returns 1 with the next record in *v (valid until the next call), 0 at the end, or
 * a negative code (reading the input failed: return it). */
EMBER_EXTERN int ember_iter_next(ember_iter *it, ember_value *v);
/* foreach: called with every record; a negative code fails the task. */
typedef int (*ember_foreach_fn)(const ember_value *v);
/* partitionBy: the partition (0 <= p < nparts) of a key, or a negative code. */
typedef int64_t (*ember_partitioner_fn)(const ember_value *key, size_t nparts);

/* A C library's entry for a Python driver (ember.native.call): builds a lineage over
 * `inputs` (nodes of Python RDDs, borrowed) in ctx with the functions above and sets
 * *out to a new node (the caller owns it). Returns 0 or a negative code with
 * ember_set_error's message. Runs in the driver; the steps it adds run in workers. */
typedef int (*ember_build_fn)(ember_context *ctx, ember_node *const *inputs, size_t ninputs, ember_node **out);

/* EMBER_API_VERSION of the library linked in (a program built against other headers
 * can check it). */
EMBER_EXTERN int ember_api_version(void);

/* Creates a context with native workers from a master URL: "local" (one slot),
 * "local[N]" or "local[*]" (one slot per online CPU). EMBER_EINVAL names a bad URL. */
EMBER_EXTERN int ember_context_create_local(const char *master, ember_context **out);

/* Python steps in a C program's lineage. A context created by
 * ember_context_create_python has Python workers (the interpreter `python`, NULL:
 * "python3" found on PATH, with the ember package importable from `pythonpath` or
 * its own sys.path); it runs every step of a job there: Python steps, native steps
 * (the Python workers load their library by path) and native shuffles. Its results
 * reach the C program as typed records (ember_config.typed_results), so C actions
 * (ember_collect, ember_count ...) read them as in a C-only job.
 *
 * ember_node_python applies a Python function to parent's records, which it receives
 * as Python objects (str, int, tuple ... as ember.native.loads makes them). `function`
 * is "module:name" (name may be dotted: "module:Class.method"); the workers import the
 * module from their sys.path (pythonpath), as a PySpark worker imports a function's
 * module. kind says what the function is:
 *   EMBER_PY_MAP             f(x) -> one record
 *   EMBER_PY_FLATMAP         f(x) -> an iterable of records
 *   EMBER_PY_FILTER          f(x) -> true to keep x
 *   EMBER_PY_MAP_PARTITIONS  f(iterator) -> an iterable of records
 * Returns a new node, or EMBER_EINVAL for a bad kind or function name, or for a
 * context with native workers (it has no Python to run the step). A function that
 * the workers cannot import, or that raises, fails the task with the worker's Python
 * traceback (ember_last_error()).
 *
 * Native functions in such a context must live in a shared library (the Python
 * workers load them by the library's path; a function of the executable itself is
 * refused when the step is made). The program loads that library (links against it
 * or dlopen()s it) and must export libember's symbols to it: link the program with
 * -rdynamic (or -Wl,--export-dynamic) when libember is linked in statically. */
enum { EMBER_PY_MAP = 1, EMBER_PY_FLATMAP = 2, EMBER_PY_FILTER = 3, EMBER_PY_MAP_PARTITIONS = 4 };
EMBER_EXTERN int ember_context_create_python(const char *master, const char *python, const char *pythonpath,
                                             ember_context **out);
EMBER_EXTERN int ember_node_python(ember_node *parent, int kind, const char *function, ember_node **out);

/* A source of records: `data` holds `len` bytes of encoded records one after another
 * (e.g. an ember_writer's .data and .len), split into nparts partitions of
 * neighbouring records as evenly as their count allows. The bytes are checked
 * (EMBER_ECORRUPT names the bad record) and copied. */
EMBER_EXTERN int ember_node_parallelize_records(ember_context *ctx, const void *data, size_t len, size_t nparts,
                                                ember_node **out);

/* Narrow steps. `name` (may be NULL: the function's symbol, found with dladdr, or its
 * address) is how errors name the function. Each returns a new node, or EMBER_EINVAL
 * when fn is not in a file the workers can load (dladdr finds none). */
EMBER_EXTERN int ember_node_map(ember_node *parent, ember_map_fn fn, const char *name, ember_node **out);
EMBER_EXTERN int ember_node_flat_map(ember_node *parent, ember_flatmap_fn fn, const char *name, ember_node **out);
EMBER_EXTERN int ember_node_filter(ember_node *parent, ember_filter_fn fn, const char *name, ember_node **out);
EMBER_EXTERN int ember_node_map_partitions(ember_node *parent, ember_partition_fn fn, const char *name,
                                           ember_node **out);

/* Shuffles of (key, value) records into nparts partitions (0: the parent's count).
 * combineByKey: create(value) starts a combiner, merge_value(combiner, value) adds a
 * value, merge_combiners(c1, c2) joins two; the map side combines before writing, the
 * reduce side merges; the result holds one (key, combiner) per key. reduceByKey(f) is
 * combineByKey(identity, f, f). partitionBy moves the records as they are; partition
 * NULL: the portable hash of the key. */
EMBER_EXTERN int ember_node_combine_by_key(ember_node *parent, ember_map_fn create, ember_merge_fn merge_value,
                                           ember_merge_fn merge_combiners, size_t nparts, ember_node **out);
EMBER_EXTERN int ember_node_reduce_by_key(ember_node *parent, ember_merge_fn fn, const char *name, size_t nparts,
                                          ember_node **out);
EMBER_EXTERN int ember_node_partition_by(ember_node *parent, size_t nparts, ember_partitioner_fn partition,
                                         ember_node **out);

/* Actions; each runs one job and blocks until it ends.
 * collect appends every record of node, partitions in order, to `out` (the caller's
 * writer: zero it or ember_writer_init it first, free it with ember_writer_free);
 * *count (may be NULL) gets how many records were appended. Walk them with
 * ember_value_decode. */
EMBER_EXTERN int ember_collect(ember_node *node, ember_writer *out, size_t *count);
EMBER_EXTERN int ember_count(ember_node *node, int64_t *count);
/* Calls fn with every record, in the workers. */
EMBER_EXTERN int ember_foreach(ember_node *node, ember_foreach_fn fn, const char *name);
/* Writes one text file per partition under the directory `path` (part-00000 ...,
 * then _SUCCESS), one line per record: a str as it is, other values as Python's str()
 * prints them. Fails with EMBER_EEXIST when path exists. */
EMBER_EXTERN int ember_save_as_text_file(ember_node *node, const char *path);
/* Python's str() of a record, appended to out (NUL not included): what
 * ember_save_as_text_file writes. Returns 0 or EMBER_ENOMEM. */
EMBER_EXTERN int ember_value_str(const ember_value *v, ember_writer *out);

/* ---- the task log: per-task and per-stage records for the web UI (src/tasklog.c) ----
 * The engine records each task attempt when it starts and when it ends, and each stage
 * when it is submitted (or skipped) and when it ends. The log keeps the last
 * retained_tasks attempts and retained_stages stages (100000 and 1000 unless
 * ember_tasklog_retain says otherwise; Spark's spark.ui.retainedTasks/Stages), and the
 * error text of failed attempts up to EMBER_TASKLOG_ERROR_BYTES in all (older errors
 * are dropped first; each is cut at EMBER_TASKLOG_ERROR_MAX bytes). It has a lock of its
 * own: reading it never waits for the engine's. Times are wall-clock milliseconds since
 * the epoch; 0 when not yet known. */
enum { EMBER_TASK_RUNNING = 0, EMBER_TASK_SUCCESS, EMBER_TASK_FAILED, EMBER_TASK_KILLED };
enum { EMBER_STAGE_ACTIVE = 0, EMBER_STAGE_COMPLETE, EMBER_STAGE_FAILED, EMBER_STAGE_SKIPPED };
enum { EMBER_STAGE_KIND_RESULT = 0, EMBER_STAGE_KIND_SHUFFLE_MAP, EMBER_STAGE_KIND_CACHE };
#define EMBER_TASKLOG_ERROR_MAX (16 * 1024)
#define EMBER_TASKLOG_ERROR_BYTES (8 * 1024 * 1024)

typedef struct ember_task_info {
    uint64_t task_id; /* the attempt's id, unique in the context */
    int stage_id;
    int stage_attempt; /* 0, or the barrier stage's attempt */
    int job_id;
    int index;     /* the task's index in its stage */
    int partition; /* the partition it computes */
    int attempt;   /* 0 for the first attempt of this task */
    int worker;    /* the worker slot that ran it */
    int pid;       /* that worker's process id */
    int status;    /* EMBER_TASK_* */
    int has_error; /* ember_task_error has its text */
    int64_t launch_ms;
    int64_t finish_ms;            /* 0 while it runs */
    uint64_t input_bytes;         /* bytes read from parallelized data, cache blocks or text splits */
    uint64_t shuffle_read_bytes;  /* bytes of the shuffle buckets it reads */
    uint64_t output_bytes;        /* bytes of result or cache batches it sent */
    uint64_t shuffle_write_bytes; /* bytes of the shuffle file it wrote */
    /* What the worker counted, sent when the attempt succeeded (0 until then): */
    uint64_t records_read;            /* records of parallelized data, a text split, a range, a cached block */
    uint64_t records_written;         /* records of the result or cache batches it sent */
    uint64_t shuffle_records_read;    /* records of the shuffle buckets it read */
    uint64_t shuffle_records_written; /* records it wrote into its shuffle file */
    uint64_t memory_bytes_spilled;    /* memory its spills freed (as the spilling code estimates it) */
    uint64_t disk_bytes_spilled;      /* bytes its spills wrote to disk */
    int executor;                     /* cluster mode: the rank of the executor that ran it; 0: this process */
    /* Cluster mode, sent by the executor with the task's end: the bytes of its shuffle
     * buckets fetched from other executors before it ran, when the executor sent the
     * first request for them and when their last byte came (microseconds since the
     * epoch; 0 when it fetched none). */
    uint64_t remote_bytes_fetched;
    int64_t fetch_begin_us, fetch_end_us;
} ember_task_info;

typedef struct ember_stage_record {
    int stage_id;
    int job_id;
    int attempt; /* barrier stages: attempts started over (0 first) */
    int kind;    /* EMBER_STAGE_KIND_* */
    int node_id; /* the node it makes (result, cache) or the shuffle node (map stage) */
    int status;  /* EMBER_STAGE_* */
    int num_tasks;
    int64_t submitted_ms;
    int64_t completed_ms;   /* 0 while active */
    uint64_t first_task_id; /* the first attempt it started (0 before) */
} ember_stage_record;

/* Sets how many task attempts and stages the log keeps (at least 1 each); older
 * entries go first. */
EMBER_EXTERN void ember_tasklog_retain(ember_context *ctx, size_t tasks, size_t stages);
/* Fills up to max entries with the logged attempts of stage_id (any stage when
 * stage_id < 0), oldest first; returns how many there are (may exceed max). */
EMBER_EXTERN size_t ember_task_infos(ember_context *ctx, int stage_id, ember_task_info *out, size_t max);
/* Copies the error text of attempt task_id into buf (NUL-terminated, cut at cap - 1);
 * returns its full length, 0 when it has none (or is no longer logged). */
EMBER_EXTERN size_t ember_task_error(ember_context *ctx, uint64_t task_id, char *buf, size_t cap);
/* Fills up to max entries with the logged stages, oldest first; returns how many
 * there are (may exceed max). */
EMBER_EXTERN size_t ember_stage_records(ember_context *ctx, ember_stage_record *out, size_t max);
/* A count that grows whenever a stage is logged or ends and whenever an attempt ends
 * (or the retention changes): a reader that saw the same count before has nothing new
 * to read. */
EMBER_EXTERN uint64_t ember_tasklog_changes(ember_context *ctx);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_H */
