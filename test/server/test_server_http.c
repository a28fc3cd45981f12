/*
 * HTTP-level tests of azidt-webhook: the real binary on 127.0.0.1 with
 * test certificates made by openssl(1), talked to over TLS with libcurl.
 *
 * Usage: test_server_http PATH-TO-azidt-webhook
 *
 * The tests share one server process and run in order, because the last
 * ones reload its certificate and stop it with SIGTERM.
 */
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Small body limit, so the 413 cases stay cheap. */
#define MAX_BODY_BYTES 65536

static const char *webhook_path;
static char dir[] = "/tmp/azidt-server-http-XXXXXX";
static char base_url[64];
static pid_t server_pid = -1;
static int server_port;

/* A valid review of the example AzureIdentityTerminator, with %s for the
 * uid, the operation, dryRun and the clientSecretDuration. */
static const char azidt_review_format[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
    "\"request\":{\"uid\":\"%s\","
    "\"kind\":{\"group\":\"azidterminator.io\",\"version\":\"v1alpha1\","
    "\"kind\":\"AzureIdentityTerminator\"},"
    "\"resource\":{\"group\":\"azidterminator.io\",\"version\":\"v1alpha1\","
    "\"resource\":\"azureidentityterminators\"},"
    "\"operation\":\"%s\",\"namespace\":\"my-namespace\","
    "\"name\":\"azure-kv-access-test\",\"dryRun\":%s,"
    "\"userInfo\":{\"username\":\"alice\"},"
    "\"object\":{\"apiVersion\":\"azidterminator.io/v1alpha1\","
    "\"kind\":\"AzureIdentityTerminator\",\"metadata\":{\"name\":"
    "\"azure-kv-access-test\",\"namespace\":\"my-namespace\"},"
    "\"spec\":{\"appRegistration\":{\"displayName\":\"azure-kv-access-test\"},"
    "\"azureIdentityName\":\"azure-kv-access-test\","
    "\"nodeResourceGroup\":\"my-aks-cluster-node-resource-group\","
    "\"podSelector\":\"azure-kv-pods\","
    "\"servicePrincipal\":{\"clientSecretDuration\":\"%s\","
    "\"tags\":[\"azure-kv-aks-test\"]}}}}}";

static const char pod_review_format[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"%s\","
    "\"request\":{%s"
    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"operation\":\"CREATE\",\"namespace\":\"default\",\"name\":\"web\","
    "\"userInfo\":{\"username\":\"bob\"},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
    "{\"name\":\"web\",\"namespace\":\"default\",\"annotations\":"
    "{\"note\":\"PLANTED-SECRET-7f3a\"}}}}}";

/* ---- helpers ---------------------------------------------------------- */

static void run(const char *command)
{
    ck_assert_msg(system(command) == 0, "command failed: %s", command);
}

/* Make the CA, pair a (serial 0a11) and pair b (serial 0b22), both for
 * IP 127.0.0.1 and signed by the CA. */
static void make_certificates(void)
{
    char command[2048];

    snprintf(command, sizeof(command),
             "cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=azidt-test-ca "
             "-keyout ca.key -out ca.crt 2>/dev/null && "
             "for p in a:0x0a11 b:0x0b22; do n=${p%%:*}; s=${p#*:}; "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -subj /CN=azidt-webhook -keyout $n.key -out $n.csr "
             "2>/dev/null && "
             "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key "
             "-set_serial $s -days 2 -extfile san.ext -out $n.crt "
             "2>/dev/null || exit 1; done && "
             "cp a.crt served.crt && cp a.key served.key",
             dir);
    run(command);
}

/* Replace dir/dst with dir/src through a rename, as a Secret volume
 * update does. */
static void replace_file(const char *src, const char *dst)
{
    char command[1024];

    snprintf(command, sizeof(command), "cd %s && cp %s tmp && mv tmp %s", dir,
             src, dst);
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

struct reply {
    long status;
    CURLcode result;
    char body[65536];
    size_t body_len;
    char allow[128];
    char content_type[128];
    char serial[128];
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

static size_t collect_header(char *data, size_t size, size_t count, void *arg)
{
    struct reply *reply = arg;
    size_t len = size * count;

    if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0) {
        snprintf(reply->allow, sizeof(reply->allow), "%.*s", (int)(len - 7),
                 data + 7);
        reply->allow[strcspn(reply->allow, "\r\n")] = '\0';
    }
    return len;
}

/* A curl handle for path on the test server that trusts the test CA and
 * opens a new connection. */
static CURL *new_request(const char *path, struct reply *reply)
{
    CURL *curl = curl_easy_init();
    char url[256];
    char ca[256];

    memset(reply, 0, sizeof(*reply));
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    return curl;
}

/* Find the leaf's serial number in the certificate chain curl reports. */
static void read_serial(CURL *curl, struct reply *reply)
{
    struct curl_certinfo *info = NULL;

    if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK ||
        !info || info->num_of_certs < 1)
        return;
    for (struct curl_slist *item = info->certinfo[0]; item; item = item->next) {
        if (strncmp(item->data, "Serial Number:", 14) == 0)
            snprintf(reply->serial, sizeof(reply->serial), "%s",
                     item->data + 14);
    }
}

static void read_content_type(CURL *curl, struct reply *reply)
{
    const char *type = NULL;

    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK &&
        type)
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", type);
}

static void perform(CURL *curl, struct reply *reply)
{
    reply->result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &reply->seconds);
    read_content_type(curl, reply);
    read_serial(curl, reply);
    curl_easy_cleanup(curl);
}

