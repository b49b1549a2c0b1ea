/* wire.h — the protocol between the engine and its Python workers: the one table of
 * frame types, and the layout of each payload.
 *
 * Every message on a worker pipe is a frame: an 8-byte header, u32 payload length
 * then u32 frame type (both little-endian), followed by the payload. Payloads longer
 * than EMBER_WIRE_MAX_FRAME are a protocol error; decoders check the length before
 * they allocate. Integers inside payloads are little-endian; a "str" is a u32
 * length followed by that many bytes (no terminator).
 *
 * A task, as the engine sends it:
 *   [COMMAND]*  for each command of the task the worker has not been sent yet
 *   TASK        the task itself
 *   then, for each data stream of its input in order: INPUT_BEGIN [DATA]* INPUT_END
 * and the worker answers:
 *   [DATA]* TASK_DONE   or   TASK_ERROR (after reading its input streams to the end)
 */
#ifndef EMBER_WIRE_H
#define EMBER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_WIRE_HEADER 8
#define EMBER_WIRE_MAX_FRAME ((uint32_t)1 << 30)

/* X(name, value, direction, payload) */
#define EMBER_FRAME_MAP(X)                                                                                             \
    X(COMMAND, 1, "engine->worker", "u64 command id, then the serialized command")                                     \
    X(TASK, 2, "engine->worker", "task description, see EMBER_TASK layout below")                                      \
    X(DATA, 3, "both", "one serialized batch of records")                                                              \
    X(INPUT_END, 4, "engine->worker", "empty: the task's input data is complete")                                      \
    X(FORGET, 5, "engine->worker", "u64 command id the worker may drop")                                               \
    X(INPUT_BEGIN, 6, "engine->worker", "u32 stream: the DATA frames that follow belong to this input stream")         \
    X(TASK_DONE, 16, "worker->engine",                                                                                 \
      "u32 n, n u64 bucket byte counts (n = 0 unless a shuffle map task), u32 len + a report (opaque), then u32 m, "   \
      "m u64 task metrics (EMBER_METRIC_MAP)")                                                                         \
    X(TASK_ERROR, 17, "worker->engine", "UTF-8 text of the error, with the Python traceback")                          \
    X(FETCH_FAILED, 18, "worker->engine",                                                                              \
      "u32 length + path of a shuffle or block file the task could not read, then UTF-8 text of the error")            \
    X(BLOCK_STORED, 19, "executor->engine",                                                                            \
      "cluster mode, before a cache task's TASK_DONE, in place of its DATA: u32 n, n x (u32 node, u32 partition, "     \
      "u32 where, u64 bytes): the task's block first, then blocks its storing moved out of memory")

enum ember_frame_type {
#define EMBER_FRAME_ENUM(name, value, dir, payload) EMBER_FRAME_##name = (value),
    EMBER_FRAME_MAP(EMBER_FRAME_ENUM)
#undef EMBER_FRAME_ENUM
};

/* TASK payload:
 *   u64 task attempt id, u32 stage id, u32 partition, u32 attempt number, u32 job id,
 *   u32 len + the job's info (opaque bytes, the same for every task of a job),
 *   an input (below), then
 *   u32 output kind, then by kind:
 *     EMBER_OUT_RESULT  nothing: records go back as DATA frames
 *     EMBER_OUT_SHUFFLE str path, u32 nbuckets, u64 spec command id
 *     EMBER_OUT_CACHE   u32 node id, u32 its partition count, u32 its storage level
 *                       (EMBER_STORAGE_*): a partition to cache; records go back as
 *                       DATA frames as with RESULT (an executor's relay, mpi.c, keeps
 *                       them in its own block store and answers BLOCK_STORED)
 *   then u32 barrier tasks (0: not a barrier stage; else the stage's task count, its
 *   tasks computing partitions 0..n-1), u32 stage attempt (0 for the first; a barrier
 *   stage runs again whole when one of its tasks fails).
 * An input is a tree:
 *   u32 kind, then by kind:
 *     EMBER_IN_DATA       u32 stream (its batches come in INPUT_BEGIN/DATA/INPUT_END)
 *     EMBER_IN_TEXT       str path, i64 start, i64 end (-1: to the end), u32 flags
 *     EMBER_IN_RANGE      i64 start, i64 stop, i64 step
 *     EMBER_IN_SHUFFLE    u32 bucket, u32 npaths, npaths x str path
 *     EMBER_IN_CONCAT     u32 n, n x input: their records one after another
 *     EMBER_IN_ZIP        input, input: pairs (a, b) record by record
 *     EMBER_IN_CARTESIAN  input, input: every pair (a, b)
 *     EMBER_IN_BLOCK      str path: a cached partition's block file (blocks.c's format),
 *                         read by the worker itself
 *   then u32 ncommands, ncommands x (u64 command id, u32 partition index the command
 *   sees), applied in order to the input's records.
 * The IN_DATA leaves carry streams 0, 1, 2 ... in the order they appear in the tree.
 * emberW_task_encode and emberW_task_decode (below) are the one codec of this layout.
 */
