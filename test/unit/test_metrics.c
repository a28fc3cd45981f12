#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/metrics.h"

/* Render the metrics, failing the test on error. */
static char *render(void)
{
    char *text = NULL;
    size_t len = 0;

    ck_assert_int_eq(azidt_metrics_render(&text, &len), AZIDT_OK);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

/* Return the text after "series " on the line that starts with it, or
 * "" when no line does. The result lives in a static buffer. */
static const char *value_text(const char *text, const char *series)
{
    static char value[64];
    size_t len = strlen(series);

    value[0] = '\0';
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');

        if (!end)
            end = line + strlen(line);
        if ((size_t)(end - line) > len && strncmp(line, series, len) == 0 &&
            line[len] == ' ') {
            snprintf(value, sizeof(value), "%.*s", (int)(end - line - len - 1),
                     line + len + 1);
            break;
        }
        line = *end ? end + 1 : end;
    }
    return value;
}

/* Return the integer value of series, or UINT64_MAX when it is missing. */
static uint64_t value_of(const char *text, const char *series)
{
    const char *value = value_text(text, series);

    if (!value[0])
        return UINT64_MAX;
    return strtoull(value, NULL, 10);
}

/* Count the lines of text equal to line. */
static size_t count_lines(const char *text, const char *line)
{
    size_t len = strlen(line);
    size_t count = 0;

    for (const char *at = strstr(text, line); at; at = strstr(at + 1, line)) {
        if ((at == text || at[-1] == '\n') && at[len] == '\n')
            count++;
    }
    return count;
}

/* ---- helpers ----------------------------------------------------------- */

START_TEST(metrics_bucket_index_bounds)
{
    static const struct {
        int64_t us;
        size_t bucket;
    } cases[] = {
        {-5, 0},
        {0, 0},
        {100, 0},
        {101, 1},
        {250, 1},
        {999, 3},
        {1000, 3},
        {1001, 4},
        {1000000, 12},
        {1000001, 13},
        {30000000, 16},
        {30000001, 17},
        {INT64_MAX, AZIDT_METRICS_BUCKETS},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(azidt_metrics_bucket_index(cases[i].us) ==
                          cases[i].bucket,
                      "%" PRId64 " us: bucket %zu, expected %zu", cases[i].us,
                      azidt_metrics_bucket_index(cases[i].us), cases[i].bucket);
}
END_TEST

START_TEST(metrics_route_of_paths)
{
    ck_assert_int_eq(azidt_metrics_route_of("/mutate/azureidentityterminators"),
                     AZIDT_METRICS_ROUTE_MUTATE_AZIDT);
    ck_assert_int_eq(
        azidt_metrics_route_of("/validate/azureidentityterminators"),
        AZIDT_METRICS_ROUTE_VALIDATE_AZIDT);
    ck_assert_int_eq(azidt_metrics_route_of("/mutate/pods"),
                     AZIDT_METRICS_ROUTE_MUTATE_PODS);
    ck_assert_int_eq(azidt_metrics_route_of("/validate/pods"),
                     AZIDT_METRICS_ROUTE_VALIDATE_PODS);
    ck_assert_int_eq(azidt_metrics_route_of("/validate/pods/x"),
                     AZIDT_METRICS_ROUTE_OTHER);
    ck_assert_int_eq(azidt_metrics_route_of(NULL), AZIDT_METRICS_ROUTE_OTHER);
}
END_TEST

START_TEST(metrics_decision_of_codes)
{
    static const struct {
        bool allowed;
        int code;
        enum azidt_metrics_decision decision;
    } cases[] = {
        {true, 0, AZIDT_METRICS_ALLOWED},   {false, 0, AZIDT_METRICS_DENIED},
        {false, 400, AZIDT_METRICS_DENIED}, {false, 403, AZIDT_METRICS_DENIED},
        {false, 422, AZIDT_METRICS_DENIED}, {false, 429, AZIDT_METRICS_ERROR},
        {false, 500, AZIDT_METRICS_ERROR},  {false, 503, AZIDT_METRICS_ERROR},
        {false, 504, AZIDT_METRICS_ERROR},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(azidt_metrics_decision_of(
                          cases[i].allowed, cases[i].code) == cases[i].decision,
                      "allowed %d code %d", cases[i].allowed, cases[i].code);
}
END_TEST

/* ---- rendering ----------------------------------------------------------- */

/* Check every line against the text format 0.0.4. A line is a HELP or
 * TYPE comment or a sample "name{labels} value" whose name starts with
 * the family of the last TYPE line, and each TYPE line appears once. */
START_TEST(metrics_render_format)
{
    regex_t sample, help, type;
    char *text;
    char *copy;
    char family[128] = "";
    char family_type[16] = "";
    size_t lines = 0;

    ck_assert_int_eq(
        regcomp(&sample,
                "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\.)*\",?)*\\})?"
                " [0-9]+(\\.[0-9]+)?$",
                REG_EXTENDED),
        0);
    ck_assert_int_eq(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]+$",
                             REG_EXTENDED),
                     0);
    ck_assert_int_eq(regcomp(&type,
                             "^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                             "(counter|gauge|histogram)$",
                             REG_EXTENDED),
                     0);
    azidt_metrics_admission(AZIDT_METRICS_ROUTE_MUTATE_PODS,
                            AZIDT_METRICS_ALLOWED, 42);
    text = render();
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    copy = strdup(text);
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_msg(regexec(&type, line, 0, NULL, 0) == 0, "%s", line);
            sscanf(line, "# TYPE %127s %15s", family, family_type);
            ck_assert_msg(count_lines(text, line) == 1,
                          "family given more than once: %s", line);
            continue;
        }
        if (strncmp(line, "# ", 2) == 0) {
            ck_assert_msg(regexec(&help, line, 0, NULL, 0) == 0, "%s", line);
            continue;
        }
        ck_assert_msg(regexec(&sample, line, 0, NULL, 0) == 0, "%s", line);
        ck_assert_msg(family[0] && strncmp(line, family, strlen(family)) == 0,
                      "sample outside its family %s: %s", family, line);
    }
    ck_assert_uint_gt(lines, 100);
    free(copy);
    free(text);
    regfree(&sample);
    regfree(&help);
    regfree(&type);
}
END_TEST

