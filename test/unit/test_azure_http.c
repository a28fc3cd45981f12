#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/azure_http.h"

/* Wed, 21 Oct 2015 07:28:00 GMT as Unix epoch milliseconds. */
#define DATE_MS 1445412480000LL

static const struct {
    const char *value;
    int64_t now_wall_ms;
    int64_t expected;
} retry_after_cases[] = {
    {"5", 0, 5000},
    {"0", 0, 0},
    {" 120", 0, 120000},
    {"30\r\n", 0, 30000},
    {"3600", 0, 3600000},
    {"", 0, -1},
    {"abc", 0, -1},
    {"-3", 0, -1},
    {"1.5", 0, -1},
    {"5 s", 0, -1},
    {"99999999999999999999", 0, -1},
    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS - 10000, 10000},
    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS + 5000, 0},
    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS, 0},
};

START_TEST(retry_after_parse)
{
    ck_assert_int_eq(
        azidt_azure_parse_retry_after(retry_after_cases[_i].value,
                                      retry_after_cases[_i].now_wall_ms),
        retry_after_cases[_i].expected);
}
END_TEST

START_TEST(retry_after_null)
{
    ck_assert_int_eq(azidt_azure_parse_retry_after(NULL, 0), -1);
}
END_TEST

static const double jitters[] = {0.0, 0.25, 0.5, 0.75, 0.9999};

/* Every retry's delay stays within +-20 % of min(60 s, 1 s * 2^n). */
START_TEST(backoff_bounds)
{
    for (unsigned retry = 0; retry < 40; retry++) {
        int64_t base = retry < 6 ? (int64_t)1000 << retry : 60000;

        if (base > AZIDT_AZURE_MAX_DELAY_MS)
            base = AZIDT_AZURE_MAX_DELAY_MS;
        for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
            int64_t delay = azidt_azure_backoff_ms(retry, jitters[j]);

            ck_assert_int_ge(delay, base * 8 / 10);
            ck_assert_int_le(delay, base * 12 / 10);
        }
    }
}
END_TEST

START_TEST(backoff_grows)
{
    ck_assert_int_eq(azidt_azure_backoff_ms(0, 0.5), 1000);
    ck_assert_int_eq(azidt_azure_backoff_ms(1, 0.5), 2000);
    ck_assert_int_eq(azidt_azure_backoff_ms(3, 0.5), 8000);
    ck_assert_int_eq(azidt_azure_backoff_ms(6, 0.5), 60000);
    ck_assert_int_eq(azidt_azure_backoff_ms(1000, 0.5), 60000);
}
END_TEST

START_TEST(backoff_jitter_spread)
{
    ck_assert_int_eq(azidt_azure_backoff_ms(0, 0.0), 800);
    ck_assert_int_lt(azidt_azure_backoff_ms(0, 0.0),
                     azidt_azure_backoff_ms(0, 0.9));
}
END_TEST

START_TEST(backoff_bad_jitter)
{
    ck_assert_int_eq(azidt_azure_backoff_ms(0, -1.0), 1000);
    ck_assert_int_eq(azidt_azure_backoff_ms(0, 1.0), 1000);
}
END_TEST

static const struct {
    const char *text;
    const char *expected;
} escape_cases[] = {
    {"abcXYZ019-._~", "abcXYZ019-._~"},
    {"a b", "a%20b"},
    {"o'brien", "o%27brien"},
    {"https://graph.microsoft.com/.default",
     "https%3A%2F%2Fgraph.microsoft.com%2F.default"},
    {"a+b&c=d", "a%2Bb%26c%3Dd"},
    {"\xc3\xa9", "%C3%A9"},
    {"", ""},
};

START_TEST(url_escape_cases)
{
    char out[128];
    size_t n = azidt_azure_url_escape(escape_cases[_i].text, out, sizeof(out));

    ck_assert_str_eq(out, escape_cases[_i].expected);
    ck_assert_uint_eq(n, strlen(escape_cases[_i].expected));
}
END_TEST

START_TEST(url_escape_truncates)
{
    char out[4];
    size_t n = azidt_azure_url_escape("a b c", out, sizeof(out));

    ck_assert_uint_eq(n, strlen("a%20b%20c"));
    ck_assert_uint_lt(strlen(out), sizeof(out));
}
END_TEST

START_TEST(url_escape_measures)
{
    ck_assert_uint_eq(azidt_azure_url_escape("x y", NULL, 0), 5);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("azure_http");
    TCase *tc = tcase_create("azure_http");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, retry_after_parse, 0,
                        sizeof(retry_after_cases) /
                            sizeof(retry_after_cases[0]));
    tcase_add_test(tc, retry_after_null);
    tcase_add_test(tc, backoff_bounds);
    tcase_add_test(tc, backoff_grows);
    tcase_add_test(tc, backoff_jitter_spread);
    tcase_add_test(tc, backoff_bad_jitter);
    tcase_add_loop_test(tc, url_escape_cases, 0,
                        sizeof(escape_cases) / sizeof(escape_cases[0]));
    tcase_add_test(tc, url_escape_truncates);
    tcase_add_test(tc, url_escape_measures);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
