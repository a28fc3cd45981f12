/*
 * Tests of azidt-webhook's defences against unwanted clients: client
 * certificate authentication (--client-ca-file, --client-cert-names) and
 * the connection limits (--max-connections, --max-connections-per-ip,
 * --idle-timeout, the raised open-file limit). The real binary runs on
 * 127.0.0.1 with certificates made by openssl(1); clients use libcurl and
 * raw sockets bound to other loopback addresses (127.0.0.2, 127.0.0.3).
 *
 * Usage: test_server_guard PATH-TO-azidt-webhook
 *
 * The tests share one server process and run in order.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 64
#define MAX_PER_IP 24
/* Open-file soft limit the server starts with; it must raise it. */
#define START_SOFT_LIMIT 256
#define FLOOD 40

static const char *webhook_path;
static char dir[] = "/tmp/azidt-server-guard-XXXXXX";
static char base_url[64];
static pid_t server_pid = -1;
static int server_port;
static int flood[3 * FLOOD];
static size_t flood_count;

static const char pod_review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
    "\"request\":{\"uid\":\"0c9a1d5e-guard\","
    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"operation\":\"CREATE\",\"namespace\":\"default\",\"name\":\"web\","
    "\"userInfo\":{\"username\":\"bob\"},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
    "{\"name\":\"web\",\"namespace\":\"default\"}}}}";

/* ---- helpers ---------------------------------------------------------- */

static void run(const char *command)
{
    ck_assert_msg(system(command) == 0, "command failed: %s", command);
}

/*
 * Make the serving CA and pair (IP 127.0.0.1), two client CAs (client-ca
 * and other-ca), and client pairs: good (CN azidt-apiserver, client-ca),
 * foreign (same name, other-ca) and misnamed (CN someone, client-ca).
 */
static void make_certificates(void)
{
    char command[4096];

    snprintf(
        command, sizeof(command),
        "cd %s && "
        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 2 -subj /CN=$1 -keyout $1.key -out $1.crt "
        "2>/dev/null; } && "
        "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=$2 -keyout $1.key -out $1.csr 2>/dev/null && "
        "printf \"$4\\n\" > $1.ext && "
        "openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key "
        "-CAcreateserial -days 2 -extfile $1.ext -out $1.crt 2>/dev/null; } "
        "&& ca serving-ca && ca client-ca && ca other-ca && "
        "leaf served azidt-webhook serving-ca subjectAltName=IP:127.0.0.1 && "
        "leaf good azidt-apiserver client-ca extendedKeyUsage=clientAuth && "
        "leaf foreign azidt-apiserver other-ca extendedKeyUsage=clientAuth && "
        "leaf misnamed someone client-ca extendedKeyUsage=clientAuth && "
        "cp client-ca.crt trusted.crt",
        dir);
    run(command);
}

static int free_port(void)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    ck_assert_int_ge(fd, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

struct reply {
    long status;
    CURLcode result;
    char body[65536];
    size_t body_len;
    char content_type[128];
    double seconds;
};

static size_t collect_body(char *data, size_t size, size_t count, void *arg)
{
    struct reply *reply = arg;
    size_t len = size * count;
    size_t room = sizeof(reply->body) - 1 - reply->body_len;

    memcpy(reply->body + reply->body_len, data, len < room ? len : room);
    reply->body_len += len < room ? len : room;
    reply->body[reply->body_len] = '\0';
    return len;
}

/*
 * Send a request for path from source address from (NULL: any) with the
 * client pair named client (NULL: none); POST body when it is not NULL.
 */
static void request(const char *path, const char *client, const char *from,
                    const char *body, struct reply *reply)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    const char *type = NULL;
    char url[256];
    char ca[256];
    char cert[256];
    char key[256];

    memset(reply, 0, sizeof(*reply));
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    snprintf(ca, sizeof(ca), "%s/serving-ca.crt", dir);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    if (client) {
        snprintf(cert, sizeof(cert), "%s/%s.crt", dir, client);
        snprintf(key, sizeof(key), "%s/%s.key", dir, client);
        curl_easy_setopt(curl, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, key);
    }
    if (from)
        curl_easy_setopt(curl, CURLOPT_INTERFACE, from);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    reply->result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &reply->seconds);
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK &&
        type)
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", type);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
}

