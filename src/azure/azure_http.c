#include "azidt/azure_http.h"
#include "azidt/curl_pool.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "azidt/clock.h"
#include "azidt/log.h"

/* Largest response body accepted; Graph pages of 999 objects fit. */
#define BODY_MAX_BYTES (16u * 1024 * 1024)
/* Idle easy handles kept for reuse. */
/* Connection setup gets at most this long, even with a later deadline. */
#define CONNECT_TIMEOUT_MAX_MS 10000
/* A retry is not worth starting with less time than this left. */
#define MIN_ATTEMPT_MS 100
/* Used when curl cannot tell where its default CA bundle is. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct azidt_azure_http {
    struct azidt_curl_pool *pool;
    char *ca_blob; /* system CAs plus the extra bundle, or NULL */
    size_t ca_blob_len;
    atomic_uint_fast64_t attempts;
    atomic_bool
        cancelled; /* set once at shutdown; see azidt_azure_http_cancel */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Append the contents of path to *buf (grown with realloc). */
static azidt_err append_file(const char *path, char **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    azidt_err rc = AZIDT_OK;

    if (!fp)
        return AZIDT_ERR_CONFIG;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        char *grown = realloc(*buf, *len + n + 2);

        if (!grown) {
            rc = AZIDT_ERR_NOMEM;
            break;
        }
        *buf = grown;
        memcpy(*buf + *len, chunk, n);
        *len += n;
    }
    if (rc == AZIDT_OK && ferror(fp))
        rc = AZIDT_ERR_CONFIG;
    fclose(fp);
    if (rc == AZIDT_OK && *buf) {
        (*buf)[(*len)++] = '\n';
        (*buf)[*len] = '\0';
    }
    return rc;
}

/* CURLOPT_CAINFO replaces the default bundle, so an extra CA file is
 * combined with the system bundle into one in-memory blob. */
static azidt_err load_ca_blob(struct azidt_azure_http *http,
                              const char *ca_file)
{
    const char *system_bundle = SYSTEM_CA_BUNDLE;
    azidt_err rc;

#if LIBCURL_VERSION_NUM >= 0x075400
    CURL *probe = curl_easy_init();
    char *path = NULL;

    if (probe && curl_easy_getinfo(probe, CURLINFO_CAINFO, &path) == CURLE_OK &&
        path)
        system_bundle = path;
#endif
    /* A missing system bundle only means that the extra CAs stand alone. */
    (void)append_file(system_bundle, &http->ca_blob, &http->ca_blob_len);
#if LIBCURL_VERSION_NUM >= 0x075400
    if (probe)
        curl_easy_cleanup(probe);
#endif
    rc = append_file(ca_file, &http->ca_blob, &http->ca_blob_len);
    if (rc == AZIDT_OK && !http->ca_blob)
        rc = AZIDT_ERR_CONFIG;
    return rc;
}

azidt_err azidt_azure_http_new(const char *ca_file,
                               struct azidt_azure_http **out)
{
    struct azidt_azure_http *http = NULL;
    azidt_err rc = AZIDT_OK;

    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return AZIDT_ERR_INTERNAL;

    http = calloc(1, sizeof(*http));
    if (!http)
        return AZIDT_ERR_NOMEM;
    atomic_init(&http->attempts, 0);

    rc = azidt_curl_pool_new(true, &http->pool);
    if (rc)
        goto out;

    if (ca_file)
        rc = load_ca_blob(http, ca_file);
out:
    if (rc) {
        azidt_azure_http_free(http);
        return rc;
    }
    *out = http;
    return AZIDT_OK;
}

void azidt_azure_http_free(struct azidt_azure_http *http)
{
    if (!http)
        return;
    azidt_curl_pool_free(http->pool);
    free(http->ca_blob);
    free(http);
}

uint64_t azidt_azure_http_attempt_count(const struct azidt_azure_http *http)
{
    return atomic_load(&((struct azidt_azure_http *)http)->attempts);
}

/* ---- pure helpers ---- */