enum ember_input_kind {
    EMBER_IN_DATA = 1,
    EMBER_IN_TEXT = 2,
    EMBER_IN_RANGE = 3,
    EMBER_IN_SHUFFLE = 4,
    EMBER_IN_CONCAT = 5,
    EMBER_IN_ZIP = 6,
    EMBER_IN_CARTESIAN = 7,
    EMBER_IN_BLOCK = 8
};
enum ember_output_kind { EMBER_OUT_RESULT = 1, EMBER_OUT_SHUFFLE = 2, EMBER_OUT_CACHE = 3 };
/* TEXT flags: bit 1 lines as bytes; bits 8..15 the split's codec (EMBER_CODEC_*). */
enum ember_text_flags { EMBER_TEXT_BYTES = 2, EMBER_TEXT_CODEC_SHIFT = 8 };

/* A TASK payload whose DATA leaves do not carry streams 0, 1, 2 ... in the order they
 * appear, or that nests inputs deeper than this, is malformed. */
#define EMBER_WIRE_MAX_DEPTH 1000

/* The name of a frame type ("UNKNOWN" for others). */
const char *emberW_frame_name(uint32_t type);

/* Incremental decoder over a byte stream: feed bytes, take whole frames.
 * emberW_next returns 1 with a frame (payload points into the parser's buffer, valid
 * until the next call to emberW_feed, emberW_read_fd or emberW_read_frame), 0 when
 * more bytes are needed, or EMBER_EPROTO for a length over the limit or an unknown
 * type. The engine and the worker (python/_core/worker_io.c) both read with it. */
typedef struct emberW_parser {
    uint8_t *buf;
    size_t len, cap, pos;
} emberW_parser;
int emberW_feed(emberW_parser *p, const void *data, size_t n);
int emberW_next(emberW_parser *p, uint32_t *type, const uint8_t **payload, size_t *len);
/* Reads from fd (non-blocking) into the parser: returns bytes read, 0 at EOF,
 * -EAGAIN when nothing is available, or a negative EMBER code. */
long emberW_read_fd(emberW_parser *p, int fd);
/* The worker's reader: reads from a blocking fd until a whole frame is buffered.
 * Returns 1 with a frame (as emberW_next), 0 at end of stream between frames,
 * EMBER_EPROTO when the stream ends inside a frame or a header is bad, EMBER_EIO
 * when read fails. */
int emberW_read_frame(emberW_parser *p, int fd, uint32_t *type, const uint8_t **payload, size_t *len);
void emberW_parser_free(emberW_parser *p);

/* Fills an 8-byte frame header. */
void emberW_header(uint8_t hdr[EMBER_WIRE_HEADER], uint32_t type, uint32_t len);

/* ---- payload codecs: each encoder beside its decoder ---------------------------------
 * Encoders append to an emberB_buf (internal.h) and return 0 or EMBER_ENOMEM.
 * Decoders check every length against the payload before they allocate or index,
 * and return 0 or EMBER_EPROTO with a message naming the field; a payload with bytes
 * left over after its last field is malformed too. */
struct emberB_buf;

/* Bytes inside a payload (or, for the encoder, the caller's bytes): borrowed. */
typedef struct emberW_bytes {
    const uint8_t *p;
    uint32_t len;
} emberW_bytes;

