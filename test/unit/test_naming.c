#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/constants.h"
#include "azidt/naming.h"

START_TEST(unique_name_known_value)
{
    char out[AZIDT_UNIQUE_NAME_SIZE];

    /* printf %s cluster-a/my-namespace/azure-kv-access-test | sha256sum */
    ck_assert_int_eq(azidt_naming_unique_name("cluster-a", "my-namespace",
                                              "azure-kv-access-test", out),
                     AZIDT_OK);
    ck_assert_str_eq(out, "azidt-91e3fb91c7474e5d00b7bca4255adc3f");
}
END_TEST

START_TEST(unique_name_differs_by_namespace)
{
    char a[AZIDT_UNIQUE_NAME_SIZE];
    char b[AZIDT_UNIQUE_NAME_SIZE];

    ck_assert_int_eq(azidt_naming_unique_name("c", "ns1", "x", a), AZIDT_OK);
    ck_assert_int_eq(azidt_naming_unique_name("c", "ns2", "x", b), AZIDT_OK);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(unique_name_rejects_empty)
{
    char out[AZIDT_UNIQUE_NAME_SIZE];

    ck_assert_int_eq(azidt_naming_unique_name("", "ns", "x", out),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(azidt_naming_unique_name("c", NULL, "x", out),
                     AZIDT_ERR_INVALID);
    ck_assert_int_eq(azidt_naming_unique_name("c", "ns", "", out),
                     AZIDT_ERR_INVALID);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(tag_joins_prefix)
{
    char out[AZIDT_TAG_SIZE];

    ck_assert_int_eq(
        azidt_naming_tag(AZIDT_TAG_OBJECT_PREFIX, "ns/n", out, sizeof(out)),
        AZIDT_OK);
    ck_assert_str_eq(out, "azidterminator.io:object=ns/n");
}
END_TEST

START_TEST(tag_rejects_overflow)
{
    char out[8];

    ck_assert_int_eq(azidt_naming_tag("prefix=", "value", out, sizeof(out)),
                     AZIDT_ERR_INVALID);
}
END_TEST

START_TEST(object_key_joins)
{
    char out[32];

    ck_assert_int_eq(azidt_naming_object_key("ns", "n", out, sizeof(out)),
                     AZIDT_OK);
    ck_assert_str_eq(out, "ns/n");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("naming");
    TCase *tc = tcase_create("naming");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, unique_name_known_value);
    tcase_add_test(tc, unique_name_differs_by_namespace);
    tcase_add_test(tc, unique_name_rejects_empty);
    tcase_add_test(tc, tag_joins_prefix);
    tcase_add_test(tc, tag_rejects_overflow);
    tcase_add_test(tc, object_key_joins);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
