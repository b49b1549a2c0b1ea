/* fake_worker.c — a worker daemon and its workers written in C, so the scheduler's
 * tests (test_scheduler.c) run without Python. The engine starts it in place of
 * `python -m ember.daemon` through ember_config.daemon, as `fake_worker 3 TMPDIR`.
 *
 * The daemon speaks the control protocol of src/workers.c on fd 3: an 'F' request
 * carries two pipe ends (SCM_RIGHTS); it forks a worker over them and answers with
 * the worker's pid (i32, little-endian). An 'S' request (how a worker ended) is
 * answered "unknown" (status -2, no text): the kernel reaps its workers. When the
 * control socket closes it kills its workers and exits.
 *
 * A worker speaks the frames of src/wire.h through wire.c's codec. Commands are
 * text (the bytes of ember_node_pipeline's command or a shuffle's spec), words
 * separated by spaces, applied to every task whose input tree names them:
 *   fail          answer TASK_ERROR "fake failure in partition P"
 *   fail-once     the same, on attempt 0 only
 *   die-once      exit without answering on attempt 0 (the worker "crashes")
 *   hang          never answer (until killed)
 *   gate:PATH     create PATH.started.S.P (stage S, partition P), then wait until
 *                 PATH exists before answering
 *   gate0:PATH    the same, for partition 0 only
 *   gaterest:PATH the same, for every partition but 0
 *   big:N         answer with one batch of N bytes ('x') instead of the records
 * Records: each input batch (a DATA frame of an input stream, or a record of a
 * shuffle bucket) is one output batch, in input order; a range input gives one
 * batch "r:START:STOP", a text input one batch "t:PATH"; a block file's batches are
 * its batches (one it cannot read it reports as FETCH_FAILED naming the file, as
 * Python workers do). A shuffle map task writes
 * each batch to bucket (first byte % nbuckets) of its shuffle file with the C
 * shuffle writer and reports the bucket sizes. Every TASK_DONE carries made-up task
 * metrics: metric i (EMBER_METRIC_*) is (i + 1) * 1000 + the partition, for those a
 * worker counts (the ones before EMBER_METRIC_REMOTE_BYTES_FETCHED; the others 0, as
 * a worker sends them).
 */
#include "internal.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- the worker --------------------------------------------------------------- */

typedef struct command {
    uint64_t id;
    char *text;
} command;

typedef struct batches {
    ember_buf *v;
    size_t n, cap;
} batches;

static void push(batches *b, const void *p, size_t len) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
        if (!b->v) _exit(70);
    }
    uint8_t *d = malloc(len ? len : 1);
    if (!d) _exit(70);
    memcpy(d, p, len);
    b->v[b->n++] = (ember_buf){d, len};
}

static void clear(batches *b) {
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].data);
    b->n = 0;
}

static void write_all(int fd, const void *p, size_t n) {
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(0); /* the engine is gone */
        c += w;
        n -= (size_t)w;
    }
}

static void send_frame(int fd, uint32_t type, const void *p, size_t len) {
    uint8_t hdr[EMBER_WIRE_HEADER];
    emberW_header(hdr, type, (uint32_t)len);
    write_all(fd, hdr, sizeof hdr);
    if (len) write_all(fd, p, len);
}

static const char *command_text(command *cmds, size_t n, uint64_t id) {
    for (size_t i = 0; i < n; i++)
        if (cmds[i].id == id) return cmds[i].text;
    return "";
}

/* Appends the texts of every command of the input tree to words (space-separated). */
static void collect_words(const emberW_input *in, command *cmds, size_t n, char *words, size_t cap) {
    for (uint32_t i = 0; i < in->ncmds; i++) {
        strncat(words, " ", cap - strlen(words) - 1);
        strncat(words, command_text(cmds, n, in->cmds[i].id), cap - strlen(words) - 1);
    }
    for (uint32_t i = 0; i < in->nchildren; i++)
        collect_words(&in->children[i], cmds, n, words, cap);
}

