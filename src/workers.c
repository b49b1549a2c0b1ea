/* workers.c — the Python worker processes: one daemon per context, started with
 * posix_spawn, and one worker per task slot, forked by the daemon on request. The
 * daemon is ember.daemon (see DAEMON_BOOT), or the executable ember_config.daemon names,
 * or — a context with neither — the native daemon: the driver's own executable run
 * again with EMBER_NATIVE_DAEMON=1 (nworker.c)
 * (the scheduler's C tests use a fake worker that speaks the same protocols).
 *
 * Design. The engine and the daemon share a Unix socket (the control channel). To
 * start a worker the engine makes two pipes, sends the worker's ends to the daemon
 * with SCM_RIGHTS and reads back the new process id. From then on the engine talks
 * to the worker directly over those pipes (frames of wire.h) and the daemon only
 * reaps it; asked ('S'), it says how a worker ended. Requests are answered in order,
 * one at a time: an answer the engine stopped waiting for is read off the socket
 * before the next request, so no answer is ever taken for another's. The daemon
 * runs in its own process group, so a Ctrl-C at the terminal reaches the driver
 * only, which cancels jobs itself. stop() and interpreter exit send 'Q': the daemon
 * kills its workers and exits, and the context removes its temp dir. When the control
 * channel closes without 'Q' — the driver died — the daemon kills its workers,
 * removes the temp dir and exits.
 *
 * Engine-side pipe ends are non-blocking and close-on-exec. Writes block SIGPIPE
 * in the calling thread so that a dead worker shows up as EPIPE, not a signal.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* 1 for the variables of an MPI launch (Open MPI's, PMIx's, PMI's): workers must not
 * see them, or an MPI library a user function loads would take itself for a rank. */
static int mpi_variable(const char *e) {
    return strncmp(e, "OMPI_", 5) == 0 || strncmp(e, "PMIX_", 5) == 0 || strncmp(e, "PMI_", 4) == 0;
}

/* Frees what daemon_env returned (NULL: nothing). */
static void free_env(char **env) {
    if (!env) return;
    for (size_t i = 0; env[i]; i++)
        ember_free(env[i]);
    ember_free(env);
}

/* Builds the daemon's environment, a copy the caller frees with free_env: ours
 * without MPI's variables, with PYTHONHASHSEED=0 (workers hash the same everywhere)
 * and PYTHONPATH replaced when given; for the native daemon (nworker.c)
 * EMBER_NATIVE_DAEMON=1 too, and EMBER_TYPED_RESULTS=1 for Python workers whose
 * results a C program reads (ember_config.typed_results). NULL when out of memory. */
static char **daemon_env(const char *pythonpath, int native, int typed_results) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = ember_calloc(n + 5, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "PYTHONHASHSEED=", 15) == 0 || mpi_variable(environ[i])) continue;
        if (pythonpath && strncmp(environ[i], "PYTHONPATH=", 11) == 0) continue;
        if (strncmp(environ[i], EMBER_NATIVE_DAEMON_VAR "=", sizeof EMBER_NATIVE_DAEMON_VAR) == 0) continue;
        if (strncmp(environ[i], "EMBER_TYPED_RESULTS=", 20) == 0) continue;
        if (!(env[k++] = ember_strdup(environ[i]))) goto fail;
    }
    if (!(env[k++] = ember_strdup("PYTHONHASHSEED=0"))) goto fail;
    if (native && !(env[k++] = ember_strdup("EMBER_NATIVE_DAEMON=1"))) goto fail;
    if (typed_results && !native && !(env[k++] = ember_strdup("EMBER_TYPED_RESULTS=1"))) goto fail;
    if (pythonpath) {
        size_t len = strlen(pythonpath) + 12;
        if (!(env[k++] = ember_malloc(len))) goto fail;
        snprintf(env[k - 1], len, "PYTHONPATH=%s", pythonpath);
    }
    env[k] = NULL;
    return env;
fail:
    free_env(env); /* calloc'd: the entries not yet filled are NULL */
    return NULL;
}

