#include "exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/client_auth.h"
#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/log.h"
#include "azidt/metrics.h"

/* State of one request, from its headers to the completion callback. */
struct exchange {
    struct azidt_server *server;
    struct MHD_Connection *connection;
    const struct azidt_route *route;
    const char *path;    /* owned by libmicrohttpd for the request's life */
    int64_t arrival_us;  /* CLOCK_MONOTONIC, for the latency log */
    int64_t deadline_ms; /* see azidt_server_deadline() */
    char *body;
    size_t body_len;
    size_t body_cap;
    size_t discarded; /* bytes dropped after the body limit was passed */
    bool too_large;
    bool answered;  /* a response was queued before the body was read */
    bool suspended; /* the worker pool owns the request until resumed */
    bool on_worker; /* the handler ran, or was to run, on the pool */
    struct azidt_admission_request *req;
    struct azidt_admission_response resp;
    char *reply; /* serialised AdmissionReview response */
};

static const char *operation_name(enum azidt_operation op)
{
    switch (op) {
    case AZIDT_OP_CREATE:
        return "CREATE";
    case AZIDT_OP_UPDATE:
        return "UPDATE";
    case AZIDT_OP_DELETE:
        return "DELETE";
    case AZIDT_OP_CONNECT:
        return "CONNECT";
    }
    return "UNKNOWN";
}

/* Microseconds since the request arrived, read once per decision and
 * shared by its log line and its metrics. */
static int64_t elapsed_us(const struct exchange *ex)
{
    return azidt_metrics_now_us() - ex->arrival_us;
}

static void format_latency(int64_t us, char *buf, size_t len)
{
    snprintf(buf, len, "%lld.%03lld", (long long)(us / 1000),
             (long long)(us % 1000));
}

/* Count the request in the admission metrics. Requests for paths that
 * are not routes (404, probes) are not admission requests. */
static void record_admission(const struct exchange *ex,
                             enum azidt_metrics_decision decision, int64_t us)
{
    if (ex->route)
        azidt_metrics_admission(azidt_metrics_route_of(ex->route->path),
                                decision, us);
}

/* Queue a plain-text response. body is copied. */
static enum MHD_Result queue_text(struct exchange *ex, unsigned status,
                                  const char *body, const char *allow)
{
    struct MHD_Response *response;
    enum MHD_Result ret;

    response = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                               MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(ex->connection, status, response);
    MHD_destroy_response(response);
    ex->answered = true;
    return ret;
}

/*
 * Reject bad input with status and a message that states what was wrong.
 * The message is logged too; it never contains the body.
 */
static enum MHD_Result reject(struct exchange *ex, unsigned status,
                              const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum MHD_Result reject(struct exchange *ex, unsigned status,
                              const char *allow, const char *fmt, ...)
{
    char message[600];
    char code[16];
    char latency[32];
    va_list ap;
    size_t len;
    int64_t us;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message) - 1, fmt, ap);
    va_end(ap);
    snprintf(code, sizeof(code), "%u", status);
    us = elapsed_us(ex);
    format_latency(us, latency, sizeof(latency));
    AZIDT_LOG_WARN("rejected HTTP request", "path", ex->path, "status", code,
                   "error", message, "uid", ex->req ? ex->req->uid : NULL,
                   "latency_ms", latency);
    len = strlen(message);
    message[len] = '\n';
    message[len + 1] = '\0';
    record_admission(ex, AZIDT_METRICS_ERROR, us);
    return queue_text(ex, status, message, allow);
}

/* Write the one log line per admission decision. */
static void log_decision(const struct exchange *ex, int64_t us)
{
    const struct azidt_admission_request *req = ex->req;
    char code[16];
    char latency[32];

    snprintf(code, sizeof(code), "%d", ex->resp.allowed ? 200 : ex->resp.code);
    format_latency(us, latency, sizeof(latency));
    AZIDT_LOG_INFO("admission review", "uid", req->uid, "path", ex->route->path,
                   "kind", req->kind, "namespace", req->namespace_, "name",
                   req->name, "operation", operation_name(req->operation),
                   "dry_run", req->dry_run ? "true" : "false", "decision",
                   ex->resp.allowed ? "allowed" : "denied", "code", code,
                   "pool", ex->on_worker ? "worker" : "inline", "latency_ms",
                   latency);
}