int64_t azidt_azure_parse_retry_after(const char *value, int64_t now_wall_ms)
{
    char *end = NULL;
    long long seconds;
    time_t when;

    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        errno = 0;
        seconds = strtoll(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (errno || *end || seconds > 86400LL * 365)
            return -1;
        return (int64_t)seconds * 1000;
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    if ((int64_t)when * 1000 <= now_wall_ms)
        return 0;
    return (int64_t)when * 1000 - now_wall_ms;
}

int64_t azidt_azure_backoff_ms(unsigned retry, double jitter)
{
    int64_t base = 1000;

    for (unsigned i = 0; i < retry && base < AZIDT_AZURE_MAX_DELAY_MS; i++)
        base *= 2;
    if (base > AZIDT_AZURE_MAX_DELAY_MS)
        base = AZIDT_AZURE_MAX_DELAY_MS;
    if (jitter < 0 || jitter >= 1)
        jitter = 0.5;
    return (int64_t)((double)base * (0.8 + 0.4 * jitter));
}

size_t azidt_azure_url_escape(const char *text, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain =
            isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';

        if (plain) {
            if (n + 1 < outlen)
                out[n] = (char)*p;
            n++;
            continue;
        }
        if (n + 3 < outlen) {
            out[n] = '%';
            out[n + 1] = hex[*p >> 4];
            out[n + 2] = hex[*p & 15];
        }
        n += 3;
    }
    if (outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

static double random_unit(void)
{
    uint32_t r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)azidt_clock_now_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

/* ---- one attempt ---- */

struct body {
    char *data;
    size_t len;
    size_t cap;
    bool too_large;
};

struct attempt {
    struct body body;
    struct azidt_azure_response *resp;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *body = userdata;
    size_t n = size * nmemb;

    if (body->len + n + 1 > BODY_MAX_BYTES) {
        body->too_large = true;
        return 0;
    }
    if (body->len + n + 1 > body->cap) {
        size_t cap = body->cap ? body->cap : 4096;
        char *grown;

        while (cap < body->len + n + 1)
            cap *= 2;
        /* Grow by copy so that the old buffer, which may hold part of a
         * token, is wiped rather than left behind by realloc. */
        grown = malloc(cap);
        if (!grown)
            return 0;
        if (body->data) {
            memcpy(grown, body->data, body->len);
            OPENSSL_cleanse(body->data, body->cap);
            free(body->data);
        }
        body->data = grown;
        body->cap = cap;
    }
    memcpy(body->data + body->len, ptr, n);
    body->len += n;
    body->data[body->len] = '\0';
    return n;
}

/* Copy the value of header line "Name: value" into out when it is name. */
static bool header_value(const char *line, size_t len, const char *name,
                         char *out, size_t outlen)
{
    size_t name_len = strlen(name);
    size_t start, end;

    if (len <= name_len || line[name_len] != ':' ||
        strncasecmp(line, name, name_len) != 0)
        return false;
    start = name_len + 1;
    while (start < len && (line[start] == ' ' || line[start] == '\t'))
        start++;
    end = len;
    while (end > start && isspace((unsigned char)line[end - 1]))
        end--;
    if (end - start >= outlen)
        end = start + outlen - 1;
    memcpy(out, line + start, end - start);
    out[end - start] = '\0';
    return true;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct azidt_azure_response *resp = userdata;
    size_t len = size * nmemb;
    char value[128];

    if (header_value(ptr, len, "Retry-After", value, sizeof(value))) {
        int64_t ms =
            azidt_azure_parse_retry_after(value, azidt_clock_wall_ms());

        /* A millisecond header, when also sent, is more precise. */
        if (ms >= 0 && resp->retry_after_ms < 0)
            resp->retry_after_ms = ms;
    } else if (header_value(ptr, len, "retry-after-ms", value, sizeof(value)) ||
               header_value(ptr, len, "x-ms-retry-after-ms", value,
                            sizeof(value))) {
        char *end = NULL;
        long long ms = strtoll(value, &end, 10);

        if (end != value && *end == '\0' && ms >= 0)
            resp->retry_after_ms = ms;
    } else if (!resp->request_id[0]) {
        if (!header_value(ptr, len, "request-id", resp->request_id,
                          sizeof(resp->request_id)))
            header_value(ptr, len, "x-ms-request-id", resp->request_id,
                         sizeof(resp->request_id));
    }
    return len;
}

static void copy_first_line(char *out, size_t outlen, const char *text)
{
    size_t n = strcspn(text, "\r\n");

    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, text, n);
    out[n] = '\0';
}

/* Graph and ARM send {"error":{"code","message"}}. The token endpoint
 * sends {"error":"<oauth code>","error_description","error_codes":[n]}. */
static void extract_azure_error(struct azidt_azure_response *resp)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(resp->json, "error");

    if (cJSON_IsObject(error)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");

        if (cJSON_IsString(code))
            copy_first_line(resp->error_code, sizeof(resp->error_code),
                            code->valuestring);
        if (cJSON_IsString(msg))
            copy_first_line(resp->error_message, sizeof(resp->error_message),
                            msg->valuestring);
    } else if (cJSON_IsString(error)) {
        const cJSON *codes =
            cJSON_GetObjectItemCaseSensitive(resp->json, "error_codes");
        const cJSON *first = cJSON_GetArrayItem(codes, 0);
        const cJSON *desc =
            cJSON_GetObjectItemCaseSensitive(resp->json, "error_description");

        /* The description starts with "AADSTSnnn:" in real responses, so
         * the number goes into the code only when it is missing there. */
        if (cJSON_IsNumber(first) &&
            !(cJSON_IsString(desc) &&
              strncmp(desc->valuestring, "AADSTS", 6) == 0))
            snprintf(resp->error_code, sizeof(resp->error_code),
                     "%.100s AADSTS%.0f", error->valuestring,
                     first->valuedouble);
        else
            copy_first_line(resp->error_code, sizeof(resp->error_code),
                            error->valuestring);
        if (cJSON_IsString(desc))
            copy_first_line(resp->error_message, sizeof(resp->error_message),
                            desc->valuestring);
    }
}

