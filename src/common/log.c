#include "azidt/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Large enough for the timestamp, the message and a dozen capped fields. */
#define LINE_MAX_BYTES 16384

static atomic_int min_level = AZIDT_LOG_INFO;
static atomic_int out_fd = STDERR_FILENO;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

azidt_err azidt_log_parse_level(const char *text, enum azidt_log_level *level)
{
    for (int i = AZIDT_LOG_DEBUG; i <= AZIDT_LOG_ERROR; i++) {
        if (text && strcmp(text, level_names[i]) == 0) {
            *level = (enum azidt_log_level)i;
            return AZIDT_OK;
        }
    }
    return AZIDT_ERR_INVALID;
}

const char *azidt_log_level_name(enum azidt_log_level level)
{
    if (level < AZIDT_LOG_DEBUG || level > AZIDT_LOG_ERROR)
        return "unknown";
    return level_names[level];
}

void azidt_log_set_level(enum azidt_log_level level)
{
    atomic_store(&min_level, (int)level);
}

void azidt_log_set_fd(int fd)
{
    atomic_store(&out_fd, fd);
}

bool azidt_log_enabled(enum azidt_log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static void put_raw(struct line *line, const char *text, size_t len)
{
    /* Keep two bytes for the closing brace and the newline. */
    size_t room = sizeof(line->buf) - 2 - line->len;

    if (len > room)
        len = room;
    memcpy(line->buf + line->len, text, len);
    line->len += len;
}

static void put_str(struct line *line, const char *text)
{
    put_raw(line, text, strlen(text));
}

/* Append text as a JSON string, escaping control characters, quotes and
 * backslashes, and cutting it at AZIDT_LOG_VALUE_MAX input bytes. */
static void put_json_string(struct line *line, const char *text)
{
    size_t used = 0;

    put_raw(line, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char esc[8];

        if (used++ >= AZIDT_LOG_VALUE_MAX) {
            put_str(line, "...");
            break;
        }
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put_raw(line, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put_str(line, esc);
        } else {
            put_raw(line, (const char *)p, 1);
        }
    }
    put_raw(line, "\"", 1);
}

static void put_timestamp(struct line *line)
{
    struct timespec now;
    struct tm utc;
    char text[96];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
             utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000L);
    put_json_string(line, text);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void azidt_log_write(enum azidt_log_level level, const char *msg, ...)
{
    struct line line;
    va_list ap;

    line.len = 0;
    put_str(&line, "{\"ts\":");
    put_timestamp(&line);
    put_str(&line, ",\"level\":");
    put_json_string(&line, azidt_log_level_name(level));
    put_str(&line, ",\"msg\":");
    put_json_string(&line, msg ? msg : "");

    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        const char *value;

        if (!key)
            break;
        value = va_arg(ap, const char *);
        put_raw(&line, ",", 1);
        put_json_string(&line, key);
        put_raw(&line, ":", 1);
        if (value)
            put_json_string(&line, value);
        else
            put_str(&line, "null");
    }
    va_end(ap);

    line.buf[line.len++] = '}';
    line.buf[line.len++] = '\n';

    pthread_mutex_lock(&write_lock);
    write_all(atomic_load(&out_fd), line.buf, line.len);
    pthread_mutex_unlock(&write_lock);
}