static void review(const char *client, struct reply *reply)
{
    request("/validate/pods", client, NULL, pod_review, reply);
}

/* Return the value of the sample line "series value" in text, or -1. */
static long metric_value(const char *text, const char *series)
{
    size_t len = strlen(series);

    for (const char *at = strstr(text, series); at;
         at = strstr(at + 1, series)) {
        if ((at == text || at[-1] == '\n') && at[len] == ' ')
            return strtol(at + len + 1, NULL, 10);
    }
    return -1;
}

static long metric(const char *series)
{
    struct reply reply;

    request("/metrics", NULL, "127.0.0.2", NULL, &reply);
    ck_assert_int_eq(reply.status, 200);
    return metric_value(reply.body, series);
}

static bool log_contains(const char *needle)
{
    char command[512];

    snprintf(command, sizeof(command), "grep -qF -- '%s' %s/server.log", needle,
             dir);
    return system(command) == 0;
}

/* Open a TCP connection from address from that never starts TLS. */
static int idle_connection(const char *from)
{
    struct sockaddr_in src = {0};
    struct sockaddr_in dst = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    src.sin_family = AF_INET;
    inet_pton(AF_INET, from, &src.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)server_port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
    return fd;
}

static void close_flood(void)
{
    for (size_t i = 0; i < flood_count; i++)
        close(flood[i]);
    flood_count = 0;
}

static size_t open_descriptors(pid_t pid)
{
    char path[64];
    size_t count = 0;
    DIR *fds;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    fds = opendir(path);
    ck_assert_ptr_nonnull(fds);
    while (readdir(fds))
        count++;
    closedir(fds);
    return count - 2; /* . and .. */
}

/* ---- server process --------------------------------------------------- */

