#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/server.h"

static const struct {
    const char *text;
    int64_t ms; /* -1 when invalid */
} timeout_cases[] = {
    {NULL, 7000}, {"", 7000},     {"10s", 10000}, {"30s", 30000},
    {"1s", 1000}, {"500ms", 500}, {"31s", -1},    {"0s", -1},
    {"10", -1},   {"-5s", -1},    {"abc", -1},    {"1m", -1},
};

START_TEST(server_parses_timeout)
{
    int64_t ms = -7;
    azidt_err rc =
        azidt_server_parse_timeout(timeout_cases[_i].text, 7000, &ms);

    if (timeout_cases[_i].ms < 0) {
        ck_assert_int_eq(rc, AZIDT_ERR_INVALID);
        ck_assert_int_eq(ms, -7);
    } else {
        ck_assert_int_eq(rc, AZIDT_OK);
        ck_assert_int_eq(ms, timeout_cases[_i].ms);
    }
}
END_TEST

static const struct {
    int64_t timeout_ms;
    int64_t expected; /* deadline for an arrival at 1000 */
} deadline_cases[] = {
    {10000, 10000},               /* margin capped at 1 s */
    {30000, 30000}, {2000, 2600}, /* margin is a fifth of short timeouts */
    {1000, 1800},   {5000, 5000},
};

START_TEST(server_deadline_keeps_margin)
{
    ck_assert_int_eq(azidt_server_deadline(1000, deadline_cases[_i].timeout_ms),
                     deadline_cases[_i].expected);
}
END_TEST

static const struct {
    const char *value;
    bool json;
} content_type_cases[] = {
    {"application/json", true},
    {"Application/JSON", true},
    {"application/json; charset=utf-8", true},
    {"application/json;charset=UTF-8", true},
    {" application/json ", true},
    {NULL, false},
    {"", false},
    {"text/plain", false},
    {"application/jsonx", false},
    {"application/json-patch+json", false},
    {"application/x-www-form-urlencoded", false},
};

START_TEST(server_checks_content_type)
{
    ck_assert_msg(
        azidt_server_is_json_content_type(content_type_cases[_i].value) ==
            content_type_cases[_i].json,
        "content type \"%s\"",
        content_type_cases[_i].value ? content_type_cases[_i].value : "(null)");
}
END_TEST

static void noop_handler(void *ctx, const struct azidt_admission_request *req,
                         struct azidt_admission_response *resp)
{
    (void)ctx;
    (void)req;
    (void)resp;
}

/* A server with two routes; nothing is started. */
static struct azidt_server *make_server(void)
{
    struct azidt_config cfg;
    struct azidt_server *server = NULL;
    struct azidt_route pods = {"/mutate/pods", "",   "Pod",
                               noop_handler,   NULL, NULL};
    struct azidt_route azidt = {"/validate/azureidentityterminators",
                                "azidterminator.io",
                                "AzureIdentityTerminator",
                                noop_handler,
                                NULL,
                                NULL};

    ck_assert_int_eq(azidt_config_init(&cfg), AZIDT_OK);
    ck_assert_int_eq(azidt_server_create(&cfg.server, NULL, &server), AZIDT_OK);
    azidt_config_free(&cfg);
    ck_assert_int_eq(azidt_server_add_route(server, &pods), AZIDT_OK);
    ck_assert_int_eq(azidt_server_add_route(server, &azidt), AZIDT_OK);
    return server;
}

START_TEST(server_finds_route)
{
    struct azidt_server *server = make_server();
    const struct azidt_route *route;

    route = azidt_server_find_route(server, "/mutate/pods");
    ck_assert_ptr_nonnull(route);
    ck_assert_str_eq(route->kind, "Pod");
    route =
        azidt_server_find_route(server, "/validate/azureidentityterminators");
    ck_assert_ptr_nonnull(route);
    ck_assert_str_eq(route->kind, "AzureIdentityTerminator");
    ck_assert_ptr_null(azidt_server_find_route(server, "/mutate/pods/"));
    ck_assert_ptr_null(azidt_server_find_route(server, "/mutate"));
    ck_assert_ptr_null(azidt_server_find_route(server, "/MUTATE/PODS"));
    ck_assert_ptr_null(azidt_server_find_route(server, ""));
    azidt_server_destroy(server);
}
END_TEST

START_TEST(server_rejects_duplicate_route)
{
    struct azidt_server *server = make_server();
    struct azidt_route again = {"/mutate/pods", NULL, NULL,
                                noop_handler,   NULL, NULL};
    struct azidt_route no_handler = {"/other", NULL, NULL, NULL, NULL, NULL};

    ck_assert_int_eq(azidt_server_add_route(server, &again), AZIDT_ERR_INVALID);
    ck_assert_int_eq(azidt_server_add_route(server, &no_handler),
                     AZIDT_ERR_INVALID);
    azidt_server_destroy(server);
}
END_TEST

static bool never_ready(void *ctx, char *why, size_t len)
{
    (void)ctx;
    snprintf(why, len, "cache not synced");
    return false;
}

START_TEST(server_ready_check_table_fills)
{
    struct azidt_server *server = make_server();
    int added = 0;

    while (azidt_server_add_ready_check(server, "cache", never_ready, NULL) ==
           AZIDT_OK)
        added++;
    /* "certificate" and "listener" are registered by the server itself. */
    ck_assert_int_eq(added, AZIDT_MAX_READY_CHECKS - 2);
    azidt_server_destroy(server);
}
END_TEST

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

int main(void)
{
    Suite *suite = suite_create("server");
    TCase *tc = tcase_create("server");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, server_parses_timeout, 0, COUNT(timeout_cases));
    tcase_add_loop_test(tc, server_deadline_keeps_margin, 0,
                        COUNT(deadline_cases));
    tcase_add_loop_test(tc, server_checks_content_type, 0,
                        COUNT(content_type_cases));
    tcase_add_test(tc, server_finds_route);
    tcase_add_test(tc, server_rejects_duplicate_route);
    tcase_add_test(tc, server_ready_check_table_fills);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
