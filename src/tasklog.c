/* tasklog.c — the task log: what each task attempt and each stage did, for the web UI
 * and its REST API (ember_task_infos, ember_stage_records in ember.h).
 *
 * Design. Two rings, one of task attempts and one of stages, under a lock of the log's
 * own (lock order: a caller may hold ctx->mu when it calls in; the log takes no other
 * lock). The engine thread appends an attempt when it starts and fills it in when it
 * ends; readers copy entries out. Attempt ids and stage ids only grow, and entries are
 * appended in that order, so each ring is sorted by id and found by binary search.
 * Each ring grows as it fills, up to its retention (then the oldest entry goes), so a
 * context that runs few tasks holds little. Error texts are the only variable-sized
 * part: each is cut at EMBER_TASKLOG_ERROR_MAX bytes and all together are kept under
 * EMBER_TASKLOG_ERROR_BYTES, the oldest dropped first. Logging is best effort: out of
 * memory, an entry is left out; nothing fails.
 */
#include "internal.h"

#include <time.h>

#define DEFAULT_TASKS 100000
#define DEFAULT_STAGES 1000

int64_t emberL_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void emberL_init(emberL_log *log) {
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mu, NULL);
    log->tmax = DEFAULT_TASKS;
    log->smax = DEFAULT_STAGES;
}

/* Drops every entry; the rings' memory goes too. Caller holds mu. */
static void clear(emberL_log *log) {
    for (size_t i = 0; i < log->tn; i++)
        ember_free(log->tasks[(log->thead + i) % log->tcap].error);
    ember_free(log->tasks);
    ember_free(log->stages);
    log->tasks = NULL;
    log->stages = NULL;
    log->tcap = log->thead = log->tn = log->scap = log->shead = log->sn = 0;
    log->error_bytes = 0;
    log->error_scan = 0;
}

void emberL_destroy(emberL_log *log) {
    pthread_mutex_lock(&log->mu);
    clear(log);
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_destroy(&log->mu);
}

void emberL_retain(emberL_log *log, size_t tasks, size_t stages) {
    pthread_mutex_lock(&log->mu);
    clear(log);
    log->tmax = tasks ? tasks : 1;
    log->smax = stages ? stages : 1;
    log->changes++;
    pthread_mutex_unlock(&log->mu);
}

static emberL_task *task_at(emberL_log *log, size_t i) { return &log->tasks[(log->thead + i) % log->tcap]; }
static ember_stage_record *stage_at(emberL_log *log, size_t i) { return &log->stages[(log->shead + i) % log->scap]; }