static void start_server(void)
{
    char port[16];
    char path[4][256];
    char max[16];
    char per_ip[16];
    struct reply reply;

    server_port = free_port();
    snprintf(port, sizeof(port), "%d", server_port);
    snprintf(path[0], sizeof(path[0]), "%s/served.crt", dir);
    snprintf(path[1], sizeof(path[1]), "%s/served.key", dir);
    snprintf(path[2], sizeof(path[2]), "%s/trusted.crt", dir);
    snprintf(path[3], sizeof(path[3]), "%s/server.log", dir);
    snprintf(max, sizeof(max), "%d", MAX_CONNECTIONS);
    snprintf(per_ip, sizeof(per_ip), "%d", MAX_PER_IP);
    snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%d", server_port);

    server_pid = fork();
    ck_assert_int_ge(server_pid, 0);
    if (server_pid == 0) {
        struct rlimit lim;
        FILE *out = freopen(path[3], "w", stderr);

        (void)out;
        if (getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
            lim.rlim_max > START_SOFT_LIMIT) {
            lim.rlim_cur = START_SOFT_LIMIT;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        execl(webhook_path, webhook_path, "--listen-address", "127.0.0.1",
              "--port", port, "--tls-cert-file", path[0], "--tls-key-file",
              path[1], "--client-ca-file", path[2], "--client-cert-names",
              "other-name, azidt-apiserver", "--cert-reload-interval", "100ms",
              "--max-connections", max, "--max-connections-per-ip", per_ip,
              "--idle-timeout", "2s", "--http-threads", "2", "--provisioning",
              "disabled", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        request("/readyz", NULL, NULL, NULL, &reply);
        if (reply.status == 200)
            return;
        sleep_ms(100);
    }
    ck_abort_msg("azidt-webhook did not become ready on port %d", server_port);
}

static void cleanup(void)
{
    char command[300];

    close_flood();
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    if (getenv("AZIDT_TEST_KEEP")) {
        fprintf(stderr, "kept test files in %s\n", dir);
        return;
    }
    snprintf(command, sizeof(command), "rm -rf %s", dir);
    if (system(command) != 0)
        fprintf(stderr, "failed to remove %s\n", dir);
}

/* ---- client certificates ------------------------------------------------ */

START_TEST(guard_probes_open)
{
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
    struct reply reply;

    for (size_t i = 0; i < 3; i++) {
        request(paths[i], NULL, NULL, NULL, &reply);
        ck_assert_msg(reply.status == 200, "%s: status %ld", paths[i],
                      reply.status);
    }
}
END_TEST

START_TEST(guard_no_certificate_401)
{
    struct reply reply;

    review(NULL, &reply);
    ck_assert_int_eq(reply.status, 401);
    ck_assert_str_eq(reply.content_type, "text/plain; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(reply.body, "no client certificate"));
    ck_assert(log_contains("\"status\":\"401\""));
}
END_TEST

START_TEST(guard_no_certificate_mutate_401)
{
    struct reply reply;

    request("/mutate/azureidentityterminators", NULL, NULL, "{}", &reply);
    ck_assert_int_eq(reply.status, 401);
}
END_TEST

START_TEST(guard_other_ca_401)
{
    struct reply reply;

    review("foreign", &reply);
    ck_assert_int_eq(reply.status, 401);
    ck_assert_ptr_nonnull(strstr(reply.body, "not verified"));
}
END_TEST

START_TEST(guard_unlisted_name_401)
{
    struct reply reply;

    review("misnamed", &reply);
    ck_assert_int_eq(reply.status, 401);
    ck_assert_ptr_nonnull(strstr(reply.body, "--client-cert-names"));
}
END_TEST

START_TEST(guard_good_certificate_200)
{
    struct reply reply;

    review("good", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":true"));
}
END_TEST

START_TEST(guard_tls13_and_tls12_200)
{
    static const long versions[] = {CURL_SSLVERSION_TLSv1_2 |
                                        CURL_SSLVERSION_MAX_TLSv1_2,
                                    CURL_SSLVERSION_TLSv1_3};

    for (size_t i = 0; i < 2; i++) {
        CURL *curl = curl_easy_init();
        struct curl_slist *headers = NULL;
        char url[256], ca[256], cert[256], key[256];
        long status = 0;

        snprintf(url, sizeof(url), "%s/validate/pods", base_url);
        snprintf(ca, sizeof(ca), "%s/serving-ca.crt", dir);
        snprintf(cert, sizeof(cert), "%s/good.crt", dir);
        snprintf(key, sizeof(key), "%s/good.key", dir);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
        curl_easy_setopt(curl, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, key);
        curl_easy_setopt(curl, CURLOPT_SSLVERSION, versions[i]);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, pod_review);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
        {
            struct reply sink = {0};

            curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
            ck_assert_int_eq(curl_easy_perform(curl), CURLE_OK);
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        ck_assert_int_eq(status, 200);
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
    }
}
END_TEST

START_TEST(guard_metrics_count_rejections)
{
    ck_assert_int_ge(metric("azidt_client_certificate_rejections_total"), 4);
}
END_TEST

/* Replace the CA file with other-ca: the foreign pair is accepted and
 * the good one refused once the watcher has reloaded it. */
START_TEST(guard_ca_reload)
{
    char command[512];
    struct reply reply;
    bool reloaded = false;

    snprintf(command, sizeof(command),
             "cd %s && cp other-ca.crt tmp && mv tmp trusted.crt", dir);
    run(command);
    for (int i = 0; i < 50 && !reloaded; i++) {
        sleep_ms(100);
        review("foreign", &reply);
        reloaded = reply.status == 200;
    }
    ck_assert_msg(reloaded, "the new client CA was not used");
    review("good", &reply);
    ck_assert_int_eq(reply.status, 401);
    ck_assert(log_contains("client CA file reloaded"));

    /* A file without a certificate is rejected; other-ca stays. */
    snprintf(command, sizeof(command),
             "cd %s && echo garbage > tmp && mv tmp trusted.crt", dir);
    run(command);
    sleep_ms(500);
    ck_assert(log_contains("rejected new client CA file"));
    review("foreign", &reply);
    ck_assert_int_eq(reply.status, 200);

    snprintf(command, sizeof(command),
             "cd %s && cp client-ca.crt tmp && mv tmp trusted.crt", dir);
    run(command);
    reloaded = false;
    for (int i = 0; i < 50 && !reloaded; i++) {
        sleep_ms(100);
        review("good", &reply);
        reloaded = reply.status == 200;
    }
    ck_assert(reloaded);
}
END_TEST

/* ---- connection limits ----------------------------------------------------
 */

START_TEST(guard_file_limit_raised)
{
    char path[64];
    char line[256];
    unsigned long long soft = 0, hard = 0;
    FILE *limits;
    struct rlimit own;

    snprintf(path, sizeof(path), "/proc/%d/limits", (int)server_pid);
    limits = fopen(path, "r");
    ck_assert_ptr_nonnull(limits);
    while (fgets(line, sizeof(line), limits)) {
        if (strncmp(line, "Max open files", 14) == 0)
            sscanf(line + 14, "%llu %llu", &soft, &hard);
    }
    fclose(limits);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &own), 0);
    ck_assert_uint_eq(soft, hard);
    if (own.rlim_max > START_SOFT_LIMIT)
        ck_assert_uint_gt(soft, START_SOFT_LIMIT);
    ck_assert(log_contains("\"soft_at_start\""));
}
END_TEST

