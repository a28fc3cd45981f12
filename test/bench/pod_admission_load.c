/*
 * Load generator for pod admission: sends pod AdmissionReviews, as the
 * apiserver would, to the webhook's /mutate/pods and /validate/pods at a
 * fixed total rate over TLS keep-alive connections (one per thread), then
 * prints the latency distribution per route as Markdown table rows.
 *
 * The sender is paced, not open-loop: each thread sends its next request
 * at its next slot or, when a reply came late, at once. Latency is
 * libcurl's CURLINFO_TOTAL_TIME_T of each request, so a stall shows as
 * one slow request plus a count of late sends, not as a queue of them.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUTE_MUTATE, ROUTE_VALIDATE, ROUTE_COUNT };

static const char *const route_paths[ROUTE_COUNT] = {"/mutate/pods",
                                                     "/validate/pods"};

/* Largest reply kept; a pod review reply is far smaller. */
#define REPLY_MAX (256 * 1024)

struct options {
    const char *url;
    const char *ca_file;
    const char *uid_prefix;
    const char *namespace_;
    const char *identity;
    const char *selector;
    int threads;
    double rate;
    double seconds;
    long max_requests;
};

struct reply {
    char *data;
    size_t len;
};

struct worker {
    const struct options *opt;
    int index;
    pthread_t thread;
    int64_t *latency_us[ROUTE_COUNT];
    size_t count[ROUTE_COUNT];
    size_t cap[ROUTE_COUNT];
    long errors[ROUTE_COUNT];
    long denied[ROUTE_COUNT];
    long late;
    char first_error[256];
};

/* Sequence number of the next request, shared so --max-requests bounds
 * the total over all threads. */
static atomic_long next_sequence;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t deadline)
{
    struct timespec ts = {.tv_sec = deadline / 1000000000,
                          .tv_nsec = deadline % 1000000000};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static size_t collect_reply(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct reply *r = ctx;
    size_t n = size * nmemb;

    if (r->len + n > REPLY_MAX)
        return 0; /* libcurl then fails the transfer with a write error */
    memcpy(r->data + r->len, data, n);
    r->len += n;
    return n;
}

static void note_error(struct worker *w, int route, const char *message)
{
    w->errors[route]++;
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof(w->first_error), "%s: %s",
                 route_paths[route], message);
}

static bool add_sample(struct worker *w, int route, int64_t us)
{
    if (w->count[route] == w->cap[route]) {
        size_t cap = w->cap[route] ? w->cap[route] * 2 : 1024;
        int64_t *grown = realloc(w->latency_us[route], cap * sizeof(*grown));

        if (!grown)
            return false;
        w->latency_us[route] = grown;
        w->cap[route] = cap;
    }
    w->latency_us[route][w->count[route]++] = us;
    return true;
}

/*
 * Write the AdmissionReview of a pod CREATE into buf. The pod carries the
 * azidterminator.io/identity label, so that the mutating webhook looks the
 * identity up, and for the validating webhook also the aadpodidbinding
 * label that the mutation adds, so that it looks the binding up.
 */
static int format_review(char *buf, size_t len, const struct options *opt,
                         const char *uid, long sequence, int route)
{
    char binding_label[160] = "";

    if (route == ROUTE_VALIDATE)
        snprintf(binding_label, sizeof(binding_label),
                 ",\"aadpodidbinding\":\"%s\"", opt->selector);

    return snprintf(
        buf, len,
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"%s\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
        "\"resource\":{\"group\":\"\",\"version\":\"v1\","
        "\"resource\":\"pods\"},"
        "\"requestKind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
        "\"requestResource\":{\"group\":\"\",\"version\":\"v1\","
        "\"resource\":\"pods\"},"
        "\"name\":\"bench-pod-%ld\",\"namespace\":\"%s\","
        "\"operation\":\"CREATE\","
        "\"userInfo\":{\"username\":\"bench\",\"groups\":"
        "[\"system:authenticated\"]},"
        "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
        "\"name\":\"bench-pod-%ld\",\"namespace\":\"%s\",\"labels\":{"
        "\"app\":\"bench\",\"azidterminator.io/identity\":\"%s\"%s}},"
        "\"spec\":{\"containers\":[{\"name\":\"app\","
        "\"image\":\"registry.k8s.io/pause:3.10\"}]}},"
        "\"oldObject\":null,\"dryRun\":false,"
        "\"options\":{\"apiVersion\":\"meta.k8s.io/v1\","
        "\"kind\":\"CreateOptions\"}}}",
        uid, sequence, opt->namespace_, sequence, opt->namespace_,
        opt->identity, binding_label);
}

