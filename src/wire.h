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
#define EMBER_FRAME_MAP(X)                                                                   \
    X(COMMAND, 1, "engine->worker", "u64 command id, then the serialized command")          \
    X(TASK, 2, "engine->worker", "task description, see EMBER_TASK layout below")          \
    X(DATA, 3, "both", "one serialized batch of records")                                   \
    X(INPUT_END, 4, "engine->worker", "empty: the task's input data is complete")           \
    X(FORGET, 5, "engine->worker", "u64 command id the worker may drop")                    \
    X(INPUT_BEGIN, 6, "engine->worker", "u32 stream: the DATA frames that follow belong to this input stream") \
    X(TASK_DONE, 16, "worker->engine", "u32 n, n u64 bucket byte counts (n = 0 unless a shuffle map task), then u32 len + a report (opaque)") \
    X(TASK_ERROR, 17, "worker->engine", "UTF-8 text of the error, with the Python traceback")

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
 *   then u32 ncommands, ncommands x (u64 command id, u32 partition index the command
 *   sees), applied in order to the input's records.
 */
enum ember_input_kind { EMBER_IN_DATA = 1, EMBER_IN_TEXT = 2, EMBER_IN_RANGE = 3, EMBER_IN_SHUFFLE = 4,
                        EMBER_IN_CONCAT = 5, EMBER_IN_ZIP = 6, EMBER_IN_CARTESIAN = 7 };
enum ember_output_kind { EMBER_OUT_RESULT = 1, EMBER_OUT_SHUFFLE = 2 };
enum ember_text_flags { EMBER_TEXT_GZIP = 1, EMBER_TEXT_BYTES = 2 };

/* The name of a frame type ("UNKNOWN" for others). */
const char *emberW_frame_name(uint32_t type);

/* Incremental decoder over a byte stream: feed bytes, take whole frames.
 * emberW_next returns 1 with a frame (payload points into the parser's buffer, valid
 * until the next call to emberW_feed), 0 when more bytes are needed, or
 * EMBER_EPROTO for a length over the limit or an unknown type. */
typedef struct emberW_parser {
    uint8_t *buf;
    size_t len, cap, pos;
} emberW_parser;
int emberW_feed(emberW_parser *p, const void *data, size_t n);
int emberW_next(emberW_parser *p, uint32_t *type, const uint8_t **payload, size_t *len);
/* Reads from fd (non-blocking) into the parser: returns bytes read, 0 at EOF,
 * -EAGAIN when nothing is available, or a negative EMBER code. */
long emberW_read_fd(emberW_parser *p, int fd);
void emberW_parser_free(emberW_parser *p);

/* Fills an 8-byte frame header. */
void emberW_header(uint8_t hdr[EMBER_WIRE_HEADER], uint32_t type, uint32_t len);

#endif
