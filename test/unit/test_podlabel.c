#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/constants.h"
#include "azidt/podlabel.h"
#include "testutil.h"

/* Each row: a pod, the selector, the expected patch (NULL for none) and
 * whether an existing different value is overwritten. */
static const struct {
    const char *pod;
    const char *patch;
    bool replaced;
} cases[] = {
    {"{\"metadata\":{\"name\":\"p\"}}",
     "[{\"op\":\"add\",\"path\":\"/metadata/labels\","
     "\"value\":{\"aadpodidbinding\":\"kv-pods\"}}]",
     false},
    {"{\"metadata\":{\"labels\":null}}",
     "[{\"op\":\"add\",\"path\":\"/metadata/labels\","
     "\"value\":{\"aadpodidbinding\":\"kv-pods\"}}]",
     false},
    {"{\"spec\":{}}",
     "[{\"op\":\"add\",\"path\":\"/metadata\","
     "\"value\":{\"labels\":{\"aadpodidbinding\":\"kv-pods\"}}}]",
     false},
    {"{\"metadata\":{\"labels\":{\"azidterminator.io/identity\":\"kv\"}}}",
     "[{\"op\":\"add\",\"path\":\"/metadata/labels/aadpodidbinding\","
     "\"value\":\"kv-pods\"}]",
     false},
    {"{\"metadata\":{\"labels\":{\"aadpodidbinding\":\"other\"}}}",
     "[{\"op\":\"replace\",\"path\":\"/metadata/labels/aadpodidbinding\","
     "\"value\":\"kv-pods\"}]",
     true},
    {"{\"metadata\":{\"labels\":{\"aadpodidbinding\":\"kv-pods\"}}}", NULL,
     false},
};

START_TEST(podlabel_builds_patch)
{
    cJSON *pod = cJSON_Parse(cases[_i].pod), *patch = (void *)1;
    bool replaced = !cases[_i].replaced;
    char *text = NULL;

    ck_assert_int_eq(
        azidt_podlabel_binding_patch(pod, "kv-pods", &patch, &replaced),
        AZIDT_OK);
    ck_assert_int_eq(replaced, cases[_i].replaced);
    if (!cases[_i].patch) {
        ck_assert_ptr_null(patch);
    } else {
        text = cJSON_PrintUnformatted(patch);
        ck_assert_str_eq(text, cases[_i].patch);
    }
    free(text);
    cJSON_Delete(patch);
    cJSON_Delete(pod);
}
END_TEST

START_TEST(podlabel_patch_is_idempotent)
{
    cJSON *pod = cJSON_Parse(cases[_i].pod), *patch = NULL;
    bool replaced;

    ck_assert_int_eq(
        azidt_podlabel_binding_patch(pod, "kv-pods", &patch, &replaced),
        AZIDT_OK);
    ck_assert(test_patch_apply(pod, patch));
    cJSON_Delete(patch);
    patch = (void *)1;
    ck_assert_int_eq(
        azidt_podlabel_binding_patch(pod, "kv-pods", &patch, &replaced),
        AZIDT_OK);
    ck_assert_ptr_null(patch);
    ck_assert_str_eq(azidt_podlabel_get(pod, AAD_POD_BINDING_LABEL), "kv-pods");
    cJSON_Delete(pod);
}
END_TEST

START_TEST(podlabel_keeps_other_labels)
{
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"labels\":{\"app\":\"web\","
                             "\"azidterminator.io/identity\":\"kv\"}}}");
    cJSON *patch = NULL;
    bool replaced;

    azidt_podlabel_binding_patch(pod, "kv-pods", &patch, &replaced);
    ck_assert(test_patch_apply(pod, patch));
    ck_assert_str_eq(azidt_podlabel_get(pod, "app"), "web");
    ck_assert_str_eq(azidt_podlabel_get(pod, AZIDT_POD_IDENTITY_LABEL), "kv");
    cJSON_Delete(patch);
    cJSON_Delete(pod);
}
END_TEST

static const struct {
    const char *pod;
    const char *value;
} gets[] = {
    {"{\"metadata\":{\"labels\":{\"azidterminator.io/identity\":\"kv\"}}}",
     "kv"},
    {"{\"metadata\":{\"labels\":{\"azidterminator.io/identity\":1}}}", NULL},
    {"{\"metadata\":{\"labels\":{}}}", NULL},
    {"{\"metadata\":{\"labels\":[]}}", NULL},
    {"{\"metadata\":{}}", NULL},
    {"{}", NULL},
};

START_TEST(podlabel_reads_identity_label)
{
    cJSON *pod = cJSON_Parse(gets[_i].pod);
    const char *value = azidt_podlabel_get(pod, AZIDT_POD_IDENTITY_LABEL);

    if (gets[_i].value)
        ck_assert_str_eq(value, gets[_i].value);
    else
        ck_assert_ptr_null(value);
    cJSON_Delete(pod);
}
END_TEST

START_TEST(podlabel_rejects_null)
{
    cJSON *patch = NULL;
    bool replaced;

    ck_assert_int_eq(azidt_podlabel_binding_patch(NULL, "x", &patch, &replaced),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_null(azidt_podlabel_get(NULL, "x"));
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("podlabel");
    TCase *tc = tcase_create("podlabel");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, podlabel_builds_patch, 0, COUNT(cases));
    tcase_add_loop_test(tc, podlabel_patch_is_idempotent, 0, COUNT(cases));
    tcase_add_test(tc, podlabel_keeps_other_labels);
    tcase_add_loop_test(tc, podlabel_reads_identity_label, 0, COUNT(gets));
    tcase_add_test(tc, podlabel_rejects_null);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