START_TEST(metrics_render_help_and_type)
{
    char *text = render();

    ck_assert_ptr_nonnull(
        strstr(text, "# HELP azidt_admission_requests_total "));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE azidt_admission_requests_total counter\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE azidt_admission_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE azidt_leader gauge\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE azidt_worker_queue_depth gauge\n"));
    free(text);
}
END_TEST

START_TEST(metrics_admission_histogram)
{
    const char *name = "azidt_admission_duration_seconds";
    char series[200];
    char *text;

    azidt_metrics_reset();
    /* 1.5 ms lands in le="0.0025", and 40 s lands only in +Inf. */
    azidt_metrics_admission(AZIDT_METRICS_ROUTE_VALIDATE_PODS,
                            AZIDT_METRICS_ALLOWED, 1500);
    azidt_metrics_admission(AZIDT_METRICS_ROUTE_VALIDATE_PODS,
                            AZIDT_METRICS_DENIED, 40000000);
    text = render();

    ck_assert_uint_eq(value_of(text, "azidt_admission_requests_total{route=\""
                                     "/validate/pods\",decision=\"allowed\"}"),
                      1);
    ck_assert_uint_eq(value_of(text, "azidt_admission_requests_total{route=\""
                                     "/validate/pods\",decision=\"denied\"}"),
                      1);
    ck_assert_uint_eq(value_of(text, "azidt_admission_requests_total{route=\""
                                     "/validate/pods\",decision=\"error\"}"),
                      0);
    snprintf(series, sizeof(series),
             "%s_bucket{route=\"/validate/pods\",le=\"0.001\"}", name);
    ck_assert_uint_eq(value_of(text, series), 0);
    snprintf(series, sizeof(series),
             "%s_bucket{route=\"/validate/pods\",le=\"0.0025\"}", name);
    ck_assert_uint_eq(value_of(text, series), 1);
    snprintf(series, sizeof(series),
             "%s_bucket{route=\"/validate/pods\",le=\"30\"}", name);
    ck_assert_uint_eq(value_of(text, series), 1);
    snprintf(series, sizeof(series),
             "%s_bucket{route=\"/validate/pods\",le=\"+Inf\"}", name);
    ck_assert_uint_eq(value_of(text, series), 2);
    snprintf(series, sizeof(series), "%s_sum{route=\"/validate/pods\"}", name);
    ck_assert_str_eq(value_text(text, series), "40.001500");
    snprintf(series, sizeof(series), "%s_count{route=\"/validate/pods\"}",
             name);
    ck_assert_uint_eq(value_of(text, series), 2);
    snprintf(series, sizeof(series), "%s_count{route=\"/mutate/pods\"}", name);
    ck_assert_uint_eq(value_of(text, series), 0);
    free(text);
}
END_TEST

