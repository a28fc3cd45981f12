#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/identity_spec.h"

#define HOUR_MS (3600LL * 1000)

static const char *const example =
    "{\"metadata\":{\"name\":\"azure-kv-access-test\","
    "\"namespace\":\"my-namespace\",\"uid\":\"u-1\",\"generation\":3},"
    "\"spec\":{\"appRegistration\":{\"displayName\":\"azure-kv-access-test\"},"
    "\"azureIdentityName\":\"azure-kv-access-test\","
    "\"nodeResourceGroup\":\"my-aks-cluster-node-resource-group\","
    "\"podSelector\":\"azure-kv-pods\","
    "\"servicePrincipal\":{\"clientSecretDuration\":\"720h\","
    "\"tags\":[\"azure-kv-aks-test\"]}}}";

static azidt_err parse_text(const char *text, struct azidt_identity_spec *spec,
                            char *err, size_t errlen)
{
    cJSON *object = cJSON_Parse(text);
    azidt_err rc;

    ck_assert_ptr_nonnull(object);
    rc = azidt_identity_spec_parse(object, spec, err, errlen);
    cJSON_Delete(object);
    return rc;
}

START_TEST(spec_parses_example)
{
    struct azidt_identity_spec spec;
    char err[256];

    ck_assert_int_eq(parse_text(example, &spec, err, sizeof(err)), AZIDT_OK);
    ck_assert_str_eq(spec.namespace_, "my-namespace");
    ck_assert_str_eq(spec.name, "azure-kv-access-test");
    ck_assert_str_eq(spec.uid, "u-1");
    ck_assert_int_eq(spec.generation, 3);
    ck_assert_str_eq(spec.display_name, "azure-kv-access-test");
    ck_assert_str_eq(spec.identity_name, "azure-kv-access-test");
    ck_assert_str_eq(spec.resource_group, "my-aks-cluster-node-resource-group");
    ck_assert_str_eq(spec.pod_selector, "azure-kv-pods");
    ck_assert_int_eq(spec.secret_duration_ms, 720 * HOUR_MS);
    ck_assert_int_eq(spec.renew_before_ms, 240 * HOUR_MS);
    ck_assert_uint_eq(spec.tag_count, 1);
    ck_assert_str_eq(spec.tags[0], "azure-kv-aks-test");
    ck_assert_uint_eq(spec.role_count, 0);
    azidt_identity_spec_clear(&spec);
}
END_TEST

START_TEST(spec_reads_renew_before_and_roles)
{
    struct azidt_identity_spec spec;
    char err[256];
    const char *text =
        "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},"
        "\"spec\":{\"appRegistration\":{\"displayName\":\"d\"},"
        "\"azureIdentityName\":\"i\",\"nodeResourceGroup\":\"rg\","
        "\"podSelector\":\"p\",\"servicePrincipal\":{"
        "\"clientSecretDuration\":\"90m\",\"renewBefore\":\"30m\"},"
        "\"roleAssignments\":[{\"role\":\"Reader\",\"scope\":\"/subscriptions/"
        "s\"}]}}";

    ck_assert_int_eq(parse_text(text, &spec, err, sizeof(err)), AZIDT_OK);
    ck_assert_int_eq(spec.secret_duration_ms, 90 * 60 * 1000);
    ck_assert_int_eq(spec.renew_before_ms, 30 * 60 * 1000);
    ck_assert_uint_eq(spec.role_count, 1);
    ck_assert_str_eq(spec.roles[0].role, "Reader");
    ck_assert_str_eq(spec.roles[0].scope, "/subscriptions/s");
    ck_assert_str_eq(spec.uid, "");
    azidt_identity_spec_clear(&spec);
}
END_TEST

START_TEST(spec_rejects_missing_selector)
{
    struct azidt_identity_spec spec;
    char err[256];
    const char *text =
        "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},"
        "\"spec\":{\"appRegistration\":{\"displayName\":\"d\"},"
        "\"azureIdentityName\":\"i\",\"nodeResourceGroup\":\"rg\","
        "\"servicePrincipal\":{\"clientSecretDuration\":\"1h\"}}}";

    ck_assert_int_eq(parse_text(text, &spec, err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "spec.podSelector"));
    ck_assert_ptr_null(spec.name);
}
END_TEST

START_TEST(spec_rejects_bad_duration)
{
    struct azidt_identity_spec spec;
    char err[256];
    char *text = strdup(example);
    char *at = strstr(text, "720h");

    /* "720h" becomes "30d" followed by a space. */
    memcpy(at, "30d\" ", 5);
    ck_assert_int_eq(parse_text(text, &spec, err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_nonnull(
        strstr(err, "spec.servicePrincipal.clientSecretDuration"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("identity_spec");
    TCase *tc = tcase_create("identity_spec");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, spec_parses_example);
    tcase_add_test(tc, spec_reads_renew_before_and_roles);
    tcase_add_test(tc, spec_rejects_missing_selector);
    tcase_add_test(tc, spec_rejects_bad_duration);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