/* Serialise the handler's response into ex->reply. */
static void build_reply(struct exchange *ex)
{
    ex->reply = azidt_admission_response_json(ex->req->uid, &ex->resp);
}

static enum MHD_Result send_review(struct exchange *ex)
{
    struct MHD_Response *response;
    enum MHD_Result ret;
    int64_t us;

    if (!ex->reply)
        return reject(ex, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
                      "out of memory while writing the AdmissionReview "
                      "response");
    response = MHD_create_response_from_buffer(strlen(ex->reply), ex->reply,
                                               MHD_RESPMEM_MUST_FREE);
    if (!response)
        return MHD_NO;
    ex->reply = NULL; /* now owned by the response */
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    ret = MHD_queue_response(ex->connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    us = elapsed_us(ex);
    log_decision(ex, us);
    record_admission(
        ex, azidt_metrics_decision_of(ex->resp.allowed, ex->resp.code), us);
    return ret;
}

/* Body of a worker job: run the handler unless the deadline has passed
 * while the request waited, then hand the connection back. */
static void run_on_worker(void *arg)
{
    struct exchange *ex = arg;
    struct MHD_Connection *connection = ex->connection;

    if (azidt_deadline_passed(ex->deadline_ms))
        azidt_admission_deny(&ex->resp, 504,
                             "the request waited for a free worker until "
                             "its deadline passed; retry the request");
    else
        ex->route->handler(ex->route->ctx, ex->req, &ex->resp);
    build_reply(ex);
    /* Last use of ex on this thread: once resumed, libmicrohttpd may
     * respond and free the exchange at once. */
    MHD_resume_connection(connection);
}

/* Suspend the connection and queue the request on the worker pool. A
 * full pool gets an immediate denial instead. */
static enum MHD_Result dispatch_to_worker(struct exchange *ex)
{
    const struct azidt_server_config *cfg = azidt_exchange_config(ex->server);
    struct azidt_work_queue *workers = azidt_exchange_workers(ex->server);

    ex->on_worker = true;
    ex->suspended = true;
    /* Suspend before submitting, so that a fast worker cannot resume the
     * connection before it was suspended. */
    MHD_suspend_connection(ex->connection);
    if (azidt_work_queue_submit(workers, run_on_worker, ex) == AZIDT_OK)
        return MHD_YES;

    azidt_metrics_worker_rejected();
    azidt_admission_deny(&ex->resp, 429,
                         "the webhook is busy: all %u workers and %u queue "
                         "slots are taken by other requests that call "
                         "Azure; retry in a few seconds",
                         cfg->slow_workers, cfg->slow_queue_size);
    build_reply(ex);
    MHD_resume_connection(ex->connection);
    return MHD_YES;
}

/* Check that the request's kind is the one the route serves. */
static bool kind_accepted(const struct azidt_route *route,
                          const struct azidt_admission_request *req)
{
    if (route->group && strcmp(route->group, req->group) != 0)
        return false;
    if (route->kind && strcmp(route->kind, req->kind) != 0)
        return false;
    return true;
}

/* The whole body has arrived: parse it and run the handler. */
static enum MHD_Result finish_admission(struct exchange *ex)
{
    const struct azidt_route *route = ex->route;
    char err[512];

