/*
 * Cost of recording one admission request in the metrics. The loops time
 * the counter and latency histogram update alone (three relaxed atomic
 * adds), the update with the route lookup and clock read that the server
 * adds per request, the clock read alone, and the update while several
 * threads record on the same series.
 *
 * Usage: bench_metrics [ITERATIONS]   (default 20000000)
 * Prints nanoseconds per update. Run with `meson test -C build
 * --benchmark` or directly.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "azidt/metrics.h"

static long iterations = 20000000;

static double seconds_since(int64_t start_us)
{
    return (double)(azidt_metrics_now_us() - start_us) / 1e6;
}

static double bench_update(void)
{
    int64_t start = azidt_metrics_now_us();

    for (long i = 0; i < iterations; i++)
        azidt_metrics_admission(AZIDT_METRICS_ROUTE_MUTATE_PODS,
                                AZIDT_METRICS_ALLOWED, i & 4095);
    return seconds_since(start) * 1e9 / (double)iterations;
}

/* As the server records a response: look up the route by path, classify
 * the decision and read the clock for the latency. */
static double bench_request_path(void)
{
    int64_t start = azidt_metrics_now_us();

    for (long i = 0; i < iterations; i++)
        azidt_metrics_admission(azidt_metrics_route_of("/validate/pods"),
                                azidt_metrics_decision_of(true, 0),
                                azidt_metrics_now_us() - start);
    return seconds_since(start) * 1e9 / (double)iterations;
}

/* The clock read alone, to separate it from the update. */
static double bench_clock(void)
{
    int64_t start = azidt_metrics_now_us();
    volatile int64_t sink = 0;

    for (long i = 0; i < iterations; i++)
        sink += azidt_metrics_now_us();
    (void)sink;
    return seconds_since(start) * 1e9 / (double)iterations;
}

static void *update_loop(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++)
        azidt_metrics_admission(AZIDT_METRICS_ROUTE_MUTATE_PODS,
                                AZIDT_METRICS_ALLOWED, i & 4095);
    return NULL;
}

/* Wall time per update on each thread while `count` threads update the
 * same series at once. */
static double bench_threads(int count)
{
    pthread_t threads[16];
    int64_t start = azidt_metrics_now_us();

    for (int i = 0; i < count; i++)
        if (pthread_create(&threads[i], NULL, update_loop, NULL) != 0)
            return -1;
    for (int i = 0; i < count; i++)
        pthread_join(threads[i], NULL);
    return seconds_since(start) * 1e9 / (double)iterations;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = strtol(argv[1], NULL, 10);
    if (iterations <= 0) {
        fprintf(stderr, "usage: %s [ITERATIONS > 0]\n", argv[0]);
        return EXIT_FAILURE;
    }
    printf("admission counter + histogram update: %.1f ns\n", bench_update());
    printf("with route lookup and clock read:     %.1f ns\n",
           bench_request_path());
    printf("CLOCK_MONOTONIC read alone:           %.1f ns\n", bench_clock());
    printf("2 threads on one series, per update:  %.1f ns\n", bench_threads(2));
    printf("4 threads on one series, per update:  %.1f ns\n", bench_threads(4));
    return EXIT_SUCCESS;
}
