/*
 * HTTPS transport for the Azure token endpoint, Microsoft Graph and ARM.
 *
 * One struct azidt_azure_http serves every thread: easy handles come from
 * a pool, and a curl share handle lets all calls reuse connections, DNS
 * answers and TLS sessions. Each call takes a monotonic deadline, sets the
 * curl timeouts from it and retries with exponential backoff and jitter:
 *   - 429 on any method (a throttled request was not executed);
 *   - 408, 500, 502, 503 and 504 when the request is idempotent (token
 *     POSTs count as idempotent);
 *   - connection failures, where the request never reached the server;
 *   - responses the caller declares retryable, such as the errors Azure
 *     returns while a new object is still replicating.
 * A Retry-After header (or retry-after-ms / x-ms-retry-after-ms) sets the
 * delay, capped at 60 s. The transport never sleeps past the deadline:
 * when the server requests a wait that ends after it, the call fails at
 * once with AZIDT_ERR_THROTTLED (429) or AZIDT_ERR_TIMEOUT.
 *
 * Bodies go out and come back as JSON (cJSON), or as a form for the token
 * endpoint. Logs name the request and its status, never a body or a token.
 *
 * Thread-safe: azidt_azure_http_send() may run on many threads at once on
 * the same struct azidt_azure_http.
 */
#ifndef AZIDT_AZURE_HTTP_H
#define AZIDT_AZURE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"
#include "azidt/metrics.h"

/* Maximum wait between attempts, from Retry-After or the backoff. */
#define AZIDT_AZURE_MAX_DELAY_MS 60000
/* Attempts per call, so that short Retry-After values cannot loop on. */
#define AZIDT_AZURE_MAX_ATTEMPTS 10

struct azidt_azure_http;

struct azidt_azure_response {
    long status;             /* final HTTP status; 0 when none arrived */
    cJSON *json;             /* parsed body, NULL when empty (owned) */
    char error_code[128];    /* Azure's error code, "" when none */
    char error_message[512]; /* Azure's error message, first line */
    char request_id[80];     /* request-id or x-ms-request-id */
    int64_t retry_after_ms;  /* from the last response; -1 when absent */
    unsigned attempts;       /* HTTP attempts made by this call */
};

/* Decide whether a failed response should be retried (within the
 * deadline). Called only for statuses outside 2xx. */
typedef bool (*azidt_azure_retry_fn)(const struct azidt_azure_response *resp,
                                     void *ctx);

struct azidt_azure_request {
    const char *operation; /* for messages: "create the application" */
    const char *method;    /* "GET", "PUT", "PATCH", "POST" or "DELETE" */
    const char *url;       /* full URL; must not contain a secret */
    const char *bearer;    /* access token, or NULL */
    const cJSON *json;     /* JSON body, or NULL */
    const char *form;      /* form body instead of json (may hold a secret) */
    const char *const *headers;     /* extra "Name: value" lines, NULL-ended */
    bool idempotent;                /* allow retries on 408 and 5xx */
    azidt_azure_retry_fn retryable; /* extra retryable errors, or NULL */
    void *retry_ctx;
    int64_t deadline_ms; /* monotonic deadline for the whole call */
    /* Service label for the metrics. azure_client sets Graph or ARM, and
     * the zero value is the token endpoint. */
    enum azidt_metrics_azure_service service;
};

/*
 * Create a transport. ca_file, when not NULL, is a PEM bundle trusted in
 * addition to the system CAs. Returns AZIDT_ERR_CONFIG when the bundle
 * cannot be read, AZIDT_ERR_NOMEM or AZIDT_ERR_INTERNAL (curl setup).
 */
azidt_err azidt_azure_http_new(const char *ca_file,
                               struct azidt_azure_http **out);

/* Free the transport; no call may be in flight. Accepts NULL. */
void azidt_azure_http_free(struct azidt_azure_http *http);

/*
 * Make every call on http, in flight or later, fail at once with
 * AZIDT_ERR_UNAVAILABLE: transfers abort, retry waits end. Called at
 * shutdown so that background work stops within about 100 ms instead of
 * retrying until its deadline. Cannot be undone. Thread-safe.
 */
void azidt_azure_http_cancel(struct azidt_azure_http *http);

/*
 * Send req, retrying as described above, and fill resp (which the caller
 * releases with azidt_azure_response_clear(), also on failure). Returns
 * AZIDT_OK for a 2xx response. Otherwise resp contains the last response, and
 * the return value follows its status: 400 AZIDT_ERR_INVALID, 401
 * AZIDT_ERR_UNAUTHORIZED, 403 AZIDT_ERR_FORBIDDEN, 404 AZIDT_ERR_NOT_FOUND,
 * 409 AZIDT_ERR_CONFLICT, 429 AZIDT_ERR_THROTTLED, 408/504
 * AZIDT_ERR_TIMEOUT, other 5xx AZIDT_ERR_UNAVAILABLE, else
 * AZIDT_ERR_REMOTE. Transport failures give AZIDT_ERR_TIMEOUT,
 * AZIDT_ERR_UNAVAILABLE (no connection), AZIDT_ERR_TLS or AZIDT_ERR_HTTP.
 * err receives what failed, Azure's code and message, the request id and
 * whether retrying helps; it never contains a body, token or secret.
 */
azidt_err azidt_azure_http_send(struct azidt_azure_http *http,
                                const struct azidt_azure_request *req,
                                struct azidt_azure_response *resp, char *err,
                                size_t errlen);

/* Release what resp owns, wiping the strings of its JSON body (it may hold
 * a token or a secret), and reset it. */
void azidt_azure_response_clear(struct azidt_azure_response *resp);

/* Total HTTP attempts made through http since it was created. */
uint64_t azidt_azure_http_attempt_count(const struct azidt_azure_http *http);

/*
 * Parse a Retry-After value: delay seconds or an HTTP-date, which is
 * compared with now_wall_ms (Unix epoch milliseconds). Returns the delay in
 * milliseconds (0 for a date in the past), or -1 when value is invalid.
 */
int64_t azidt_azure_parse_retry_after(const char *value, int64_t now_wall_ms);

/*
 * Return the backoff before retry number retry (0 for the first retry):
 * 1 s * 2^retry, capped at AZIDT_AZURE_MAX_DELAY_MS, scaled by a factor
 * between 0.8 and 1.2 that jitter (in [0, 1)) selects.
 */
int64_t azidt_azure_backoff_ms(unsigned retry, double jitter);

/*
 * Percent-encode text (RFC 3986: everything except letters, digits and
 * "-._~") into out. Returns the length the encoding needs, without the
 * NUL; it was written completely only when that is below outlen.
 */
size_t azidt_azure_url_escape(const char *text, char *out, size_t outlen);

#endif