/* Idle connections from one address past --max-connections-per-ip are
 * closed at accept, and a client at another address is answered at
 * once. */
START_TEST(guard_per_ip_limit)
{
    struct reply reply;
    long refused;

    for (int i = 0; i < FLOOD; i++)
        flood[flood_count++] = idle_connection("127.0.0.1");
    sleep_ms(300);
    refused = metric("azidt_connections_refused_total");
    ck_assert_int_ge(refused, FLOOD - MAX_PER_IP);
    ck_assert_int_le(metric("azidt_connections_open"), MAX_PER_IP + 1);
    request("/validate/pods", "good", "127.0.0.2", pod_review, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_msg(reply.seconds < 2.0, "answered after %.2fs", reply.seconds);
    ck_assert(log_contains("rejecting connections at accept"));
    close_flood();
}
END_TEST

/* With every connection slot held by idle clients, descriptors stay
 * bounded, and a new request is answered once the idle timeout (2s)
 * frees slots. */
START_TEST(guard_total_limit)
{
    static const char *const sources[] = {"127.0.0.3", "127.0.0.4",
                                          "127.0.0.5"};
    struct reply reply;

    sleep_ms(300);
    for (size_t s = 0; s < 3; s++) {
        for (int i = 0; i < MAX_PER_IP; i++)
            flood[flood_count++] = idle_connection(sources[s]);
    }
    sleep_ms(300);
    ck_assert_uint_lt(open_descriptors(server_pid), MAX_CONNECTIONS + 64);
    request("/validate/pods", "good", "127.0.0.2", pod_review, &reply);
    ck_assert_int_eq(reply.result, CURLE_OK);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_msg(reply.seconds < 8.0, "answered after %.2fs", reply.seconds);
    close_flood();
}
END_TEST

/* A peer that stops sending in the middle of its headers is closed after
 * the idle timeout. */
START_TEST(guard_idle_connection_closed)
{
    int fd = idle_connection("127.0.0.6");
    struct timeval wait = {10, 0};
    struct timespec start, end;
    char buf[256];
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Read whatever the server sends (a TLS alert) until it closes. */
    do
        n = read(fd, buf, sizeof(buf));
    while (n > 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    close(fd);
    ck_assert_msg(end.tv_sec - start.tv_sec < 8,
                  "the idle connection stayed open %lds",
                  (long)(end.tv_sec - start.tv_sec));
}
END_TEST

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_certificates();
    start_server();
}

int main(int argc, char **argv)
{
    Suite *suite = suite_create("server-guard");
    TCase *tc = tcase_create("server-guard");
    SRunner *runner;
    int failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-azidt-webhook\n", argv[0]);
        return EXIT_FAILURE;
    }
    webhook_path = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(cleanup);

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, guard_probes_open);
    tcase_add_test(tc, guard_no_certificate_401);
    tcase_add_test(tc, guard_no_certificate_mutate_401);
    tcase_add_test(tc, guard_other_ca_401);
    tcase_add_test(tc, guard_unlisted_name_401);
    tcase_add_test(tc, guard_good_certificate_200);
    tcase_add_test(tc, guard_tls13_and_tls12_200);
    tcase_add_test(tc, guard_metrics_count_rejections);
    tcase_add_test(tc, guard_ca_reload);
    tcase_add_test(tc, guard_file_limit_raised);
    tcase_add_test(tc, guard_per_ip_limit);
    tcase_add_test(tc, guard_total_limit);
    tcase_add_test(tc, guard_idle_connection_closed);
    suite_add_tcase(suite, tc);

    runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
