/*
 * Threading test of the HTTPS server: slow requests held on the worker
 * pool must not delay fast requests, a full pool must deny at once, and
 * shutdown must wait for suspended requests.
 *
 * The test runs the server module in this process with its own routes: a
 * "slow" handler that blocks until the test releases it, standing in for
 * a handler that waits on Azure, and a fast pod handler. The product
 * binary has no such route. Clients talk to it over TLS with libcurl.
 */
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "azidt/clock.h"
#include "azidt/config.h"
#include "azidt/metrics.h"
#include "azidt/server.h"
#include "azidt/tls_store.h"

/* One HTTP thread: if a slow request ran on it, every pod request would
 * wait behind it, so the test fails unless the worker pool is used. */
#define HTTP_THREADS 1
#define SLOW_WORKERS 3
#define SLOW_QUEUE 2
#define SLOW_REQUESTS (SLOW_WORKERS + SLOW_QUEUE)

static char dir[] = "/tmp/azidt-server-threads-XXXXXX";
static char base_url[64];
static struct azidt_config cfg;
static struct azidt_tls_store *store;
static struct azidt_server *server;

/* Gate that blocks the slow handler until the test opens it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int slow_running;

static const char review_format[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
    "\"request\":{\"uid\":\"%s\","
    "\"kind\":{\"group\":\"%s\",\"version\":\"v1\",\"kind\":\"%s\"},"
    "\"resource\":{\"group\":\"%s\",\"version\":\"v1\",\"resource\":\"x\"},"
    "\"operation\":\"CREATE\",\"namespace\":\"default\",\"name\":\"n\","
    "\"userInfo\":{\"username\":\"u\"},"
    "\"object\":{\"metadata\":{\"name\":\"n\"}}}}";

static void slow_handler(void *ctx, const struct azidt_admission_request *req,
                         struct azidt_admission_response *resp)
{
    (void)ctx;
    pthread_mutex_lock(&gate_lock);
    slow_running++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open && !azidt_deadline_passed(req->deadline_ms)) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&gate_cond, &gate_lock, &until);
    }
    slow_running--;
    pthread_mutex_unlock(&gate_lock);
    azidt_admission_allow(resp);
}

static bool always_worker(void *ctx, const struct azidt_admission_request *req)
{
    (void)ctx;
    (void)req;
    return true;
}

static void fast_handler(void *ctx, const struct azidt_admission_request *req,
                         struct azidt_admission_response *resp)
{
    (void)ctx;
    (void)req;
    azidt_admission_allow(resp);
}

static void set_gate(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Wait up to 5 s until `count` slow handlers are running. */
static int wait_slow_running(int count)
{
    int64_t deadline = azidt_deadline_in(5000);
    int running;

    pthread_mutex_lock(&gate_lock);
    while (slow_running < count && !azidt_deadline_passed(deadline)) {
        pthread_mutex_unlock(&gate_lock);
        usleep(10000);
        pthread_mutex_lock(&gate_lock);
    }
    running = slow_running;
    pthread_mutex_unlock(&gate_lock);
    return running;
}

/* ---- client ----------------------------------------------------------- */

struct reply {
    long status;
    CURLcode result;
    char body[65536]; /* room for the whole /metrics output */
    size_t body_len;
    double seconds;
};

static size_t collect_body(char *data, size_t size, size_t count, void *arg)
{
    struct reply *reply = arg;
    size_t len = size * count;
    size_t room = sizeof(reply->body) - 1 - reply->body_len;

    if (len < room)
        room = len;
    memcpy(reply->body + reply->body_len, data, room);
    reply->body_len += room;
    reply->body[reply->body_len] = '\0';
    return len;
}

/* POST an AdmissionReview for group/kind to path on a new connection. */
static void post_review(const char *path, const char *uid, const char *group,
                        const char *kind, struct reply *reply)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    char url[256];
    char ca[256];
    char body[2048];

    memset(reply, 0, sizeof(*reply));
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(body, sizeof(body), review_format, uid, group, kind, group);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    reply->result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &reply->seconds);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

/* GET path on a new connection. */
static void get_path(const char *path, struct reply *reply)
{
    CURL *curl = curl_easy_init();
    char url[256];
    char ca[256];

    memset(reply, 0, sizeof(*reply));
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    reply->result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &reply->seconds);
    curl_easy_cleanup(curl);
}

