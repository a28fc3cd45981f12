#include "azidt/metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/constants.h"

/* Bucket upper bounds in microseconds, with the "le" label text that
 * states the same bound in seconds. */
static const struct {
    int64_t us;
    const char *le;
} bounds[AZIDT_METRICS_BUCKETS] = {
    {100, "0.0001"},  {250, "0.00025"}, {500, "0.0005"},  {1000, "0.001"},
    {2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"},  {25000, "0.025"},
    {50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"}, {500000, "0.5"},
    {1000000, "1"},   {2500000, "2.5"}, {5000000, "5"},   {10000000, "10"},
    {30000000, "30"},
};

enum status_class {
    CLASS_2XX,
    CLASS_4XX, /* 4xx other than 429 */
    CLASS_429,
    CLASS_5XX,
    CLASS_TRANSPORT, /* no response arrived */
    CLASS_OTHER,     /* 1xx and 3xx */
    CLASS_COUNT
};

enum method { GET, PUT, PATCH, POST, DELETE, METHOD_OTHER, METHOD_COUNT };

static const char *const route_names[AZIDT_METRICS_ROUTE_COUNT] = {
    AZIDT_ROUTE_MUTATE_AZIDT, AZIDT_ROUTE_VALIDATE_AZIDT,
    AZIDT_ROUTE_MUTATE_PODS, AZIDT_ROUTE_VALIDATE_PODS, "other"};
static const char *const decision_names[AZIDT_METRICS_DECISION_COUNT] = {
    "allowed", "denied", "error"};
static const char *const service_names[AZIDT_METRICS_AZURE_SERVICE_COUNT] = {
    "token", "graph", "arm"};
static const char *const method_names[METHOD_COUNT] = {
    "GET", "PUT", "PATCH", "POST", "DELETE", "other"};
static const char *const class_names[CLASS_COUNT] = {
    "2xx", "4xx", "429", "5xx", "transport", "other"};
static const char *const result_names[2] = {"failure", "success"};

typedef atomic_uint_fast64_t counter;

/* Observations per bucket, not cumulative. The last bucket is +Inf. */
struct histogram {
    counter buckets[AZIDT_METRICS_BUCKETS + 1];
    counter sum_us;
};

/*
 * Every metric. The members are all counters (gauges are stored in
 * counters too), so that azidt_metrics_reset() can walk the struct as an
 * array. C11 defines zero-initialised static atomics as valid.
 */
static struct {
    counter admission[AZIDT_METRICS_ROUTE_COUNT][AZIDT_METRICS_DECISION_COUNT];
    struct histogram admission_duration[AZIDT_METRICS_ROUTE_COUNT];
    counter worker_rejections;
    counter worker_queued;  /* gauge */
    counter worker_running; /* gauge */
    counter azure[AZIDT_METRICS_AZURE_SERVICE_COUNT][METHOD_COUNT][CLASS_COUNT];
    struct histogram azure_duration[AZIDT_METRICS_AZURE_SERVICE_COUNT];
    counter kube[CLASS_COUNT];
    counter reconciles[2]; /* indexed by success */
    struct histogram reconcile_duration;
    counter secret_rotations;
    counter orphans_removed;
    counter leader;                 /* gauge, 0 or 1 */
    counter certificate_reloads[2]; /* indexed by success */
    counter connections_refused;
    counter connections_open; /* gauge */
    counter client_cert_rejections;
} metrics;

static_assert(sizeof(metrics) % sizeof(counter) == 0,
              "the metrics struct holds only counters");

static void add(counter *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load(const counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void set(counter *c, uint64_t value)
{
    atomic_store_explicit(c, value, memory_order_relaxed);
}

static void observe(struct histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    add(&h->buckets[azidt_metrics_bucket_index(us)]);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

int64_t azidt_metrics_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t azidt_metrics_bucket_index(int64_t us)
{
    size_t i = 0;

    while (i < AZIDT_METRICS_BUCKETS && us > bounds[i].us)
        i++;
    return i;
}

enum azidt_metrics_route azidt_metrics_route_of(const char *path)
{
    for (size_t i = 0; i < AZIDT_METRICS_ROUTE_OTHER; i++) {
        if (path && strcmp(path, route_names[i]) == 0)
            return (enum azidt_metrics_route)i;
    }
    return AZIDT_METRICS_ROUTE_OTHER;
}

enum azidt_metrics_decision azidt_metrics_decision_of(bool allowed, int code)
{
    if (allowed)
        return AZIDT_METRICS_ALLOWED;
    if (code == 429 || code >= 500)
        return AZIDT_METRICS_ERROR;
    return AZIDT_METRICS_DENIED;
}

static enum status_class class_of(long status)
{
    if (status == 0)
        return CLASS_TRANSPORT;
    if (status == 429)
        return CLASS_429;
    if (status >= 200 && status <= 299)
        return CLASS_2XX;
    if (status >= 400 && status <= 499)
        return CLASS_4XX;
    if (status >= 500 && status <= 599)
        return CLASS_5XX;
    return CLASS_OTHER;
}

static enum method method_of(const char *method)
{
    for (size_t i = 0; i < METHOD_OTHER; i++) {
        if (method && strcmp(method, method_names[i]) == 0)
            return (enum method)i;
    }
    return METHOD_OTHER;
}

/* ---- recording ---- */

void azidt_metrics_admission(enum azidt_metrics_route route,
                             enum azidt_metrics_decision decision,
                             int64_t duration_us)
{
    if ((unsigned)route >= AZIDT_METRICS_ROUTE_COUNT)
        route = AZIDT_METRICS_ROUTE_OTHER;
    if ((unsigned)decision >= AZIDT_METRICS_DECISION_COUNT)
        decision = AZIDT_METRICS_ERROR;
    add(&metrics.admission[route][decision]);
    observe(&metrics.admission_duration[route], duration_us);
}

void azidt_metrics_worker_rejected(void)
{
    add(&metrics.worker_rejections);
}

void azidt_metrics_set_worker_pool(size_t queued, size_t running)
{
    set(&metrics.worker_queued, queued);
    set(&metrics.worker_running, running);
}

void azidt_metrics_azure_request(enum azidt_metrics_azure_service service,
                                 const char *method, long status,
                                 int64_t duration_us)
{
    if ((unsigned)service >= AZIDT_METRICS_AZURE_SERVICE_COUNT)
        service = AZIDT_METRICS_AZURE_TOKEN;
    add(&metrics.azure[service][method_of(method)][class_of(status)]);
    observe(&metrics.azure_duration[service], duration_us);
}

void azidt_metrics_kube_request(long status)
{
    add(&metrics.kube[class_of(status)]);
}

void azidt_metrics_reconcile(bool success, int64_t duration_us)
{
    add(&metrics.reconciles[success]);
    observe(&metrics.reconcile_duration, duration_us);
}

void azidt_metrics_secret_rotated(void)
{
    add(&metrics.secret_rotations);
}

void azidt_metrics_orphan_removed(void)
{
    add(&metrics.orphans_removed);
}

void azidt_metrics_set_leader(bool leading)
{
    set(&metrics.leader, leading ? 1 : 0);
}

void azidt_metrics_certificate_reload(bool success)
{
    add(&metrics.certificate_reloads[success]);
}

void azidt_metrics_connection_refused(void)
{
    add(&metrics.connections_refused);
}

void azidt_metrics_connection_open(int delta)
{
    atomic_fetch_add_explicit(&metrics.connections_open, (uint64_t)delta,
                              memory_order_relaxed);
}

void azidt_metrics_client_cert_rejected(void)
{
    add(&metrics.client_cert_rejections);
}

void azidt_metrics_reset(void)
{
    counter *all = (counter *)&metrics;

    for (size_t i = 0; i < sizeof(metrics) / sizeof(counter); i++)
        set(&all[i], 0);
}

/* ---- rendering ---- */

static void write_family(FILE *out, const char *name, const char *type,
                         const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Write one histogram's series. labels is "" or a list such as
 * route="/mutate/pods", without braces. */
static void write_histogram(FILE *out, const char *name, const char *labels,
                            const struct histogram *h)
{
    const char *comma = labels[0] ? "," : "";
    const char *open = labels[0] ? "{" : "";
    const char *close = labels[0] ? "}" : "";
    uint64_t cumulative = 0;
    uint64_t sum_us;

    for (size_t i = 0; i < AZIDT_METRICS_BUCKETS; i++) {
        cumulative += load(&h->buckets[i]);
        fprintf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels,
                comma, bounds[i].le, cumulative);
    }
    cumulative += load(&h->buckets[AZIDT_METRICS_BUCKETS]);
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
            comma, cumulative);
    sum_us = load(&h->sum_us);
    fprintf(out, "%s_sum%s%s%s %" PRIu64 ".%06" PRIu64 "\n", name, open, labels,
            close, sum_us / 1000000, sum_us % 1000000);
    fprintf(out, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close,
            cumulative);
}

/* Write text as a label value, escaping as the format requires. */
static void write_label_value(FILE *out, const char *text)
{
    for (; *text; text++) {
        if (*text == '\\' || *text == '"')
            fprintf(out, "\\%c", *text);
        else if (*text == '\n')
            fputs("\\n", out);
        else
            fputc(*text, out);
    }
}

static void write_admission(FILE *out)
{
    char labels[128];

    write_family(out, "azidt_admission_requests_total", "counter",
                 "Admission requests by route and decision (allowed, "
                 "denied, or error when the webhook could not decide).");
    for (size_t r = 0; r < AZIDT_METRICS_ROUTE_COUNT; r++) {
        for (size_t d = 0; d < AZIDT_METRICS_DECISION_COUNT; d++)
            fprintf(out,
                    "azidt_admission_requests_total{route=\"%s\","
                    "decision=\"%s\"} %" PRIu64 "\n",
                    route_names[r], decision_names[d],
                    load(&metrics.admission[r][d]));
    }
    write_family(out, "azidt_admission_duration_seconds", "histogram",
                 "Time from the arrival of an admission request to its "
                 "queued response.");
    for (size_t r = 0; r < AZIDT_METRICS_ROUTE_COUNT; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        write_histogram(out, "azidt_admission_duration_seconds", labels,
                        &metrics.admission_duration[r]);
    }
}

static void write_worker_pool(FILE *out)
{
    write_family(out, "azidt_worker_queue_depth", "gauge",
                 "Admission requests waiting for a free worker.");
    fprintf(out, "azidt_worker_queue_depth %" PRIu64 "\n",
            load(&metrics.worker_queued));
    write_family(out, "azidt_worker_pool_busy", "gauge",
                 "Workers running an admission request.");
    fprintf(out, "azidt_worker_pool_busy %" PRIu64 "\n",
            load(&metrics.worker_running));
    write_family(out, "azidt_worker_rejections_total", "counter",
                 "Admission requests denied with code 429 because every "
                 "worker and queue slot was taken.");
    fprintf(out, "azidt_worker_rejections_total %" PRIu64 "\n",
            load(&metrics.worker_rejections));
}

static void write_connections(FILE *out)
{
    write_family(out, "azidt_connections_open", "gauge",
                 "TCP connections open to the HTTPS listener.");
    fprintf(out, "azidt_connections_open %" PRIu64 "\n",
            load(&metrics.connections_open));
    write_family(out, "azidt_connections_refused_total", "counter",
                 "Connections closed at accept because --max-connections "
                 "were open.");
    fprintf(out, "azidt_connections_refused_total %" PRIu64 "\n",
            load(&metrics.connections_refused));
    write_family(out, "azidt_client_certificate_rejections_total", "counter",
                 "Admission requests answered 401 because they came "
                 "without a client certificate that --client-ca-file "
                 "verifies.");
    fprintf(out, "azidt_client_certificate_rejections_total %" PRIu64 "\n",
            load(&metrics.client_cert_rejections));
}

static void write_azure(FILE *out)
{
    char labels[64];

    write_family(out, "azidt_azure_requests_total", "counter",
                 "HTTP attempts to Azure by service, method and status "
                 "class; each retry is another attempt.");
    for (size_t s = 0; s < AZIDT_METRICS_AZURE_SERVICE_COUNT; s++) {
        for (size_t m = 0; m < METHOD_COUNT; m++) {
            for (size_t c = 0; c < CLASS_COUNT; c++)
                fprintf(out,
                        "azidt_azure_requests_total{service=\"%s\","
                        "method=\"%s\",status_class=\"%s\"} %" PRIu64 "\n",
                        service_names[s], method_names[m], class_names[c],
                        load(&metrics.azure[s][m][c]));
        }
    }
    write_family(out, "azidt_azure_request_duration_seconds", "histogram",
                 "Duration of one HTTP attempt to Azure.");
    for (size_t s = 0; s < AZIDT_METRICS_AZURE_SERVICE_COUNT; s++) {
        snprintf(labels, sizeof(labels), "service=\"%s\"", service_names[s]);
        write_histogram(out, "azidt_azure_request_duration_seconds", labels,
                        &metrics.azure_duration[s]);
    }
}

static void write_controller(FILE *out)
{
    write_family(out, "azidt_kubernetes_requests_total", "counter",
                 "Kubernetes API requests by status class (watches "
                 "excluded).");
    for (size_t c = 0; c < CLASS_COUNT; c++)
        fprintf(out,
                "azidt_kubernetes_requests_total{status_class=\"%s\"} "
                "%" PRIu64 "\n",
                class_names[c], load(&metrics.kube[c]));
    write_family(out, "azidt_reconciles_total", "counter",
                 "Controller reconciles of AzureIdentityTerminators by "
                 "result.");
    for (size_t i = 0; i < 2; i++)
        fprintf(out, "azidt_reconciles_total{result=\"%s\"} %" PRIu64 "\n",
                result_names[i], load(&metrics.reconciles[i]));
    write_family(out, "azidt_reconcile_duration_seconds", "histogram",
                 "Duration of one controller reconcile.");
    write_histogram(out, "azidt_reconcile_duration_seconds", "",
                    &metrics.reconcile_duration);
    write_family(out, "azidt_secret_rotations_total", "counter",
                 "Client secrets replaced by a new one.");
    fprintf(out, "azidt_secret_rotations_total %" PRIu64 "\n",
            load(&metrics.secret_rotations));
    write_family(out, "azidt_orphaned_applications_removed_total", "counter",
                 "Azure applications of this cluster removed because "
                 "their AzureIdentityTerminator no longer exists.");
    fprintf(out, "azidt_orphaned_applications_removed_total %" PRIu64 "\n",
            load(&metrics.orphans_removed));
    write_family(out, "azidt_leader", "gauge",
                 "1 while this replica runs the controller (it holds the "
                 "leader Lease, or leader election is off), else 0.");
    fprintf(out, "azidt_leader %" PRIu64 "\n", load(&metrics.leader));
}

static void write_process(FILE *out)
{
    write_family(out, "azidt_certificate_reloads_total", "counter",
                 "Attempts to load a changed serving certificate, by "
                 "result.");
    for (size_t i = 0; i < 2; i++)
        fprintf(out,
                "azidt_certificate_reloads_total{result=\"%s\"} %" PRIu64 "\n",
                result_names[i], load(&metrics.certificate_reloads[i]));
    write_family(out, "azidt_build_info", "gauge",
                 "Always 1; the version label names the running build.");
    fputs("azidt_build_info{version=\"", out);
    write_label_value(out, AZIDT_PROGRAM_VERSION);
    fputs("\"} 1\n", out);
}

azidt_err azidt_metrics_render(char **out, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *stream;
    bool failed;

    *out = NULL;
    *len = 0;
    stream = open_memstream(&text, &size);
    if (!stream)
        return AZIDT_ERR_NOMEM;
    write_admission(stream);
    write_worker_pool(stream);
    write_connections(stream);
    write_azure(stream);
    write_controller(stream);
    write_process(stream);
    failed = ferror(stream) != 0;
    if (fclose(stream) != 0 || failed) {
        free(text);
        return AZIDT_ERR_NOMEM;
    }
    *out = text;
    *len = size;
    return AZIDT_OK;
}
