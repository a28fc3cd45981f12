#include "azidt/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "azidt/client_auth.h"
#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/log.h"
#include "azidt/metrics.h"
#include "azidt/work_queue.h"
#include "exchange.h"

/* GnuTLS priority strings: the NORMAL cipher set with only the accepted
 * protocol versions. */
#define PRIORITIES_TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define PRIORITIES_TLS13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"

/* Shortest time between two warnings about refused connections. */
#define REFUSAL_WARN_INTERVAL_MS 10000

/* Set while a server with client certificate authentication runs; read
 * by the certificate callback, which has no user data argument. */
static atomic_bool request_client_cert;

/* Refusals since the last warning, and when that warning was written. */
static atomic_uint_fast64_t refusals_unreported;
static atomic_int_fast64_t refusal_warned_ms;

struct ready_check {
    const char *name;
    azidt_ready_fn fn;
    void *ctx;
};

struct azidt_server {
    struct azidt_server_config cfg; /* strings borrowed from the caller */
    struct azidt_tls_store *store;
    struct azidt_client_auth *client_auth; /* NULL: no client certificate */
    struct azidt_route routes[AZIDT_MAX_ROUTES];
    size_t route_count;
    struct ready_check checks[AZIDT_MAX_READY_CHECKS];
    size_t check_count;
    struct MHD_Daemon *daemon;
    struct azidt_work_queue *workers;
    atomic_bool accepting;
    bool stopped;
    pthread_mutex_t lock; /* guards in_flight */
    pthread_cond_t idle;  /* signalled when in_flight drops to zero */
    size_t in_flight;
};

azidt_err azidt_server_parse_timeout(const char *text, int64_t default_ms,
                                     int64_t *timeout_ms)
{
    int64_t ms;

    if (!text || !*text) {
        *timeout_ms = default_ms;
        return AZIDT_OK;
    }
    if (azidt_config_parse_duration_ms(text, AZIDT_TIMEOUT_MAX_MS, &ms) ||
        ms <= 0)
        return AZIDT_ERR_INVALID;
    *timeout_ms = ms;
    return AZIDT_OK;
}

int64_t azidt_server_deadline(int64_t arrival_ms, int64_t timeout_ms)
{
    int64_t margin = timeout_ms / 5;

    if (margin > AZIDT_DEADLINE_MARGIN_MAX_MS)
        margin = AZIDT_DEADLINE_MARGIN_MAX_MS;
    return arrival_ms + timeout_ms - margin;
}

bool azidt_server_is_json_content_type(const char *value)
{
    static const char json[] = "application/json";
    size_t len = sizeof(json) - 1;

    if (!value)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, json, len) != 0)
        return false;
    value += len;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value == '\0' || *value == ';';
}

const struct azidt_route *
azidt_server_find_route(const struct azidt_server *server, const char *path)
{
    for (size_t i = 0; i < server->route_count; i++) {
        if (strcmp(server->routes[i].path, path) == 0)
            return &server->routes[i];
    }
    return NULL;
}

static bool certificate_ready(void *ctx, char *why, size_t len)
{
    struct azidt_server *server = ctx;
    char serial[80];

    azidt_tls_store_serial(server->store, serial, sizeof(serial));
    if (!serial[0]) {
        snprintf(why, len, "no serving certificate loaded");
        return false;
    }
    return true;
}

static bool listener_ready(void *ctx, char *why, size_t len)
{
    struct azidt_server *server = ctx;

    if (!atomic_load(&server->accepting)) {
        snprintf(why, len, "not accepting connections");
        return false;
    }
    return true;
}

azidt_err azidt_server_create(const struct azidt_server_config *cfg,
                              struct azidt_tls_store *store,
                              struct azidt_server **out)
{
    struct azidt_server *server = calloc(1, sizeof(*server));

    *out = NULL;
    if (!server)
        return AZIDT_ERR_NOMEM;
    server->cfg = *cfg;
    server->store = store;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->idle, NULL);
    azidt_server_add_ready_check(server, "certificate", certificate_ready,
                                 server);
    azidt_server_add_ready_check(server, "listener", listener_ready, server);
    *out = server;
    return AZIDT_OK;
}

azidt_err azidt_server_add_route(struct azidt_server *server,
                                 const struct azidt_route *route)
{
    if (server->route_count == AZIDT_MAX_ROUTES || !route->path ||
        !route->handler || azidt_server_find_route(server, route->path))
        return AZIDT_ERR_INVALID;
    server->routes[server->route_count++] = *route;
    return AZIDT_OK;
}

azidt_err azidt_server_add_ready_check(struct azidt_server *server,
                                       const char *name, azidt_ready_fn fn,
                                       void *ctx)
{
    struct ready_check *check;

    if (server->check_count == AZIDT_MAX_READY_CHECKS)
        return AZIDT_ERR_INVALID;
    check = &server->checks[server->check_count++];
    check->name = name;
    check->fn = fn;
    check->ctx = ctx;
    return AZIDT_OK;
}

