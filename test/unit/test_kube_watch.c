#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/kube_watch.h"

struct collected {
    char text[4096];
    int lines;
    int stop_after;
};

/* Join lines with '|' so one string shows both content and boundaries. */
static bool collect_cb(char *line, size_t len, void *ctx)
{
    struct collected *c = ctx;

    ck_assert_uint_eq(strlen(line), len);
    if (c->lines > 0)
        strcat(c->text, "|");
    strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
    c->lines++;
    return c->stop_after == 0 || c->lines < c->stop_after;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"b\":\"x\\ny\"}}\r\n"
    "\n"
    "{\"type\":\"DELETED\",\"object\":{}}\n";
static const char expected[] =
    "{\"type\":\"ADDED\",\"object\":{\"a\":1}}|"
    "{\"type\":\"MODIFIED\",\"object\":{\"b\":\"x\\ny\"}}|"
    "{\"type\":\"DELETED\",\"object\":{}}";

/* Feed the stream in chunks of every size from 1 byte to all of it. */
START_TEST(ndjson_any_chunk_size)
{
    size_t chunk = (size_t)_i;
    size_t total = strlen(stream);
    struct azidt_ndjson s;
    struct collected c = {.lines = 0};

    azidt_ndjson_init(&s, 1024);
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;

        ck_assert_int_eq(azidt_ndjson_feed(&s, stream + off, n, collect_cb, &c),
                         AZIDT_OK);
    }
    ck_assert_int_eq(c.lines, 3);
    ck_assert_str_eq(c.text, expected);
    azidt_ndjson_free(&s);
}
END_TEST

/* Split at every single position into two chunks. */
START_TEST(ndjson_two_chunks)
{
    size_t cut = (size_t)_i;
    size_t total = strlen(stream);
    struct azidt_ndjson s;
    struct collected c = {.lines = 0};

    azidt_ndjson_init(&s, 1024);
    ck_assert_int_eq(azidt_ndjson_feed(&s, stream, cut, collect_cb, &c),
                     AZIDT_OK);
    ck_assert_int_eq(
        azidt_ndjson_feed(&s, stream + cut, total - cut, collect_cb, &c),
        AZIDT_OK);
    ck_assert_str_eq(c.text, expected);
    azidt_ndjson_free(&s);
}
END_TEST

START_TEST(ndjson_partial_line_waits)
{
    struct azidt_ndjson s;
    struct collected c = {.lines = 0};

    azidt_ndjson_init(&s, 1024);
    ck_assert_int_eq(azidt_ndjson_feed(&s, "{\"a\":", 5, collect_cb, &c),
                     AZIDT_OK);
    ck_assert_int_eq(c.lines, 0);
    azidt_ndjson_reset(&s);
    ck_assert_int_eq(azidt_ndjson_feed(&s, "{}\n", 3, collect_cb, &c),
                     AZIDT_OK);
    ck_assert_str_eq(c.text, "{}");
    azidt_ndjson_free(&s);
}
END_TEST

START_TEST(ndjson_caps_line)
{
    struct azidt_ndjson s;
    struct collected c = {.lines = 0};
    char big[40];

    memset(big, 'x', sizeof(big));
    azidt_ndjson_init(&s, 32);
    ck_assert_int_eq(azidt_ndjson_feed(&s, big, 20, collect_cb, &c), AZIDT_OK);
    ck_assert_int_eq(azidt_ndjson_feed(&s, big, 20, collect_cb, &c),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(azidt_ndjson_feed(&s, "\n", 1, collect_cb, &c),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(c.lines, 0);
    azidt_ndjson_reset(&s);
    ck_assert_int_eq(azidt_ndjson_feed(&s, "ok\n", 3, collect_cb, &c),
                     AZIDT_OK);
    ck_assert_int_eq(c.lines, 1);
    azidt_ndjson_free(&s);
}
END_TEST

START_TEST(ndjson_line_at_cap)
{
    struct azidt_ndjson s;
    struct collected c = {.lines = 0};
    char line[33];

    memset(line, 'y', 32);
    line[32] = '\n';
    azidt_ndjson_init(&s, 32);
    ck_assert_int_eq(azidt_ndjson_feed(&s, line, 33, collect_cb, &c), AZIDT_OK);
    ck_assert_int_eq(c.lines, 1);
    azidt_ndjson_free(&s);
}
END_TEST

START_TEST(ndjson_callback_stops)
{
    struct azidt_ndjson s;
    struct collected c = {.stop_after = 1};

    azidt_ndjson_init(&s, 1024);
    ck_assert_int_eq(azidt_ndjson_feed(&s, "a\nb\n", 4, collect_cb, &c),
                     AZIDT_ERR_INTERNAL);
    ck_assert_str_eq(c.text, "a");
    azidt_ndjson_free(&s);
}
END_TEST

START_TEST(event_type_names)
{
    ck_assert_str_eq(azidt_kube_event_type_name(AZIDT_KUBE_ADDED), "ADDED");
    ck_assert_str_eq(azidt_kube_event_type_name(AZIDT_KUBE_MODIFIED),
                     "MODIFIED");
    ck_assert_str_eq(azidt_kube_event_type_name(AZIDT_KUBE_DELETED), "DELETED");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kube_watch");
    TCase *tc = tcase_create("kube_watch");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, ndjson_any_chunk_size, 1, (int)sizeof(stream));
    tcase_add_loop_test(tc, ndjson_two_chunks, 0, (int)sizeof(stream));
    tcase_add_test(tc, ndjson_partial_line_waits);
    tcase_add_test(tc, ndjson_caps_line);
    tcase_add_test(tc, ndjson_line_at_cap);
    tcase_add_test(tc, ndjson_callback_stops);
    tcase_add_test(tc, event_type_names);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
