/* test_tasklog.c — the task log alone: attempts and stages in, copies out, kills at a
 * stage's end, retention (the oldest go), the error budget, dropping an attempt. */
#include "internal.h"
#include "test.h"

#include <stdlib.h>

static ember_task_info attempt(uint64_t id, int stage, int part) {
    return (ember_task_info){.task_id = id,
                             .stage_id = stage,
                             .partition = part,
                             .index = part,
                             .status = EMBER_TASK_RUNNING,
                             .launch_ms = 1000 + (int64_t)id,
                             .input_bytes = 10 * id};
}

static void begin_stage(emberL_log *log, int id, int ntasks) {
    emberL_stage_begin(
        log, &(ember_stage_record){
                 .stage_id = id, .job_id = 7, .num_tasks = ntasks, .status = EMBER_STAGE_ACTIVE, .submitted_ms = 500});
}

static void test_attempts_and_stages(void) {
    emberL_log log;
    emberL_init(&log);
    uint64_t changes = emberL_changes(&log);
    begin_stage(&log, 0, 2);
    CHECK(emberL_changes(&log) > changes);
    changes = emberL_changes(&log);
    begin_stage(&log, 1, 1);
    emberL_task_begin(&log, &(ember_task_info){.task_id = 1, .stage_id = 0, .status = EMBER_TASK_RUNNING});
    emberL_task_begin(&log, &(ember_task_info){.task_id = 2, .stage_id = 1, .status = EMBER_TASK_RUNNING});
    emberL_task_begin(
        &log,
        &(ember_task_info){.task_id = 3, .stage_id = 0, .partition = 1, .attempt = 0, .status = EMBER_TASK_RUNNING});
    ember_task_info end = {.output_bytes = 55,
                           .shuffle_write_bytes = 66,
                           .records_read = 1,
                           .records_written = 2,
                           .shuffle_records_read = 3,
                           .shuffle_records_written = 4,
                           .memory_bytes_spilled = 5,
                           .disk_bytes_spilled = 6,
                           .input_bytes = 999}; /* known at the start: not taken from the end's figures */
    changes = emberL_changes(&log);             /* attempts starting do not change the count */
    emberL_task_end(&log, 1, EMBER_TASK_SUCCESS, 2000, &end, NULL);
    CHECK(emberL_changes(&log) == changes + 1);
    emberL_task_end(&log, 3, EMBER_TASK_FAILED, 2100, NULL, "Traceback: boom");
    emberL_task_end(&log, 3, EMBER_TASK_SUCCESS, 2200, &end, NULL);  /* ended already: ignored */
    emberL_task_end(&log, 99, EMBER_TASK_SUCCESS, 2200, &end, NULL); /* unknown: ignored */
    CHECK(emberL_changes(&log) == changes + 2);

    ember_task_info out[8];
    CHECK(emberL_tasks(&log, 0, out, 8) == 2);
    CHECK(out[0].task_id == 1 && out[0].status == EMBER_TASK_SUCCESS && out[0].finish_ms == 2000);
    CHECK(out[0].output_bytes == 55 && out[0].shuffle_write_bytes == 66 && !out[0].has_error);
    CHECK(out[0].records_read == 1 && out[0].records_written == 2 && out[0].shuffle_records_read == 3);
    CHECK(out[0].shuffle_records_written == 4 && out[0].memory_bytes_spilled == 5 && out[0].disk_bytes_spilled == 6);
    CHECK(out[0].input_bytes == 0);
    CHECK(out[1].task_id == 3 && out[1].status == EMBER_TASK_FAILED && out[1].has_error);
    CHECK(out[1].output_bytes == 0 && out[1].records_read == 0 && out[1].disk_bytes_spilled == 0);
    CHECK(emberL_tasks(&log, -1, out, 8) == 3);
    CHECK(emberL_tasks(&log, 1, out, 0) == 1); /* the count, with no room */
    char buf[64];
    CHECK(emberL_error(&log, 3, buf, sizeof buf) == strlen("Traceback: boom") && strcmp(buf, "Traceback: boom") == 0);
    CHECK(emberL_error(&log, 3, buf, 6) == strlen("Traceback: boom") && strcmp(buf, "Trace") == 0);
    CHECK(emberL_error(&log, 1, buf, sizeof buf) == 0 && buf[0] == 0);

    /* A stage that ends kills its attempts still running, and only its own. */
    emberL_task_begin(&log, &(ember_task_info){.task_id = 4, .stage_id = 0, .status = EMBER_TASK_RUNNING});
    emberL_stage_end(&log, 0, EMBER_STAGE_FAILED, 3000);
    CHECK(emberL_tasks(&log, 0, out, 8) == 3 && out[2].status == EMBER_TASK_KILLED && out[2].finish_ms == 3000);
    CHECK(emberL_tasks(&log, 1, out, 8) == 1 && out[0].status == EMBER_TASK_RUNNING);
    emberL_stage_attempt(&log, 1, 2);
    ember_stage_record st[4];
    CHECK(emberL_stages(&log, st, 4) == 2);
    CHECK(st[0].stage_id == 0 && st[0].status == EMBER_STAGE_FAILED && st[0].completed_ms == 3000);
    CHECK(st[0].first_task_id == 1 && st[0].job_id == 7 && st[0].num_tasks == 2);
    CHECK(st[1].stage_id == 1 && st[1].status == EMBER_STAGE_ACTIVE && st[1].attempt == 2 && st[1].first_task_id == 2);
    emberL_destroy(&log);
}