struct slow_call {
    pthread_t thread;
    char uid[32];
    struct reply reply;
};

static void *run_slow_call(void *arg)
{
    struct slow_call *call = arg;

    post_review("/slow?timeout=20s", call->uid, "azidterminator.io",
                "AzureIdentityTerminator", &call->reply);
    return NULL;
}

static void start_slow_calls(struct slow_call *calls, int count)
{
    for (int i = 0; i < count; i++) {
        snprintf(calls[i].uid, sizeof(calls[i].uid), "slow-%d", i);
        ck_assert_int_eq(
            pthread_create(&calls[i].thread, NULL, run_slow_call, &calls[i]),
            0);
    }
}

/* ---- setup ------------------------------------------------------------ */

static int free_port(void)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static void make_certificates(void)
{
    char command[2048];

    snprintf(command, sizeof(command),
             "cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=azidt-test-ca -keyout ca.key "
             "-out ca.crt 2>/dev/null && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -subj /CN=azidt-webhook -keyout tls.key -out tls.csr "
             "2>/dev/null && "
             "openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key "
             "-set_serial 1 -days 2 -extfile san.ext -out tls.crt "
             "2>/dev/null",
             dir);
    ck_assert_msg(system(command) == 0, "openssl failed");
}

/* Start a server with a slow route on the worker pool and a fast one. */
static void start_server(void)
{
    const struct azidt_route slow = {
        .path = "/slow",
        .group = "azidterminator.io",
        .kind = "AzureIdentityTerminator",
        .handler = slow_handler,
        .needs_worker = always_worker,
    };
    const struct azidt_route fast = {
        .path = "/validate/pods",
        .group = "",
        .kind = "Pod",
        .handler = fast_handler,
    };
    char cert[256];
    char key[256];
    char err[512];

    set_gate(false);
    ck_assert_int_eq(azidt_config_init(&cfg), AZIDT_OK);
    cfg.server.port = (uint16_t)free_port();
    free(cfg.server.listen_address);
    cfg.server.listen_address = strdup("127.0.0.1");
    cfg.server.http_threads = HTTP_THREADS;
    cfg.server.slow_workers = SLOW_WORKERS;
    cfg.server.slow_queue_size = SLOW_QUEUE;
    snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%u",
             cfg.server.port);
    ck_assert_int_eq(
        azidt_tls_store_create(cert, key, &store, err, sizeof(err)), AZIDT_OK);
    ck_assert_int_eq(azidt_server_create(&cfg.server, store, &server),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_server_add_route(server, &slow), AZIDT_OK);
    ck_assert_int_eq(azidt_server_add_route(server, &fast), AZIDT_OK);
    ck_assert_int_eq(azidt_server_start(server, err, sizeof(err)), AZIDT_OK);
}

static void stop_server(void)
{
    set_gate(true);
    azidt_server_destroy(server);
    server = NULL;
    azidt_tls_store_destroy(store);
    store = NULL;
    azidt_config_free(&cfg);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(threads_fast_requests_not_starved)
{
    struct slow_call calls[SLOW_REQUESTS];
    struct reply reply;
    double slowest = 0;

    start_server();
    start_slow_calls(calls, SLOW_REQUESTS);
    ck_assert_int_eq(wait_slow_running(SLOW_WORKERS), SLOW_WORKERS);

    /* Every worker is held and the queue is full; pods still get their
     * responses at once from the HTTP threads. */
    for (int i = 0; i < 40; i++) {
        post_review("/validate/pods", "pod", "", "Pod", &reply);
        ck_assert_int_eq(reply.status, 200);
        ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":true"));
        if (reply.seconds > slowest)
            slowest = reply.seconds;
    }
    /* Each includes a new TLS handshake; the slow handlers hold their
     * requests for seconds. */
    ck_assert_msg(slowest < 0.5, "slowest pod request took %.3f s", slowest);
    printf("40 pod requests with %d slow requests held: slowest %.1f ms "
           "(new TLS connection each)\n",
           SLOW_REQUESTS, slowest * 1000);

    set_gate(true);
    for (int i = 0; i < SLOW_REQUESTS; i++) {
        pthread_join(calls[i].thread, NULL);
        ck_assert_int_eq(calls[i].reply.status, 200);
        ck_assert_ptr_nonnull(strstr(calls[i].reply.body, "\"allowed\":true"));
    }
    stop_server();
}
END_TEST