/* Append line to list; on failure free the list and return NULL. */
static struct curl_slist *append_header(struct curl_slist *list,
                                        const char *line)
{
    struct curl_slist *next;

    if (!list)
        return NULL;
    next = curl_slist_append(list, line);
    if (!next)
        curl_slist_free_all(list);
    return next;
}

static struct curl_slist *build_headers(const struct azidt_azure_request *req,
                                        char **auth_line)
{
    struct curl_slist *list;
    size_t len;

    *auth_line = NULL;
    list = curl_slist_append(NULL, "Accept: application/json");
    if (req->json)
        list = append_header(list, "Content-Type: application/json");
    if (req->form)
        list = append_header(list,
                             "Content-Type: application/x-www-form-urlencoded");
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        list = append_header(list, req->headers[i]);
    if (list && req->bearer) {
        len = strlen("Authorization: Bearer ") + strlen(req->bearer) + 1;
        *auth_line = malloc(len);
        if (!*auth_line) {
            curl_slist_free_all(list);
            return NULL;
        }
        snprintf(*auth_line, len, "Authorization: Bearer %s", req->bearer);
        list = append_header(list, *auth_line);
    }
    return list;
}

static void wipe_string(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* curl_slist_append copies each line, so the copy of the Authorization
 * line is wiped before the list is freed. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *p = list; p; p = p->next)
        if (strncasecmp(p->data, "Authorization:", 14) == 0)
            OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(list);
}

static void set_deadline_timeouts(CURL *curl, int64_t remaining)
{
    int64_t connect =
        remaining < CONNECT_TIMEOUT_MAX_MS ? remaining : CONNECT_TIMEOUT_MAX_MS;

    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)remaining);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
}

/* libcurl progress callback: a non-zero return aborts the transfer. */
static int abort_if_cancelled(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow)
{
    const struct azidt_azure_http *http = ctx;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&http->cancelled) ? 1 : 0;
}

