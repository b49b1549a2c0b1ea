/* native_jobs.c — the C job API of ember.h ("C jobs"): a context with native workers,
 * sources of typed records, native steps and shuffles as lineage nodes (their commands
 * and specs encoded by native.c), and the actions that run a job and read its typed
 * result batches. The top of the dependency order, beside context.c.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the C job API ------------------------------------------------------------------ */

int ember_api_version(void) { return EMBER_API_VERSION; }

/* The task slots of a master URL: local, local[N], local[*]; 0 (message set) for others. */
static int master_slots(const char *master) {
    long slots = 0;
    if (master && strcmp(master, "local") == 0) {
        slots = 1;
    } else if (master && strcmp(master, "local[*]") == 0) {
        slots = sysconf(_SC_NPROCESSORS_ONLN);
        if (slots < 1) slots = 1;
    } else if (master && strncmp(master, "local[", 6) == 0) {
        char *end;
        errno = 0;
        slots = strtol(master + 6, &end, 10);
        if (errno || end == master + 6 || strcmp(end, "]") != 0 || slots < 1 || slots > 4096) slots = 0;
    }
    if (slots == 0)
        emberE_set(EMBER_EINVAL, "master URL '%s' is not local, local[N] (N >= 1) or local[*]",
                   master ? master : "(null)");
    return (int)slots;
}

int ember_context_create_local(const char *master, ember_context **out) {
    int slots = master_slots(master);
    if (!slots) return EMBER_EINVAL;
    ember_config cfg = {.slots = slots};
    return ember_context_create(&cfg, out);
}

int ember_context_create_python(const char *master, const char *python, const char *pythonpath, ember_context **out) {
    int slots = master_slots(master);
    if (!slots) return EMBER_EINVAL;
    ember_config cfg = {
        .slots = slots, .python = python ? python : "python3", .pythonpath = pythonpath, .typed_results = 1};
    return ember_context_create(&cfg, out);
}

int ember_node_parallelize_records(ember_context *ctx, const void *data, size_t len, size_t nparts, ember_node **out) {
    if (nparts == 0) return emberE_set(EMBER_EINVAL, "parallelize needs at least one partition");
    const uint8_t *p = data;
    size_t count = 0;
    for (size_t off = 0, used; off < len; off += used, count++) {
        ember_value v;
        if (ember_value_decode(p + off, len - off, &v, &used))
            return emberE_set(EMBER_ECORRUPT, "parallelize: record %zu (byte %zu) is malformed: %s", count, off,
                              ember_last_error());
    }
    ember_buf *bufs = ember_calloc(nparts, sizeof *bufs);
    ember_buf **batches = ember_calloc(nparts, sizeof *batches);
    size_t *nbatches = ember_calloc(nparts, sizeof *nbatches);
    int rc = 0;
    if (!bufs || !batches || !nbatches) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory in parallelize");
        goto free_all;
    }
    size_t off = 0, rec = 0;
    for (size_t i = 0; i < nparts && !rc; i++) {
        size_t upto = (size_t)((unsigned __int128)(i + 1) * count / nparts), start = off;
        for (size_t used; rec < upto; rec++, off += used) {
            ember_value v;
            ember_value_decode(p + off, len - off, &v, &used);
        }
        ember_writer w = {0};
        ember_put_batch_header(&w);
        if (off > start && !w.err) {
            ember_writer tmp = w; /* append the records' bytes as they are */
            size_t need = tmp.len + (off - start);
            uint8_t *d = ember_realloc(tmp.data, need);
            if (d) {
                memcpy(d + tmp.len, p + start, off - start);
                w.data = d;
                w.len = w.cap = need;
            } else {
                w.err = EMBER_ENOMEM;
            }
        }
        if (w.err) {
            ember_writer_free(&w);
            rc = emberE_set(EMBER_ENOMEM, "out of memory in parallelize");
            break;
        }
        bufs[i] = (ember_buf){w.data, w.len};
        batches[i] = &bufs[i];
        nbatches[i] = 1;
    }
    if (!rc) rc = ember_node_parallelize(ctx, nparts, (const ember_buf *const *)batches, nbatches, out);
