#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/duration.h"

#define NS 1LL
#define US (1000 * NS)
#define MS (1000 * US)
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

static const struct {
    const char *text;
    int64_t ns;
} valid[] = {
    {"720h", 720 * HOUR},
    {"90m", 90 * MIN},
    {"1h30m", HOUR + 30 * MIN},
    {"2h45m30s", 2 * HOUR + 45 * MIN + 30 * SEC},
    {"1.5h", HOUR + 30 * MIN},
    {".5h", 30 * MIN},
    {"1.h", HOUR},
    {"17520h", 17520 * HOUR},
    {"300ms", 300 * MS},
    {"1us", US},
    {"1\xc2\xb5s", US},
    {"1\xce\xbcs", US},
    {"10ns", 10},
    {"1.000000001s", SEC + 1},
    {"+5m", 5 * MIN},
    {"1h1h", 2 * HOUR},
    {"0", 0},
    {"-0", 0},
    {"0s", 0},
    {"-1h", -HOUR},
    {"9223372036854775807ns", INT64_MAX},
    {"2562047h47m16.854775807s", INT64_MAX},
    {"-9223372036854775808ns", INT64_MIN},
};

START_TEST(duration_parses_valid)
{
    int64_t ns = 42;
    char err[128] = "";

    ck_assert_msg(azidt_duration_parse(valid[_i].text, &ns, err, sizeof(err)) ==
                      AZIDT_OK,
                  "%s: %s", valid[_i].text, err);
    ck_assert_int_eq(ns, valid[_i].ns);
}
END_TEST

static const struct {
    const char *text;
    const char *reason;
} invalid[] = {
    {"", "empty duration"},
    {"+", "empty duration"},
    {"-", "empty duration"},
    {"30d", "unknown unit \"d\""},
    {"1", "missing unit"},
    {"1.5", "missing unit"},
    {"h", "expected a number"},
    {".h", "expected a digit around '.'"},
    {"1hh", "unknown unit \"hh\""},
    {"1h-30m", "unknown unit \"h-\""},
    {" 1h", "expected a number"},
    {"1h ", "unknown unit"},
    {"1 h", "unknown unit"},
    {"1H", "unknown unit \"H\""},
    {"P1D", "expected a number"},
    {"9223372036854775808ns", "value out of range"},
    {"2562048h", "value out of range"},
    {"99999999999999999999h", "value out of range"},
    {"2562047h47m16.854775808s", "value out of range"},
    {"5000000h5000000h", "value out of range"},
};

START_TEST(duration_rejects_invalid)
{
    int64_t ns = 42;
    char err[128] = "";

    ck_assert_int_eq(
        azidt_duration_parse(invalid[_i].text, &ns, err, sizeof(err)),
        AZIDT_ERR_INVALID);
    ck_assert_int_eq(ns, 42);
    ck_assert_msg(strstr(err, invalid[_i].reason) != NULL,
                  "%s: got reason \"%s\"", invalid[_i].text, err);
}
END_TEST

static const struct {
    const char *text;
    const char *reason;
} not_positive[] = {
    {"0", "duration is zero"},        {"0s", "duration is zero"},
    {"0h0m", "duration is zero"},     {"-1h", "duration is negative"},
    {"-1ns", "duration is negative"}, {"30d", "unknown unit \"d\""},
};

START_TEST(duration_positive_rejects)
{
    int64_t ns = 42;
    char err[128] = "";

    ck_assert_int_eq(azidt_duration_parse_positive(not_positive[_i].text, &ns,
                                                   err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(ns, 42);
    ck_assert_str_eq(err, not_positive[_i].reason);
}
END_TEST

START_TEST(duration_positive_accepts)
{
    int64_t ns = 0;

    ck_assert_int_eq(azidt_duration_parse_positive("1ns", &ns, NULL, 0),
                     AZIDT_OK);
    ck_assert_int_eq(ns, 1);
}
END_TEST

START_TEST(duration_null_is_invalid)
{
    int64_t ns = 0;

    ck_assert_int_eq(azidt_duration_parse(NULL, &ns, NULL, 0),
                     AZIDT_ERR_INVALID);
}
END_TEST

static const struct {
    int64_t ns;
    const char *text;
} formats[] = {
    {0, "0s"},
    {5, "5ns"},
    {1500, "1.5\xc2\xb5s"},
    {90 * MS, "90ms"},
    {SEC + 500 * MS, "1.5s"},
    {HOUR, "1h0m0s"},
    {90 * MIN, "1h30m0s"},
    {720 * HOUR, "720h0m0s"},
    {17520 * HOUR, "17520h0m0s"},
    {-HOUR, "-1h0m0s"},
    {INT64_MAX, "2562047h47m16.854775807s"},
    {INT64_MIN, "-2562047h47m16.854775808s"},
};

START_TEST(duration_formats_like_go)
{
    char buf[AZIDT_DURATION_TEXT_MAX];

    ck_assert_str_eq(azidt_duration_format(formats[_i].ns, buf, sizeof(buf)),
                     formats[_i].text);
}
END_TEST

START_TEST(duration_format_round_trips)
{
    char buf[AZIDT_DURATION_TEXT_MAX];
    int64_t ns = 0;

    azidt_duration_format(formats[_i].ns, buf, sizeof(buf));
    ck_assert_int_eq(azidt_duration_parse(buf, &ns, NULL, 0), AZIDT_OK);
    ck_assert_int_eq(ns, formats[_i].ns);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("duration");
    TCase *tc = tcase_create("duration");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, duration_parses_valid, 0, COUNT(valid));
    tcase_add_loop_test(tc, duration_rejects_invalid, 0, COUNT(invalid));
    tcase_add_loop_test(tc, duration_positive_rejects, 0, COUNT(not_positive));
    tcase_add_test(tc, duration_positive_accepts);
    tcase_add_test(tc, duration_null_is_invalid);
    tcase_add_loop_test(tc, duration_formats_like_go, 0, COUNT(formats));
    tcase_add_loop_test(tc, duration_format_round_trips, 0, COUNT(formats));
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
