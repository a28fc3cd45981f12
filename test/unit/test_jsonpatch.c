#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/jsonpatch.h"

static const struct {
    const char *tokens[3];
    size_t count;
    const char *pointer;
} pointers[] = {
    {{"metadata", "labels", "azidterminator.io/identity"},
     3,
     "/metadata/labels/azidterminator.io~1identity"},
    {{"metadata", "finalizers", "-"}, 3, "/metadata/finalizers/-"},
    {{"a~b"}, 1, "/a~0b"},
    {{"~/"}, 1, "/~0~1"},
    {{"~1"}, 1, "/~01"},
    {{""}, 1, "/"},
    {{NULL}, 0, ""},
};

START_TEST(jsonpatch_pointer_escapes)
{
    char buf[128];

    ck_assert_int_eq(azidt_jsonpatch_pointer(buf, sizeof(buf),
                                             pointers[_i].tokens,
                                             pointers[_i].count),
                     AZIDT_OK);
    ck_assert_str_eq(buf, pointers[_i].pointer);
}
END_TEST

START_TEST(jsonpatch_pointer_too_long)
{
    static const char *const tokens[] = {"metadata", "a/b"};
    char buf[13]; /* "/metadata/a~1b" needs 15 */

    ck_assert_int_eq(azidt_jsonpatch_pointer(buf, sizeof(buf), tokens, 2),
                     AZIDT_ERR_INVALID);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(jsonpatch_pointer_exact_fit)
{
    static const char *const tokens[] = {"a/b"};
    char buf[6]; /* "/a~1b" and the NUL */

    ck_assert_int_eq(azidt_jsonpatch_pointer(buf, sizeof(buf), tokens, 1),
                     AZIDT_OK);
    ck_assert_str_eq(buf, "/a~1b");
}
END_TEST

static char *print_patch(void (*build)(cJSON *))
{
    cJSON *patch = azidt_jsonpatch_new();
    char *text;

    ck_assert_ptr_nonnull(patch);
    build(patch);
    text = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    return text;
}

static void build_ops(cJSON *patch)
{
    ck_assert_int_eq(azidt_jsonpatch_add(patch, "/metadata/finalizers/-",
                                         cJSON_CreateString("x/y")),
                     AZIDT_OK);
    ck_assert_int_eq(
        azidt_jsonpatch_replace(patch, "/spec/a", cJSON_CreateNumber(1)),
        AZIDT_OK);
    ck_assert_int_eq(azidt_jsonpatch_remove(patch, "/spec/b"), AZIDT_OK);
}

START_TEST(jsonpatch_builds_operations)
{
    char *text = print_patch(build_ops);

    ck_assert_str_eq(text,
                     "[{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\","
                     "\"value\":\"x/y\"},"
                     "{\"op\":\"replace\",\"path\":\"/spec/a\",\"value\":1},"
                     "{\"op\":\"remove\",\"path\":\"/spec/b\"}]");
    free(text);
}
END_TEST

START_TEST(jsonpatch_rejects_null_value)
{
    cJSON *patch = azidt_jsonpatch_new();

    ck_assert_int_eq(azidt_jsonpatch_add(patch, "/a", NULL), AZIDT_ERR_INVALID);
    ck_assert_int_eq(cJSON_GetArraySize(patch), 0);
    cJSON_Delete(patch);
}
END_TEST

START_TEST(jsonpatch_rejects_null_path)
{
    cJSON *patch = azidt_jsonpatch_new();

    /* The value is consumed even on failure, so ASan reports no leak. */
    ck_assert_int_eq(
        azidt_jsonpatch_replace(patch, NULL, cJSON_CreateString("v")),
        AZIDT_ERR_INVALID);
    ck_assert_int_eq(azidt_jsonpatch_remove(NULL, "/a"), AZIDT_ERR_INVALID);
    cJSON_Delete(patch);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("jsonpatch");
    TCase *tc = tcase_create("jsonpatch");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, jsonpatch_pointer_escapes, 0, COUNT(pointers));
    tcase_add_test(tc, jsonpatch_pointer_too_long);
    tcase_add_test(tc, jsonpatch_pointer_exact_fit);
    tcase_add_test(tc, jsonpatch_builds_operations);
    tcase_add_test(tc, jsonpatch_rejects_null_value);
    tcase_add_test(tc, jsonpatch_rejects_null_path);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
