/* ember/native.h — the signatures of native (C) functions that ember jobs apply to
 * records. Included by ember.h.
 *
 * A native function lives in a shared library built against ember.h (from Python:
 * ember.native.compile("f.c") builds one with the system compiler) and is named by
 * the library's path and the function's symbol: rdd.mapNative(lib, "tokenize"). The
 * library is loaded in the worker processes only, never in the driver; its
 * undefined ember_* symbols (ember_put_str ...) resolve against the worker's ember.
 *
 * Every function receives records decoded by ember_value_decode (checked: lengths,
 * UTF-8, depth) as views valid for the duration of the call, and writes its output
 * records with the ember_put_* functions into `out`, which the caller has emptied.
 * A function returns 0 (for a filter: 1 to keep, 0 to drop) or a negative EMBER_E*
 * code to fail the task; ember_set_error() gives the failure its message. A
 * function must not keep pointers into its input after it returns, and must be
 * safe to call again after it failed. A crash (a signal such as SIGSEGV) kills only
 * the worker running it: the task is retried, and the job fails after
 * spark.task.maxFailures attempts with an error naming the function and the signal.
 *
 * Example: splits a str on ASCII whitespace.
 *
 *     #include <ember.h>
 *     int tokenize(const ember_value *line, ember_writer *out) {
 *         if (line->type != EMBER_STR)
 *             return ember_set_error(EMBER_EINVAL, "tokenize: expected a str, got %s",
 *                                    ember_type_name(line->type));
 *         const char *s = (const char *)line->data, *end = s + line->len;
 *         while (s < end) {
 *             while (s < end && (*s == ' ' || *s == '\t')) s++;
 *             const char *w = s;
 *             while (s < end && *s != ' ' && *s != '\t') s++;
 *             if (s > w) ember_put_str(out, w, (size_t)(s - w));
 *         }
 *         return out->err;
 *     }
 */
#ifndef EMBER_NATIVE_H
#define EMBER_NATIVE_H

#ifdef __cplusplus
extern "C" {
#endif

/* map: writes exactly one record for each input record. */
typedef int (*ember_map_fn)(const ember_value *in, ember_writer *out);
/* flatMap: writes zero or more records (one top-level value each) per input record. */
typedef int (*ember_flatmap_fn)(const ember_value *in, ember_writer *out);
/* filter: returns 1 to keep the record, 0 to drop it, or a negative code. */
typedef int (*ember_filter_fn)(const ember_value *in);
/* merge (reduceByKey): writes exactly one record, the merge of two values of a key.
 * It must be associative and commutative, as reduceByKey's functions are. */
typedef int (*ember_merge_fn)(const ember_value *a, const ember_value *b, ember_writer *out);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_NATIVE_H */