void azidt_azure_http_cancel(struct azidt_azure_http *http)
{
    atomic_store(&http->cancelled, true);
}

static CURLcode perform_attempt(struct azidt_azure_http *http, CURL *curl,
                                const struct azidt_azure_request *req,
                                const char *body, struct curl_slist *headers,
                                struct attempt *at, int64_t remaining)
{
    int64_t started_us;
    CURLcode cc;

    curl_easy_setopt(curl, CURLOPT_SHARE, azidt_curl_pool_share(http->pool));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
#endif
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &at->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, at->resp);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "azure-identity-terminator");
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_if_cancelled);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, http);
    if (http->ca_blob) {
        struct curl_blob blob = {http->ca_blob, http->ca_blob_len,
                                 CURL_BLOB_NOCOPY};

        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "DELETE") != 0) {
        /* PATCH, PUT and POST without a body still send Content-Length. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    set_deadline_timeouts(curl, remaining);

    atomic_fetch_add(&http->attempts, 1);
    started_us = azidt_metrics_now_us();
    cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &at->resp->status);
    azidt_metrics_azure_request(req->service, req->method,
                                cc == CURLE_OK ? at->resp->status : 0,
                                azidt_metrics_now_us() - started_us);
    return cc;
}

/* ---- the retry loop ---- */

static azidt_err status_error(long status)
{
    switch (status) {
    case 400:
        return AZIDT_ERR_INVALID;
    case 401:
        return AZIDT_ERR_UNAUTHORIZED;
    case 403:
        return AZIDT_ERR_FORBIDDEN;
    case 404:
        return AZIDT_ERR_NOT_FOUND;
    case 409:
        return AZIDT_ERR_CONFLICT;
    case 429:
        return AZIDT_ERR_THROTTLED;
    case 408:
    case 504:
        return AZIDT_ERR_TIMEOUT;
    default:
        return status >= 500 ? AZIDT_ERR_UNAVAILABLE : AZIDT_ERR_REMOTE;
    }
}

static azidt_err curl_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return AZIDT_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return AZIDT_ERR_UNAVAILABLE;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return AZIDT_ERR_TLS;
    case CURLE_OUT_OF_MEMORY:
        return AZIDT_ERR_NOMEM;
    default:
        return AZIDT_ERR_HTTP;
    }
}

