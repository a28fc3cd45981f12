#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/graph.h"

#define GRAPH "https://graph.microsoft.com"

static const struct {
    const char *value;
    const char *expected;
} quote_cases[] = {
    {"plain", "plain"}, {"o'brien", "o''brien"},
    {"''", "''''"},     {"a'b'c", "a''b''c"},
    {"", ""},
};

START_TEST(odata_quote_cases)
{
    char out[64];
    size_t n = azidt_graph_odata_quote(quote_cases[_i].value, out, sizeof(out));

    ck_assert_str_eq(out, quote_cases[_i].expected);
    ck_assert_uint_eq(n, strlen(quote_cases[_i].expected));
}
END_TEST

START_TEST(odata_quote_truncates)
{
    char out[4];
    size_t n = azidt_graph_odata_quote("a'b'c", out, sizeof(out));

    ck_assert_uint_eq(n, 7);
    ck_assert_uint_eq(strlen(out), 3);
}
END_TEST

static const struct {
    enum azidt_graph_app_key key;
    const char *value;
    const char *expected;
} app_url_cases[] = {
    {AZIDT_GRAPH_KEY_ID, "0b1c2d3e-0000-4000-8000-000000000001",
     GRAPH "/v1.0/applications/0b1c2d3e-0000-4000-8000-000000000001"},
    {AZIDT_GRAPH_KEY_APP_ID, "0b1c2d3e-0000-4000-8000-000000000002",
     GRAPH "/v1.0/applications(appId='0b1c2d3e-0000-4000-8000-000000000002')"},
    {AZIDT_GRAPH_KEY_UNIQUE_NAME, "azidt-0123456789abcdef",
     GRAPH "/v1.0/applications(uniqueName='azidt-0123456789abcdef')"},
    {AZIDT_GRAPH_KEY_UNIQUE_NAME, "it's",
     GRAPH "/v1.0/applications(uniqueName='it%27%27s')"},
    {AZIDT_GRAPH_KEY_ID, "a/../b", GRAPH "/v1.0/applications/a%2F..%2Fb"},
};

START_TEST(app_url_cases_built)
{
    char url[512];

    ck_assert_int_eq(azidt_graph_app_url(GRAPH, app_url_cases[_i].key,
                                         app_url_cases[_i].value, url,
                                         sizeof(url)),
                     AZIDT_OK);
    ck_assert_str_eq(url, app_url_cases[_i].expected);
}
END_TEST

START_TEST(app_url_too_long)
{
    char url[40];

    ck_assert_int_eq(azidt_graph_app_url(GRAPH, AZIDT_GRAPH_KEY_ID,
                                         "0b1c2d3e-0000-4000-8000-0000000001",
                                         url, sizeof(url)),
                     AZIDT_ERR_INVALID);
}
END_TEST

START_TEST(list_by_tag_url_quoted)
{
    char url[1024];

    ck_assert_int_eq(azidt_graph_list_by_tag_url(
                         GRAPH, "azidterminator.io:managed", url, sizeof(url)),
                     AZIDT_OK);
    ck_assert_str_eq(url, GRAPH "/v1.0/applications?$filter="
                                "tags%2Fany%28t%3At%20eq%20%27"
                                "azidterminator.io%3Amanaged%27%29"
                                "&$top=999");
}
END_TEST

START_TEST(list_by_tag_url_doubles_quote)
{
    char url[1024];

    ck_assert_int_eq(
        azidt_graph_list_by_tag_url(GRAPH, "o'x", url, sizeof(url)), AZIDT_OK);
    ck_assert_ptr_nonnull(strstr(url, "%27o%27%27x%27"));
}
END_TEST

START_TEST(password_clear_wipes)
{
    struct azidt_graph_password password = {0};

    password.secret_text = strdup("secret-value");
    strcpy(password.key_id, "k");
    azidt_graph_password_clear(&password);
    ck_assert_ptr_null(password.secret_text);
    ck_assert_str_eq(password.key_id, "");
    azidt_graph_password_clear(NULL);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("graph");
    TCase *tc = tcase_create("graph");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, odata_quote_cases, 0,
                        sizeof(quote_cases) / sizeof(quote_cases[0]));
    tcase_add_test(tc, odata_quote_truncates);
    tcase_add_loop_test(tc, app_url_cases_built, 0,
                        sizeof(app_url_cases) / sizeof(app_url_cases[0]));
    tcase_add_test(tc, app_url_too_long);
    tcase_add_test(tc, list_by_tag_url_quoted);
    tcase_add_test(tc, list_by_tag_url_doubles_quote);
    tcase_add_test(tc, password_clear_wipes);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