/* What the daemon's interpreter runs. `python -m` or `-c` would put the working
 * directory first on sys.path, so that an `ember/` package or a `cloudpickle.py`
 * merely sitting there would shadow the driver's: the first line replaces sys.path
 * with PYTHONPATH as given (the driver's sys.path, absolute), or drops the working
 * directory when none is given; only then is ember imported. ember/_early.py spawns
 * the same command line (its BOOT) ahead of a context; emberX_pool_adopt takes such
 * a daemon only when /proc shows exactly what spawn_daemon would run. */
#define DAEMON_BOOT                                                                                                    \
    "import os, sys\n"                                                                                                 \
    "_p = os.environ.get('PYTHONPATH')\n"                                                                              \
    "sys.path[:] = [e for e in _p.split(os.pathsep) if e] if _p else sys.path[1:]\n"                                   \
    "from ember import daemon\n"                                                                                       \
    "daemon.main(sys.argv)\n"

/* Spawns the daemon of cfg in its own process group, its control socket on its fd 3
 * and tmpdir its last argument ("-": the temp dir comes first on the control socket,
 * see send_tmpdir). *env_out, when not NULL, gets the environment it was given (free
 * with free_env). */
static int spawn_daemon(const ember_config *cfg, const char *tmpdir, pid_t *pid_out, int *fd_out, char ***env_out) {
    int rc = 0, sv[2] = {-1, -1};
    char **env = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    *pid_out = -1;
    *fd_out = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return emberE_errno(EMBER_ESPAWN, errno, "creating the worker daemon's control socket");
    /* Without an interpreter or a daemon: the native daemon, this very program run
     * again (see nworker.c). */
    int native = !cfg->python && !cfg->daemon;
    if (native) emberV_link();
    env = daemon_env(cfg->pythonpath, native, cfg->typed_results);
    if (!env) {
        rc = emberE_set(EMBER_ENOMEM, "out of memory building the daemon's environment");
        goto close_socket;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3); /* dup2 clears close-on-exec */
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *python_argv[] = {(char *)cfg->python, "-c", (char *)DAEMON_BOOT, "3", (char *)tmpdir, NULL};
    char *daemon_argv[] = {(char *)cfg->daemon, "3", (char *)tmpdir, NULL};
    char *native_argv[] = {"/proc/self/exe", "3", (char *)tmpdir, NULL};
    char **argv = native ? native_argv : cfg->daemon ? daemon_argv : python_argv;
    int err = posix_spawn(pid_out, argv[0], &fa, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        if (native)
            rc = emberE_errno(EMBER_ESPAWN, err, "starting the native worker daemon (/proc/self/exe)");
        else if (cfg->daemon)
            rc = emberE_errno(EMBER_ESPAWN, err, "starting the worker daemon '%s' (ember_config.daemon)", cfg->daemon);
        else
            rc = emberE_errno(EMBER_ESPAWN, err, "starting the worker daemon with '%s'", cfg->python);
        *pid_out = -1;
        goto drop_env;
    }
    *fd_out = sv[0];
    sv[0] = -1;
    if (env_out) {
        *env_out = env;
        env = NULL;
    }
drop_env:
    free_env(env);
close_socket:
    if (sv[0] >= 0) close(sv[0]);
    close(sv[1]);
    return rc;
}

static void pool_init(emberX_pool *pool, const ember_config *cfg, const char *tmpdir) {
    pool->ctl_fd = -1;
    pool->daemon_pid = -1;
    pool->cfg = cfg;
    pool->tmpdir = tmpdir;
    memset(&pool->late, 0, sizeof pool->late); /* a new socket: no answer owed */
}

int emberX_pool_start(emberX_pool *pool, const ember_config *cfg, const char *tmpdir) {
    pool_init(pool, cfg, tmpdir);
    return spawn_daemon(cfg, tmpdir, &pool->daemon_pid, &pool->ctl_fd, NULL);
}

/* ---- a daemon started before its context ------------------------------------- */

int emberX_daemon_spawn(const ember_config *cfg, pid_t *pid, int *fd) { return spawn_daemon(cfg, "-", pid, fd, NULL); }