static void get(const char *path, struct reply *reply)
{
    perform(new_request(path, reply), reply);
}

/* POST body with the given content type (NULL for none). */
static void post(const char *path, const char *content_type, const char *body,
                 struct reply *reply)
{
    CURL *curl = new_request(path, reply);
    struct curl_slist *headers = NULL;
    char header[256];

    snprintf(header, sizeof(header), "Content-Type: %s",
             content_type ? content_type : "");
    headers =
        curl_slist_append(headers, content_type ? header : "Content-Type:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    perform(curl, reply);
    curl_slist_free_all(headers);
}

static void post_json(const char *path, const char *body, struct reply *reply)
{
    post(path, "application/json", body, reply);
}

static bool log_contains(const char *needle)
{
    char path[256];
    char *text;
    FILE *file;
    long len;
    bool found;

    snprintf(path, sizeof(path), "%s/server.log", dir);
    file = fopen(path, "r");
    if (!file)
        return false;
    fseek(file, 0, SEEK_END);
    len = ftell(file);
    fseek(file, 0, SEEK_SET);
    text = calloc(1, (size_t)len + 1);
    if (fread(text, 1, (size_t)len, file) != (size_t)len)
        len = 0;
    fclose(file);
    text[len] = '\0';
    found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* Return the value of the sample line "series value" in text, or -1 when
 * no line starts with series. */
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

static long admission_count(const char *text, const char *route,
                            const char *decision)
{
    char series[200];

    snprintf(series, sizeof(series),
             "azidt_admission_requests_total{route=\"%s\",decision=\"%s\"}",
             route, decision);
    return metric_value(text, series);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- server process --------------------------------------------------- */

static void start_server(void)
{
    char port[16];
    char cert[256];
    char key[256];
    char log[256];
    char max_body[32];
    struct reply reply;

    server_port = free_port();
    snprintf(port, sizeof(port), "%d", server_port);
    snprintf(cert, sizeof(cert), "%s/served.crt", dir);
    snprintf(key, sizeof(key), "%s/served.key", dir);
    snprintf(log, sizeof(log), "%s/server.log", dir);
    snprintf(max_body, sizeof(max_body), "%d", MAX_BODY_BYTES);
    snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%d", server_port);

    server_pid = fork();
    ck_assert_int_ge(server_pid, 0);
    if (server_pid == 0) {
        FILE *out = freopen(log, "w", stderr);

        (void)out;
        setenv("AZIDT_LOG_LEVEL", "debug", 1);
        execl(webhook_path, webhook_path, "--listen-address", "127.0.0.1",
              "--port", port, "--tls-cert-file", cert, "--tls-key-file", key,
              "--cert-reload-interval", "100ms", "--max-body-bytes", max_body,
              "--shutdown-timeout", "10s", "--provisioning", "disabled",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        get("/readyz", &reply);
        if (reply.status == 200)
            return;
        sleep_ms(100);
    }
    ck_abort_msg("azidt-webhook did not become ready on port %d", server_port);
}

/* Kill a server left running by a failed test, and remove the files. */
static void cleanup(void)
{
    char command[300];

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

/* ---- probes and TLS ---------------------------------------------------- */

START_TEST(http_healthz_ok)
{
    struct reply reply;

    get("/healthz", &reply);
    ck_assert_int_eq(reply.result, CURLE_OK);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_str_eq(reply.body, "ok\n");
}
END_TEST

START_TEST(http_readyz_ok)
{
    struct reply reply;

    get("/readyz", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_str_eq(reply.body, "ok\n");
}
END_TEST

static CURLcode connect_with_tls(long version, const char *ciphers)
{
    struct reply reply;
    CURL *curl = new_request("/healthz", &reply);

    curl_easy_setopt(curl, CURLOPT_SSLVERSION, version);
    if (ciphers)
        curl_easy_setopt(curl, CURLOPT_SSL_CIPHER_LIST, ciphers);
    perform(curl, &reply);
    return reply.result;
}

START_TEST(http_tls11_rejected)
{
    /* SECLEVEL=0 lets OpenSSL offer TLS 1.1 at all, so the failure comes
     * from the server's priorities and not from the client. */
    ck_assert_int_ne(
        connect_with_tls(CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1,
                         "DEFAULT:@SECLEVEL=0"),
        CURLE_OK);
}
END_TEST

START_TEST(http_tls12_accepted)
{
    ck_assert_int_eq(
        connect_with_tls(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
                         NULL),
        CURLE_OK);
}
END_TEST

START_TEST(http_tls13_accepted)
{
    ck_assert_int_eq(
        connect_with_tls(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3,
                         NULL),
        CURLE_OK);
}
END_TEST

/* ---- bad input ---------------------------------------------------------- */

START_TEST(http_unknown_path_404)
{
    struct reply reply;

    post_json("/mutate/secrets", "{}", &reply);
    ck_assert_int_eq(reply.status, 404);
    ck_assert_ptr_nonnull(strstr(reply.body, "/mutate/secrets"));
}
END_TEST

START_TEST(http_wrong_method_405)
{
    struct reply reply;

    get("/validate/pods", &reply);
    ck_assert_int_eq(reply.status, 405);
    ck_assert_str_eq(reply.allow, "POST");
    ck_assert_ptr_nonnull(strstr(reply.body, "use POST"));
}
END_TEST

START_TEST(http_probe_post_405)
{
    struct reply reply;

    post_json("/healthz", "{}", &reply);
    ck_assert_int_eq(reply.status, 405);
    ck_assert_str_eq(reply.allow, "GET, HEAD");
}
END_TEST

START_TEST(http_wrong_content_type_415)
{
    struct reply reply;

    post("/validate/pods", "text/plain", "{}", &reply);
    ck_assert_int_eq(reply.status, 415);
    ck_assert_ptr_nonnull(strstr(reply.body, "text/plain"));
}
END_TEST

START_TEST(http_missing_content_type_415)
{
    struct reply reply;

    post("/validate/pods", NULL, "{}", &reply);
    ck_assert_int_eq(reply.status, 415);
}
END_TEST

START_TEST(http_body_over_limit_413)
{
    static char body[MAX_BODY_BYTES + 2];
    struct reply reply;
    CURL *curl = new_request("/validate/pods", &reply);
    struct curl_slist *headers = NULL;

    /* With Expect: 100-continue the client waits for the server, which
     * rejects the request from its Content-Length alone. Without it the
     * client may still be sending when the server closes the connection,
     * and then it never reads the 413. */
    memset(body, ' ', sizeof(body) - 1);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect: 100-continue");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    perform(curl, &reply);
    curl_slist_free_all(headers);
    ck_assert_msg(reply.status == 413, "status %ld, curl: %s", reply.status,
                  curl_easy_strerror(reply.result));
    ck_assert_ptr_nonnull(strstr(reply.body, "Content-Length"));
}
END_TEST

/* Read callback that sends `left` spaces in small pieces. */
struct upload {
    size_t left;
};

static size_t send_spaces(char *buf, size_t size, size_t count, void *arg)
{
    struct upload *upload = arg;
    size_t len = size * count;

    if (upload->left == 0)
        return 0;
    if (len > upload->left)
        len = upload->left;
    if (len > 4096)
        len = 4096;
    memset(buf, ' ', len);
    upload->left -= len;
    return len;
}

START_TEST(http_chunked_over_limit_413)
{
    struct upload upload = {MAX_BODY_BYTES + 10000};
    struct reply reply;
    CURL *curl = new_request("/validate/pods", &reply);
    struct curl_slist *headers = NULL;

    /* No Content-Length: the limit is enforced while the body streams. */
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, send_spaces);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    perform(curl, &reply);
    curl_slist_free_all(headers);
    ck_assert_int_eq(reply.status, 413);
    ck_assert_ptr_nonnull(strstr(reply.body, "larger than the limit"));
}
END_TEST

START_TEST(http_invalid_json_400)
{
    struct reply reply;

    post_json("/validate/pods", "{\"apiVersion\":", &reply);
    ck_assert_int_eq(reply.status, 400);
    ck_assert_ptr_nonnull(strstr(reply.body, "invalid AdmissionReview"));
}
END_TEST

START_TEST(http_missing_uid_400)
{
    char body[4096];
    struct reply reply;

    snprintf(body, sizeof(body), pod_review_format, "AdmissionReview", "");
    post_json("/validate/pods", body, &reply);
    ck_assert_int_eq(reply.status, 400);
    ck_assert_ptr_nonnull(strstr(reply.body, "uid"));
}
END_TEST

START_TEST(http_wrong_review_kind_400)
{
    char body[4096];
    struct reply reply;

    snprintf(body, sizeof(body), pod_review_format, "ConfigMap",
             "\"uid\":\"u-kind\",");
    post_json("/validate/pods", body, &reply);
    ck_assert_int_eq(reply.status, 400);
    ck_assert_ptr_nonnull(strstr(reply.body, "kind"));
}
END_TEST

START_TEST(http_wrong_object_kind_400)
{
    char body[4096];
    struct reply reply;

    /* A pod review sent to the AzureIdentityTerminator route. */
    snprintf(body, sizeof(body), pod_review_format, "AdmissionReview",
             "\"uid\":\"u-route\",");
    post_json("/validate/azureidentityterminators", body, &reply);
    ck_assert_int_eq(reply.status, 400);
    ck_assert_ptr_nonnull(strstr(reply.body, "accepts only"));
}
END_TEST

START_TEST(http_bad_timeout_400)
{
    char body[4096];
    struct reply reply;

    snprintf(body, sizeof(body), pod_review_format, "AdmissionReview",
             "\"uid\":\"u-timeout\",");
    post_json("/validate/pods?timeout=ten", body, &reply);
    ck_assert_int_eq(reply.status, 400);
    ck_assert_ptr_nonnull(strstr(reply.body, "timeout"));
}
END_TEST

/* ---- admission reviews -------------------------------------------------- */

START_TEST(http_valid_review_allowed)
{
    char body[8192];
    struct reply reply;

    snprintf(body, sizeof(body), azidt_review_format, "uid-valid-1", "CREATE",
             "true", "720h");
    post_json("/validate/azureidentityterminators?timeout=10s", body, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"uid\":\"uid-valid-1\""));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":true"));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"kind\":\"AdmissionReview\""));
}
END_TEST