/* A value equal to a bound counts in that bound's bucket (le is <=). */
START_TEST(metrics_bucket_bound_inclusive)
{
    char *text;

    azidt_metrics_reset();
    azidt_metrics_reconcile(true, 100);
    azidt_metrics_reconcile(false, 101);
    text = render();
    ck_assert_uint_eq(
        value_of(text,
                 "azidt_reconcile_duration_seconds_bucket{le=\"0.0001\"}"),
        1);
    ck_assert_uint_eq(
        value_of(text,
                 "azidt_reconcile_duration_seconds_bucket{le=\"0.00025\"}"),
        2);
    ck_assert_str_eq(value_text(text, "azidt_reconcile_duration_seconds_sum"),
                     "0.000201");
    ck_assert_uint_eq(value_of(text, "azidt_reconcile_duration_seconds_count"),
                      2);
    ck_assert_uint_eq(
        value_of(text, "azidt_reconciles_total{result=\"success\"}"), 1);
    ck_assert_uint_eq(
        value_of(text, "azidt_reconciles_total{result=\"failure\"}"), 1);
    free(text);
}
END_TEST

START_TEST(metrics_azure_status_classes)
{
    static const struct {
        long status;
        const char *status_class;
    } cases[] = {
        {0, "transport"}, {200, "2xx"}, {204, "2xx"},
        {301, "other"},   {400, "4xx"}, {404, "4xx"},
        {429, "429"},     {500, "5xx"}, {503, "5xx"},
    };
    char series[200];
    char *text;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        azidt_metrics_reset();
        azidt_metrics_azure_request(AZIDT_METRICS_AZURE_GRAPH, "PATCH",
                                    cases[i].status, 2000);
        text = render();
        snprintf(series, sizeof(series),
                 "azidt_azure_requests_total{service=\"graph\","
                 "method=\"PATCH\",status_class=\"%s\"}",
                 cases[i].status_class);
        ck_assert_msg(value_of(text, series) == 1, "status %ld: %s = %s",
                      cases[i].status, series, value_text(text, series));
        free(text);
    }
}
END_TEST

START_TEST(metrics_azure_method_and_service)
{
    char *text;

    azidt_metrics_reset();
    azidt_metrics_azure_request(AZIDT_METRICS_AZURE_TOKEN, "POST", 200, 3000);
    azidt_metrics_azure_request(AZIDT_METRICS_AZURE_ARM, "BREW", 503, 7000);
    text = render();
    ck_assert_uint_eq(value_of(text, "azidt_azure_requests_total{service=\""
                                     "token\",method=\"POST\",status_class=\""
                                     "2xx\"}"),
                      1);
    ck_assert_uint_eq(value_of(text, "azidt_azure_requests_total{service=\""
                                     "arm\",method=\"other\",status_class=\""
                                     "5xx\"}"),
                      1);
    ck_assert_uint_eq(
        value_of(text, "azidt_azure_request_duration_seconds_count{service="
                       "\"token\"}"),
        1);
    ck_assert_str_eq(
        value_text(text, "azidt_azure_request_duration_seconds_sum{service="
                         "\"arm\"}"),
        "0.007000");
    ck_assert_uint_eq(
        value_of(text, "azidt_azure_request_duration_seconds_count{service="
                       "\"graph\"}"),
        0);
    free(text);
}
END_TEST

START_TEST(metrics_kube_status_classes)
{
    char *text;

    azidt_metrics_reset();
    azidt_metrics_kube_request(200);
    azidt_metrics_kube_request(201);
    azidt_metrics_kube_request(409);
    azidt_metrics_kube_request(0);
    text = render();
    ck_assert_uint_eq(
        value_of(text, "azidt_kubernetes_requests_total{status_class=\"2xx\"}"),
        2);
    ck_assert_uint_eq(
        value_of(text, "azidt_kubernetes_requests_total{status_class=\"4xx\"}"),
        1);
    ck_assert_uint_eq(value_of(text, "azidt_kubernetes_requests_total{"
                                     "status_class=\"transport\"}"),
                      1);
    ck_assert_uint_eq(
        value_of(text, "azidt_kubernetes_requests_total{status_class=\"5xx\"}"),
        0);
    free(text);
}
END_TEST

