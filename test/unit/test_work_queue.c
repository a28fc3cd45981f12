#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "azidt/clock.h"
#include "azidt/work_queue.h"

/* A job that blocks until the test opens the gate. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int jobs_done;

static void blocked_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&jobs_done, 1);
}

static void counting_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&jobs_done, 1);
}

static void set_gate(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Wait up to 5 s for the pool to report `running` busy workers. */
static void wait_running(struct azidt_work_queue *queue, size_t running)
{
    int64_t deadline = azidt_deadline_in(5000);
    struct azidt_work_queue_stats stats;

    do {
        azidt_work_queue_stats(queue, &stats);
        if (stats.running == running)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    } while (!azidt_deadline_passed(deadline));
    ck_abort_msg("workers running: %zu, expected %zu", stats.running, running);
}

START_TEST(work_queue_runs_jobs)
{
    struct azidt_work_queue *queue = NULL;

    atomic_store(&jobs_done, 0);
    ck_assert_int_eq(azidt_work_queue_create(2, 100, &queue), AZIDT_OK);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(azidt_work_queue_submit(queue, counting_job, NULL),
                         AZIDT_OK);
    azidt_work_queue_destroy(queue);
    ck_assert_int_eq(atomic_load(&jobs_done), 50);
}
END_TEST

START_TEST(work_queue_full_rejects)
{
    struct azidt_work_queue *queue = NULL;
    struct azidt_work_queue_stats stats;

    atomic_store(&jobs_done, 0);
    set_gate(false);
    ck_assert_int_eq(azidt_work_queue_create(2, 1, &queue), AZIDT_OK);
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_OK);
    wait_running(queue, 2);
    /* Both workers are busy: one job may wait, the next is rejected. */
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_ERR_UNAVAILABLE);
    azidt_work_queue_stats(queue, &stats);
    ck_assert_uint_eq(stats.queued, 1);
    ck_assert_uint_eq(stats.rejected, 1);
    set_gate(true);
    azidt_work_queue_destroy(queue);
    ck_assert_int_eq(atomic_load(&jobs_done), 3);
}
END_TEST

START_TEST(work_queue_zero_capacity)
{
    struct azidt_work_queue *queue = NULL;

    set_gate(false);
    ck_assert_int_eq(azidt_work_queue_create(1, 0, &queue), AZIDT_OK);
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                     AZIDT_ERR_UNAVAILABLE);
    set_gate(true);
    azidt_work_queue_destroy(queue);
}
END_TEST

/* The property the server relies on: while every worker is held by a slow
 * job, a thread that does not use the pool is not delayed, and the pool
 * refuses extra work at once instead of blocking the submitter. */
START_TEST(work_queue_slow_jobs_do_not_block_submitter)
{
    struct azidt_work_queue *queue = NULL;
    int64_t start;

    set_gate(false);
    ck_assert_int_eq(azidt_work_queue_create(4, 4, &queue), AZIDT_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                         AZIDT_OK);
    wait_running(queue, 4);
    start = azidt_clock_now_ms();
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(azidt_work_queue_submit(queue, blocked_job, NULL),
                         AZIDT_ERR_UNAVAILABLE);
    ck_assert_int_lt(azidt_clock_now_ms() - start, 100);
    set_gate(true);
    azidt_work_queue_destroy(queue);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("work_queue");
    TCase *tc = tcase_create("work_queue");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, work_queue_runs_jobs);
    tcase_add_test(tc, work_queue_full_rejects);
    tcase_add_test(tc, work_queue_zero_capacity);
    tcase_add_test(tc, work_queue_slow_jobs_do_not_block_submitter);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
