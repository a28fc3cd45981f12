#include "azidt/duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The parser follows Go's time.ParseDuration (Go 1.22 src/time/format.go)
 * step by step, so that a value Kubernetes accepts is accepted here and
 * the same overflow limits apply. */

#define LIMIT (UINT64_C(1) << 63)

static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
    {"ms", 1000 * 1000},
    {"s", UINT64_C(1000) * 1000 * 1000},
    {"m", UINT64_C(60) * 1000 * 1000 * 1000},
    {"h", UINT64_C(3600) * 1000 * 1000 * 1000},
};

static void set_err(char *err, size_t errlen, const char *reason)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "%s", reason);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Consume leading digits into *value. Returns false on overflow. */
static bool leading_int(const char **s, uint64_t *value)
{
    uint64_t x = 0;

    for (; is_digit(**s); (*s)++) {
        if (x > LIMIT / 10)
            return false;
        x = x * 10 + (uint64_t)(**s - '0');
        if (x > LIMIT)
            return false;
    }
    *value = x;
    return true;
}

/* Consume the digits of a fraction. Digits past the precision of a
 * uint64 are skipped, as Go does. */
static void leading_fraction(const char **s, uint64_t *value, double *scale)
{
    uint64_t x = 0;
    bool overflow = false;

    *scale = 1;
    for (; is_digit(**s); (*s)++) {
        uint64_t y;

        if (overflow)
            continue;
        if (x > (LIMIT - 1) / 10) {
            overflow = true;
            continue;
        }
        y = x * 10 + (uint64_t)(**s - '0');
        if (y > LIMIT) {
            overflow = true;
            continue;
        }
        x = y;
        *scale *= 10;
    }
    *value = x;
}

static uint64_t lookup_unit(const char *unit, size_t len)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == len &&
            memcmp(units[i].name, unit, len) == 0)
            return units[i].ns;
    }
    return 0;
}

/* Write `unknown unit "<unit>"` when the unit is short printable ASCII,
 * so that client text reaches a message only in a safe form. */
static void unknown_unit(char *err, size_t errlen, const char *unit, size_t len)
{
    bool printable = len <= 8;

    for (size_t i = 0; printable && i < len; i++)
        printable = unit[i] > ' ' && unit[i] < 0x7f && unit[i] != '"' &&
                    unit[i] != '\\';
    if (err && errlen > 0 && printable)
        snprintf(err, errlen, "unknown unit \"%.*s\"", (int)len, unit);
    else
        set_err(err, errlen, "unknown unit");
}

/* Parse one "<number><unit>" element and add it to *total. */
static bool parse_element(const char **s, uint64_t *total, char *err,
                          size_t errlen)
{
    uint64_t v = 0, f = 0, unit;
    double scale = 1;
    const char *start = *s, *unit_start;
    bool pre, post = false;

    if (!(**s == '.' || is_digit(**s))) {
        set_err(err, errlen, "expected a number");
        return false;
    }
    if (!leading_int(s, &v)) {
        set_err(err, errlen, "value out of range");
        return false;
    }
    pre = *s != start;
    if (**s == '.') {
        const char *frac_start = ++(*s);

        leading_fraction(s, &f, &scale);
        post = *s != frac_start;
    }
    if (!pre && !post) {
        set_err(err, errlen, "expected a digit around '.'");
        return false;
    }

    unit_start = *s;
    while (**s && **s != '.' && !is_digit(**s))
        (*s)++;
    if (*s == unit_start) {
        set_err(err, errlen, "missing unit");
        return false;
    }
    unit = lookup_unit(unit_start, (size_t)(*s - unit_start));
    if (unit == 0) {
        unknown_unit(err, errlen, unit_start, (size_t)(*s - unit_start));
        return false;
    }

    if (v > LIMIT / unit)
        goto overflow;
    v *= unit;
    if (f > 0) {
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > LIMIT)
            goto overflow;
    }
    *total += v;
    if (*total > LIMIT)
        goto overflow;
    return true;

