/*
 * HTTPS admission server on libmicrohttpd.
 *
 * The server owns the listener, the route table, the readiness checks and
 * the pool of workers for slow requests. A route maps an exact path to an
 * admission handler. For each request the server checks the method, the
 * content type, the body size and the AdmissionReview itself, rejects bad
 * input with a precise HTTP error, and passes a parsed request to the
 * handler. Threads:
 *
 * - libmicrohttpd's thread pool (http_threads) accepts connections, reads
 *   requests and runs fast handlers inline (pods, probes, validation that
 *   needs no remote call).
 * - When a route's needs_worker callback returns true for a request, the
 *   connection is suspended and the handler runs on the worker pool
 *   (slow_workers threads, slow_queue_size waiting jobs). The worker
 *   resumes the connection when the response is ready. When the pool is full
 * the request is denied at once with code 429, so slow requests never hold up
 *   the threads that serve pods.
 *
 * Each request's deadline is its arrival time plus the apiserver's
 * ?timeout= (or the configured default) minus a margin for sending the
 * response: min(AZIDT_DEADLINE_MARGIN_MAX_MS, timeout / 5).
 *
 * Routes and readiness checks are added before azidt_server_start() and
 * not changed afterwards; handlers and checks are then called from many
 * threads at once.
 */
#ifndef AZIDT_SERVER_H
#define AZIDT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "azidt/admission.h"
#include "azidt/client_auth.h"
#include "azidt/config.h"
#include "azidt/error.h"
#include "azidt/tls_store.h"

/* Longest time kept back from the apiserver's timeout for sending the
 * response; see azidt_server_deadline(). */
#define AZIDT_DEADLINE_MARGIN_MAX_MS 1000
/* Longest ?timeout= accepted; the apiserver allows at most 30s. */
#define AZIDT_TIMEOUT_MAX_MS 30000
#define AZIDT_MAX_ROUTES 16
#define AZIDT_MAX_READY_CHECKS 16

typedef void (*azidt_admission_handler)(
    void *ctx, const struct azidt_admission_request *req,
    struct azidt_admission_response *resp);

/* True when the request must run on the worker pool. */
typedef bool (*azidt_needs_worker_fn)(
    void *ctx, const struct azidt_admission_request *req);

/*
 * True when the component is ready; otherwise false with a short reason
 * in why (len bytes). Called for every /readyz request, from several
 * threads at once, so it must be cheap and thread-safe.
 */
typedef bool (*azidt_ready_fn)(void *ctx, char *why, size_t len);

struct azidt_route {
    const char *path;  /* exact request path, such as "/mutate/pods" */
    const char *group; /* accepted request.kind.group; NULL for any */
    const char *kind;  /* accepted request.kind.kind; NULL for any */
    azidt_admission_handler handler;
    void *ctx;                          /* passed to handler, needs_worker */
    azidt_needs_worker_fn needs_worker; /* NULL: always inline */
};

struct azidt_server;

/*
 * Create a server for cfg that serves the pairs of store. The struct is
 * copied, but its strings and store must outlive the server. Adds the
 * readiness checks "certificate" and "listener". Returns AZIDT_ERR_NOMEM.
 */
azidt_err azidt_server_create(const struct azidt_server_config *cfg,
                              struct azidt_tls_store *store,
                              struct azidt_server **out);

/* Add a route (copied; strings must outlive the server). Returns
 * AZIDT_ERR_INVALID for a duplicate path or a full table. */
azidt_err azidt_server_add_route(struct azidt_server *server,
                                 const struct azidt_route *route);

/* Add a named readiness check for /readyz. name must outlive the server.
 * Returns AZIDT_ERR_INVALID when the table is full. */
azidt_err azidt_server_add_ready_check(struct azidt_server *server,
                                       const char *name, azidt_ready_fn fn,
                                       void *ctx);

/*
 * Require a client certificate that auth verifies on every path except
 * /healthz, /readyz and /metrics; others get 401. Call before
 * azidt_server_start(); auth must outlive the server. NULL (the default)
 * requires none.
 */
void azidt_server_set_client_auth(struct azidt_server *server,
                                  struct azidt_client_auth *auth);

/* Return the route for path, or NULL. */
const struct azidt_route *
azidt_server_find_route(const struct azidt_server *server, const char *path);

/*
 * Bind the listener and start the threads. Returns AZIDT_ERR_CONFIG (bad
 * address), AZIDT_ERR_IO (bind failed) or AZIDT_ERR_INTERNAL, with a
 * one-line reason in err.
 */
azidt_err azidt_server_start(struct azidt_server *server, char *err,
                             size_t errlen);

/*
 * Stop accepting connections, wait up to timeout_ms for requests in
 * flight (suspended ones included) to get their responses, then stop every
 * thread. A slow request still running at the timeout is waited for
 * until its own deadline, so the total wait is bounded by both.
 */
void azidt_server_shutdown(struct azidt_server *server, int64_t timeout_ms);

/* Free the server; calls azidt_server_shutdown() if still running.
 * Accepts NULL. */
void azidt_server_destroy(struct azidt_server *server);

/*
 * Parse the apiserver's ?timeout= value ("10s"; any duration with units
 * h, m, s, ms from 1ms to AZIDT_TIMEOUT_MAX_MS). NULL or "" yields
 * default_ms. Returns AZIDT_ERR_INVALID otherwise and leaves *timeout_ms
 * unchanged.
 */
azidt_err azidt_server_parse_timeout(const char *text, int64_t default_ms,
                                     int64_t *timeout_ms);

/* Return arrival_ms + timeout_ms - min(AZIDT_DEADLINE_MARGIN_MAX_MS,
 * timeout_ms / 5). */
int64_t azidt_server_deadline(int64_t arrival_ms, int64_t timeout_ms);

/* True for "application/json", in any case, with optional parameters
 * such as "; charset=utf-8". */
bool azidt_server_is_json_content_type(const char *value);

#endif