START_TEST(http_invalid_review_denied)
{
    char body[8192];
    struct reply reply;

    snprintf(body, sizeof(body), azidt_review_format, "uid-invalid-1", "CREATE",
             "true", "30d");
    post_json("/validate/azureidentityterminators?timeout=10s", body, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"uid\":\"uid-invalid-1\""));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":false"));
    ck_assert_ptr_nonnull(strstr(reply.body, "clientSecretDuration"));
}
END_TEST

/* A CREATE that is not a dry run may call Azure, so the server runs it on
 * the worker pool. Without a reachable Azure it still gets a response (allowed
 * or denied) before the apiserver's timeout. */
START_TEST(http_create_runs_on_worker)
{
    char body[8192];
    struct reply reply;

    snprintf(body, sizeof(body), azidt_review_format, "uid-worker-1", "CREATE",
             "false", "720h");
    post_json("/validate/azureidentityterminators?timeout=3s", body, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"uid\":\"uid-worker-1\""));
    ck_assert_double_lt(reply.seconds, 3.0);
    ck_assert(log_contains("\"uid\":\"uid-worker-1\""));
    ck_assert(log_contains("\"pool\":\"worker\""));
}
END_TEST

/* NOTE: this binary runs without Kubernetes access, so it cannot hold
 * provisioning requests open. test_server_threads proves that slow requests
 * do not hold pod requests for the server module, and
 * test/bench/pod-admission-under-load.sh measures it through the real
 * binary while twenty creates wait on a slow Azure. */