/* Check that the reply is an AdmissionReview for uid; sets *allowed. */
static bool check_reply(const struct reply *r, const char *uid, bool *allowed)
{
    cJSON *review = cJSON_ParseWithLength(r->data, r->len);
    const cJSON *response = cJSON_GetObjectItem(review, "response");
    const cJSON *allowed_item = cJSON_GetObjectItem(response, "allowed");
    const char *reply_uid =
        cJSON_GetStringValue(cJSON_GetObjectItem(response, "uid"));
    bool ok =
        reply_uid && strcmp(reply_uid, uid) == 0 && cJSON_IsBool(allowed_item);

    if (ok)
        *allowed = cJSON_IsTrue(allowed_item);
    cJSON_Delete(review);
    return ok;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct options *opt = w->opt;
    char urls[ROUTE_COUNT][512];
    char body[4096], uid[128], message[64];
    struct reply reply = {.data = malloc(REPLY_MAX)};
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    int64_t period = (int64_t)(1e9 * opt->threads / opt->rate);
    int64_t start = now_ns();
    int64_t end = start + (int64_t)(opt->seconds * 1e9);
    int64_t next = start + period * w->index / opt->threads;
    int route = w->index % ROUTE_COUNT;

    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (!curl || !reply.data || !headers) {
        note_error(w, route, "out of memory");
        goto out;
    }
    for (int i = 0; i < ROUTE_COUNT; i++)
        snprintf(urls[i], sizeof(urls[i]), "%s%s?timeout=5s", opt->url,
                 route_paths[i]);
    curl_easy_setopt(curl, CURLOPT_CAINFO, opt->ca_file);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_reply);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");

    /* Open the keep-alive connection outside the measurement, so that no
     * sample contains the TLS handshake. */
    snprintf(body, sizeof(body), "%s/healthz", opt->url);
    curl_easy_setopt(curl, CURLOPT_URL, body);
    if (curl_easy_perform(curl) != CURLE_OK) {
        note_error(w, route, "GET /healthz before the run failed");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_POST, 1L);

    for (;;) {
        long sequence, status = 0;
        curl_off_t total_us = 0;
        CURLcode rc;
        bool allowed = false;
        int64_t now;

        sleep_until_ns(next);
        now = now_ns();
        if (now >= end)
            break;
        sequence = atomic_fetch_add(&next_sequence, 1);
        if (sequence >= opt->max_requests)
            break;
        snprintf(uid, sizeof(uid), "%s-%ld", opt->uid_prefix, sequence);
        format_review(body, sizeof(body), opt, uid, sequence, route);
        reply.len = 0;
        curl_easy_setopt(curl, CURLOPT_URL, urls[route]);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &total_us);
        if (rc != CURLE_OK) {
            note_error(w, route, curl_easy_strerror(rc));
        } else if (status != 200) {
            snprintf(message, sizeof(message), "HTTP status %ld", status);
            note_error(w, route, message);
        } else if (!check_reply(&reply, uid, &allowed)) {
            note_error(w, route,
                       "the reply is not an AdmissionReview for the uid sent");
        } else if (!add_sample(w, route, (int64_t)total_us)) {
            note_error(w, route, "out of memory");
        } else if (!allowed) {
            w->denied[route]++;
        }

        route = (route + 1) % ROUTE_COUNT;
        next += period;
        now = now_ns();
        if (next < now) {
            w->late++;
            next = now;
        }
    }

out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(reply.data);
    return NULL;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in milliseconds. */
static double percentile_ms(const int64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);

    if (n == 0)
        return 0;
    if (rank < 1)
        rank = 1;
    return (double)sorted[rank - 1] / 1000.0;
}

static void print_row(const char *label, int64_t *values, size_t n, long errors,
                      long denied)
{
    qsort(values, n, sizeof(*values), compare_int64);
    printf("| %s | %zu | %ld | %ld | %.2f | %.2f | %.2f | %.2f |\n", label, n,
           errors, denied, percentile_ms(values, n, 50),
           percentile_ms(values, n, 95), percentile_ms(values, n, 99),
           n ? (double)values[n - 1] / 1000.0 : 0.0);
}