free_all:
    for (size_t i = 0; bufs && i < nparts; i++)
        ember_free(bufs[i].data);
    ember_free(bufs);
    ember_free(batches);
    ember_free(nbatches);
    return rc;
}

/* 0 when the workers of ctx can load the function named by ref; Python workers load
 * shared libraries only (EMBER_EINVAL). */
static int loadable(const ember_context *ctx, const emberN_fnref *ref) {
    if (!ctx->cfg.python || ref->module[0]) return 0;
    return emberE_set(EMBER_EINVAL,
                      "native function %s is in the program's executable, and this context's workers are Python "
                      "processes, which load native functions from shared libraries only: put it in a shared "
                      "library that the program loads (and link the program with -rdynamic)",
                      ref->name);
}

/* A PIPELINE node applying one native step. */
static int native_step(ember_node *parent, uint32_t kind, void *fn, const char *name, const char *arg,
                       ember_node **out) {
    emberN_fnref ref = {0};
    emberB_buf b = {0};
    int rc = fn ? emberN_fn_name(fn, name, &ref) : 0;
    rc = rc || !fn ? rc : loadable(parent->ctx, &ref);
    rc = rc ? rc : emberN_op_encode(&b, kind, fn ? &ref : NULL, arg);
    rc = rc ? rc : ember_node_pipeline(parent->ctx, parent, b.data, b.len, out);
    emberN_fnref_free(&ref);
    emberB_free(&b);
    return rc;
}

#define FN(f) ((void *)(uintptr_t)(f)) /* a function pointer, as data */

int ember_node_map(ember_node *parent, ember_map_fn fn, const char *name, ember_node **out) {
    return native_step(parent, EMBER_NOP_MAP, FN(fn), name, NULL, out);
}
int ember_node_flat_map(ember_node *parent, ember_flatmap_fn fn, const char *name, ember_node **out) {
    return native_step(parent, EMBER_NOP_FLATMAP, FN(fn), name, NULL, out);
}
int ember_node_filter(ember_node *parent, ember_filter_fn fn, const char *name, ember_node **out) {
    return native_step(parent, EMBER_NOP_FILTER, FN(fn), name, NULL, out);
}
int ember_node_map_partitions(ember_node *parent, ember_partition_fn fn, const char *name, ember_node **out) {
    return native_step(parent, EMBER_NOP_PARTITIONS, FN(fn), name, NULL, out);
}

/* 1 when s[0, n) is a dotted Python name: identifiers joined by single dots. */
static int dotted_name(const char *s, size_t n) {
    if (n == 0 || s[0] == '.' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
        if (c == '.' ? s[i + 1] == '.' : !ident) return 0;
        if (c >= '0' && c <= '9' && (i == 0 || s[i - 1] == '.')) return 0;
    }
    return 1;
}

int ember_node_python(ember_node *parent, int kind, const char *function, ember_node **out) {
    if (!parent || !out) return emberE_set(EMBER_EINVAL, "ember_node_python: NULL argument");
    if (kind < EMBER_PY_MAP || kind > EMBER_PY_MAP_PARTITIONS)
        return emberE_set(EMBER_EINVAL,
                          "ember_node_python: kind %d is not one of EMBER_PY_MAP ... EMBER_PY_MAP_PARTITIONS", kind);
    const char *colon = function ? strchr(function, ':') : NULL;
    if (!colon || !dotted_name(function, (size_t)(colon - function)) || !dotted_name(colon + 1, strlen(colon + 1)))
        return emberE_set(EMBER_EINVAL, "ember_node_python: '%s' does not name a Python function as \"module:name\"",
                          function ? function : "(null)");
    if (!parent->ctx->cfg.python)
        return emberE_set(EMBER_EINVAL,
                          "ember_node_python(%s): this context has native workers, which run no Python; create it "
                          "with ember_context_create_python",
                          function);
    /* The command a Python worker unpickles: ember.native._python_step(kind, function),
     * the step's operations (pickle protocol 2: GLOBAL, BININT1, BINUNICODE, TUPLE2, REDUCE). */
    static const char head[] = "\x80\x02"
                               "cember.native\n_python_step\n"
                               "K";
    size_t n = strlen(function);
    emberB_buf b = {0};
    uint8_t len[4];
    emberB_store_u32(len, (uint32_t)n);
    int rc = emberB_append(&b, head, sizeof head - 1);
    rc = rc ? rc : emberB_append(&b, (uint8_t[]){(uint8_t)kind, 'X'}, 2);
    rc = rc ? rc : emberB_append(&b, len, 4);
    rc = rc ? rc : emberB_append(&b, function, n);
    rc = rc ? rc : emberB_append(&b, "\x86R.", 3);
    rc = rc ? rc : ember_node_pipeline(parent->ctx, parent, b.data, b.len, out);
    emberB_free(&b);
    return rc;
}