START_TEST(http_mutate_adds_patch)
{
    char body[8192];
    struct reply reply;

    snprintf(body, sizeof(body), azidt_review_format, "uid-mutate-1", "CREATE",
             "true", "720h");
    post_json("/mutate/azureidentityterminators", body, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":true"));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"patchType\":\"JSONPatch\""));
}
END_TEST

START_TEST(http_pod_review_allowed)
{
    char body[4096];
    struct reply reply;

    snprintf(body, sizeof(body), pod_review_format, "AdmissionReview",
             "\"uid\":\"uid-pod-1\",");
    post_json("/validate/pods?timeout=5s", body, &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_ptr_nonnull(strstr(reply.body, "\"uid\":\"uid-pod-1\""));
    ck_assert_ptr_nonnull(strstr(reply.body, "\"allowed\":true"));
}
END_TEST

START_TEST(http_log_names_request)
{
    ck_assert(log_contains("\"uid\":\"uid-pod-1\""));
    ck_assert(log_contains("\"decision\":\"denied\""));
    ck_assert(log_contains("\"name\":\"azure-kv-access-test\""));
    /* Bodies are never logged, so a value from one never appears. */
    ck_assert(!log_contains("PLANTED-SECRET-7f3a"));
}
END_TEST

/* ---- metrics ------------------------------------------------------------ */

START_TEST(http_metrics_counts_reviews)
{
    static const char *const routes[] = {"/mutate/azureidentityterminators",
                                         "/validate/azureidentityterminators",
                                         "/mutate/pods", "/validate/pods"};
    struct reply reply;

    get("/metrics", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_str_eq(reply.content_type,
                     "text/plain; version=0.0.4; charset=utf-8");
    /* The earlier tests sent one allowed pod review, one denied and one
     * dry-run allowed AzureIdentityTerminator review, one mutation and a
     * series of malformed pod requests. */
    ck_assert_int_eq(admission_count(reply.body, "/validate/pods", "allowed"),
                     1);
    ck_assert_int_ge(admission_count(reply.body, "/validate/pods", "error"), 5);
    ck_assert_int_eq(admission_count(reply.body,
                                     "/validate/azureidentityterminators",
                                     "denied"),
                     1);
    ck_assert_int_ge(admission_count(reply.body,
                                     "/validate/azureidentityterminators",
                                     "allowed"),
                     1);
    ck_assert_int_eq(admission_count(reply.body,
                                     "/mutate/azureidentityterminators",
                                     "allowed"),
                     1);
    /* Each route's histogram counts the same requests as its counters. */
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char series[200];
        long total = admission_count(reply.body, routes[i], "allowed") +
                     admission_count(reply.body, routes[i], "denied") +
                     admission_count(reply.body, routes[i], "error");

        snprintf(series, sizeof(series),
                 "azidt_admission_duration_seconds_count{route=\"%s\"}",
                 routes[i]);
        ck_assert_int_eq(metric_value(reply.body, series), total);
    }
    ck_assert_ptr_nonnull(strstr(reply.body, "\nazidt_build_info{version="));
}
END_TEST

START_TEST(http_metrics_no_request_values)
{
    static const char *const values[] = {"PLANTED-SECRET-7f3a",
                                         "uid-pod-1",
                                         "uid-worker-1",
                                         "azure-kv-access-test",
                                         "my-namespace",
                                         "azure-kv-pods",
                                         "alice",
                                         "bob",
                                         "/mutate/secrets"};
    struct reply reply;

    get("/metrics", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_uint_lt(reply.body_len, sizeof(reply.body) - 1);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        ck_assert_msg(!strstr(reply.body, values[i]),
                      "/metrics contains the request value %s", values[i]);
}
END_TEST

START_TEST(http_metrics_post_405)
{
    struct reply reply;

    post_json("/metrics", "{}", &reply);
    ck_assert_int_eq(reply.status, 405);
    ck_assert_str_eq(reply.allow, "GET, HEAD");
}
END_TEST

/* ---- certificate reload ------------------------------------------------- */

static void wait_for_serial(const char *serial, struct reply *reply)
{
    for (int i = 0; i < 50; i++) {
        CURL *curl = new_request("/healthz", reply);

        curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
        perform(curl, reply);
        if (strstr(reply->serial, serial))
            return;
        sleep_ms(100);
    }
}

START_TEST(http_reload_serves_new_cert)
{
    struct reply reply;

    wait_for_serial("0a11", &reply);
    ck_assert_msg(strstr(reply.serial, "0a11"), "serial \"%s\"", reply.serial);
    replace_file("b.key", "served.key");
    replace_file("b.crt", "served.crt");
    wait_for_serial("0b22", &reply);
    ck_assert_msg(strstr(reply.serial, "0b22"), "serial \"%s\"", reply.serial);
    ck_assert_int_eq(reply.status, 200);
}
END_TEST

START_TEST(http_reload_keeps_cert_on_mismatch)
{
    struct reply reply;

    /* Key a does not belong to certificate b, which is being served. */
    replace_file("a.key", "served.key");
    for (int i = 0; i < 50 && !log_contains("rejected new serving"); i++)
        sleep_ms(100);
    ck_assert(log_contains("rejected new serving certificate"));
    wait_for_serial("0b22", &reply);
    ck_assert_msg(strstr(reply.serial, "0b22"), "serial \"%s\"", reply.serial);
    ck_assert_int_eq(reply.status, 200);
    /* Restore a matching pair for the tests that follow. */
    replace_file("b.key", "served.key");
}
END_TEST

START_TEST(http_metrics_count_reloads)
{
    struct reply reply;

    /* The reload tests loaded pair b and rejected key a with
     * certificate b. */
    get("/metrics", &reply);
    ck_assert_int_eq(reply.status, 200);
    ck_assert_int_ge(
        metric_value(reply.body,
                     "azidt_certificate_reloads_total{result=\"success\"}"),
        1);
    ck_assert_int_ge(
        metric_value(reply.body,
                     "azidt_certificate_reloads_total{result=\"failure\"}"),
        1);
}
END_TEST

/* ---- SIGTERM drain ------------------------------------------------------ */

/* An upload that stalls in the middle, so that the request is in flight
 * when the server receives SIGTERM. */
struct slow_post {
    char body[4096];
    size_t sent;
    long pause_ms;
    struct reply reply;
};

static size_t send_slowly(char *buf, size_t size, size_t count, void *arg)
{
    struct slow_post *slow = arg;
    size_t total = strlen(slow->body);
    size_t len = total - slow->sent;

    if (len == 0)
        return 0;
    if (slow->sent == 0) {
        len = 10; /* first piece, then a pause */
    } else {
        sleep_ms(slow->pause_ms);
    }
    if (len > size * count)
        len = size * count;
    memcpy(buf, slow->body + slow->sent, len);
    slow->sent += len;
    return len;
}

static void *run_slow_post(void *arg)
{
    struct slow_post *slow = arg;
    CURL *curl = new_request("/validate/pods?timeout=10s", &slow->reply);
    struct curl_slist *headers = NULL;

    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(slow->body));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, send_slowly);
    curl_easy_setopt(curl, CURLOPT_READDATA, slow);
    perform(curl, &slow->reply);
    curl_slist_free_all(headers);
    return NULL;
}