typedef struct emberW_cmd {
    uint64_t id;
    uint32_t split; /* the partition index the command sees */
} emberW_cmd;

/* One node of a task's input tree (the layout above). The arrays (paths, children,
 * cmds) belong to the node: allocated with ember_malloc, freed by emberW_task_free. */
typedef struct emberW_input {
    uint32_t kind;      /* EMBER_IN_* */
    uint32_t stream;    /* DATA: the input stream's index */
    emberW_bytes path;  /* TEXT, BLOCK */
    int64_t start, end; /* TEXT: byte range; RANGE: start, stop */
    int64_t step;       /* RANGE */
    uint32_t flags;     /* TEXT: EMBER_TEXT_* */
    uint32_t bucket;    /* SHUFFLE */
    uint32_t npaths;
    emberW_bytes *paths; /* SHUFFLE: the map outputs to read bucket from */
    uint32_t nchildren;
    struct emberW_input *children; /* CONCAT: n; ZIP and CARTESIAN: 2 */
    uint32_t ncmds;
    emberW_cmd *cmds; /* applied in order to the node's records */
} emberW_input;

typedef struct emberW_task {
    uint64_t attempt_id;
    uint32_t stage, partition, attempt, job;
    emberW_bytes info;
    emberW_input input;
    uint32_t nstreams;                             /* decoder: how many DATA leaves the input has */
    uint32_t output;                               /* EMBER_OUT_* */
    emberW_bytes shuffle_path;                     /* OUT_SHUFFLE */
    uint32_t nbuckets;                             /* OUT_SHUFFLE */
    uint64_t spec_id;                              /* OUT_SHUFFLE */
    uint32_t cache_node, cache_parts, cache_level; /* OUT_CACHE */
    uint32_t barrier_tasks, stage_attempt;
} emberW_task;

/* TASK. The encoder checks what the decoder checks (stream order, depth, kinds) and
 * fails with EMBER_EINVAL on a task it could not decode. The decoder fills *t, whose
 * bytes fields point into p (keep p alive while t is used) and whose arrays it
 * allocates; release them with emberW_task_free (also after a failed decode). */
int emberW_task_encode(struct emberB_buf *b, const emberW_task *t);
int emberW_task_decode(const uint8_t *p, size_t len, emberW_task *t);
/* Frees the arrays of t's input tree (not t itself, not the bytes); t->input is
 * left empty. Safe on a zeroed task. */
void emberW_task_free(emberW_task *t);
void emberW_input_free(emberW_input *in);

/* The task metrics a worker counts and sends with TASK_DONE, in this order: X(name,
 * index, what it counts, Spark's TaskMetrics field). The list is count-prefixed on the
 * wire, so it can grow at its end: a decoder reads the metrics it knows (0 for those a
 * worker did not send) and ignores the ones after them. A worker sends the last three
 * as 0; an executor's network thread fills them in (mpi.c) on a task that fetched
 * buckets. */
#define EMBER_METRIC_MAP(X)                                                                                            \
    X(RECORDS_READ, 0,                                                                                                 \
      "records read from the task's source: parallelized data, a text split, a range, a cached "                       \
      "block",                                                                                                         \
      "inputMetrics.recordsRead")                                                                                      \
    X(RECORDS_WRITTEN, 1, "records of the result or cache batches it sent", "outputMetrics.recordsWritten")            \
    X(SHUFFLE_RECORDS_READ, 2, "records read from shuffle buckets", "shuffleReadMetrics.recordsRead")                  \
    X(SHUFFLE_RECORDS_WRITTEN, 3, "records written into its shuffle file (after map-side combining)",                  \
      "shuffleWriteMetrics.recordsWritten")                                                                            \
    X(MEMORY_BYTES_SPILLED, 4, "bytes of memory its spills freed (as the spilling code estimates them)",               \
      "memoryBytesSpilled")                                                                                            \
    X(DISK_BYTES_SPILLED, 5, "bytes its spills wrote to disk", "diskBytesSpilled")                                     \
    X(REMOTE_BYTES_FETCHED, 6,                                                                                         \
      "cluster mode: bytes of its shuffle buckets its executor fetched from other executors (set by the "              \
      "executor's network thread, not the worker)",                                                                    \
      "shuffleReadMetrics.remoteBytesRead")                                                                            \
    X(FETCH_BEGIN_US, 7,                                                                                               \
      "cluster mode: when its executor sent the first request for those buckets, microseconds since the epoch "        \
      "(0: it fetched none)",                                                                                          \
      "-")                                                                                                             \
    X(FETCH_END_US, 8, "cluster mode: when the last of those bytes came, microseconds since the epoch", "-")