/* A SHUFFLE node by a native spec; with merge_combiners, the reduce side's merge on top. */
static int native_shuffle(ember_node *parent, size_t nparts, void *fns[4], const char *names[4], ember_node **out) {
    emberN_fnref refs[4] = {{0}};
    const emberN_fnref *pr[4] = {NULL, NULL, NULL, NULL};
    emberB_buf b = {0};
    ember_node *sh = NULL;
    uint32_t flags = 0;
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        if (!fns[i]) continue;
        rc = emberN_fn_name(fns[i], names[i], &refs[i]);
        rc = rc ? rc : loadable(parent->ctx, &refs[i]);
        pr[i] = &refs[i];
        flags |= (uint32_t)EMBER_NSPEC_PARTITION << i;
    }
    if (!rc && (fns[2] != NULL) != (fns[3] != NULL))
        rc = emberE_set(EMBER_EINVAL, "combineByKey needs both merge functions");
    if (fns[2]) flags |= EMBER_NSPEC_COMBINE;
    rc = rc ? rc : emberN_spec_encode(&b, flags, pr);
    rc = rc ? rc : ember_node_shuffle(parent->ctx, parent, nparts ? nparts : parent->nparts, b.data, b.len, &sh);
    if (!rc && fns[3]) {
        rc = native_step(sh, EMBER_NOP_MERGE, fns[3], names[3], NULL, out);
        ember_node_release(sh);
    } else if (!rc) {
        *out = sh;
    }
    for (int i = 0; i < 4; i++)
        emberN_fnref_free(&refs[i]);
    emberB_free(&b);
    return rc;
}

int ember_node_combine_by_key(ember_node *parent, ember_map_fn create, ember_merge_fn merge_value,
                              ember_merge_fn merge_combiners, size_t nparts, ember_node **out) {
    if (!merge_value || !merge_combiners) return emberE_set(EMBER_EINVAL, "combineByKey needs both merge functions");
    void *fns[4] = {NULL, FN(create), FN(merge_value), FN(merge_combiners)};
    const char *names[4] = {NULL, NULL, NULL, NULL};
    return native_shuffle(parent, nparts, fns, names, out);
}

int ember_node_reduce_by_key(ember_node *parent, ember_merge_fn fn, const char *name, size_t nparts, ember_node **out) {
    if (!fn) return emberE_set(EMBER_EINVAL, "reduceByKey needs a merge function");
    void *fns[4] = {NULL, NULL, FN(fn), FN(fn)};
    const char *names[4] = {NULL, NULL, name, name};
    return native_shuffle(parent, nparts, fns, names, out);
}

int ember_node_partition_by(ember_node *parent, size_t nparts, ember_partitioner_fn partition, ember_node **out) {
    void *fns[4] = {FN(partition), NULL, NULL, NULL};
    const char *names[4] = {NULL, NULL, NULL, NULL};
    return native_shuffle(parent, nparts, fns, names, out);
}