static void test_retention_keeps_the_newest(void) {
    emberL_log log;
    emberL_init(&log);
    emberL_retain(&log, 100, 5);
    for (int s = 0; s < 12; s++)
        begin_stage(&log, s, 50);
    for (uint64_t id = 1; id <= 1000; id++) {
        ember_task_info a = attempt(id, (int)(id / 100), (int)(id % 100));
        emberL_task_begin(&log, &a);
        emberL_task_end(&log, id, id % 3 ? EMBER_TASK_SUCCESS : EMBER_TASK_FAILED, 5000, NULL,
                        id % 3 ? NULL : "an error");
    }
    ember_task_info *out = calloc(200, sizeof *out);
    CHECK(emberL_tasks(&log, -1, out, 200) == 100);
    CHECK(out[0].task_id == 901 && out[99].task_id == 1000);
    for (int i = 1; i < 100; i++)
        CHECK(out[i].task_id == out[i - 1].task_id + 1);
    CHECK(emberL_tasks(&log, 9, out, 200) == 99); /* ids 901..999 of stage 9; 1000 is stage 10 */
    CHECK(log.tcap == 100);                       /* grew to its retention, no further */
    char buf[16];
    CHECK(emberL_error(&log, 903, buf, sizeof buf) == 8);
    CHECK(emberL_error(&log, 3, buf, sizeof buf) == 0); /* gone with its entry */
    ember_stage_record st[8];
    CHECK(emberL_stages(&log, st, 8) == 5 && st[0].stage_id == 7 && st[4].stage_id == 11);
    free(out);
    emberL_destroy(&log);
}

static void test_errors_stay_under_their_budget(void) {
    emberL_log log;
    emberL_init(&log);
    begin_stage(&log, 0, 1);
    size_t big = 2 * EMBER_TASKLOG_ERROR_MAX;
    char *text = malloc(big + 1);
    memset(text, 'x', big);
    text[big] = 0;
    size_t n = 4 * EMBER_TASKLOG_ERROR_BYTES / EMBER_TASKLOG_ERROR_MAX;
    for (uint64_t id = 1; id <= n; id++) {
        ember_task_info a = attempt(id, 0, 0);
        emberL_task_begin(&log, &a);
        emberL_task_end(&log, id, EMBER_TASK_FAILED, 1, NULL, text);
    }
    CHECK(log.error_bytes <= EMBER_TASKLOG_ERROR_BYTES);
    char *buf = malloc(big);
    CHECK(emberL_error(&log, n, buf, big) == EMBER_TASKLOG_ERROR_MAX - 1); /* cut */
    CHECK(emberL_error(&log, 1, buf, big) == 0);                           /* dropped: the oldest */
    ember_task_info one;
    CHECK(emberL_tasks(&log, 0, &one, 1) == n && one.task_id == 1 && !one.has_error);
    free(buf);
    free(text);
    emberL_destroy(&log);
}

static void test_drop_takes_back_the_last_attempt(void) {
    emberL_log log;
    emberL_init(&log);
    begin_stage(&log, 3, 1);
    ember_task_info a = attempt(5, 3, 0), b = attempt(6, 3, 0);
    emberL_task_begin(&log, &a);
    emberL_task_drop(&log, 4); /* not the last: nothing */
    emberL_task_drop(&log, 5);
    ember_task_info out[2];
    ember_stage_record st;
    CHECK(emberL_tasks(&log, 3, out, 2) == 0);
    CHECK(emberL_stages(&log, &st, 1) == 1 && st.first_task_id == 0);
    emberL_task_begin(&log, &b);
    CHECK(emberL_tasks(&log, 3, out, 2) == 1 && out[0].task_id == 6);
    CHECK(emberL_stages(&log, &st, 1) == 1 && st.first_task_id == 6);
    emberL_destroy(&log);
}

int main(void) {
    RUN(test_attempts_and_stages);
    RUN(test_retention_keeps_the_newest);
    RUN(test_errors_stay_under_their_budget);
    RUN(test_drop_takes_back_the_last_attempt);
    return TEST_REPORT();
}