/* Write the /readyz body ("ok" or one line per failing check) into buf
 * and return whether every check passed. */
bool azidt_exchange_readiness(struct azidt_server *server, char *buf,
                              size_t len)
{
    bool ready = true;
    size_t pos = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < server->check_count; i++) {
        struct ready_check *check = &server->checks[i];
        char why[256] = "";
        int n;

        if (check->fn(check->ctx, why, sizeof(why)))
            continue;
        ready = false;
        n = snprintf(buf + pos, len - pos, "%s: %s\n", check->name, why);
        if (n > 0 && (size_t)n < len - pos)
            pos += (size_t)n;
    }
    if (ready)
        snprintf(buf, len, "ok\n");
    return ready;
}

/* Accessors for exchange.c, which runs each request. */
const struct azidt_server_config *
azidt_exchange_config(struct azidt_server *server)
{
    return &server->cfg;
}

struct azidt_client_auth *
azidt_exchange_client_auth(struct azidt_server *server)
{
    return server->client_auth;
}

void azidt_server_set_client_auth(struct azidt_server *server,
                                  struct azidt_client_auth *auth)
{
    server->client_auth = auth;
}

struct azidt_work_queue *azidt_exchange_workers(struct azidt_server *server)
{
    return server->workers;
}

void azidt_exchange_started(struct azidt_server *server)
{
    pthread_mutex_lock(&server->lock);
    server->in_flight++;
    pthread_mutex_unlock(&server->lock);
}

void azidt_exchange_finished(struct azidt_server *server)
{
    pthread_mutex_lock(&server->lock);
    if (--server->in_flight == 0)
        pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
}

/*
 * Count a connection closed at accept and warn at most once per
 * REFUSAL_WARN_INTERVAL_MS, with the number refused since the last
 * warning, so a flood of connections cannot flood the log too.
 */
static void note_refusal(const char *detail)
{
    int64_t now = azidt_clock_now_ms();
    int64_t last = atomic_load(&refusal_warned_ms);
    char count[32];

    azidt_metrics_connection_refused();
    atomic_fetch_add(&refusals_unreported, 1);
    if (last != 0 && now - last < REFUSAL_WARN_INTERVAL_MS)
        return;
    if (!atomic_compare_exchange_strong(&refusal_warned_ms, &last, now))
        return;
    snprintf(count, sizeof(count), "%llu",
             (unsigned long long)atomic_exchange(&refusals_unreported, 0));
    AZIDT_LOG_WARN("rejecting connections at accept: a client address has "
                   "--max-connections-per-ip connections open, or the process "
                   "has --max-connections; if the apiserver is rejected, "
                   "raise the limit, otherwise find the client",
                   "rejected", count, "detail", detail);
}

/* Route libmicrohttpd's own messages (TLS handshake failures, accept
 * errors) into the JSON log. libmicrohttpd reports a connection closed
 * at the limit only through this log, so that message is counted. */
static void log_mhd_message(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t len;

    (void)cls;
    vsnprintf(text, sizeof(text), fmt, ap);
    len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (strstr(text, "connection limit") || strstr(text, "Too many open"))
        note_refusal(text);
    else
        AZIDT_LOG_DEBUG("libmicrohttpd", "detail", text);
}

/* Keep the gauge of open connections. */
static void notify_connection(void *cls, struct MHD_Connection *connection,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)connection;
    (void)socket_context;
    azidt_metrics_connection_open(toe == MHD_CONNECTION_NOTIFY_STARTED ? 1
                                                                       : -1);
}

/* The serving certificate callback. With client authentication on, it
 * also requests a client certificate. GnuTLS sends the request after
 * it has chosen the server's certificate. No CA names are sent, and an
 * absent or unknown certificate does not fail the handshake; the request
 * handler decides (see client_auth.h). */
static int retrieve_certificate(gnutls_session_t session,
                                const gnutls_datum_t *req_ca_rdn, int nreqs,
                                const gnutls_pk_algorithm_t *pk_algos,
                                int pk_algos_length, gnutls_pcert_st **pcert,
                                unsigned int *pcert_length,
                                gnutls_privkey_t *privkey)
{
    if (atomic_load(&request_client_cert))
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    return azidt_tls_store_retrieve(session, req_ca_rdn, nreqs, pk_algos,
                                    pk_algos_length, pcert, pcert_length,
                                    privkey);
}

/* Fill addr from the configured address and port. */
static azidt_err make_address(const struct azidt_server_config *cfg,
                              struct sockaddr_storage *addr, bool *ipv6,
                              char *err, size_t errlen)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    if (inet_pton(AF_INET, cfg->listen_address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(cfg->port);
        *ipv6 = false;
        return AZIDT_OK;
    }
    if (inet_pton(AF_INET6, cfg->listen_address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->port);
        *ipv6 = true;
        return AZIDT_OK;
    }
    snprintf(err, errlen,
             "invalid listen address \"%.100s\": expected an IPv4 or IPv6 "
             "literal such as 0.0.0.0 or ::",
             cfg->listen_address);
    return AZIDT_ERR_CONFIG;
}

