#include "azidt/clock.h"

#include <time.h>

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t azidt_clock_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t azidt_clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t azidt_deadline_in(int64_t timeout_ms)
{
    return azidt_clock_now_ms() + timeout_ms;
}

int64_t azidt_deadline_remaining(int64_t deadline_ms)
{
    int64_t left = deadline_ms - azidt_clock_now_ms();

    return left > 0 ? left : 0;
}

bool azidt_deadline_passed(int64_t deadline_ms)
{
    return azidt_deadline_remaining(deadline_ms) == 0;
}

struct timespec azidt_clock_monotonic_in(int64_t ms)
{
    return azidt_clock_timespec_in(CLOCK_MONOTONIC, ms);
}

struct timespec azidt_clock_timespec_in(clockid_t clock, int64_t ms)
{
    struct timespec at;

    clock_gettime(clock, &at);
    at.tv_sec += ms / 1000;
    at.tv_nsec += (ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    return at;
}