/* The logical index of the first attempt with id >= id (tn when none). */
static size_t task_lower_bound(emberL_log *log, uint64_t id) {
    size_t lo = 0, hi = log->tn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (task_at(log, mid)->info.task_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static emberL_task *find_task(emberL_log *log, uint64_t id) {
    size_t i = task_lower_bound(log, id);
    return i < log->tn && task_at(log, i)->info.task_id == id ? task_at(log, i) : NULL;
}

static ember_stage_record *find_stage(emberL_log *log, int id) {
    size_t lo = 0, hi = log->sn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (stage_at(log, mid)->stage_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < log->sn && stage_at(log, lo)->stage_id == id ? stage_at(log, lo) : NULL;
}

/* Room for one more entry at the end of a ring of `size`-byte entries: grows it while
 * under max (a ring grows only before it first wraps, so head is 0 then), else drops
 * the oldest. Returns 0, or -1 when out of memory. */
static int make_room(void **ring, size_t size, size_t *cap, size_t max, size_t *head, size_t *n) {
    if (*n < *cap) return 0;
    if (*cap < max) {
        size_t grown = *cap ? *cap * 2 : 64;
        if (grown > max) grown = max;
        void *p = ember_realloc(*ring, grown * size);
        if (!p) return -1;
        *ring = p;
        *cap = grown;
        return 0;
    }
    *head = (*head + 1) % *cap;
    (*n)--;
    return 0;
}

void emberL_stage_begin(emberL_log *log, const ember_stage_record *rec) {
    pthread_mutex_lock(&log->mu);
    void *ring = log->stages;
    if (make_room(&ring, sizeof *log->stages, &log->scap, log->smax, &log->shead, &log->sn) == 0) {
        log->stages = ring;
        *stage_at(log, log->sn++) = *rec;
        log->changes++;
    }
    pthread_mutex_unlock(&log->mu);
}

void emberL_stage_attempt(emberL_log *log, int stage_id, int attempt) {
    pthread_mutex_lock(&log->mu);
    ember_stage_record *st = find_stage(log, stage_id);
    if (st) st->attempt = attempt;
    pthread_mutex_unlock(&log->mu);
}

void emberL_stage_end(emberL_log *log, int stage_id, int status, int64_t now_ms) {
    pthread_mutex_lock(&log->mu);
    ember_stage_record *st = find_stage(log, stage_id);
    if (st) {
        log->changes++;
        st->status = status;
        st->completed_ms = now_ms;
        /* Attempts still running were killed with their stage. */
        for (size_t i = st->first_task_id ? task_lower_bound(log, st->first_task_id) : log->tn; i < log->tn; i++) {
            ember_task_info *t = &task_at(log, i)->info;
            if (t->stage_id == stage_id && t->status == EMBER_TASK_RUNNING) {
                t->status = EMBER_TASK_KILLED;
                t->finish_ms = now_ms;
            }
        }
    }
    pthread_mutex_unlock(&log->mu);
}

/* Drops the oldest error texts until they fit the budget. Caller holds mu. */
static void trim_errors(emberL_log *log) {
    while (log->error_bytes > EMBER_TASKLOG_ERROR_BYTES && log->error_scan < log->tn) {
        emberL_task *t = task_at(log, log->error_scan++);
        if (!t->error) continue;
        log->error_bytes -= strlen(t->error);
        ember_free(t->error);
        t->error = NULL;
        t->info.has_error = 0;
    }
}

void emberL_task_begin(emberL_log *log, const ember_task_info *info) {
    pthread_mutex_lock(&log->mu);
    void *ring = log->tasks;
    size_t n_before = log->tn;
    if (log->tn == log->tcap && log->tcap == log->tmax && log->tn) {
        emberL_task *oldest = task_at(log, 0); /* make_room drops it: free its error first */
        if (oldest->error) log->error_bytes -= strlen(oldest->error);
        ember_free(oldest->error);
        oldest->error = NULL;
    }
    if (make_room(&ring, sizeof *log->tasks, &log->tcap, log->tmax, &log->thead, &log->tn) == 0) {
        log->tasks = ring;
        if (log->tn < n_before && log->error_scan > 0) log->error_scan--; /* one entry fewer before it */
        emberL_task *t = task_at(log, log->tn++);
        t->info = *info;
        t->info.has_error = 0;
        t->error = NULL;
        ember_stage_record *st = find_stage(log, info->stage_id);
        if (st && !st->first_task_id) st->first_task_id = info->task_id;
    }
    pthread_mutex_unlock(&log->mu);
}

void emberL_task_drop(emberL_log *log, uint64_t task_id) {
    pthread_mutex_lock(&log->mu);
    if (log->tn && task_at(log, log->tn - 1)->info.task_id == task_id) {
        emberL_task *t = task_at(log, log->tn - 1);
        if (t->error) log->error_bytes -= strlen(t->error);
        ember_free(t->error);
        t->error = NULL;
        log->tn--;
        if (log->error_scan > log->tn) log->error_scan = log->tn;
        ember_stage_record *st = find_stage(log, t->info.stage_id);
        if (st && st->first_task_id == task_id) st->first_task_id = 0;
    }
    pthread_mutex_unlock(&log->mu);
}

void emberL_task_end(emberL_log *log, uint64_t task_id, int status, int64_t now_ms, const ember_task_info *end,
                     const char *error) {
    pthread_mutex_lock(&log->mu);
    emberL_task *t = find_task(log, task_id);
    if (t && t->info.status == EMBER_TASK_RUNNING) {
        ember_task_info *i = &t->info;
        log->changes++;
        i->status = status;
        i->finish_ms = now_ms;
        if (end) {
            i->output_bytes = end->output_bytes;
            i->shuffle_write_bytes = end->shuffle_write_bytes;
            i->records_read = end->records_read;
            i->records_written = end->records_written;
            i->shuffle_records_read = end->shuffle_records_read;
            i->shuffle_records_written = end->shuffle_records_written;
            i->memory_bytes_spilled = end->memory_bytes_spilled;
            i->disk_bytes_spilled = end->disk_bytes_spilled;
            i->remote_bytes_fetched = end->remote_bytes_fetched;
            i->fetch_begin_us = end->fetch_begin_us;
            i->fetch_end_us = end->fetch_end_us;
        }
        if (error && !t->error) {
            size_t len = strlen(error);
            if (len > EMBER_TASKLOG_ERROR_MAX - 1) len = EMBER_TASKLOG_ERROR_MAX - 1;
            if ((t->error = ember_malloc(len + 1))) {
                memcpy(t->error, error, len);
                t->error[len] = 0;
                t->info.has_error = 1;
                log->error_bytes += len;
                trim_errors(log);
            }
        }
    }
    pthread_mutex_unlock(&log->mu);
}

size_t emberL_tasks(emberL_log *log, int stage_id, ember_task_info *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&log->mu);
    size_t from = 0;
    if (stage_id >= 0) {
        ember_stage_record *st = find_stage(log, stage_id);
        from = st && st->first_task_id ? task_lower_bound(log, st->first_task_id) : 0;
    }
    for (size_t i = from; i < log->tn; i++) {
        const ember_task_info *t = &task_at(log, i)->info;
        if (stage_id >= 0 && t->stage_id != stage_id) continue;
        if (n < max) out[n] = *t;
        n++;
    }
    pthread_mutex_unlock(&log->mu);
    return n;
}

size_t emberL_error(emberL_log *log, uint64_t task_id, char *buf, size_t cap) {
    size_t len = 0;
    pthread_mutex_lock(&log->mu);
    emberL_task *t = find_task(log, task_id);
    if (t && t->error) {
        len = strlen(t->error);
        if (cap) {
            size_t k = len < cap - 1 ? len : cap - 1;
            memcpy(buf, t->error, k);
            buf[k] = 0;
        }
    } else if (cap) {
        buf[0] = 0;
    }
    pthread_mutex_unlock(&log->mu);
    return len;
}

uint64_t emberL_changes(emberL_log *log) {
    pthread_mutex_lock(&log->mu);
    uint64_t n = log->changes;
    pthread_mutex_unlock(&log->mu);
    return n;
}

size_t emberL_stages(emberL_log *log, ember_stage_record *out, size_t max) {
    pthread_mutex_lock(&log->mu);
    size_t n = log->sn;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = *stage_at(log, i);
    pthread_mutex_unlock(&log->mu);
    return n;
}