azidt_err azidt_server_start(struct azidt_server *server, char *err,
                             size_t errlen)
{
    const struct azidt_server_config *cfg = &server->cfg;
    struct sockaddr_storage addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned idle_seconds = (unsigned)((cfg->idle_timeout_ms + 999) / 1000);
    bool ipv6 = false;
    char port[16];
    char limit[16];
    char per_ip[16];
    char idle[16];
    azidt_err rc;

    rc = make_address(cfg, &addr, &ipv6, err, errlen);
    if (rc)
        return rc;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    rc = azidt_work_queue_create(cfg->slow_workers, cfg->slow_queue_size,
                                 &server->workers);
    if (rc) {
        snprintf(err, errlen, "cannot start %u slow-request workers: %s",
                 cfg->slow_workers, azidt_strerror(rc));
        return rc;
    }
    azidt_tls_store_install(server->store);
    atomic_store(&request_client_cert, server->client_auth != NULL);

    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, azidt_exchange_handle, server,
        /* libmicrohttpd wants the logger first, so that it also receives
         * the messages about the options that follow. */
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message, server,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads,
        MHD_OPTION_HTTPS_CERT_CALLBACK, retrieve_certificate,
        MHD_OPTION_HTTPS_PRIORITIES,
        cfg->tls_min_version >= 13 ? PRIORITIES_TLS13 : PRIORITIES_TLS12,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_seconds,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, server,
        MHD_OPTION_NOTIFY_COMPLETED, azidt_exchange_completed, server,
        MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, errlen,
                 "cannot listen on %s port %u: %s; check that the address "
                 "is local and the port is free",
                 cfg->listen_address, cfg->port,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        azidt_work_queue_destroy(server->workers);
        server->workers = NULL;
        return AZIDT_ERR_IO;
    }
    atomic_store(&server->accepting, true);
    snprintf(port, sizeof(port), "%u", cfg->port);
    snprintf(limit, sizeof(limit), "%u", cfg->max_connections);
    snprintf(per_ip, sizeof(per_ip), "%u", cfg->max_connections_per_ip);
    snprintf(idle, sizeof(idle), "%u", idle_seconds);
    AZIDT_LOG_INFO(
        "listening", "address", cfg->listen_address, "port", port,
        "tls_min_version", cfg->tls_min_version >= 13 ? "1.3" : "1.2",
        "max_connections", limit, "idle_timeout_s", idle, "client_certificates",
        server->client_auth ? "required" : "not required");
    return AZIDT_OK;
}

/* Wait until no request is in flight or deadline_ms passes. Returns the
 * number still in flight. */
static size_t wait_idle(struct azidt_server *server, int64_t deadline_ms)
{
    size_t left;

    pthread_mutex_lock(&server->lock);
    while (server->in_flight > 0 && !azidt_deadline_passed(deadline_ms)) {
        struct timespec until;
        int64_t wake =
            azidt_clock_wall_ms() + azidt_deadline_remaining(deadline_ms);

        until.tv_sec = wake / 1000;
        until.tv_nsec = (wake % 1000) * 1000000L;
        pthread_cond_timedwait(&server->idle, &server->lock, &until);
    }
    left = server->in_flight;
    pthread_mutex_unlock(&server->lock);
    return left;
}

void azidt_server_shutdown(struct azidt_server *server, int64_t timeout_ms)
{
    MHD_socket listener;
    size_t left;
    char count[32];

    if (!server->daemon || server->stopped)
        return;
    server->stopped = true;
    atomic_store(&server->accepting, false);

    /* Close the listening socket first so that new connections are
     * refused while the requests in flight finish. */
    listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    AZIDT_LOG_INFO("stopped accepting connections; draining requests");

    left = wait_idle(server, azidt_deadline_in(timeout_ms));
    snprintf(count, sizeof(count), "%zu", left);
    if (left > 0)
        AZIDT_LOG_WARN("shutdown timeout reached with requests in flight",
                       "in_flight", count);

    /* Runs the jobs still queued; each ends by its request's deadline and
     * resumes its connection, which libmicrohttpd needs before it stops.
     * The queue is freed only after the daemon stops, because a request on
     * a kept-alive connection may still try to submit until then. */
    azidt_work_queue_close(server->workers);
    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    azidt_work_queue_destroy(server->workers);
    server->workers = NULL;
    azidt_tls_store_install(NULL);
    AZIDT_LOG_INFO("server stopped", "unanswered", count);
}

void azidt_server_destroy(struct azidt_server *server)
{
    if (!server)
        return;
    azidt_server_shutdown(server, 0);
    pthread_cond_destroy(&server->idle);
    pthread_mutex_destroy(&server->lock);
    free(server);
}