static bool status_is_transient(long status)
{
    return status == 408 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

static bool should_retry(const struct azidt_azure_request *req,
                         const struct azidt_azure_response *resp)
{
    if (resp->status == 429)
        return true;
    if (req->idempotent && status_is_transient(resp->status))
        return true;
    return req->retryable && req->retryable(resp, req->retry_ctx);
}

/* Connection failures happen before the request is sent, so every method
 * may retry them; other transport failures only when idempotent. */
static bool should_retry_transport(const struct azidt_azure_request *req,
                                   CURLcode cc)
{
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
        return true;
    return req->idempotent &&
           (cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR ||
            cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE);
}

static void describe_answer(const struct azidt_azure_response *resp, char *out,
                            size_t outlen)
{
    snprintf(out, outlen, "HTTP %ld%s%s%s%s%s%s%s", resp->status,
             resp->error_code[0] ? " " : "", resp->error_code,
             resp->error_message[0] ? ": " : "", resp->error_message,
             resp->request_id[0] ? " (request-id " : "", resp->request_id,
             resp->request_id[0] ? ")" : "");
}

static const char *advice(azidt_err rc, bool retryable)
{
    if (retryable)
        return "retrying later may help";
    switch (rc) {
    case AZIDT_ERR_TIMEOUT:
    case AZIDT_ERR_THROTTLED:
    case AZIDT_ERR_UNAVAILABLE:
        return "retrying later may help";
    case AZIDT_ERR_UNAUTHORIZED:
        return "retrying will not help: check AZURE_CLIENT_ID and its "
               "credential";
    case AZIDT_ERR_FORBIDDEN:
        return "retrying will not help until the webhook's application is "
               "granted the permission";
    default:
        return "retrying will not help";
    }
}

/* Parse the body of a finished attempt into resp. */
static azidt_err parse_body(struct attempt *at, char *err, size_t errlen,
                            const struct azidt_azure_request *req)
{
    struct azidt_azure_response *resp = at->resp;

    if (at->body.len == 0)
        return AZIDT_OK;
    resp->json = cJSON_ParseWithLength(at->body.data, at->body.len);
    if (resp->json) {
        if (resp->status < 200 || resp->status > 299)
            extract_azure_error(resp);
        return AZIDT_OK;
    }
    if (resp->status >= 200 && resp->status <= 299) {
        snprintf(err, errlen,
                 "%s failed: HTTP %ld with a body that is not JSON%s%s%s; "
                 "retrying will not help",
                 req->operation, resp->status,
                 resp->request_id[0] ? " (request-id " : "", resp->request_id,
                 resp->request_id[0] ? ")" : "");
        return AZIDT_ERR_REMOTE;
    }
    /* Proxies send errors as HTML; keep its first line as the message. */
    copy_first_line(
        resp->error_message,
        sizeof(resp->error_message) < 200 ? sizeof(resp->error_message) : 200,
        at->body.data);
    return AZIDT_OK;
}

static void reset_attempt(struct attempt *at)
{
    struct azidt_azure_response *resp = at->resp;
    unsigned attempts = resp->attempts;

    if (at->body.data) {
        OPENSSL_cleanse(at->body.data, at->body.cap);
        free(at->body.data);
    }
    memset(&at->body, 0, sizeof(at->body));
    azidt_azure_response_clear(resp);
    resp->attempts = attempts;
}

/* Work out the wait before the next attempt. Returns AZIDT_OK with
 * *delay_ms set, or an error (message in err) when the wait would pass
 * the deadline. */
static azidt_err plan_retry(const struct azidt_azure_request *req,
                            const struct azidt_azure_response *resp,
                            unsigned retry, azidt_err last, const char *answer,
                            int64_t *delay_ms, char *err, size_t errlen)
{
    int64_t remaining = azidt_deadline_remaining(req->deadline_ms);
    int64_t delay;

    if (resp->retry_after_ms >= 0) {
        delay = resp->retry_after_ms < AZIDT_AZURE_MAX_DELAY_MS
                    ? resp->retry_after_ms
                    : AZIDT_AZURE_MAX_DELAY_MS;
        if (delay + MIN_ATTEMPT_MS > remaining) {
            snprintf(err, errlen,
                     "%s failed: %s; Azure requested a retry after %lld ms, "
                     "later than the deadline (%lld ms left), so the call "
                     "gave up after %u attempt%s; retrying later may help",
                     req->operation, answer, (long long)resp->retry_after_ms,
                     (long long)remaining, resp->attempts,
                     resp->attempts == 1 ? "" : "s");
            return last == AZIDT_ERR_THROTTLED ? AZIDT_ERR_THROTTLED
                                               : AZIDT_ERR_TIMEOUT;
        }
    } else {
        delay = azidt_azure_backoff_ms(retry, random_unit());
        /* Trim the backoff so that an attempt still fits before the
         * deadline, as a late retry is better than none. */
        if (delay > remaining / 2)
            delay = remaining / 2;
        if (delay < MIN_ATTEMPT_MS / 2 || remaining < MIN_ATTEMPT_MS) {
            snprintf(err, errlen,
                     "%s timed out: the deadline passed after %u attempts; "
                     "the last one failed with %s; retrying later may help",
                     req->operation, resp->attempts, answer);
            return AZIDT_ERR_TIMEOUT;
        }
    }
    *delay_ms = delay;
    return AZIDT_OK;
}

/* Sleep ms milliseconds in steps of at most 100 ms, returning early once
 * the transport is cancelled. */
static void sleep_ms(const struct azidt_azure_http *http, int64_t ms)
{
    while (ms > 0 && !atomic_load(&http->cancelled)) {
        int64_t step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ms -= step;
    }
}

static char *request_body(const struct azidt_azure_request *req)
{
    if (req->form)
        return strdup(req->form);
    if (req->json)
        return cJSON_PrintUnformatted(req->json);
    return NULL;
}

azidt_err azidt_azure_http_send(struct azidt_azure_http *http,
                                const struct azidt_azure_request *req,
                                struct azidt_azure_response *resp, char *err,
                                size_t errlen)
{
    struct attempt at = {.resp = resp};
    struct curl_slist *headers = NULL;
    char *auth_line = NULL, *body = NULL;
    char answer[900];
    CURL *curl = NULL;
    azidt_err rc = AZIDT_OK;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    err[0] = '\0';

    body = request_body(req);
    headers = build_headers(req, &auth_line);
    curl = azidt_curl_pool_get(http->pool);
    if ((!body && (req->form || req->json)) || !headers || !curl) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "%s failed: out of memory", req->operation);
        goto out;
    }

    for (unsigned retry = 0;; retry++) {
        int64_t remaining = azidt_deadline_remaining(req->deadline_ms);
        int64_t delay = 0;
        bool retryable;
        CURLcode cc;

        if (retry > 0)
            reset_attempt(&at);
        if (atomic_load(&http->cancelled)) {
            snprintf(err, errlen, "%s was cancelled: the webhook is stopping",
                     req->operation);
            rc = AZIDT_ERR_UNAVAILABLE;
            break;
        }
        if (remaining <= 0) {
            snprintf(err, errlen,
                     "%s timed out: the deadline passed after %u attempts; "
                     "retrying later may help",
                     req->operation, resp->attempts);
            rc = AZIDT_ERR_TIMEOUT;
            break;
        }
        resp->attempts++;
        cc = perform_attempt(http, curl, req, body, headers, &at, remaining);
        if (cc != CURLE_OK) {
            rc = at.body.too_large ? AZIDT_ERR_REMOTE : curl_error(cc);
            retryable = should_retry_transport(req, cc);
            snprintf(answer, sizeof(answer), "%s",
                     at.body.too_large ? "the response body is too large"
                                       : curl_easy_strerror(cc));
        } else {
            rc = parse_body(&at, err, errlen, req);
            if (rc)
                break;
            if (resp->status >= 200 && resp->status <= 299)
                break;
            rc = status_error(resp->status);
            retryable = should_retry(req, resp);
            describe_answer(resp, answer, sizeof(answer));
        }

        if (!retryable || resp->attempts >= AZIDT_AZURE_MAX_ATTEMPTS) {
            snprintf(err, errlen, "%s failed: %s%s; %s", req->operation, answer,
                     retryable ? " (the retry limit was reached)" : "",
                     advice(rc, retryable));
            break;
        }
        if (plan_retry(req, resp, retry, rc, answer, &delay, err, errlen)) {
            rc = (rc == AZIDT_ERR_THROTTLED) ? AZIDT_ERR_THROTTLED
                                             : AZIDT_ERR_TIMEOUT;
            break;
        }
        char attempt_text[16], delay_text[24];

        snprintf(attempt_text, sizeof(attempt_text), "%u", resp->attempts);
        snprintf(delay_text, sizeof(delay_text), "%lld", (long long)delay);
        AZIDT_LOG_WARN("Azure request failed, retrying", "request",
                       req->operation, "method", req->method, "url", req->url,
                       "error", answer, "attempt", attempt_text, "delay_ms",
                       delay_text);
        sleep_ms(http, delay);
    }
out:
    if (at.body.data) {
        OPENSSL_cleanse(at.body.data, at.body.cap);
        free(at.body.data);
    }
    azidt_curl_pool_put(http->pool, curl);
    free_headers(headers);
    wipe_string(auth_line);
    wipe_string(body);
    return rc;
}

static void wipe_json_strings(cJSON *item)
{
    for (; item; item = item->next) {
        if (item->valuestring)
            OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
        wipe_json_strings(item->child);
    }
}

void azidt_azure_response_clear(struct azidt_azure_response *resp)
{
    if (!resp)
        return;
    wipe_json_strings(resp->json);
    cJSON_Delete(resp->json);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
}
