#include "controller_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void controller_format_time(int64_t wall_ms, char *out, size_t size)
{
    time_t seconds = (time_t)(wall_ms / 1000);
    struct tm utc;

    gmtime_r(&seconds, &utc);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

bool controller_parse_time(const char *text, int64_t *wall_ms)
{
    struct tm utc;
    const char *rest;
    time_t seconds;

    if (!text)
        return false;
    memset(&utc, 0, sizeof(utc));
    rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &utc);
    if (!rest)
        return false;
    /* Graph writes fractions of a second; they do not matter here. */
    if (*rest == '.') {
        rest++;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (*rest != 'Z' && *rest != '\0' && strcmp(rest, "+00:00") != 0)
        return false;
    seconds = timegm(&utc);
    if (seconds == (time_t)-1)
        return false;
    *wall_ms = (int64_t)seconds * 1000;
    return true;
}
