/*
 * Micro-benchmark of pod admission: drives the pod handlers in-process
 * against an identity cache of 10,000 AzureIdentityTerminators and
 * 10,000 AzureIdentityBindings, and prints nanoseconds and heap
 * allocations per admission as Markdown table rows. ITERATIONS are split
 * into 5 timed rounds.
 *
 * Usage: bench_pod_admission [ITERATIONS]   (default 1000000)
 *
 * "handler" rows time the handler alone on a request parsed once, as the
 * server calls it. "full" rows add what the server does around it for each
 * request: parse the AdmissionReview body and serialise the response (TLS
 * and HTTP are not included). One thread admits. In the "watch writing"
 * rows a second thread applies watch events to both caches without pause,
 * as a watch thread would under heavy churn.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/admission.h"
#include "azidt/handlers.h"
#include "azidt/identity_cache.h"

#define NAMESPACES 100
#define IDENTITIES_PER_NAMESPACE 100
#define ROUNDS 5

/* --- allocation counting --------------------------------------------- */

/*
 * glibc lets a program replace malloc, calloc, realloc and free, and every
 * library in the process, cJSON included, then calls these. They count and
 * forward to glibc's own allocator. The counter is per thread, so the
 * writer thread's allocations are not counted. Sanitizers bring their own
 * allocator, so counting is off under them.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCATIONS 0
#else
#define COUNT_ALLOCATIONS 1
#endif

static _Thread_local unsigned long allocations;

#if COUNT_ALLOCATIONS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

void *malloc(size_t size)
{
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *ptr, size_t size)
{
    allocations++;
    return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
    __libc_free(ptr);
}
#endif

/* --- test data ------------------------------------------------------- */

static cJSON *object(const char *ns, const char *name)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");

    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "resourceVersion", "1");
    return obj;
}

/* Fill the cache: namespace ns-N contains identities id-M (M from N*100) with
 * podSelector sel-M, each Ready, and one binding per identity. */
static void fill_cache(struct azidt_identity_cache *cache)
{
    cJSON *terminators = cJSON_CreateArray();
    cJSON *bindings = cJSON_CreateArray();
    char ns[32], name[32], selector[32];

    for (int i = 0; i < NAMESPACES * IDENTITIES_PER_NAMESPACE; i++) {
        cJSON *t, *b, *condition, *conditions;

        snprintf(ns, sizeof(ns), "ns-%d", i / IDENTITIES_PER_NAMESPACE);
        snprintf(name, sizeof(name), "id-%d", i);
        snprintf(selector, sizeof(selector), "sel-%d", i);
        t = object(ns, name);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "spec"),
                                "podSelector", selector);
        conditions = cJSON_AddArrayToObject(
            cJSON_AddObjectToObject(t, "status"), "conditions");
        condition = cJSON_CreateObject();
        cJSON_AddStringToObject(condition, "type", "Ready");
        cJSON_AddStringToObject(condition, "status", "True");
        cJSON_AddStringToObject(condition, "reason", "Provisioned");
        cJSON_AddItemToArray(conditions, condition);
        cJSON_AddItemToArray(terminators, t);
        b = object(ns, name);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "spec"), "selector",
                                selector);
        cJSON_AddItemToArray(bindings, b);
    }
    if (azidt_kube_cache_replace(azidt_identity_cache_terminators(cache),
                                 terminators) ||
        azidt_kube_cache_replace(azidt_identity_cache_bindings(cache),
                                 bindings)) {
        fprintf(stderr, "bench: filling the cache failed\n");
        exit(1);
    }
    cJSON_Delete(terminators);
    cJSON_Delete(bindings);
}

/*
 * An AdmissionReview of a pod as a Deployment creates it (about 2.5 KB):
 * %s are the namespace twice, then the labels' extra members.
 */