START_TEST(http_sigterm_drains)
{
    struct slow_post slow = {.pause_ms = 1500};
    struct reply reply;
    pthread_t thread;
    int status = -1;

    snprintf(slow.body, sizeof(slow.body), pod_review_format, "AdmissionReview",
             "\"uid\":\"uid-drain-1\",");
    ck_assert_int_eq(pthread_create(&thread, NULL, run_slow_post, &slow), 0);
    sleep_ms(500);
    ck_assert_int_eq(kill(server_pid, SIGTERM), 0);
    sleep_ms(300);

    /* New connections are refused while the slow request is in flight. */
    get("/healthz", &reply);
    ck_assert_int_eq(reply.result, CURLE_COULDNT_CONNECT);

    pthread_join(thread, NULL);
    ck_assert_int_eq(slow.reply.result, CURLE_OK);
    ck_assert_int_eq(slow.reply.status, 200);
    ck_assert_ptr_nonnull(strstr(slow.reply.body, "\"uid\":\"uid-drain-1\""));

    ck_assert_int_eq(waitpid(server_pid, &status, 0), server_pid);
    server_pid = -1;
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* ---- runner -------------------------------------------------------------- */

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_certificates();
    start_server();
}

int main(int argc, char **argv)
{
    Suite *suite = suite_create("server-http");
    TCase *tc = tcase_create("server-http");
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
    tcase_add_test(tc, http_healthz_ok);
    tcase_add_test(tc, http_readyz_ok);
    tcase_add_test(tc, http_tls11_rejected);
    tcase_add_test(tc, http_tls12_accepted);
    tcase_add_test(tc, http_tls13_accepted);
    tcase_add_test(tc, http_unknown_path_404);
    tcase_add_test(tc, http_wrong_method_405);
    tcase_add_test(tc, http_probe_post_405);
    tcase_add_test(tc, http_wrong_content_type_415);
    tcase_add_test(tc, http_missing_content_type_415);
    tcase_add_test(tc, http_body_over_limit_413);
    tcase_add_test(tc, http_chunked_over_limit_413);
    tcase_add_test(tc, http_invalid_json_400);
    tcase_add_test(tc, http_missing_uid_400);
    tcase_add_test(tc, http_wrong_review_kind_400);
    tcase_add_test(tc, http_wrong_object_kind_400);
    tcase_add_test(tc, http_bad_timeout_400);
    tcase_add_test(tc, http_valid_review_allowed);
    tcase_add_test(tc, http_invalid_review_denied);
    tcase_add_test(tc, http_create_runs_on_worker);
    tcase_add_test(tc, http_mutate_adds_patch);
    tcase_add_test(tc, http_pod_review_allowed);
    tcase_add_test(tc, http_log_names_request);
    tcase_add_test(tc, http_metrics_counts_reviews);
    tcase_add_test(tc, http_metrics_no_request_values);
    tcase_add_test(tc, http_metrics_post_405);
    tcase_add_test(tc, http_reload_serves_new_cert);
    tcase_add_test(tc, http_reload_keeps_cert_on_mismatch);
    tcase_add_test(tc, http_metrics_count_reloads);
    tcase_add_test(tc, http_sigterm_drains);
    suite_add_tcase(suite, tc);

    runner = srunner_create(suite);
    /* One server process serves every test, so run them in order in this
     * process instead of forking one child per test. */
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