START_TEST(threads_full_pool_denies_at_once)
{
    struct slow_call calls[SLOW_REQUESTS];
    struct reply reply;

    start_server();
    start_slow_calls(calls, SLOW_REQUESTS);
    ck_assert_int_eq(wait_slow_running(SLOW_WORKERS), SLOW_WORKERS);
    /* Let the queued requests reach the queue. */
    usleep(300000);

    post_review("/slow?timeout=20s", "one-too-many", "azidterminator.io",
                "AzureIdentityTerminator", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":false"));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"code\":429"));
    ck_assert_ptr_nonnull(strstr(reply.body, "busy"));
    ck_assert_msg(reply.seconds < 0.5, "denial took %.3f s", reply.seconds);

    set_gate(true);
    for (int i = 0; i < SLOW_REQUESTS; i++) {
        pthread_join(calls[i].thread, NULL);
        ck_assert_int_eq(calls[i].reply.status, 200);
    }
    stop_server();
}
END_TEST

/* /metrics is served inline, so a scrape gets its response while every
 * worker is held, and it reports the full pool and the rejection. */
START_TEST(threads_metrics_while_pool_full)
{
    struct slow_call calls[SLOW_REQUESTS];
    struct reply reply;
    char line[64];

    azidt_metrics_reset();
    start_server();
    start_slow_calls(calls, SLOW_REQUESTS);
    ck_assert_int_eq(wait_slow_running(SLOW_WORKERS), SLOW_WORKERS);
    usleep(300000);
    post_review("/slow?timeout=20s", "one-too-many", "azidterminator.io",
                "AzureIdentityTerminator", &reply);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"code\":429"));

    get_path("/metrics", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_msg(reply.seconds < 0.5, "scrape took %.3f s", reply.seconds);
    snprintf(line, sizeof(line), "\nazidt_worker_pool_busy %d\n", SLOW_WORKERS);
    ck_assert_msg(strstr(reply.body, line), "missing %s", line);
    snprintf(line, sizeof(line), "\nazidt_worker_queue_depth %d\n", SLOW_QUEUE);
    ck_assert_msg(strstr(reply.body, line), "missing %s", line);
    ck_assert_ptr_nonnull(
        strstr(reply.body, "\nazidt_worker_rejections_total 1\n"));
    ck_assert_ptr_nonnull(strstr(reply.body,
                                 "\nazidt_admission_requests_total{route="
                                 "\"other\",decision=\"error\"} 1\n"));

    set_gate(true);
    for (int i = 0; i < SLOW_REQUESTS; i++) {
        pthread_join(calls[i].thread, NULL);
        ck_assert_int_eq(calls[i].reply.status, 200);
    }
    stop_server();
}
END_TEST

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(800000);
    set_gate(true);
    return NULL;
}

START_TEST(threads_shutdown_waits_for_suspended)
{
    struct slow_call calls[2];
    pthread_t opener;
    int64_t start;

    start_server();
    start_slow_calls(calls, 2);
    ck_assert_int_eq(wait_slow_running(2), 2);

    /* Shutdown starts while both requests are suspended on workers. */
    ck_assert_int_eq(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    start = azidt_clock_now_ms();
    azidt_server_shutdown(server, 10000);
    ck_assert_int_ge(azidt_clock_now_ms() - start, 700);
    pthread_join(opener, NULL);

    for (int i = 0; i < 2; i++) {
        pthread_join(calls[i].thread, NULL);
        ck_assert_int_eq(calls[i].reply.result, CURLE_OK);
        ck_assert_int_eq(calls[i].reply.status, 200);
        ck_assert_ptr_nonnull(strstr(calls[i].reply.body, "\"allowed\":true"));
    }
    stop_server();
}
END_TEST

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_certificates();
}

static void teardown(void)
{
    char command[300];

    snprintf(command, sizeof(command), "rm -rf %s", dir);
    if (system(command) != 0)
        fprintf(stderr, "failed to remove %s\n", dir);
}

int main(void)
{
    Suite *suite = suite_create("server-threads");
    TCase *tc = tcase_create("server-threads");
    SRunner *runner;
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, threads_fast_requests_not_starved);
    tcase_add_test(tc, threads_full_pool_denies_at_once);
    tcase_add_test(tc, threads_metrics_while_pool_full);
    tcase_add_test(tc, threads_shutdown_waits_for_suspended);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
