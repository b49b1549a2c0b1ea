/* test.h — the tiny harness of the C unit tests. Each test_<subsystem>.c defines
 * static void test functions, calls RUN(fn) for each from main, and returns
 * TEST_REPORT(), which prints the line "N passed, N failed" that CI counts. */
#ifndef EMBER_TEST_H
#define EMBER_TEST_H
#include <stdio.h>

static int t_passed, t_failed, t_cur_failed;
static const char *t_current = "";

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: in %s: check failed: %s\n", __FILE__, __LINE__, t_current, #cond);                 \
            t_cur_failed = 1;                                                                                          \
        }                                                                                                              \
    } while (0)

#define RUN(fn)                                                                                                        \
    do {                                                                                                               \
        t_current = #fn;                                                                                               \
        t_cur_failed = 0;                                                                                              \
        fn();                                                                                                          \
        if (t_cur_failed)                                                                                              \
            t_failed++;                                                                                                \
        else                                                                                                           \
            t_passed++;                                                                                                \
    } while (0)

#define TEST_REPORT() (printf("%d passed, %d failed\n", t_passed, t_failed), t_failed ? 1 : 0)
#endif