/* The value of "key:VALUE" among words, copied into out; 0 when absent. */
static int word_value(const char *words, const char *key, char *out, size_t cap) {
    size_t k = strlen(key);
    for (const char *p = words; (p = strstr(p, key)); p += k) {
        if ((p != words && p[-1] != ' ') || p[k] != ':') continue;
        const char *v = p + k + 1;
        size_t len = strcspn(v, " ");
        if (len >= cap) len = cap - 1;
        memcpy(out, v, len);
        out[len] = 0;
        return 1;
    }
    return 0;
}

static int has_word(const char *words, const char *w) {
    size_t k = strlen(w);
    for (const char *p = words; (p = strstr(p, w)); p += k)
        if ((p == words || p[-1] == ' ') && (p[k] == ' ' || p[k] == 0)) return 1;
    return 0;
}

static void wait_gate(const char *path, const emberW_task *t) {
    char started[4200];
    snprintf(started, sizeof started, "%s.started.%u.%u", path, t->stage, t->partition);
    int fd = open(started, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
    struct stat sb;
    while (stat(path, &sb) != 0) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The block file a task could not read, reported as FETCH_FAILED ("" for none). */
static char fetch_failed_path[4096];

/* The output batches of an input tree node. */
static int produce(const emberW_input *in, batches *streams, batches *out, char *err, size_t errcap) {
    switch (in->kind) {
    case EMBER_IN_DATA:
        for (size_t i = 0; i < streams[in->stream].n; i++)
            push(out, streams[in->stream].v[i].data, streams[in->stream].v[i].len);
        return 0;
    case EMBER_IN_RANGE: {
        char b[64];
        int n = snprintf(b, sizeof b, "r:%lld:%lld", (long long)in->start, (long long)in->end);
        push(out, b, (size_t)n);
        return 0;
    }
    case EMBER_IN_TEXT: {
        char b[4200];
        int n = snprintf(b, sizeof b, "t:%.*s", (int)in->path.len, (const char *)in->path.p);
        push(out, b, (size_t)n);
        return 0;
    }
    case EMBER_IN_SHUFFLE: {
        char **paths = calloc(in->npaths ? in->npaths : 1, sizeof *paths);
        for (uint32_t i = 0; i < in->npaths; i++) {
            paths[i] = malloc(in->paths[i].len + 1);
            memcpy(paths[i], in->paths[i].p, in->paths[i].len);
            paths[i][in->paths[i].len] = 0;
        }
        ember_shuffle_reader *r = NULL;
        int rc = ember_shuffle_reader_open((const char *const *)paths, in->npaths, in->bucket, &r);
        const void *rec;
        size_t len;
        while (!rc && (rc = ember_shuffle_reader_next(r, &rec, &len)) == 1) {
            push(out, rec, len);
            rc = 0;
        }
        if (rc < 0) snprintf(err, errcap, "reading a shuffle bucket: %s", ember_last_error());
        ember_shuffle_reader_close(r);
        for (uint32_t i = 0; i < in->npaths; i++)
            free(paths[i]);
        free(paths);
        return rc < 0 ? -1 : 0;
    }
    case EMBER_IN_BLOCK: {
        char path[4096];
        snprintf(path, sizeof path, "%.*s", (int)in->path.len, (const char *)in->path.p);
        emberM_batches b;
        if (emberM_block_read(path, "a cached partition", &b)) {
            snprintf(err, errcap, "reading a block file: %s", ember_last_error());
            snprintf(fetch_failed_path, sizeof fetch_failed_path, "%s", path); /* as Python workers, FETCH_FAILED */
            return -1;
        }
        for (size_t i = 0; i < b.n; i++)
            push(out, b.bufs[i].data, b.bufs[i].len);
        emberM_batches_clear(&b);
        return 0;
    }
    default:
        for (uint32_t i = 0; i < in->nchildren; i++)
            if (produce(&in->children[i], streams, out, err, errcap)) return -1;
        return 0;
    }
}

static void run_task(int wfd, emberW_task *t, command *cmds, size_t ncmds, batches *streams) {
    char words[8192] = "";
    collect_words(&t->input, cmds, ncmds, words, sizeof words);
    if (t->output == EMBER_OUT_SHUFFLE) {
        strncat(words, " ", sizeof words - strlen(words) - 1);
        strncat(words, command_text(cmds, ncmds, t->spec_id), sizeof words - strlen(words) - 1);
    }
    char value[4096], err[4400] = "";
    if (has_word(words, "die-once") && t->attempt == 0) _exit(3);
    if (has_word(words, "hang"))
        for (;;)
            pause();
    if (word_value(words, "gate", value, sizeof value)) wait_gate(value, t);
    if (word_value(words, "gate0", value, sizeof value) && t->partition == 0) wait_gate(value, t);
    if (word_value(words, "gaterest", value, sizeof value) && t->partition != 0) wait_gate(value, t);
    if (has_word(words, "fail") || (has_word(words, "fail-once") && t->attempt == 0)) {
        snprintf(err, sizeof err, "fake failure in partition %u (attempt %u)", t->partition, t->attempt);
        send_frame(wfd, EMBER_FRAME_TASK_ERROR, err, strlen(err));
        return;
    }
    batches out = {0};
    if (word_value(words, "big", value, sizeof value)) {
        size_t n = (size_t)strtoull(value, NULL, 10);
        char *x = malloc(n ? n : 1);
        memset(x, 'x', n);
        push(&out, x, n);
        free(x);
    } else if ((fetch_failed_path[0] = 0, produce(&t->input, streams, &out, err, sizeof err))) {
        emberB_buf ff = {0};
        if (fetch_failed_path[0] &&
            emberW_fetch_failed_encode(&ff, fetch_failed_path, strlen(fetch_failed_path), err, strlen(err)) == 0)
            send_frame(wfd, EMBER_FRAME_FETCH_FAILED, ff.data, ff.len);
        else
            send_frame(wfd, EMBER_FRAME_TASK_ERROR, err, strlen(err));
        emberB_free(&ff);
        clear(&out);
        free(out.v);
        return;
    }
    emberB_buf done = {0};
    uint64_t metrics[EMBER_METRICS] = {0}; /* made up (see the top): the engine's tests read them back */
    for (int i = 0; i < EMBER_METRIC_REMOTE_BYTES_FETCHED; i++)
        metrics[i] = (uint64_t)(i + 1) * 1000 + t->partition;
    if (t->output == EMBER_OUT_SHUFFLE) {
        char path[4200];
        snprintf(path, sizeof path, "%.*s", (int)t->shuffle_path.len, (const char *)t->shuffle_path.p);
        ember_shuffle_writer *w;
        uint64_t *sizes = calloc(t->nbuckets ? t->nbuckets : 1, sizeof *sizes);
        int rc = ember_shuffle_writer_open(path, t->nbuckets, 1 << 20, &w);
        for (size_t i = 0; i < out.n && !rc; i++) {
            uint32_t bucket = out.v[i].len ? out.v[i].data[0] % t->nbuckets : 0;
            rc = ember_shuffle_writer_append(w, bucket, out.v[i].data, out.v[i].len);
        }
        if (!rc)
            rc = ember_shuffle_writer_commit(w, sizes);
        else
            ember_shuffle_writer_abort(w);
        if (rc) {
            snprintf(err, sizeof err, "writing a shuffle file: %s", ember_last_error());
            send_frame(wfd, EMBER_FRAME_TASK_ERROR, err, strlen(err));
        } else {
            emberW_done_encode(&done, sizes, t->nbuckets, "report", 6, metrics, EMBER_METRICS);
            send_frame(wfd, EMBER_FRAME_TASK_DONE, done.data, done.len);
        }
        free(sizes);
    } else {
        for (size_t i = 0; i < out.n; i++)
            send_frame(wfd, EMBER_FRAME_DATA, out.v[i].data, out.v[i].len);
        emberW_done_encode(&done, NULL, 0, "report", 6, metrics, EMBER_METRICS);
        send_frame(wfd, EMBER_FRAME_TASK_DONE, done.data, done.len);
    }
    emberB_free(&done);
    clear(&out);
    free(out.v);
}

static int worker_main(int rfd, int wfd) {
    emberW_parser p = {0};
    command *cmds = NULL;
    size_t ncmds = 0;
    for (;;) {
        uint32_t type;
        const uint8_t *payload;
        size_t len;
        int r = emberW_read_frame(&p, rfd, &type, &payload, &len);
        if (r == 0) return 0;
        if (r < 0) return 2;
        if (type == EMBER_FRAME_COMMAND) {
            uint64_t id;
            emberW_bytes text;
            if (emberW_command_decode(payload, len, &id, &text)) return 2;
            cmds = realloc(cmds, (ncmds + 1) * sizeof *cmds);
            cmds[ncmds].id = id;
            cmds[ncmds].text = strndup((const char *)text.p, text.len);
            ncmds++;
        } else if (type == EMBER_FRAME_FORGET) {
            uint64_t id;
            if (emberW_u64_decode(payload, len, &id)) return 2;
            for (size_t i = 0; i < ncmds; i++)
                if (cmds[i].id == id) {
                    free(cmds[i].text);
                    cmds[i] = cmds[--ncmds];
                    break;
                }
        } else if (type == EMBER_FRAME_TASK) {
            uint8_t *copy = malloc(len ? len : 1); /* the parser's buffer moves on */
            memcpy(copy, payload, len);
            emberW_task t;
            if (emberW_task_decode(copy, len, &t)) return 2;
            /* Read every input stream to its end first, then answer. */
            batches *streams = calloc(t.nstreams ? t.nstreams : 1, sizeof *streams);
            uint32_t ended = 0, cur = UINT32_MAX;
            while (ended < t.nstreams) {
                if (emberW_read_frame(&p, rfd, &type, &payload, &len) != 1) return 2;
                if (type == EMBER_FRAME_INPUT_BEGIN) {
                    if (emberW_u32_decode(payload, len, &cur) || cur >= t.nstreams) return 2;
                } else if (type == EMBER_FRAME_DATA && cur != UINT32_MAX) {
                    push(&streams[cur], payload, len);
                } else if (type == EMBER_FRAME_INPUT_END && cur != UINT32_MAX) {
                    ended++;
                    cur = UINT32_MAX;
                } else {
                    return 2;
                }
            }
            run_task(wfd, &t, cmds, ncmds, streams);
            for (uint32_t i = 0; i < t.nstreams; i++) {
                clear(&streams[i]);
                free(streams[i].v);
            }
            free(streams);
            emberW_task_free(&t);
            free(copy);
        } else {
            return 2;
        }
    }
}

/* ---- the daemon --------------------------------------------------------------- */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONTROL_FD TMPDIR (started by the engine, see ember_config.daemon)\n", argv[0]);
        return 2;
    }
    int ctl = atoi(argv[1]);
    signal(SIGCHLD, SIG_IGN); /* workers are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    pid_t children[256];
    size_t nchildren = 0;
    for (;;) {
        char byte;
        int fds[2];
        struct iovec iov = {&byte, 1};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof fds)];
        } cm;
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof cm.buf;
        ssize_t r = recvmsg(ctl, &msg, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (byte == 'S') { /* how a worker ended: unknown here (the kernel reaps them) */
            uint8_t pid[4], answer[8];
            size_t got = 0;
            while (got < 4) {
                ssize_t k = read(ctl, pid + got, 4 - got);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) break;
                got += (size_t)k;
            }
            if (got < 4) break;
            emberB_store_u32(answer, (uint32_t)-2);
            emberB_store_u32(answer + 4, 0);
            if (write(ctl, answer, 8) != 8) break;
            continue;
        }
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof fds)) break;
        memcpy(fds, CMSG_DATA(c), sizeof fds);
        pid_t pid = fork();
        if (pid == 0) {
            close(ctl);
            signal(SIGCHLD, SIG_DFL);
            _exit(worker_main(fds[0], fds[1]));
        }
        close(fds[0]);
        close(fds[1]);
        if (pid > 0 && nchildren < sizeof children / sizeof *children) children[nchildren++] = pid;
        uint8_t answer[4];
        emberB_store_u32(answer, (uint32_t)(pid > 0 ? pid : -errno));
        if (write(ctl, answer, 4) != 4) break;
    }
    for (size_t i = 0; i < nchildren; i++)
        kill(children[i], SIGKILL);
    return 0;
}