/* Reads the whole of a /proc file into b (emptied first). 0, or -1. */
static int read_proc(pid_t pid, const char *what, emberB_buf *b) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    b->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = 0;
    for (;;) {
        if (emberB_reserve(b, 4096)) {
            rc = -1;
            break;
        }
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = -1;
        if (r <= 0) break;
        b->len += (size_t)r;
    }
    close(fd);
    return rc;
}

/* Reads pid's command line into b. A spawner returns once the child's exec has
 * replaced its memory, before the kernel has put the arguments there: an empty
 * command line is read again (for at most 100 ms) unless pid has ended. */
static int read_cmdline(pid_t pid, emberB_buf *b) {
    for (int i = 0; i < 200; i++) {
        if (read_proc(pid, "cmdline", b) != 0) return -1;
        if (b->len) return 0;
        if (read_proc(pid, "stat", b) != 0 || emberB_reserve(b, 1)) return -1;
        b->data[b->len] = 0;
        /* "pid (name) state ...": a zombie or a dead process has ended */
        const char *end = strrchr((char *)b->data, ')');
        if (!end || end[1] != ' ' || end[2] == 'Z' || end[2] == 'X') return -1;
        struct timespec ts = {0, 500 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* 1 when the NUL-terminated strings packed in b are list (NULL-terminated), in order. */
static int packed_is(const emberB_buf *b, char *const *list) {
    size_t pos = 0;
    for (size_t i = 0; list[i]; i++) {
        size_t n = strlen(list[i]) + 1;
        if (pos + n > b->len || memcmp(b->data + pos, list[i], n) != 0) return 0;
        pos += n;
    }
    return pos == b->len;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* 1 when the NUL-terminated strings packed in b are list (NULL-terminated) in any order. */
static int packed_is_set(emberB_buf *b, char **list) {
    size_t n = 0, k = 0;
    while (list[n])
        n++;
    for (size_t pos = 0; pos < b->len; pos += strlen((char *)b->data + pos) + 1)
        k++;
    if (k != n || (b->len && b->data[b->len - 1] != 0)) return 0;
    char **got = ember_calloc(n + 1, sizeof *got);
    if (!got) return 0;
    k = 0;
    for (size_t pos = 0; pos < b->len; pos += strlen((char *)b->data + pos) + 1)
        got[k++] = (char *)b->data + pos;
    qsort(got, n, sizeof *got, compare_strings);
    qsort(list, n, sizeof *list, compare_strings);
    int same = 1;
    for (size_t i = 0; i < n && same; i++)
        same = strcmp(got[i], list[i]) == 0;
    ember_free(got);
    return same;
}

/* 1 when process pid, a child of ours, runs what spawn_daemon(cfg, "-") runs: the
 * same command line and environment, as /proc shows them. */
static int runs_as_spawned(pid_t pid, const ember_config *cfg) {
    if (!cfg->python || cfg->daemon) return 0;
    char *argv[] = {(char *)cfg->python, "-c", (char *)DAEMON_BOOT, "3", "-", NULL};
    char **env = daemon_env(cfg->pythonpath, 0, cfg->typed_results);
    emberB_buf b = {0};
    int same = env && read_cmdline(pid, &b) == 0 && packed_is(&b, argv) && read_proc(pid, "environ", &b) == 0 &&
               packed_is_set(&b, env);
    emberB_free(&b);
    free_env(env);
    return same;
}

/* Sends the temp dir to a daemon started with "-": 'T', its length (u32), its bytes. */
static int send_tmpdir(int fd, const char *tmpdir) {
    size_t len = strlen(tmpdir);
    uint8_t head[5] = {'T'};
    emberB_store_u32(head + 1, (uint32_t)len);
    struct iovec iov[2] = {{head, sizeof head}, {(void *)tmpdir, len}};
    struct msghdr msg = {0};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t s;
    do
        s = sendmsg(fd, &msg, MSG_NOSIGNAL);
    while (s < 0 && errno == EINTR);
    return s == (ssize_t)(sizeof head + len) ? 0 : -1;
}

void emberX_daemon_discard(pid_t pid, int fd) {
    if (fd >= 0) close(fd);
    if (pid > 0) { /* no workers and no temp dir yet: nothing to wait for */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
}

int emberX_pool_adopt(emberX_pool *pool, const ember_config *cfg, const char *tmpdir, pid_t pid, int fd) {
    if (pid <= 0) return emberX_pool_start(pool, cfg, tmpdir);
    if (!runs_as_spawned(pid, cfg) || send_tmpdir(fd, tmpdir) != 0) {
        emberX_daemon_discard(pid, fd);
        return emberX_pool_start(pool, cfg, tmpdir);
    }
    pool_init(pool, cfg, tmpdir);
    pool->daemon_pid = pid;
    pool->ctl_fd = fd;
    return 0;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void drop_queue(emberX_worker *w) {
    for (size_t i = w->outq_head; i < w->outq_len; i++)
        ember_free(w->outq[i].owned);
    w->outq_head = w->outq_len = 0;
}

void emberX_worker_kill(emberX_worker *w) {
    /* A remote worker ends when the network thread sees its pipes close (mpi.c). */
    if (w->alive && w->pid > 0 && !w->remote) kill(w->pid, SIGKILL);
    w->alive = 0;
    w->pid = -1;
    close_fd(&w->to_fd);
    close_fd(&w->from_fd);
    drop_queue(w);
    w->nsent = 0;
    w->in.pos = w->in.len = 0;
    w->task = NULL;
}

/* Milliseconds from now to *end (CLOCK_MONOTONIC), negative once it passed. */
static long ms_until(const struct timespec *end) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* The in-process transport's stop: the daemon's workers, then the daemon. */
static void daemon_stop(emberX_pool *pool) {
    for (size_t i = 0; i < pool->nworkers; i++) {
        emberX_worker_kill(&pool->workers[i]);
        ember_free(pool->workers[i].sent);
        ember_free(pool->workers[i].outq);
        emberW_parser_free(&pool->workers[i].in);
    }
    /* 'Q' tells the daemon that the engine is stopping and removes the temp dir itself
     * (a daemon that sees EOF without it, its driver gone, removes it). The daemon exits
     * on 'Q' or EOF, and its end of the socket closes as it exits: wait for that, then
     * reap it; two seconds in all, then SIGKILL. */
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 2;
    if (pool->ctl_fd >= 0 && pool->daemon_pid > 0) {
        char quit = 'Q';
        ssize_t sent;
        do
            sent = send(pool->ctl_fd, &quit, 1, MSG_NOSIGNAL);
        while (sent < 0 && errno == EINTR);
        shutdown(pool->ctl_fd, SHUT_WR);
        for (;;) {
            long ms = ms_until(&end);
            struct pollfd p = {.fd = pool->ctl_fd, .events = POLLIN};
            int pr = ms > 0 ? poll(&p, 1, (int)ms) : 0;
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) break;
            char buf[64];
            ssize_t r = read(pool->ctl_fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) break;
        }
    }
    close_fd(&pool->ctl_fd);
    if (pool->daemon_pid > 0) {
        for (;;) {
            pid_t r = waitpid(pool->daemon_pid, NULL, WNOHANG);
            if (r == pool->daemon_pid || (r < 0 && errno != EINTR)) {
                pool->daemon_pid = -1;
                break;
            }
            if (ms_until(&end) <= 0) break;
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (pool->daemon_pid > 0) {
            kill(pool->daemon_pid, SIGKILL);
            waitpid(pool->daemon_pid, NULL, 0);
            pool->daemon_pid = -1;
        }
    }
}

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

#define DAEMON_GONE 1 /* internal: request_worker found no daemon answering */
static int request_worker(emberX_pool *pool, emberX_worker *w);

/* Waits for the daemon to be gone (killing it after two seconds); its wait status. */
static int reap_daemon(emberX_pool *pool) {
    int status = -1;
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(pool->daemon_pid, &status, WNOHANG);
        if (r == pool->daemon_pid) {
            pool->daemon_pid = -1;
            return status;
        }
        if (r < 0 && errno != EINTR) {
            pool->daemon_pid = -1;
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pool->daemon_pid, SIGKILL);
    waitpid(pool->daemon_pid, &status, 0);
    pool->daemon_pid = -1;
    return status;
}

/* 1 when the daemon process has ended (it is then reaped, its status in *status). */
static int daemon_gone(emberX_pool *pool, int *status) {
    if (pool->daemon_pid <= 0) return 1;
    pid_t r;
    do
        r = waitpid(pool->daemon_pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) *status = -1;
    pool->daemon_pid = -1;
    return 1;
}

/* Which daemon the pool runs, for messages: "the Python worker daemon", "the native
 * worker daemon" (this program run again) or "the worker daemon" (ember_config.daemon). */
static const char *daemon_name(const emberX_pool *pool) {
    if (pool->cfg && pool->cfg->python) return "the Python worker daemon";
    return pool->cfg && pool->cfg->daemon ? "the worker daemon" : "the native worker daemon";
}

/* Replaces a daemon that died (pid old; wait status, -1 unknown): reaps it if still
 * needed and starts a new one; notes what happened for ember_context_daemon_restarts. */
static int restart_daemon(emberX_pool *pool, pid_t old, int status, const char *why) {
    close_fd(&pool->ctl_fd);
    if (pool->daemon_pid > 0) status = reap_daemon(pool);
    char how[96];
    emberX_describe_status(status, how, sizeof how);
    int rc = emberX_pool_start(pool, pool->cfg, pool->tmpdir);
    if (pool->note_mu) pthread_mutex_lock(pool->note_mu);
    if (!rc) pool->restarts++;
    snprintf(pool->restart_note, sizeof pool->restart_note, "%s (pid %d) died (%s; %s); %s", daemon_name(pool),
             (int)old, how, why, rc ? "starting a new one failed: " : "started a new one");
    if (rc) {
        size_t used = strlen(pool->restart_note);
        snprintf(pool->restart_note + used, sizeof pool->restart_note - used, "%s", ember_last_error());
    }
    if (pool->note_mu) pthread_mutex_unlock(pool->note_mu);
    return rc;
}

void emberX_describe_status(int status, char *buf, size_t cap) {
    if (status < 0) {
        snprintf(buf, cap, "exit status unknown");
    } else if (WIFEXITED(status)) {
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig);
        snprintf(buf, cap, "killed by signal %d (SIG%s)%s", sig, name ? name : "?",
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, cap, "ended with wait status 0x%x", (unsigned)status);
    }
}

/* Reads at most n bytes from the control socket until *end (NULL: no limit). Returns
 * the bytes read (fewer than n when the time ran out), or -1 at EOF or on an error. */
static long read_until(int fd, void *buf, size_t n, const struct timespec *end) {
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        long ms = end ? ms_until(end) : -1;
        if (end && ms <= 0) break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -1;
        if (pr == 0) break;
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return (long)got;
}

/* Reads the status answer in progress (pool->late) until *end (NULL: no limit): its
 * wait status into *status, its traceback into text (cap bytes, *kept of them filled so
 * far; text NULL drops it). 0 when the answer is complete, -1 when the time ran out
 * (the answer stays in progress, to be read later) or the socket failed. */
static int read_status_answer(emberX_pool *pool, const struct timespec *end, int *status, char *text, size_t cap,
                              size_t *kept) {
    while (pool->late.head_got < sizeof pool->late.head) {
        long k = read_until(pool->ctl_fd, pool->late.head + pool->late.head_got,
                            sizeof pool->late.head - pool->late.head_got, end);
        if (k < 0) return -1;
        pool->late.head_got += (size_t)k;
        if (pool->late.head_got < sizeof pool->late.head) return -1; /* out of time */
        pool->late.body_left = emberB_load_u32(pool->late.head + 4);
    }
    *status = (int32_t)emberB_load_u32(pool->late.head);
    while (pool->late.body_left) {
        char chunk[1024];
        size_t want = pool->late.body_left < sizeof chunk ? pool->late.body_left : sizeof chunk;
        long k = read_until(pool->ctl_fd, chunk, want, end);
        if (k < 0) return -1;
        size_t take = text && cap && *kept + 1 < cap ? ((size_t)k < cap - 1 - *kept ? (size_t)k : cap - 1 - *kept) : 0;
        if (take) memcpy(text + *kept, chunk, take);
        *kept += take;
        pool->late.body_left -= (uint32_t)k;
        if ((size_t)k < want) return -1; /* out of time */
    }
    pool->late.pending = 0;
    return 0;
}

/* Reads, and drops, the answer to a status request the engine stopped waiting for,
 * until *end (NULL: no limit). 0 when none is owed any more. */
static int drop_late_answer(emberX_pool *pool, const struct timespec *end) {
    int status;
    size_t kept = 0;
    return pool->late.pending ? read_status_answer(pool, end, &status, NULL, 0, &kept) : 0;
}

static int daemon_worker_status(emberX_pool *pool, emberX_worker *w, int *status, char *text, size_t cap) {
    pid_t pid = w->pid;
    if (cap) text[0] = 0;
    *status = -2;
    if (pool->ctl_fd < 0 || pid <= 0) return emberE_set(EMBER_ESPAWN, "the worker daemon is not running");
    int timeout_ms = pool->status_timeout_ms > 0 ? pool->status_timeout_ms : 5000;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    if (drop_late_answer(pool, &end) < 0)
        return emberE_set(EMBER_ESPAWN,
                          "the worker daemon has not yet answered how an earlier worker ended; worker %d's end "
                          "is not asked",
                          (int)pid);
    uint8_t req[5] = {'S'};
    emberB_store_u32(req + 1, (uint32_t)pid);
    ssize_t s;
    do
        s = send(pool->ctl_fd, req, sizeof req, MSG_NOSIGNAL);
    while (s < 0 && errno == EINTR);
    if (s != (ssize_t)sizeof req)
        return emberE_set(EMBER_ESPAWN, "the worker daemon could not be asked how worker %d ended", (int)pid);
    memset(&pool->late, 0, sizeof pool->late);
    pool->late.pending = 1; /* until its answer is read whole, here or before the next request */
    size_t kept = 0;
    int rc = read_status_answer(pool, &end, status, text, cap, &kept);
    if (cap) text[rc ? 0 : kept] = 0;
    if (rc) {
        *status = -2;
        return emberE_set(EMBER_ESPAWN, "the worker daemon did not say how worker %d ended within %d ms", (int)pid,
                          timeout_ms);
    }
    return 0;
}

static int daemon_worker_start(emberX_pool *pool, emberX_worker *w) {
    int rc = 0, status = -1;
    if (pool->ctl_fd < 0) return emberE_set(EMBER_ESTOPPED, "the context is stopped; create a new SparkContext");
    pid_t old = pool->daemon_pid;
    if (daemon_gone(pool, &status) && (rc = restart_daemon(pool, old, status, "found when a worker was needed")))
        return rc;
    for (int tries = 0;; tries++) {
        rc = request_worker(pool, w);
        if (rc != DAEMON_GONE) return rc;
        if (tries > 0) return EMBER_ESPAWN; /* a new daemon that does not answer either: give up */
        /* The daemon did not answer: it died since. Replace it, once. */
        char why[256];
        snprintf(why, sizeof why, "%s", ember_last_error());
        old = pool->daemon_pid;
        if ((rc = restart_daemon(pool, old, -1, why))) return rc;
    }
}

const emberX_transport emberX_in_process = {"in-process", daemon_worker_start, daemon_worker_status,
                                            NULL,         daemon_stop,         NULL};

static const emberX_transport *transport_of(const emberX_pool *pool) {
    return pool->transport ? pool->transport : &emberX_in_process;
}

int emberX_worker_start(emberX_pool *pool, emberX_worker *w) { return transport_of(pool)->worker_start(pool, w); }

int emberX_worker_status(emberX_pool *pool, emberX_worker *w, int *status, char *text, size_t cap) {
    return transport_of(pool)->worker_status(pool, w, status, text, cap);
}

int emberX_pool_failure(emberX_pool *pool, char *msg, size_t cap) {
    const emberX_transport *t = transport_of(pool);
    return t->failure ? t->failure(pool, msg, cap) : 0;
}

void emberX_pool_stop(emberX_pool *pool) { transport_of(pool)->stop(pool); }

void emberX_worker_discard(emberX_pool *pool, emberX_worker *w) {
    const emberX_transport *t = transport_of(pool);
    if (t->discard) t->discard(pool, w);
}

/* Sets the error for a daemon that exited before starting a worker, naming which daemon it
 * was and where its own error went. */
static void set_daemon_exited(const emberX_pool *pool) {
    if (pool->cfg && pool->cfg->python)
        emberE_set(EMBER_ESPAWN, "the Python worker daemon exited before starting a worker; check that the "
                                 "workers' interpreter can import ember from the driver's sys.path (its "
                                 "error is on stderr)");
    else if (pool->cfg && pool->cfg->daemon)
        emberE_set(EMBER_ESPAWN,
                   "the worker daemon '%s' (ember_config.daemon) exited before starting a "
                   "worker (its error is on stderr)",
                   pool->cfg->daemon);
    else
        emberE_set(EMBER_ESPAWN, "the native worker daemon (this program run again through /proc/self/exe) "
                                 "exited before starting a worker; its error is on stderr (a launcher that "
                                 "replaces the executable, such as valgrind, cannot run it)");
}

/* Asks the daemon for a worker in slot w. DAEMON_GONE when the daemon does not answer. */
static int request_worker(emberX_pool *pool, emberX_worker *w) {
    int rc = 0, task_pipe[2] = {-1, -1}, result_pipe[2] = {-1, -1};
    /* A status answer still owed comes first on the socket: read it off (waiting as
     * long as for the pid below), so that the pid read is the answer to this request. */
    if (drop_late_answer(pool, NULL) < 0) {
        emberE_set(EMBER_ESPAWN, "the worker daemon closed its control socket before answering");
        return DAEMON_GONE;
    }
    if (pipe2(task_pipe, O_CLOEXEC) < 0 || pipe2(result_pipe, O_CLOEXEC) < 0) {
        rc = emberE_errno(EMBER_ESPAWN, errno, "creating pipes for a Python worker");
        goto close_pipes;
    }
    /* Send the worker's ends: it reads tasks from task_pipe[0], writes results to result_pipe[1]. */
    int fds[2] = {task_pipe[0], result_pipe[1]};
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof fds)];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cm.buf;
    msg.msg_controllen = sizeof cm.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t s;
    do
        s = sendmsg(pool->ctl_fd, &msg, MSG_NOSIGNAL);
    while (s < 0 && errno == EINTR);
    if (s != 1) {
        /* EPIPE or ECONNRESET: the daemon is gone already, which says the same as EOF below. */
        if (errno == EPIPE || errno == ECONNRESET)
            set_daemon_exited(pool);
        else
            emberE_errno(EMBER_ESPAWN, errno, "asking the worker daemon for a worker");
        rc = DAEMON_GONE;
        goto close_pipes;
    }
    uint8_t pidbuf[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(pool->ctl_fd, pidbuf + got, 4 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            set_daemon_exited(pool);
            rc = DAEMON_GONE;
            goto close_pipes;
        }
        got += (size_t)r;
    }
    int32_t pid = (int32_t)emberB_load_u32(pidbuf);
    if (pid <= 0) {
        rc = emberE_errno(EMBER_ESPAWN, -pid, "the worker daemon could not fork a worker");
        goto close_pipes;
    }
    close_fd(&task_pipe[0]);
    close_fd(&result_pipe[1]);
    if (set_nonblock(task_pipe[1]) < 0 || set_nonblock(result_pipe[0]) < 0) {
        kill(pid, SIGKILL);
        rc = emberE_errno(EMBER_ESPAWN, errno, "making worker pipes non-blocking");
        goto close_pipes;
    }
    w->pid = pid;
    w->to_fd = task_pipe[1];
    w->from_fd = result_pipe[0];
    w->alive = 1;
    w->nsent = 0;
    w->task = NULL;
    w->in.pos = w->in.len = 0;
    return 0;
close_pipes:
    close_fd(&task_pipe[0]);
    close_fd(&task_pipe[1]);
    close_fd(&result_pipe[0]);
    close_fd(&result_pipe[1]);
    return rc;
}

int emberX_worker_has(const emberX_worker *w, uint64_t id) {
    for (size_t i = 0; i < w->nsent; i++)
        if (w->sent[i] == id) return 1;
    return 0;
}

int emberX_worker_note(emberX_worker *w, uint64_t id) {
    if (w->nsent == w->capsent) {
        size_t cap = w->capsent ? w->capsent * 2 : 16;
        uint64_t *s = ember_realloc(w->sent, cap * sizeof *s);
        if (!s) return emberE_set(EMBER_ENOMEM, "out of memory noting a worker's commands");
        w->sent = s;
        w->capsent = cap;
    }
    w->sent[w->nsent++] = id;
    return 0;
}

void emberX_worker_unnote(emberX_worker *w, uint64_t id) {
    for (size_t i = 0; i < w->nsent; i++)
        if (w->sent[i] == id) {
            w->sent[i] = w->sent[--w->nsent];
            return;
        }
}

int emberX_queue(emberX_worker *w, uint32_t type, const void *payload, size_t len, int copy) {
    if (len > EMBER_WIRE_MAX_FRAME)
        return emberE_set(EMBER_EINVAL, "a batch of %zu bytes is over the frame limit of %u bytes", len,
                          EMBER_WIRE_MAX_FRAME);
    if (w->outq_head == w->outq_len) w->outq_head = w->outq_len = 0;
    if (w->outq_len == w->outq_cap) {
        if (w->outq_head > 0) {
            memmove(w->outq, w->outq + w->outq_head, (w->outq_len - w->outq_head) * sizeof *w->outq);
            w->outq_len -= w->outq_head;
            w->outq_head = 0;
        } else if (emberB_grow(&w->outq, &w->outq_cap, w->outq_len + 1, sizeof *w->outq, 64)) {
            return emberE_set(EMBER_ENOMEM, "out of memory queueing a frame");
        }
    }
    emberX_outframe *f = &w->outq[w->outq_len];
    emberW_header(f->hdr, type, (uint32_t)len);
    f->owned = NULL;
    f->payload = payload;
    if (copy && len) {
        f->owned = ember_malloc(len);
        if (!f->owned) return emberE_set(EMBER_ENOMEM, "out of memory copying a frame");
        memcpy(f->owned, payload, len);
        f->payload = f->owned;
    }
    f->len = len;
    f->off = 0;
    w->outq_len++;
    return 0;
}

int emberX_flush(emberX_worker *w) {
    int rc = 0;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    while (w->outq_head < w->outq_len) {
        emberX_outframe *f = &w->outq[w->outq_head];
        struct iovec iov[2];
        int n = 0;
        if (f->off < EMBER_WIRE_HEADER) {
            iov[n].iov_base = f->hdr + f->off;
            iov[n++].iov_len = EMBER_WIRE_HEADER - f->off;
            if (f->len) {
                iov[n].iov_base = (void *)f->payload;
                iov[n++].iov_len = f->len;
            }
        } else {
            size_t done = f->off - EMBER_WIRE_HEADER;
            iov[n].iov_base = (void *)(f->payload + done);
            iov[n++].iov_len = f->len - done;
        }
        ssize_t r = writev(w->to_fd, iov, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EPIPE) {
                /* Consume the SIGPIPE this raised, so it never reaches the process. */
                struct timespec zero = {0, 0};
                sigtimedwait(&block, NULL, &zero);
                rc = emberE_set(EMBER_EWORKER, "Python worker %d closed its pipe", (int)w->pid);
            } else {
                rc = emberE_errno(EMBER_EWORKER, errno, "writing to Python worker %d", (int)w->pid);
            }
            break;
        }
        f->off += (size_t)r;
        if (f->off == EMBER_WIRE_HEADER + f->len) {
            ember_free(f->owned);
            f->owned = NULL;
            w->outq_head++;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
