#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azidt/log.h"

/* Run one log call with output captured in a pipe; return the line. */
static char *capture(void (*emit)(void))
{
    int fds[2];
    static char buf[20000];
    ssize_t n;

    ck_assert_int_eq(pipe(fds), 0);
    azidt_log_set_fd(fds[1]);
    emit();
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    azidt_log_set_fd(STDERR_FILENO);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void emit_escaped(void)
{
    AZIDT_LOG_INFO("admitted", "name", "a\"b\\c\nd", "empty", NULL);
}

START_TEST(log_escapes_values)
{
    char *line = capture(emit_escaped);

    ck_assert_ptr_nonnull(strstr(line, "\"msg\":\"admitted\""));
    ck_assert_ptr_nonnull(strstr(line, "\"name\":\"a\\\"b\\\\c\\u000ad\""));
    ck_assert_ptr_nonnull(strstr(line, "\"empty\":null"));
    ck_assert_int_eq(line[strlen(line) - 1], '\n');
}
END_TEST

static void emit_debug(void)
{
    AZIDT_LOG_DEBUG("hidden");
}

START_TEST(log_skips_below_level)
{
    azidt_log_set_level(AZIDT_LOG_INFO);
    ck_assert_str_eq(capture(emit_debug), "");
}
END_TEST

static void emit_long(void)
{
    static char value[4000];

    memset(value, 'x', sizeof(value) - 1);
    AZIDT_LOG_WARN("long", "value", value);
}

START_TEST(log_caps_long_values)
{
    char *line = capture(emit_long);

    ck_assert_ptr_nonnull(strstr(line, "...\""));
    ck_assert_uint_lt(strlen(line), AZIDT_LOG_VALUE_MAX + 200);
}
END_TEST

START_TEST(log_parses_levels)
{
    enum azidt_log_level level = AZIDT_LOG_INFO;

    ck_assert_int_eq(azidt_log_parse_level("debug", &level), AZIDT_OK);
    ck_assert_int_eq(level, AZIDT_LOG_DEBUG);
    ck_assert_int_eq(azidt_log_parse_level("verbose", &level),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(level, AZIDT_LOG_DEBUG);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("log");
    TCase *tc = tcase_create("log");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, log_escapes_values);
    tcase_add_test(tc, log_skips_below_level);
    tcase_add_test(tc, log_caps_long_values);
    tcase_add_test(tc, log_parses_levels);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
