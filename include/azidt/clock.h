/*
 * Monotonic time and deadlines, in milliseconds.
 *
 * A deadline is an absolute CLOCK_MONOTONIC time. Code that calls a remote
 * service takes a deadline rather than a timeout, so that retries and
 * nested calls share one budget.
 */
#ifndef AZIDT_CLOCK_H
#define AZIDT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t azidt_clock_now_ms(void);

/* Milliseconds since the Unix epoch on CLOCK_REALTIME. */
int64_t azidt_clock_wall_ms(void);

/* Return the deadline that lies timeout_ms from now. */
int64_t azidt_deadline_in(int64_t timeout_ms);

/* Return the milliseconds left before deadline; 0 once it has passed. */
int64_t azidt_deadline_remaining(int64_t deadline_ms);

bool azidt_deadline_passed(int64_t deadline_ms);

/* Return the time on clock that lies ms from now, for
 * pthread_cond_timedwait on a condition variable that uses that clock. */
struct timespec azidt_clock_timespec_in(clockid_t clock, int64_t ms);

/* azidt_clock_timespec_in() on CLOCK_MONOTONIC. */
struct timespec azidt_clock_monotonic_in(int64_t ms);

#endif