overflow:
    set_err(err, errlen, "value out of range");
    return false;
}

azidt_err azidt_duration_parse(const char *text, int64_t *ns, char *err,
                               size_t errlen)
{
    const char *s = text;
    uint64_t total = 0;
    bool negative = false;

    if (!text || !ns) {
        set_err(err, errlen, "missing duration");
        return AZIDT_ERR_INVALID;
    }
    if (*s == '-' || *s == '+') {
        negative = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return AZIDT_OK;
    }
    if (*s == '\0') {
        set_err(err, errlen, "empty duration");
        return AZIDT_ERR_INVALID;
    }
    while (*s) {
        if (!parse_element(&s, &total, err, errlen))
            return AZIDT_ERR_INVALID;
    }

    if (negative) {
        /* -2^63 is representable, so it cannot overflow. */
        *ns = total == LIMIT ? INT64_MIN : -(int64_t)total;
        return AZIDT_OK;
    }
    if (total > LIMIT - 1) {
        set_err(err, errlen, "value out of range");
        return AZIDT_ERR_INVALID;
    }
    *ns = (int64_t)total;
    return AZIDT_OK;
}

azidt_err azidt_duration_parse_positive(const char *text, int64_t *ns,
                                        char *err, size_t errlen)
{
    int64_t value = 0;
    azidt_err rc = azidt_duration_parse(text, &value, err, errlen);

    if (rc)
        return rc;
    if (value <= 0) {
        set_err(err, errlen,
                value == 0 ? "duration is zero" : "duration is negative");
        return AZIDT_ERR_INVALID;
    }
    *ns = value;
    return AZIDT_OK;
}

/* Write the decimal digits of v's last prec places, without trailing
 * zeros, in front of buf[w]; return v without those places. */
static uint64_t format_fraction(char *buf, size_t *w, uint64_t v, int prec)
{
    bool print = false;

    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);

        print = print || digit != 0;
        if (print)
            buf[--(*w)] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--(*w)] = '.';
    return v;
}

static void format_int(char *buf, size_t *w, uint64_t v)
{
    if (v == 0) {
        buf[--(*w)] = '0';
        return;
    }
    for (; v > 0; v /= 10)
        buf[--(*w)] = (char)('0' + v % 10);
}

char *azidt_duration_format(int64_t ns, char *buf, size_t buflen)
{
    char tmp[AZIDT_DURATION_TEXT_MAX];
    size_t w = sizeof(tmp) - 1;
    bool negative = ns < 0;
    uint64_t u = negative ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    tmp[w] = '\0';
    if (u < 1000000000) {
        /* Below one second Go switches to the largest unit that fits. */
        int prec;

        buf[0] = '\0';
        tmp[--w] = 's';
        if (u == 0) {
            tmp[--w] = '0';
            snprintf(buf, buflen, "%s", tmp + w);
            return buf;
        } else if (u < 1000) {
            prec = 0;
            tmp[--w] = 'n';
        } else if (u < 1000000) {
            prec = 3;
            tmp[--w] = '\xb5';
            tmp[--w] = '\xc2';
        } else {
            prec = 6;
            tmp[--w] = 'm';
        }
        u = format_fraction(tmp, &w, u, prec);
        format_int(tmp, &w, u);
    } else {
        tmp[--w] = 's';
        u = format_fraction(tmp, &w, u, 9);
        format_int(tmp, &w, u % 60);
        u /= 60;
        if (u > 0) {
            tmp[--w] = 'm';
            format_int(tmp, &w, u % 60);
            u /= 60;
            if (u > 0) {
                tmp[--w] = 'h';
                format_int(tmp, &w, u);
            }
        }
    }
    if (negative)
        tmp[--w] = '-';
    snprintf(buf, buflen, "%s", tmp + w);
    return buf;
}
