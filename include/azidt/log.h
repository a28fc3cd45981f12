/*
 * Structured logging: one JSON object per line on stderr.
 *
 * Every line has "ts" (UTC, milliseconds), "level" and "msg", followed by
 * the key/value string pairs the caller passes. Values are JSON-escaped
 * and cut to AZIDT_LOG_VALUE_MAX bytes, so a client-supplied string can
 * neither break the line nor flood the log. Never pass a secret as a value.
 *
 * Thread-safe: each line is written with one write(2) under a mutex.
 */
#ifndef AZIDT_LOG_H
#define AZIDT_LOG_H

#include <stdbool.h>

#include "azidt/error.h"

#define AZIDT_LOG_VALUE_MAX 512

enum azidt_log_level {
    AZIDT_LOG_DEBUG,
    AZIDT_LOG_INFO,
    AZIDT_LOG_WARN,
    AZIDT_LOG_ERROR,
};

/* Parse "debug", "info", "warn" or "error". Returns AZIDT_ERR_INVALID for
 * anything else and leaves *level unchanged. */
azidt_err azidt_log_parse_level(const char *text, enum azidt_log_level *level);

const char *azidt_log_level_name(enum azidt_log_level level);

/* Set the lowest level that is written; the default is AZIDT_LOG_INFO. */
void azidt_log_set_level(enum azidt_log_level level);

/* Send log lines to fd instead of stderr (tests capture them this way). */
void azidt_log_set_fd(int fd);

bool azidt_log_enabled(enum azidt_log_level level);

/* Write one line. The variadic arguments are const char * key/value pairs
 * ending with a NULL key; a NULL value is written as JSON null. Use the
 * AZIDT_LOG_* macros, which skip all work when the level is off and add
 * the terminating NULL. */
void azidt_log_write(enum azidt_log_level level, const char *msg, ...);

#define AZIDT_LOG_AT(level, ...)                                               \
    do {                                                                       \
        if (azidt_log_enabled(level))                                          \
            azidt_log_write(level, __VA_ARGS__, (const char *)0);              \
    } while (0)

#define AZIDT_LOG_DEBUG(...) AZIDT_LOG_AT(AZIDT_LOG_DEBUG, __VA_ARGS__)
#define AZIDT_LOG_INFO(...) AZIDT_LOG_AT(AZIDT_LOG_INFO, __VA_ARGS__)
#define AZIDT_LOG_WARN(...) AZIDT_LOG_AT(AZIDT_LOG_WARN, __VA_ARGS__)
#define AZIDT_LOG_ERROR(...) AZIDT_LOG_AT(AZIDT_LOG_ERROR, __VA_ARGS__)

#endif
