/* Time, identifiers and encodings shared by the emulator's handlers. */
#include "emulator.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/clock.h"

struct emu_state emu = {.lock = PTHREAD_MUTEX_INITIALIZER};

int64_t emu_now_ms(void)
{
    return azidt_clock_wall_ms() +
           __atomic_load_n(&emu.clock_offset_ms, __ATOMIC_RELAXED);
}

void emu_iso8601(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool emu_parse_iso8601(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    const char *rest;
    int64_t frac_ms = 0;

    if (!text)
        return false;
    rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return false;
    if (*rest == '.') {
        int scale = 100;

        rest++;
        while (isdigit((unsigned char)*rest)) {
            frac_ms += (*rest - '0') * scale;
            scale /= 10;
            rest++;
        }
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0 && *rest != '\0')
        return false;
    *ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
    return true;
}

void emu_uuid4(char out[37])
{
    unsigned char b[16];

    RAND_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

bool emu_is_guid(const char *text)
{
    size_t i;

    if (!text || strlen(text) != 36)
        return false;
    for (i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? text[i] != '-' : !isxdigit((unsigned char)text[i]))
            return false;
    }
    return true;
}

void emu_random_secret(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-";
    unsigned char b[128];
    size_t i;

    if (len > sizeof(b))
        len = sizeof(b);
    RAND_bytes(b, (int)len);
    for (i = 0; i < len; i++)
        out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
    out[len] = '\0';
}

void emu_sha256_hex(const char *text, char out[65])
{
    unsigned char digest[32];
    unsigned int n = 0;
    int i;

    EVP_Digest(text, strlen(text), digest, &n, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

char *emu_b64url_encode(const unsigned char *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    size_t n;

    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    for (n = 0; out[n]; n++) {
        if (out[n] == '+')
            out[n] = '-';
        else if (out[n] == '/')
            out[n] = '_';
        else if (out[n] == '=') {
            out[n] = '\0';
            break;
        }
    }
    return out;
}

unsigned char *emu_b64url_decode(const char *text, size_t text_len,
                                 size_t *out_len)
{
    size_t padded = text_len + (4 - text_len % 4) % 4;
    char *tmp = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    size_t i;
    int n;

    if (!tmp || !out || text_len % 4 == 1)
        goto fail;
    for (i = 0; i < text_len; i++) {
        char c = text[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            goto fail;
        tmp[i] = c;
    }
    for (; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    if (n < 0)
        goto fail;
    *out_len = (size_t)n - (padded - text_len);
    free(tmp);
    return out;
fail:
    free(tmp);
    free(out);
    return NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *emu_url_decode(const char *text, size_t len)
{
    char *out = malloc(len + 1);
    size_t i, n = 0;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        if (text[i] == '+') {
            out[n++] = ' ';
        } else if (text[i] == '%' && i + 2 < len &&
                   hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out[n++] =
                (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out[n++] = text[i];
        }
    }
    out[n] = '\0';
    return out;
}

char *emu_form_value(const char *body, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = body;

    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > name_len && strncmp(p, name, name_len) == 0 &&
            p[name_len] == '=')
            return emu_url_decode(p + name_len + 1, len - name_len - 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

char *emu_url_encode(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(3 * len + 1);
    size_t i, n = 0;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, 4, "%%%02X", c);
    }
    out[n] = '\0';
    return out;
}

bool emu_strcaseeq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool emu_glob(const char *pattern, const char *text)
{
    if (*pattern == '\0')
        return *text == '\0';
    if (*pattern == '*') {
        do {
            if (emu_glob(pattern + 1, text))
                return true;
        } while (*text++);
        return false;
    }
    if (*text == '\0' ||
        tolower((unsigned char)*pattern) != tolower((unsigned char)*text))
        return false;
    return emu_glob(pattern + 1, text + 1);
}

char *emu_strdup(const char *text)
{
    return text ? strdup(text) : NULL;
}

char *emu_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

char *emu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)size + 1);
    if (!data)
        goto out;
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
        goto out;
    }
    data[size] = '\0';
out:
    fclose(f);
    return data;
}
