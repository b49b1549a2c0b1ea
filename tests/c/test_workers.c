/* test_workers.c — unit tests of the worker pool (src/workers.c) against a fake
 * daemon: a Python program that speaks the control protocol (F: fork a worker, S:
 * how a worker ended; slow to answer S while a file "slow" is in the pool's temp dir)
 * with workers that exit at once with status 7. Covers the wait status descriptions,
 * the status query with the worker's traceback text, a status answer that comes after
 * the query timed out (read off before the next request, never taken for its answer),
 * the replacement of a daemon that died, and a daemon spawned ahead of its pool
 * (emberX_daemon_spawn): taken when /proc shows it started as the pool would start
 * it, then told the temp dir; else ended and replaced. Skipped (counted as passed, with a note)
 * when no python3 is on PATH.
 */
#include "internal.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256], python[512], pythonpath[4096];

static const char FAKE_DAEMON[] =
    "import os, socket, time\n"
    "def main(argv):\n"
    "    sock = socket.socket(fileno=int(argv[1]))\n"
    "    statuses = {}\n"
    "    if argv[2] == '-':\n"
    "        if sock.recv(1) != b'T':\n"
    "            return\n"
    "        n = int.from_bytes(sock.recv(4), 'little')\n"
    "        argv[2] = sock.recv(n).decode()\n"
    "        with open(os.path.join(argv[2], 'told'), 'w') as f:\n"
    "            f.write(argv[2])\n"
    "    while True:\n"
    "        msg, fds, _, _ = socket.recv_fds(sock, 1, 2)\n"
    "        if not msg:\n"
    "            return\n"
    "        if msg == b'S':\n"
    "            pid = int.from_bytes(sock.recv(4), 'little')\n"
    "            if pid not in statuses:\n"
    "                statuses[pid] = os.waitpid(pid, 0)[1]\n"
    "            status = statuses[pid]\n"
    "            if os.path.exists(os.path.join(argv[2], 'slow')):\n"
    "                time.sleep(0.6)\n"
    "            text = b'fake traceback'\n"
    "            sock.sendall(status.to_bytes(4, 'little', signed=True) + len(text).to_bytes(4, 'little') + text)\n"
    "            continue\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n"
    "            os._exit(7)\n"
    "        for fd in fds:\n"
    "            os.close(fd)\n"
    "        sock.sendall(pid.to_bytes(4, 'little', signed=True))\n";

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Finds python3 and its sys.path; writes the fake ember package. 0 when ready. */
static int setup(void) {
    FILE *p = popen("python3 -c 'import sys; print(sys.executable); print(\":\".join(x for x in sys.path if x))' "
                    "2>/dev/null",
                    "r");
    if (!p) return -1;
    char stdpath[3000] = "";
    int ok = fgets(python, sizeof python, p) && fgets(stdpath, sizeof stdpath, p);
    pclose(p);
    if (!ok) return -1;
    python[strcspn(python, "\n")] = 0;
    stdpath[strcspn(stdpath, "\n")] = 0;
    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/pkg/ember", tmpdir);
    snprintf(file, sizeof file, "%s/pkg", tmpdir);
    if (mkdir(file, 0700) || mkdir(dir, 0700)) return -1;
    snprintf(file, sizeof file, "%s/__init__.py", dir);
    if (write_file(file, "")) return -1;
    snprintf(file, sizeof file, "%s/daemon.py", dir);
    if (write_file(file, FAKE_DAEMON)) return -1;
    snprintf(pythonpath, sizeof pythonpath, "%s/pkg:%s", tmpdir, stdpath);
    return 0;
}

static void test_describe_status(void) {
    char buf[128];
    emberX_describe_status(1 << 8, buf, sizeof buf);
    CHECK(strcmp(buf, "exited with status 1") == 0);
    emberX_describe_status(0, buf, sizeof buf);
    CHECK(strcmp(buf, "exited with status 0") == 0);
    emberX_describe_status(SIGSEGV, buf, sizeof buf);
    CHECK(strcmp(buf, "killed by signal 11 (SIGSEGV)") == 0);
    emberX_describe_status(SIGKILL, buf, sizeof buf);
    CHECK(strcmp(buf, "killed by signal 9 (SIGKILL)") == 0);
    emberX_describe_status(-1, buf, sizeof buf);
    CHECK(strcmp(buf, "exit status unknown") == 0);
}

/* An empty pool of one slot, w, for a daemon started with cfg (python, pythonpath). */
static void one_slot(ember_config *cfg, emberX_pool *pool, emberX_worker *w) {
    *cfg = (ember_config){.slots = 1, .max_failures = 4, .python = python, .pythonpath = pythonpath};
    *w = (emberX_worker){0};
    w->to_fd = w->from_fd = w->pid = -1;
    *pool = (emberX_pool){0};
    pool->nworkers = 1;
    pool->workers = w;
}

