/*
 * Durations in the syntax of Go's time.ParseDuration, which Kubernetes
 * users write in metav1.Duration fields: a sequence of decimal numbers,
 * each with an optional fraction and a unit, such as "720h", "1.5h",
 * "1h30m" or "2h45m30s". Units are h, m, s, ms, us (or µs, μs) and ns.
 * Days are not a unit. Values are int64 nanoseconds, as in Go, so the
 * longest duration is about 292 years.
 *
 * All functions are pure and thread-safe.
 */
#ifndef AZIDT_DURATION_H
#define AZIDT_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "azidt/error.h"

/* The accepted syntax, for messages that reject a duration. */
#define AZIDT_DURATION_SYNTAX                                                  \
    "a positive number with a unit, or a sequence of them, such as 720h, "     \
    "90m, 1.5h, 1h30m or 2h45m30s (units h, m, s, ms, us, ns; days are not "   \
    "a unit, so write 30 days as 720h)"

/* Large enough for any azidt_duration_format() output. */
#define AZIDT_DURATION_TEXT_MAX 40

/*
 * Parse text as Go's time.ParseDuration does, including a leading sign
 * and the bare "0". On success stores the value in *ns and returns
 * AZIDT_OK. Otherwise returns AZIDT_ERR_INVALID, leaves *ns unchanged and
 * writes a short reason (such as `unknown unit "d"` or "value out of
 * range") into err when err is not NULL.
 */
azidt_err azidt_duration_parse(const char *text, int64_t *ns, char *err,
                               size_t errlen);

/* As azidt_duration_parse(), but also rejects zero and negative values. */
azidt_err azidt_duration_parse_positive(const char *text, int64_t *ns,
                                        char *err, size_t errlen);

/* Write ns as Go's Duration.String() does ("720h0m0s", "1.5s", "90ms")
 * into buf, which must hold AZIDT_DURATION_TEXT_MAX bytes. Returns buf. */
char *azidt_duration_format(int64_t ns, char *buf, size_t buflen);

#endif