static void print_report(struct worker *workers, int threads)
{
    size_t all_n = 0, n[ROUTE_COUNT] = {0};
    long errors[ROUTE_COUNT] = {0}, denied[ROUTE_COUNT] = {0}, late = 0;
    int64_t *all = NULL, *route_values[ROUTE_COUNT] = {NULL};
    const char *first_error = NULL;

    for (int t = 0; t < threads; t++)
        for (int r = 0; r < ROUTE_COUNT; r++)
            n[r] += workers[t].count[r];
    for (int r = 0; r < ROUTE_COUNT; r++) {
        route_values[r] = calloc(n[r] + 1, sizeof(int64_t));
        all_n += n[r];
    }
    all = calloc(all_n + 1, sizeof(int64_t));
    if (!all || !route_values[0] || !route_values[1]) {
        fprintf(stderr, "pod-admission-load: out of memory\n");
        exit(1);
    }

    all_n = 0;
    for (int r = 0; r < ROUTE_COUNT; r++) {
        size_t k = 0;

        for (int t = 0; t < threads; t++) {
            struct worker *w = &workers[t];

            memcpy(route_values[r] + k, w->latency_us[r],
                   w->count[r] * sizeof(int64_t));
            k += w->count[r];
            errors[r] += w->errors[r];
            denied[r] += w->denied[r];
            if (!first_error && w->first_error[0])
                first_error = w->first_error;
        }
        memcpy(all + all_n, route_values[r], n[r] * sizeof(int64_t));
        all_n += n[r];
    }
    for (int t = 0; t < threads; t++)
        late += workers[t].late;

    printf("| route | answered | errors | denied | p50 ms | p95 ms | p99 ms "
           "| max ms |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        print_row(route_paths[r], route_values[r], n[r], errors[r], denied[r]);
    print_row("both", all, all_n, errors[0] + errors[1], denied[0] + denied[1]);
    printf("\nLate sends (a reply came after the next slot): %ld\n", late);
    if (first_error)
        printf("First error: %s\n", first_error);

    for (int r = 0; r < ROUTE_COUNT; r++)
        free(route_values[r]);
    free(all);
}

static void usage(void)
{
    fprintf(
        stderr,
        "Usage: pod-admission-load --url https://HOST:PORT --ca-file FILE\n"
        "           [--rate PER_SECOND] [--seconds S] [--max-requests N]\n"
        "           [--threads N] [--uid-prefix P] [--namespace NS]\n"
        "           [--identity NAME] [--selector VALUE]\n"
        "Sends pod AdmissionReviews to URL/mutate/pods and URL/validate/pods\n"
        "in turn, at PER_SECOND requests per second in total (default 100),\n"
        "for S seconds (default 20) or N requests (default 100000),\n"
        "whichever ends first, on N keep-alive connections (default 2).\n"
        "Request uids are P-<sequence> (default bench), so the webhook log\n"
        "lines of a run can be found. Pods are in NS (default my-namespace)\n"
        "with the label azidterminator.io/identity=NAME (default\n"
        "azure-kv-access-test); those sent to /validate/pods also carry\n"
        "aadpodidbinding=VALUE (default azure-kv-pods). Prints Markdown\n"
        "table rows.\n");
    exit(2);
}

static double number_argument(const char *name, const char *text)
{
    char *end;
    double v = strtod(text, &end);

    if (end == text || *end != '\0' || v <= 0) {
        fprintf(stderr,
                "pod-admission-load: %s must be a positive number, "
                "not '%s'\n",
                name, text);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){.uid_prefix = "bench",
                            .namespace_ = "my-namespace",
                            .identity = "azure-kv-access-test",
                            .selector = "azure-kv-pods",
                            .threads = 2,
                            .rate = 100,
                            .seconds = 20,
                            .max_requests = 100000};

    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (!value)
            usage();
        i++;
        if (strcmp(name, "--url") == 0)
            opt->url = value;
        else if (strcmp(name, "--ca-file") == 0)
            opt->ca_file = value;
        else if (strcmp(name, "--uid-prefix") == 0)
            opt->uid_prefix = value;
        else if (strcmp(name, "--namespace") == 0)
            opt->namespace_ = value;
        else if (strcmp(name, "--identity") == 0)
            opt->identity = value;
        else if (strcmp(name, "--selector") == 0)
            opt->selector = value;
        else if (strcmp(name, "--threads") == 0)
            opt->threads = (int)number_argument(name, value);
        else if (strcmp(name, "--rate") == 0)
            opt->rate = number_argument(name, value);
        else if (strcmp(name, "--seconds") == 0)
            opt->seconds = number_argument(name, value);
        else if (strcmp(name, "--max-requests") == 0)
            opt->max_requests = (long)number_argument(name, value);
        else
            usage();
    }
    if (!opt->url || !opt->ca_file || opt->threads > 64)
        usage();
}

int main(int argc, char **argv)
{
    struct options opt;
    struct worker *workers;

    parse_options(argc, argv, &opt);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "pod-admission-load: curl_global_init failed\n");
        return 1;
    }
    workers = calloc((size_t)opt.threads, sizeof(*workers));
    if (!workers) {
        fprintf(stderr, "pod-admission-load: out of memory\n");
        return 1;
    }
    for (int t = 0; t < opt.threads; t++) {
        workers[t].opt = &opt;
        workers[t].index = t;
        if (pthread_create(&workers[t].thread, NULL, run_worker, &workers[t]) !=
            0) {
            fprintf(stderr, "pod-admission-load: pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < opt.threads; t++)
        pthread_join(workers[t].thread, NULL);

    print_report(workers, opt.threads);
    for (int t = 0; t < opt.threads; t++)
        for (int r = 0; r < ROUTE_COUNT; r++)
            free(workers[t].latency_us[r]);
    free(workers);
    curl_global_cleanup();
    return 0;
}