static const char review_format[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
    "\"request\":{\"uid\":\"3b1a7a34-8d2e-4f61-9a51-2c1c0e6f7d10\","
    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"requestKind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"requestResource\":{\"group\":\"\",\"version\":\"v1\","
    "\"resource\":\"pods\"},\"namespace\":\"%s\",\"operation\":\"CREATE\","
    "\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:"
    "replicaset-controller\",\"uid\":\"6f1d2c3b-1111-2222-3333-444455556666\","
    "\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:kube-"
    "system\",\"system:authenticated\"]},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
    "\"generateName\":\"web-7d9c6b8f5d-\",\"namespace\":\"%s\","
    "\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d9c6b8f5d\"%s},"
    "\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":"
    "\"2026-12-01T10:00:00Z\"},\"ownerReferences\":[{\"apiVersion\":"
    "\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-7d9c6b8f5d\","
    "\"uid\":\"0c0e3c2a-5555-6666-7777-888899990000\",\"controller\":true,"
    "\"blockOwnerDeletion\":true}]},\"spec\":{\"containers\":[{\"name\":"
    "\"web\",\"image\":\"registry.example.com/team/web:1.4.2\",\"ports\":[{"
    "\"containerPort\":8080,\"protocol\":\"TCP\"}],\"env\":[{\"name\":"
    "\"KEY_VAULT_NAME\",\"value\":\"kv-team-prod\"},{\"name\":\"LOG_LEVEL\","
    "\"value\":\"info\"}],\"resources\":{\"limits\":{\"cpu\":\"500m\","
    "\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":"
    "\"128Mi\"}},\"volumeMounts\":[{\"name\":\"kube-api-access-x7k2p\","
    "\"readOnly\":true,\"mountPath\":\"/var/run/secrets/kubernetes.io/"
    "serviceaccount\"}],\"readinessProbe\":{\"httpGet\":{\"path\":"
    "\"/healthz\",\"port\":8080,\"scheme\":\"HTTP\"},\"periodSeconds\":10},"
    "\"terminationMessagePath\":\"/dev/termination-log\","
    "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":"
    "\"IfNotPresent\"}],\"restartPolicy\":\"Always\","
    "\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
    "\"serviceAccountName\":\"default\",\"serviceAccount\":\"default\","
    "\"securityContext\":{},\"schedulerName\":\"default-scheduler\","
    "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\","
    "\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":"
    "300},{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":"
    "\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],"
    "\"priority\":0,\"enableServiceLinks\":true,\"preemptionPolicy\":"
    "\"PreemptLowerPriority\",\"volumes\":[{\"name\":\"kube-api-access-"
    "x7k2p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
    "\"expirationSeconds\":3607,\"path\":\"token\"}},{\"configMap\":{"
    "\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":\"ca.crt\","
    "\"path\":\"ca.crt\"}]}}],\"defaultMode\":420}}]},\"status\":{}},"
    "\"oldObject\":null,\"dryRun\":false,\"options\":{\"kind\":"
    "\"CreateOptions\",\"apiVersion\":\"meta.k8s.io/v1\"}}}";

static char *review_body(const char *ns, const char *extra_labels)
{
    char *body = NULL;

    if (asprintf(&body, review_format, ns, ns, extra_labels) < 0) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    return body;
}

static struct azidt_admission_request *parse_or_die(const char *body)
{
    struct azidt_admission_request *req = NULL;
    char err[256];

    if (azidt_admission_parse(body, strlen(body), &req, err, sizeof(err))) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    return req;
}

/* --- measurement ----------------------------------------------------- */

typedef void (*handler_fn)(void *ctx, const struct azidt_admission_request *,
                           struct azidt_admission_response *);

struct scenario {
    const char *name;
    handler_fn handler;
    const char *labels; /* extra label members, JSON */
    const char *ns;
    bool allowed; /* expected outcome, checked once */
    bool patched;
    bool full;        /* parse and serialise around the handler */
    bool busy_writer; /* a thread applies watch events meanwhile */
};

/* --- watch writer ---------------------------------------------------- */

struct writer {
    struct azidt_identity_cache *cache;
    pthread_t thread;
    atomic_bool stop;
    unsigned long events;
};

/* Apply MODIFIED events to one AzureIdentityTerminator and one
 * AzureIdentityBinding of ns-99, moving the binding's selector back and
 * forth, until stop is set. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char rv[32];

    for (unsigned long i = 0; !atomic_load(&w->stop); i++) {
        const char *selector = i % 2 ? "sel-9999" : "sel-moved";
        cJSON *t = object("ns-99", "id-9999");
        cJSON *b = object("ns-99", "id-9999");

        snprintf(rv, sizeof(rv), "%lu", i + 2);
        cJSON_SetValuestring(
            cJSON_GetObjectItem(cJSON_GetObjectItem(t, "metadata"),
                                "resourceVersion"),
            rv);
        cJSON_SetValuestring(
            cJSON_GetObjectItem(cJSON_GetObjectItem(b, "metadata"),
                                "resourceVersion"),
            rv);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "spec"),
                                "podSelector", selector);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "spec"), "selector",
                                selector);
        azidt_kube_cache_apply(azidt_identity_cache_terminators(w->cache),
                               AZIDT_KUBE_MODIFIED, t);
        azidt_kube_cache_apply(azidt_identity_cache_bindings(w->cache),
                               AZIDT_KUBE_MODIFIED, b);
        cJSON_Delete(t);
        cJSON_Delete(b);
        w->events += 2;
    }
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run one admission; returns whether it was allowed and patched. */
static void admit_once(struct azidt_handler_ctx *ctx, const struct scenario *s,
                       struct azidt_admission_request *parsed, const char *body,
                       size_t body_len, bool *allowed, bool *patched)
{
    struct azidt_admission_response resp = {0};
    struct azidt_admission_request *req = parsed;
    char err[256];
    char *answer = NULL;

    if (s->full && azidt_admission_parse(body, body_len, &req, err,
                                         sizeof(err)) != AZIDT_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    s->handler(ctx, req, &resp);
    if (s->full) {
        answer = azidt_admission_response_json(req->uid, &resp);
        free(answer);
        azidt_admission_request_free(req);
    }
    *allowed = resp.allowed;
    *patched = resp.patch != NULL;
    azidt_admission_response_clear(&resp);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Time ROUNDS rounds of n admissions each and print the fastest and the
 * median round in nanoseconds per admission. Other processes on a shared
 * machine slow some rounds down; the fastest round is the least disturbed.
 */
static void run_scenario(struct azidt_handler_ctx *ctx,
                         const struct scenario *s, long iterations)
{
    char *body = review_body(s->ns, s->labels);
    size_t body_len = strlen(body);
    struct azidt_admission_request *parsed = parse_or_die(body);
    uint64_t round_ns[ROUNDS];
    uint64_t writer_start = 0, elapsed_ns;
    struct writer *writer = NULL;
    unsigned long before, counted;
    bool allowed, patched;
    long n = (s->full ? iterations / 10 : iterations) / ROUNDS;

    admit_once(ctx, s, parsed, body, body_len, &allowed, &patched);
    if (allowed != s->allowed || patched != s->patched) {
        fprintf(stderr, "bench: %s: allowed %d patched %d, expected %d %d\n",
                s->name, allowed, patched, s->allowed, s->patched);
        exit(1);
    }
    for (long i = 0; i < n / 10; i++)
        admit_once(ctx, s, parsed, body, body_len, &allowed, &patched);

    if (s->busy_writer) {
        writer = calloc(1, sizeof(*writer));
        if (!writer) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        writer->cache = ctx->identities;
        writer_start = now_ns();
        if (pthread_create(&writer->thread, NULL, writer_main, writer)) {
            fprintf(stderr, "bench: cannot start the writer thread\n");
            exit(1);
        }
    }
    before = allocations;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t start = now_ns();

        for (long i = 0; i < n; i++)
            admit_once(ctx, s, parsed, body, body_len, &allowed, &patched);
        round_ns[r] = now_ns() - start;
    }
    counted = allocations - before;
    qsort(round_ns, ROUNDS, sizeof(round_ns[0]), compare_u64);
    if (writer) {
        atomic_store(&writer->stop, true);
        pthread_join(writer->thread, NULL);
        elapsed_ns = now_ns() - writer_start;
        fprintf(stderr, "%s: the writer applied %.0f events per second\n",
                s->name, (double)writer->events * 1e9 / (double)elapsed_ns);
        free(writer);
    }

    printf("| %s | %ld x %d | %.0f | %.0f | ", s->name, n, ROUNDS,
           (double)round_ns[0] / (double)n,
           (double)round_ns[ROUNDS / 2] / (double)n);
    if (COUNT_ALLOCATIONS)
        printf("%.1f |\n", (double)counted / (double)(n * ROUNDS));
    else
        printf("(not counted) |\n");
    azidt_admission_request_free(parsed);
    free(body);
}

int main(int argc, char **argv)
{
    static const struct scenario scenarios[] = {
        {"handler: mutate, label from identity", azidt_handle_pod_mutate,
         ",\"azidterminator.io/identity\":\"id-4242\"", "ns-42", true, true,
         false, false},
        {"handler: mutate, replay (label already set)", azidt_handle_pod_mutate,
         ",\"azidterminator.io/identity\":\"id-4242\","
         "\"aadpodidbinding\":\"sel-4242\"",
         "ns-42", true, false, false, false},
        {"handler: mutate, missing identity (deny)", azidt_handle_pod_mutate,
         ",\"azidterminator.io/identity\":\"id-missing\"", "ns-42", false,
         false, false, false},
        {"handler: validate, bound in namespace", azidt_handle_pod_validate,
         ",\"aadpodidbinding\":\"sel-4242\"", "ns-42", true, false, false,
         false},
        {"handler: validate, bound elsewhere (deny)", azidt_handle_pod_validate,
         ",\"aadpodidbinding\":\"sel-4242\"", "ns-7", false, false, false,
         false},
        {"full: parse + mutate + serialise", azidt_handle_pod_mutate,
         ",\"azidterminator.io/identity\":\"id-4242\"", "ns-42", true, true,
         true, false},
        {"full: parse + validate + serialise", azidt_handle_pod_validate,
         ",\"aadpodidbinding\":\"sel-4242\"", "ns-42", true, false, true,
         false},
        {"handler: mutate, label from identity, watch writing",
         azidt_handle_pod_mutate, ",\"azidterminator.io/identity\":\"id-4242\"",
         "ns-42", true, true, false, true},
        {"handler: validate, bound in namespace, watch writing",
         azidt_handle_pod_validate, ",\"aadpodidbinding\":\"sel-4242\"",
         "ns-42", true, false, false, true},
    };
    struct azidt_identity_cache *cache = NULL;
    struct azidt_handler_ctx ctx;
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;

    if (iterations < 10 * ROUNDS) {
        fprintf(stderr, "usage: %s [ITERATIONS >= %d]\n", argv[0], 10 * ROUNDS);
        return 2;
    }
    if (azidt_identity_cache_new(&cache)) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    fill_cache(cache);
    azidt_handler_ctx_init(&ctx);
    ctx.identities = cache;

    printf("cache: %zu AzureIdentityTerminators, %zu AzureIdentityBindings "
           "in %d namespaces\n\n",
           azidt_identity_cache_identity_count(cache),
           azidt_identity_cache_binding_count(cache), NAMESPACES);
    printf("| scenario | iterations | ns per admission (fastest round) | ns "
           "per admission (median round) | allocations per admission |\n"
           "|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        run_scenario(&ctx, &scenarios[i], iterations);
    azidt_identity_cache_free(cache);
    return 0;
}