/* Runs a job over node and hands each partition's batches, in order, to `take`. */
static int run_native(ember_node *node, int (*take)(void *arg, const uint8_t *body, size_t len), void *arg) {
    ember_result *res = NULL;
    int rc = ember_run_job(node->ctx, node, NULL, 0, NULL, NULL, &res);
    for (size_t i = 0; !rc && i < res->nparts; i++)
        for (size_t j = 0; !rc && j < res->nbatches[i]; j++) {
            const uint8_t *body;
            size_t len;
            rc = ember_batch_open(res->batches[i][j].data, res->batches[i][j].len, &body, &len);
            if (rc)
                rc = emberE_set(EMBER_ECORRUPT,
                                "partition %zu of node %d holds no typed records (pickled Python "
                                "objects?): a C action reads only records of native steps",
                                i, node->id);
            else
                rc = take(arg, body, len);
        }
    ember_result_free(res);
    return rc;
}

typedef struct collect_state {
    ember_writer *out;
    size_t count;
} collect_state;

static int collect_take(void *arg, const uint8_t *body, size_t len) {
    collect_state *c = arg;
    for (size_t off = 0, used; off < len; off += used, c->count++) {
        ember_value v;
        size_t klen;
        if ((used = emberR_small_pair(body + off, len - off, &klen, &v))) continue; /* a word and its count */
        if (ember_value_decode(body + off, len - off, &v, &used))
            return emberE_set(EMBER_ECORRUPT, "collect: a result batch is malformed: %s", ember_last_error());
    }
    return emberN_append(c->out, (const char *)body, len);
}

int ember_collect(ember_node *node, ember_writer *out, size_t *count) {
    collect_state c = {out, 0};
    int rc = run_native(node, collect_take, &c);
    if (count) *count = c.count;
    return rc;
}

static int count_take(void *arg, const uint8_t *body, size_t len) {
    ember_value v;
    size_t used;
    for (size_t off = 0; off < len; off += used) {
        if (ember_value_decode(body + off, len - off, &v, &used) || v.type != EMBER_INT)
            return emberE_set(EMBER_ECORRUPT, "count: a partition's count is not an int");
        *(int64_t *)arg += v.i;
    }
    return 0;
}

int ember_count(ember_node *node, int64_t *count) {
    ember_node *n = NULL;
    *count = 0;
    int rc = native_step(node, EMBER_NOP_COUNT, NULL, NULL, NULL, &n);
    rc = rc ? rc : run_native(n, count_take, count);
    ember_node_release(n);
    return rc;
}

static int ignore_take(void *arg, const uint8_t *body, size_t len) {
    (void)arg;
    (void)body;
    (void)len;
    return 0;
}

int ember_foreach(ember_node *node, ember_foreach_fn fn, const char *name) {
    ember_node *n = NULL;
    int rc = native_step(node, EMBER_NOP_FOREACH, FN(fn), name, NULL, &n);
    rc = rc ? rc : run_native(n, ignore_take, NULL);
    ember_node_release(n);
    return rc;
}

int ember_save_as_text_file(ember_node *node, const char *path) {
    struct stat sb;
    if (!path || !*path) return emberE_set(EMBER_EINVAL, "saveAsTextFile needs a path");
    if (stat(path, &sb) == 0) return emberE_set(EMBER_EEXIST, "Output directory %s already exists", path);
    if (mkdir(path, 0777) < 0) return emberE_errno(EMBER_EIO, errno, "creating the output directory %s", path);
    char abs[4096];
    if (!realpath(path, abs)) return emberE_errno(EMBER_EIO, errno, "resolving %s", path);
    ember_node *n = NULL;
    int rc = native_step(node, EMBER_NOP_SAVE_TEXT, NULL, NULL, abs, &n);
    rc = rc ? rc : run_native(n, ignore_take, NULL);
    ember_node_release(n);
    if (!rc) {
        char done[4200];
        snprintf(done, sizeof done, "%s/_SUCCESS", abs);
        FILE *f = fopen(done, "w");
        if (!f || fclose(f)) rc = emberE_errno(EMBER_EIO, errno, "writing %s", done);
    }
    return rc;
}