/* Ends one_slot's worker, then the pool without it (its slot emptied first). */
static void stop_one_slot(emberX_pool *pool, emberX_worker *w) {
    w->alive = 0;
    emberX_worker_kill(w);
    pool->workers = NULL;
    pool->nworkers = 0;
    emberX_pool_stop(pool);
}

static void test_status_and_restart(void) {
    ember_config cfg;
    emberX_worker w;
    emberX_pool pool;
    one_slot(&cfg, &pool, &w);
    CHECK(emberX_pool_start(&pool, &cfg, tmpdir) == 0);
    CHECK(emberX_worker_start(&pool, &w) == 0);
    CHECK(w.pid > 0);
    int status = 0;
    char text[64];
    CHECK(emberX_worker_status(&pool, &w, &status, text, sizeof text) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    CHECK(strcmp(text, "fake traceback") == 0);
    CHECK(emberX_worker_status(&pool, &w, &status, text, 5) == 0); /* the text is cut to fit */
    CHECK(strcmp(text, "fake") == 0);
    w.alive = 0;
    emberX_worker_kill(&w);

    /* The daemon dies: the next worker comes from a new one, and a note says so. */
    pid_t old = pool.daemon_pid;
    kill(old, SIGKILL);
    usleep(100 * 1000);
    CHECK(emberX_worker_start(&pool, &w) == 0);
    CHECK(w.pid > 0);
    CHECK(pool.daemon_pid > 0 && pool.daemon_pid != old);
    CHECK(pool.restarts == 1);
    char want[128];
    snprintf(want, sizeof want, "the Python worker daemon (pid %d) died (killed by signal 9 (SIGKILL)", (int)old);
    CHECK(strstr(pool.restart_note, want) != NULL);
    if (!strstr(pool.restart_note, want)) fprintf(stderr, "  note: %s\n", pool.restart_note);
    stop_one_slot(&pool, &w);
    CHECK(pool.daemon_pid == -1);
}

/* A status answer that comes after emberX_worker_status gave up must not be read as
 * the answer to the next request: the next worker's pid, or the next status. */
static void test_late_status_answer(void) {
    ember_config cfg = {.slots = 2, .max_failures = 4, .python = python, .pythonpath = pythonpath};
    emberX_worker w[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++)
        w[i].to_fd = w[i].from_fd = w[i].pid = -1;
    emberX_pool pool = {0};
    pool.nworkers = 2;
    pool.workers = w;
    pool.status_timeout_ms = 100;
    char slow[512];
    snprintf(slow, sizeof slow, "%s/slow", tmpdir);
    CHECK(emberX_pool_start(&pool, &cfg, tmpdir) == 0);
    CHECK(emberX_worker_start(&pool, &w[0]) == 0 && w[0].pid > 0);
    int status = 0;
    char text[64] = "x";
    FILE *f = fopen(slow, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(emberX_worker_status(&pool, &w[0], &status, text, sizeof text) == EMBER_ESPAWN);
    CHECK(status == -2 && text[0] == 0 && strstr(ember_last_error(), "within 100 ms") != NULL);
    /* Asked again while the first answer is still coming: refused, nothing sent. */
    CHECK(emberX_worker_status(&pool, &w[0], &status, text, sizeof text) == EMBER_ESPAWN);
    CHECK(strstr(ember_last_error(), "not yet answered") != NULL);
    remove(slow);
    /* The next worker: its pid is the daemon's answer to this request, not the late
     * status (whose first four bytes are the wait status of exit code 7, 1792). */
    CHECK(emberX_worker_start(&pool, &w[1]) == 0);
    CHECK(w[1].pid > 0 && w[1].pid != w[0].pid && w[1].pid != 7 << 8);
    CHECK(emberX_worker_status(&pool, &w[1], &status, text, sizeof text) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7 && strcmp(text, "fake traceback") == 0);
    /* A late answer dropped by a status query instead: the query gets its own answer. */
    f = fopen(slow, "w");
    if (f) fclose(f);
    CHECK(emberX_worker_status(&pool, &w[0], &status, text, sizeof text) == EMBER_ESPAWN);
    remove(slow);
    pool.status_timeout_ms = 5000;
    CHECK(emberX_worker_status(&pool, &w[1], &status, text, 5) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7 && strcmp(text, "fake") == 0);
    CHECK(!pool.late.pending);
    for (int i = 0; i < 2; i++) {
        w[i].alive = 0;
        emberX_worker_kill(&w[i]);
    }
    pool.workers = NULL;
    pool.nworkers = 0;
    emberX_pool_stop(&pool);
}

/* A daemon whose end of the control socket is closed before the request is sent
 * (sendmsg fails with EPIPE) is named like one that closes it after (read sees EOF):
 * which daemon exited and where its error went, not the bare errno. */
static void test_daemon_gone_before_the_request(void) {
    char daemon[600];
    snprintf(daemon, sizeof daemon, "%s/closes-socket.sh", tmpdir);
    CHECK(write_file(daemon, "#!/bin/sh\nexec 3>&-\nexec sleep 1\n") == 0);
    CHECK(chmod(daemon, 0700) == 0);
    ember_config cfg;
    emberX_worker w;
    emberX_pool pool;
    one_slot(&cfg, &pool, &w);
    cfg.python = NULL;
    cfg.daemon = daemon;
    CHECK(emberX_pool_start(&pool, &cfg, tmpdir) == 0);
    usleep(200 * 1000); /* the script has closed its socket by now */
    CHECK(emberX_worker_start(&pool, &w) == EMBER_ESPAWN);
    /* The first daemon's failure is the restart note's reason (the second daemon may
     * close its socket before or after the request: either way the error is the same). */
    const char *want = "(ember_config.daemon) exited before starting a worker";
    CHECK(strstr(pool.restart_note, want) != NULL && strstr(pool.restart_note, "Broken pipe") == NULL);
    CHECK(strstr(ember_last_error(), want) != NULL);
    if (!strstr(pool.restart_note, want)) fprintf(stderr, "  note: %s\n", pool.restart_note);
    stop_one_slot(&pool, &w);
}

/* 1 when pid is gone (reaped: no such process). */
static int process_gone(pid_t pid) { return kill(pid, 0) < 0 && errno == ESRCH; }

static void test_started_daemon(void) {
    ember_config cfg;
    emberX_worker w;
    emberX_pool pool;
    one_slot(&cfg, &pool, &w);
    char told[600], got[300] = "";
    snprintf(told, sizeof told, "%s/told", tmpdir);
    remove(told);
    pid_t started;
    int fd;
    CHECK(emberX_daemon_spawn(&cfg, &started, &fd) == 0 && started > 0 && fd >= 0);
    CHECK(emberX_pool_adopt(&pool, &cfg, tmpdir, started, fd) == 0);
    CHECK(pool.daemon_pid == started && pool.ctl_fd == fd);
    CHECK(emberX_worker_start(&pool, &w) == 0 && w.pid > 0); /* answered after reading T */
    FILE *f = fopen(told, "r");
    CHECK(f != NULL);
    if (f) {
        CHECK(fgets(got, sizeof got, f) != NULL);
        fclose(f);
    }
    CHECK(strcmp(got, tmpdir) == 0);
    w.alive = 0;
    emberX_worker_kill(&w);
    emberX_pool_stop(&pool);
    CHECK(process_gone(started));

    /* Spawned with another sys.path than the pool's: ended, and a new one spawned
     * (given the temp dir on its command line, so it writes no file). */
    remove(told);
    ember_config other = cfg;
    other.pythonpath = tmpdir;
    CHECK(emberX_daemon_spawn(&other, &started, &fd) == 0);
    CHECK(emberX_pool_adopt(&pool, &cfg, tmpdir, started, fd) == 0);
    CHECK(process_gone(started));
    CHECK(pool.daemon_pid > 0 && pool.daemon_pid != started);
    CHECK(emberX_worker_start(&pool, &w) == 0 && w.pid > 0);
    CHECK(access(told, F_OK) != 0);
    stop_one_slot(&pool, &w);

    /* The environment changed since: the same. */
    CHECK(emberX_daemon_spawn(&cfg, &started, &fd) == 0);
    setenv("EMBER_TEST_WORKERS_CHANGED", "1", 1);
    CHECK(emberX_pool_adopt(&pool, &cfg, tmpdir, started, fd) == 0);
    unsetenv("EMBER_TEST_WORKERS_CHANGED");
    CHECK(process_gone(started) && pool.daemon_pid > 0 && pool.daemon_pid != started);
    emberX_pool_stop(&pool);

    /* A daemon killed before it was taken: the pool's workers come from a new one
     * (started at once when the kill has shown in /proc, else as one that died). */
    one_slot(&cfg, &pool, &w);
    CHECK(emberX_daemon_spawn(&cfg, &started, &fd) == 0);
    kill(started, SIGKILL);
    CHECK(emberX_pool_adopt(&pool, &cfg, tmpdir, started, fd) == 0);
    CHECK(emberX_worker_start(&pool, &w) == 0 && w.pid > 0);
    CHECK(process_gone(started) && pool.daemon_pid > 0 && pool.daemon_pid != started);
    stop_one_slot(&pool, &w);

    /* Discarded untaken: ended and reaped at once. */
    CHECK(emberX_daemon_spawn(&cfg, &started, &fd) == 0);
    emberX_daemon_discard(started, fd);
    CHECK(process_gone(started));
    emberX_daemon_discard(0, -1); /* none: nothing */
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ember-test-workers-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_describe_status);
    if (setup() == 0) {
        RUN(test_status_and_restart);
        RUN(test_late_status_answer);
        RUN(test_started_daemon);
        RUN(test_daemon_gone_before_the_request);
    } else
        fprintf(stderr, "test_workers: no python3 on PATH, the pool tests are skipped\n");
    remove_tree(tmpdir);
    return TEST_REPORT();
}