enum ember_metric {
#define EMBER_METRIC_ENUM(name, index, what, spark) EMBER_METRIC_##name = (index),
    EMBER_METRIC_MAP(EMBER_METRIC_ENUM)
#undef EMBER_METRIC_ENUM
        EMBER_METRICS /* how many this build knows */
};

/* TASK_DONE: bucket sizes (none unless a shuffle map task), the task's report and its
 * metrics. Decoded sizes and metrics are read with emberW_done_size and
 * emberW_done_metric (0 past the end); the fields borrow from p. */
typedef struct emberW_done {
    uint32_t nsizes;
    const uint8_t *sizes; /* nsizes little-endian u64 */
    emberW_bytes report;
    uint32_t nmetrics;
    const uint8_t *metrics; /* nmetrics little-endian u64, EMBER_METRIC_* order */
} emberW_done;
int emberW_done_encode(struct emberB_buf *b, const uint64_t *sizes, uint32_t nsizes, const void *report,
                       uint32_t report_len, const uint64_t *metrics, uint32_t nmetrics);
int emberW_done_decode(const uint8_t *p, size_t len, emberW_done *d);
uint64_t emberW_done_size(const emberW_done *d, uint32_t i);
uint64_t emberW_done_metric(const emberW_done *d, uint32_t i);

/* The fixed-size payloads: INPUT_BEGIN (u32 stream) and FORGET (u64 command id);
 * COMMAND's payload is its u64 id, then the command's bytes. Decoders: 0 or
 * EMBER_EPROTO. */
void emberW_u32_encode(uint8_t out[4], uint32_t v);
void emberW_u64_encode(uint8_t out[8], uint64_t v);
int emberW_u32_decode(const uint8_t *p, size_t len, uint32_t *v);
int emberW_u64_decode(const uint8_t *p, size_t len, uint64_t *v);
int emberW_command_encode(struct emberB_buf *b, uint64_t id, const void *cmd, size_t len);
int emberW_command_decode(const uint8_t *p, size_t len, uint64_t *id, emberW_bytes *cmd);

/* FETCH_FAILED: the path of the shuffle file a task could not read (1 to
 * EMBER_WIRE_MAX_PATH - 1 bytes, no NUL), then the UTF-8 text of the error; the
 * decoded fields borrow from p. 0 or EMBER_EPROTO (EMBER_EINVAL encoding a bad path). */
#define EMBER_WIRE_MAX_PATH 4096
int emberW_fetch_failed_encode(struct emberB_buf *b, const void *path, size_t path_len, const void *text,
                               size_t text_len);
int emberW_fetch_failed_decode(const uint8_t *p, size_t len, emberW_bytes *path, emberW_bytes *text);

/* BLOCK_STORED: where an executor keeps cached partitions. `where` is one of
 * EMBER_BLOCK_GONE (not kept: it did not fit, or was dropped), EMBER_BLOCK_MEMORY,
 * EMBER_BLOCK_DISK. The decoder checks the count against the payload and each where;
 * emberW_stored_entry reads entry i (i < n). 0 or EMBER_EPROTO. */
enum ember_block_where { EMBER_BLOCK_GONE = 0, EMBER_BLOCK_MEMORY = 1, EMBER_BLOCK_DISK = 2 };
typedef struct emberW_stored {
    uint32_t node, partition, where;
    uint64_t bytes;
} emberW_stored;
int emberW_stored_encode(struct emberB_buf *b, const emberW_stored *entries, uint32_t n);
int emberW_stored_decode(const uint8_t *p, size_t len, uint32_t *n);
emberW_stored emberW_stored_entry(const uint8_t *p, uint32_t i);

#endif
