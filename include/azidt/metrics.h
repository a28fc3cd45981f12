/*
 * Process-wide Prometheus metrics, served on /metrics.
 *
 * Every metric and every label value is fixed at compile time. Labels
 * name a route, a decision, a service, a method or a status class, never
 * an object name, a uid or anything else taken from a request. So the
 * number of series stays constant, and no request value, token or secret
 * can reach the output.
 *
 * Recording is lock-free: a counter is one relaxed atomic add, and a
 * histogram observation is two (its bucket and its sum). Buckets are
 * stored per bucket and made cumulative only when rendered, and _count is
 * the total of the buckets, so each rendered histogram is consistent
 * with itself. Every function here is safe to call from any thread at
 * any time, with no set-up, and none of them allocates except
 * azidt_metrics_render().
 *
 * Durations are observed in microseconds of CLOCK_MONOTONIC and rendered
 * in seconds. All histograms share the same buckets, from 0.1 ms to 30 s
 * and then +Inf.
 */
#ifndef AZIDT_METRICS_H
#define AZIDT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "azidt/error.h"

/* Content-Type of the text exposition format 0.0.4. */
#define AZIDT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Number of histogram buckets before +Inf. Their upper bounds are 0.1,
 * 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250 and 500 ms, then 1, 2.5, 5,
 * 10 and 30 s. */
#define AZIDT_METRICS_BUCKETS 17

/* Admission routes. AZIDT_METRICS_ROUTE_OTHER counts any other path that
 * has a route, such as a route added by a test. */
enum azidt_metrics_route {
    AZIDT_METRICS_ROUTE_MUTATE_AZIDT,
    AZIDT_METRICS_ROUTE_VALIDATE_AZIDT,
    AZIDT_METRICS_ROUTE_MUTATE_PODS,
    AZIDT_METRICS_ROUTE_VALIDATE_PODS,
    AZIDT_METRICS_ROUTE_OTHER,
    AZIDT_METRICS_ROUTE_COUNT
};

/*
 * Outcome of an admission request. DENIED is a policy decision (a denial
 * with a 4xx code other than 429). ERROR means the webhook could not
 * decide: the HTTP request was rejected (bad AdmissionReview, body too
 * large, wrong method), or the denial has code 429 (busy) or 5xx (Azure
 * unavailable, deadline passed, internal error).
 */
enum azidt_metrics_decision {
    AZIDT_METRICS_ALLOWED,
    AZIDT_METRICS_DENIED,
    AZIDT_METRICS_ERROR,
    AZIDT_METRICS_DECISION_COUNT
};

/* Azure service of a request. The token endpoint is the zero value. */
enum azidt_metrics_azure_service {
    AZIDT_METRICS_AZURE_TOKEN,
    AZIDT_METRICS_AZURE_GRAPH,
    AZIDT_METRICS_AZURE_ARM,
    AZIDT_METRICS_AZURE_SERVICE_COUNT
};

/* Return CLOCK_MONOTONIC in microseconds, for the durations below. */
int64_t azidt_metrics_now_us(void);

/* Return the index of the bucket that counts a duration of us: the first
 * bound >= us, or AZIDT_METRICS_BUCKETS (+Inf) past the last bound. */
size_t azidt_metrics_bucket_index(int64_t us);

/* Return the route for an exact request path, or AZIDT_METRICS_ROUTE_OTHER
 * when it is not one of the webhook routes in constants.h. */
enum azidt_metrics_route azidt_metrics_route_of(const char *path);

/* Classify an admission response: allowed, or a denial with HTTP code. */
enum azidt_metrics_decision azidt_metrics_decision_of(bool allowed, int code);

/* Count one admission request and observe its duration from arrival to
 * the queued response. */
void azidt_metrics_admission(enum azidt_metrics_route route,
                             enum azidt_metrics_decision decision,
                             int64_t duration_us);

/* Count one admission request denied because the worker pool was full. */
void azidt_metrics_worker_rejected(void);

/* Set the worker pool gauges: jobs waiting and jobs running. */
void azidt_metrics_set_worker_pool(size_t queued, size_t running);

/*
 * Count one HTTP attempt to Azure (a retry is another attempt) and
 * observe its duration. method is the HTTP method ("GET", ...; others
 * count as "other"). status is the HTTP status, or 0 when no response
 * arrived (connection, TLS or timeout failure), counted as "transport".
 */
void azidt_metrics_azure_request(enum azidt_metrics_azure_service service,
                                 const char *method, long status,
                                 int64_t duration_us);

/* Count one Kubernetes API request by status class; status 0 means that
 * no response arrived. */
void azidt_metrics_kube_request(long status);

/* Count one controller reconcile and observe its duration. */
void azidt_metrics_reconcile(bool success, int64_t duration_us);

/* Count one client secret replaced by a new one. */
void azidt_metrics_secret_rotated(void);

/* Count one orphaned Azure application removed by the sweep. */
void azidt_metrics_orphan_removed(void);

/* Set the leader gauge: true while this replica runs the controller. */
void azidt_metrics_set_leader(bool leading);

/* Count one attempt to load a changed serving certificate. */
void azidt_metrics_certificate_reload(bool success);

/* Count one connection closed at accept because --max-connections were
 * open. */
void azidt_metrics_connection_refused(void);

/* Add delta (+1 or -1) to the gauge of open connections. */
void azidt_metrics_connection_open(int delta);

/* Count one admission request answered 401 because it came without a
 * valid client certificate. */
void azidt_metrics_client_cert_rejected(void);

/*
 * Render every metric in the Prometheus text exposition format 0.0.4
 * into a new NUL-terminated string (*out, freed by the caller with
 * free()) of *len bytes. Returns AZIDT_ERR_NOMEM, with *out NULL.
 */
azidt_err azidt_metrics_render(char **out, size_t *len);

/* Set every counter, histogram and gauge back to zero. For tests only:
 * Prometheus expects counters never to decrease while a process runs. */
void azidt_metrics_reset(void);

#endif