    if (ex->too_large)
        return reject(ex, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                      "request body is larger than the limit of %zu bytes "
                      "(--max-body-bytes)",
                      azidt_exchange_config(ex->server)->max_body_bytes);
    if (azidt_admission_parse(ex->body ? ex->body : "", ex->body_len, &ex->req,
                              err, sizeof(err)) != AZIDT_OK)
        return reject(ex, MHD_HTTP_BAD_REQUEST, NULL,
                      "invalid AdmissionReview: %s", err);
    if (!kind_accepted(route, ex->req))
        return reject(ex, MHD_HTTP_BAD_REQUEST, NULL,
                      "request.kind is %s/%s, but %s accepts only %s/%s",
                      ex->req->group, ex->req->kind, route->path,
                      route->group ? route->group : "*",
                      route->kind ? route->kind : "*");
    ex->req->deadline_ms = ex->deadline_ms;

    if (route->needs_worker && route->needs_worker(route->ctx, ex->req))
        return dispatch_to_worker(ex);
    route->handler(route->ctx, ex->req, &ex->resp);
    build_reply(ex);
    return send_review(ex);
}

/* Append a piece of the body, or count it as discarded once the body is
 * over the limit. Returns false when the body grows past twice the
 * limit, so the connection is closed without reading the rest. */
static bool append_body(struct exchange *ex, const char *data, size_t size)
{
    size_t max = azidt_exchange_config(ex->server)->max_body_bytes;

    if (!ex->too_large && size > max - ex->body_len) {
        /* Over the limit while streaming (chunked, or a Content-Length
         * that lied): drop what was read and respond 413 at the end. */
        ex->too_large = true;
        free(ex->body);
        ex->body = NULL;
        ex->body_len = 0;
    }
    if (ex->too_large) {
        ex->discarded += size;
        return ex->discarded <= max;
    }
    if (ex->body_len + size + 1 > ex->body_cap) {
        size_t cap = ex->body_cap ? ex->body_cap : 16384;
        char *grown;

        while (cap < ex->body_len + size + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        grown = realloc(ex->body, cap);
        if (!grown)
            return false;
        ex->body = grown;
        ex->body_cap = cap;
    }
    memcpy(ex->body + ex->body_len, data, size);
    ex->body_len += size;
    ex->body[ex->body_len] = '\0';
    return true;
}

/* Send the rendered metrics. The counters are read with atomic loads, and
 * only the pool gauges take the worker pool's lock, as briefly as a
 * submit does. */
static enum MHD_Result answer_metrics(struct exchange *ex)
{
    struct azidt_work_queue *workers = azidt_exchange_workers(ex->server);
    struct MHD_Response *response;
    enum MHD_Result ret;
    char *text = NULL;
    size_t len = 0;

    if (workers) {
        struct azidt_work_queue_stats stats;

        azidt_work_queue_stats(workers, &stats);
        azidt_metrics_set_worker_pool(stats.queued, stats.running);
    }
    if (azidt_metrics_render(&text, &len) != AZIDT_OK)
        return queue_text(ex, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "out of memory while rendering the metrics\n", NULL);
    response =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            AZIDT_METRICS_CONTENT_TYPE);
    ret = MHD_queue_response(ex->connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return ret;
}

/* Respond to /healthz, /readyz and /metrics inline, never on the worker
 * pool, so that they respond while every worker is busy. */
static enum MHD_Result answer_probe(struct exchange *ex, const char *url,
                                    const char *method)
{
    char body[2048];

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reject(ex, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
                      "method %.20s is not allowed on %s; use GET", method,
                      url);
    ex->answered = true;
    if (strcmp(url, AZIDT_ROUTE_METRICS) == 0)
        return answer_metrics(ex);
    if (strcmp(url, AZIDT_ROUTE_HEALTHZ) == 0)
        return queue_text(ex, MHD_HTTP_OK, "ok\n", NULL);
    if (azidt_exchange_readiness(ex->server, body, sizeof(body)))
        return queue_text(ex, MHD_HTTP_OK, body, NULL);
    return queue_text(ex, MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL);
}

/* True when no client certificate is required, or the connection's
 * certificate passes; otherwise false with the reason in why. */
static bool client_authenticated(struct exchange *ex, char *why, size_t len)
{
    struct azidt_client_auth *auth = azidt_exchange_client_auth(ex->server);
    const union MHD_ConnectionInfo *info;

    if (!auth)
        return true;
    info = MHD_get_connection_info(ex->connection,
                                   MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return azidt_client_auth_verify(auth, info ? info->tls_session : NULL, why,
                                    len);
}

/* Checks that need only the request line and headers. */
static enum MHD_Result begin(struct exchange *ex, const char *url,
                             const char *method)
{
    const struct azidt_server_config *cfg = azidt_exchange_config(ex->server);
    struct MHD_Connection *conn = ex->connection;
    const char *content_type;
    const char *content_length;
    const char *timeout;
    int64_t timeout_ms;
    char why[400];

    if (strcmp(url, AZIDT_ROUTE_HEALTHZ) == 0 ||
        strcmp(url, AZIDT_ROUTE_READYZ) == 0 ||
        strcmp(url, AZIDT_ROUTE_METRICS) == 0)
        return answer_probe(ex, url, method);
    ex->route = azidt_server_find_route(ex->server, url);
    if (!client_authenticated(ex, why, sizeof(why))) {
        azidt_metrics_client_cert_rejected();
        return reject(ex, MHD_HTTP_UNAUTHORIZED, NULL,
                      "%s; admission requests need a client certificate "
                      "that --client-ca-file and --client-cert-names accept",
                      why);
    }
    if (!ex->route)
        return reject(ex, MHD_HTTP_NOT_FOUND, NULL,
                      "no handler for path %.200s", url);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return reject(ex, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
                      "method %.20s is not allowed on %s; admission "
                      "requests use POST",
                      method, url);

    content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!azidt_server_is_json_content_type(content_type))
        return reject(ex, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
                      "content type \"%.100s\" is not accepted; send "
                      "application/json",
                      content_type ? content_type : "");

    content_length = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (content_length &&
        strtoull(content_length, NULL, 10) > cfg->max_body_bytes)
        return reject(ex, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                      "Content-Length %.30s is larger than the limit of "
                      "%zu bytes (--max-body-bytes)",
                      content_length, cfg->max_body_bytes);

    timeout =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "timeout");
    if (azidt_server_parse_timeout(timeout, cfg->default_timeout_ms,
                                   &timeout_ms))
        return reject(ex, MHD_HTTP_BAD_REQUEST, NULL,
                      "invalid timeout query parameter \"%.40s\": expected "
                      "a duration such as 10s, at most 30s",
                      timeout);
    ex->deadline_ms = azidt_server_deadline(ex->arrival_us / 1000, timeout_ms);
    return MHD_YES;
}

enum MHD_Result azidt_exchange_handle(void *cls,
                                      struct MHD_Connection *connection,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    struct exchange *ex = *con_cls;

    (void)version;
    if (!ex) {
        ex = calloc(1, sizeof(*ex));
        if (!ex)
            return MHD_NO;
        ex->server = cls;
        ex->connection = connection;
        ex->path = url;
        ex->arrival_us = azidt_metrics_now_us();
        *con_cls = ex;
        azidt_exchange_started(ex->server);
        return begin(ex, url, method);
    }
    if (ex->answered) {
        /* An error was queued before the body; ignore what follows. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        bool keep = append_body(ex, upload_data, *upload_data_size);

        *upload_data_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (ex->suspended) {
        /* Called again after the worker resumed the connection. */
        ex->suspended = false;
        return send_review(ex);
    }
    return finish_admission(ex);
}

void azidt_exchange_completed(void *cls, struct MHD_Connection *connection,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct exchange *ex = *con_cls;

    (void)cls;
    (void)connection;
    (void)toe;
    if (!ex)
        return;
    *con_cls = NULL;
    azidt_admission_request_free(ex->req);
    azidt_admission_response_clear(&ex->resp);
    free(ex->reply);
    free(ex->body);
    azidt_exchange_finished(ex->server);
    free(ex);
}
