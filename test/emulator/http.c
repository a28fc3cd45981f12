/*
 * libmicrohttpd glue: one daemon per service, a thread per connection (so
 * latency faults block only their own connection), bodies collected in
 * memory, then route, faults, handler and call log in that order.
 */
#include "emulator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "azidt/log.h"

/* Request bodies larger than this get a 413 response. */
#define MAX_BODY (1024 * 1024)

const char *emu_service_name(enum emu_service service)
{
    static const char *const names[] = {"token", "graph", "arm", "admin"};

    return service < EMU_SERVICE_COUNT ? names[service] : "?";
}

void emu_add_header(struct emu_request *req, const char *name,
                    const char *value)
{
    if (req->header_count >= EMU_MAX_HEADERS)
        return;
    req->header_names[req->header_count] = emu_strdup(name);
    req->header_values[req->header_count] = emu_strdup(value);
    req->header_count++;
}

const char *emu_header(struct emu_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *emu_query(struct emu_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void emu_reply_json(struct emu_request *req, int status, cJSON *body)
{
    free(req->resp_body);
    req->resp_body = body ? cJSON_PrintUnformatted(body) : NULL;
    req->status = status;
    cJSON_Delete(body);
}

void emu_reply_empty(struct emu_request *req, int status)
{
    free(req->resp_body);
    req->resp_body = NULL;
    req->status = status;
}

static void request_free(struct emu_request *req)
{
    int i;

    if (!req)
        return;
    free(req->path);
    free(req->body);
    free(req->resp_body);
    for (i = 0; i < req->header_count; i++) {
        free(req->header_names[i]);
        free(req->header_values[i]);
    }
    free(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    request_free(*con_cls);
    *con_cls = NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void add_service_headers(struct emu_request *req)
{
    const char *client_id = emu_header(req, "client-request-id");

    emu_uuid4(req->request_id);
    snprintf(req->client_request_id, sizeof(req->client_request_id), "%s",
             client_id ? client_id : req->request_id);
    switch (req->service) {
    case EMU_GRAPH:
        emu_add_header(req, "request-id", req->request_id);
        emu_add_header(req, "client-request-id", req->client_request_id);
        break;
    case EMU_ARM: {
        const char *corr = emu_header(req, "x-ms-correlation-request-id");

        emu_add_header(req, "x-ms-request-id", req->request_id);
        emu_add_header(req, "x-ms-correlation-request-id",
                       corr ? corr : req->request_id);
        break;
    }
    case EMU_TOKEN:
        emu_add_header(req, "x-ms-request-id", req->request_id);
        emu_add_header(req, "Cache-Control", "no-store, no-cache");
        emu_add_header(req, "Pragma", "no-cache");
        break;
    default:
        break;
    }
}

/* Classify, apply faults, run the handler and record the call. */
static void dispatch(struct emu_request *req)
{
    bool known = true, faulted = false;
    int delay_ms = 0;

    pthread_mutex_lock(&emu.lock);
    switch (req->service) {
    case EMU_TOKEN:
        known = emu_token_route(req);
        break;
    case EMU_GRAPH:
        known = emu_graph_route(req);
        break;
    case EMU_ARM:
        known = emu_arm_route(req);
        break;
    default:
        snprintf(req->route, sizeof(req->route), "%s %s", req->method,
                 req->path);
        break;
    }
    if (req->service != EMU_ADMIN)
        faulted = emu_faults_apply(req, &delay_ms);
    pthread_mutex_unlock(&emu.lock);

    if (delay_ms > 0)
        sleep_ms(delay_ms);

    if (!faulted) {
        pthread_mutex_lock(&emu.lock);
        if (req->body_too_large)
            emu_reply_empty(req, 413);
        else if (req->service == EMU_TOKEN)
            emu_token_handle(req);
        else if (req->service == EMU_GRAPH)
            emu_graph_handle(req);
        else if (req->service == EMU_ARM)
            emu_arm_handle(req);
        else
            emu_admin_handle(req);
        pthread_mutex_unlock(&emu.lock);
    }
    if (!known)
        AZIDT_LOG_DEBUG("request for an unknown route", "service",
                        emu_service_name(req->service), "route", req->route);

    if (req->service != EMU_ADMIN) {
        pthread_mutex_lock(&emu.lock);
        emu_call_record(req);
        pthread_mutex_unlock(&emu.lock);
    }
    if (azidt_log_enabled(AZIDT_LOG_DEBUG)) {
        char status[8];

        snprintf(status, sizeof(status), "%d", req->reset ? 0 : req->status);
        AZIDT_LOG_DEBUG("request served", "service",
                        emu_service_name(req->service), "route", req->route,
                        "status", status, "fault", faulted ? "yes" : "no");
    }
}

/* Close the socket with a TCP reset: SO_LINGER with a zero timeout makes
 * close(2) send RST instead of FIN, as a dropped upstream connection
 * would. */
static void reset_connection(struct emu_request *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct linger lg = {1, 0};

    if (info)
        setsockopt(info->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static enum MHD_Result send_response(struct emu_request *req)
{
    struct MHD_Response *resp;
    size_t len = req->resp_body ? strlen(req->resp_body) : 0;
    enum MHD_Result ret;
    int i;

    resp = MHD_create_response_from_buffer(len, req->resp_body,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    req->resp_body = NULL;
    for (i = 0; i < req->header_count; i++)
        MHD_add_response_header(resp, req->header_names[i],
                                req->header_values[i]);
    if (len > 0)
        MHD_add_response_header(resp, "Content-Type",
                                req->content_type ? req->content_type
                                                  : "application/json");
    ret = MHD_queue_response(req->conn, (unsigned int)req->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct emu_request *req = *con_cls;

    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->service = (enum emu_service)(intptr_t)cls;
        snprintf(req->method, sizeof(req->method), "%s", method);
        req->path = emu_strdup(url);
        req->body = calloc(1, 1);
        req->status = 500;
        *con_cls = req;
        return req->path && req->body ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        if (req->body_len + *upload_size > MAX_BODY) {
            req->body_too_large = true;
        } else {
            char *grown = realloc(req->body, req->body_len + *upload_size + 1);

            if (!grown)
                return MHD_NO;
            memcpy(grown + req->body_len, upload, *upload_size);
            req->body_len += *upload_size;
            grown[req->body_len] = '\0';
            req->body = grown;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    add_service_headers(req);
    dispatch(req);
    if (req->reset) {
        reset_connection(req);
        return MHD_NO;
    }
    return send_response(req);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    AZIDT_LOG_DEBUG("libmicrohttpd", "service",
                    emu_service_name((enum emu_service)(intptr_t)cls), "detail",
                    line);
}

struct MHD_Daemon *emu_http_start(enum emu_service service, uint16_t port,
                                  const char *cert_pem, const char *key_pem,
                                  uint16_t *bound)
{
    struct sockaddr_in addr;
    struct MHD_Daemon *daemon;
    const union MHD_DaemonInfo *info;
    void *cls = (void *)(intptr_t)service;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_TLS | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, cls, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_EXTERNAL_LOGGER, on_log, cls, MHD_OPTION_END);
    if (!daemon)
        return NULL;
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound = info ? info->port : port;
    return daemon;
}