START_TEST(metrics_counters_and_gauges)
{
    char *text;

    azidt_metrics_reset();
    azidt_metrics_worker_rejected();
    azidt_metrics_set_worker_pool(3, 2);
    azidt_metrics_secret_rotated();
    azidt_metrics_orphan_removed();
    azidt_metrics_orphan_removed();
    azidt_metrics_set_leader(true);
    azidt_metrics_certificate_reload(true);
    azidt_metrics_certificate_reload(false);
    azidt_metrics_certificate_reload(false);
    azidt_metrics_connection_refused();
    azidt_metrics_connection_open(1);
    azidt_metrics_connection_open(1);
    azidt_metrics_connection_open(-1);
    azidt_metrics_client_cert_rejected();
    text = render();
    ck_assert_uint_eq(value_of(text, "azidt_connections_refused_total"), 1);
    ck_assert_uint_eq(value_of(text, "azidt_connections_open"), 1);
    ck_assert_uint_eq(
        value_of(text, "azidt_client_certificate_rejections_total"), 1);
    ck_assert_uint_eq(value_of(text, "azidt_worker_rejections_total"), 1);
    ck_assert_uint_eq(value_of(text, "azidt_worker_queue_depth"), 3);
    ck_assert_uint_eq(value_of(text, "azidt_worker_pool_busy"), 2);
    ck_assert_uint_eq(value_of(text, "azidt_secret_rotations_total"), 1);
    ck_assert_uint_eq(
        value_of(text, "azidt_orphaned_applications_removed_total"), 2);
    ck_assert_uint_eq(value_of(text, "azidt_leader"), 1);
    ck_assert_uint_eq(
        value_of(text, "azidt_certificate_reloads_total{result=\"success\"}"),
        1);
    ck_assert_uint_eq(
        value_of(text, "azidt_certificate_reloads_total{result=\"failure\"}"),
        2);
    free(text);

    azidt_metrics_set_leader(false);
    text = render();
    ck_assert_uint_eq(value_of(text, "azidt_leader"), 0);
    free(text);
}
END_TEST

START_TEST(metrics_build_info_version)
{
    char series[128];
    char *text = render();

    snprintf(series, sizeof(series), "azidt_build_info{version=\"%s\"}",
             AZIDT_PROGRAM_VERSION);
    ck_assert_uint_eq(value_of(text, series), 1);
    free(text);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 8
#define ROUNDS 100000

static void *record_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        azidt_metrics_admission(AZIDT_METRICS_ROUTE_MUTATE_PODS,
                                AZIDT_METRICS_ALLOWED, 7);
        azidt_metrics_kube_request(200);
    }
    return NULL;
}

START_TEST(metrics_concurrent_increments)
{
    pthread_t threads[THREADS];
    char *text;

    azidt_metrics_reset();
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, record_many, NULL),
                         0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    text = render();
    ck_assert_uint_eq(value_of(text, "azidt_admission_requests_total{route=\""
                                     "/mutate/pods\",decision=\"allowed\"}"),
                      THREADS * ROUNDS);
    ck_assert_uint_eq(value_of(text, "azidt_admission_duration_seconds_bucket{"
                                     "route=\"/mutate/pods\",le=\"0.0001\"}"),
                      THREADS * ROUNDS);
    ck_assert_uint_eq(value_of(text, "azidt_admission_duration_seconds_count{"
                                     "route=\"/mutate/pods\"}"),
                      THREADS * ROUNDS);
    /* 800000 observations of 7 us. */
    ck_assert_str_eq(value_text(text, "azidt_admission_duration_seconds_sum{"
                                      "route=\"/mutate/pods\"}"),
                     "5.600000");
    ck_assert_uint_eq(
        value_of(text, "azidt_kubernetes_requests_total{status_class=\"2xx\"}"),
        THREADS * ROUNDS);
    free(text);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, metrics_bucket_index_bounds);
    tcase_add_test(tc, metrics_route_of_paths);
    tcase_add_test(tc, metrics_decision_of_codes);
    tcase_add_test(tc, metrics_render_format);
    tcase_add_test(tc, metrics_render_help_and_type);
    tcase_add_test(tc, metrics_admission_histogram);
    tcase_add_test(tc, metrics_bucket_bound_inclusive);
    tcase_add_test(tc, metrics_azure_status_classes);
    tcase_add_test(tc, metrics_azure_method_and_service);
    tcase_add_test(tc, metrics_kube_status_classes);
    tcase_add_test(tc, metrics_counters_and_gauges);
    tcase_add_test(tc, metrics_build_info_version);
    tcase_add_test(tc, metrics_concurrent_increments);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
