#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/constants.h"
#include "azidt/owned_objects.h"

static const struct azidt_owner owner = {
    .namespace_ = "my-namespace",
    .name = "azure-kv-access-test",
    .uid = "3f1c2a9e-1111-2222-3333-444455556666",
};

static const char *string_at(const cJSON *obj, const char *a, const char *b,
                             const char *c)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(obj, a);

    if (b)
        node = cJSON_GetObjectItemCaseSensitive(node, b);
    if (c)
        node = cJSON_GetObjectItemCaseSensitive(node, c);
    return cJSON_IsString(node) ? node->valuestring : NULL;
}

START_TEST(secret_encodes_value)
{
    cJSON *secret =
        azidt_owned_secret(&owner, "azure-kv-access-test", "s3cr3t~value",
                           "key-1", "2027-01-03T00:00:00Z");

    ck_assert_ptr_nonnull(secret);
    ck_assert_str_eq(string_at(secret, "data", AZIDT_SECRET_KEY, NULL),
                     "czNjcjN0fnZhbHVl");
    ck_assert_str_eq(string_at(secret, "type", NULL, NULL), "Opaque");
    ck_assert_str_eq(string_at(secret, "metadata", "annotations",
                               AZIDT_SECRET_KEY_ID_ANNOTATION),
                     "key-1");
    ck_assert_str_eq(string_at(secret, "metadata", "namespace", NULL),
                     "my-namespace");
    azidt_owned_free_secret(secret);
}
END_TEST

START_TEST(secret_owner_reference)
{
    cJSON *secret = azidt_owned_secret(&owner, "n", "x", "k", "t");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(secret, "metadata"),
        "ownerReferences");
    const cJSON *ref = cJSON_GetArrayItem(refs, 0);

    ck_assert_int_eq(cJSON_GetArraySize(refs), 1);
    ck_assert_str_eq(string_at(ref, "kind", NULL, NULL), AZIDT_KIND);
    ck_assert_str_eq(string_at(ref, "uid", NULL, NULL), owner.uid);
    ck_assert(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")));
    ck_assert(azidt_owned_is_owned_by(secret, owner.uid));
    ck_assert(!azidt_owned_is_owned_by(secret, "other-uid"));
    azidt_owned_free_secret(secret);
}
END_TEST

/* Owner references: (owner name, owner uid, expected result). */
static const struct {
    const char *name;
    const char *uid;
    bool left_by_previous;
} previous_cases[] = {
    {"azure-kv-access-test", "3f1c2a9e-1111-2222-3333-444455556666", false},
    {"azure-kv-access-test", "earlier-uid", true},
    {"another-terminator", "earlier-uid", false},
};

START_TEST(left_by_previous_owner)
{
    struct azidt_owner earlier = owner;
    cJSON *binding;

    earlier.name = previous_cases[_i].name;
    earlier.uid = previous_cases[_i].uid;
    binding = azidt_owned_binding(&earlier, "azure-kv-access-test", "pods");
    ck_assert_ptr_nonnull(binding);
    ck_assert(azidt_owned_is_left_by_previous(binding, owner.name, owner.uid) ==
              previous_cases[_i].left_by_previous);
    cJSON_Delete(binding);
}
END_TEST

START_TEST(left_by_previous_needs_owner)
{
    cJSON *object = cJSON_Parse("{\"metadata\":{\"name\":\"x\"}}");

    ck_assert(!azidt_owned_is_left_by_previous(object, owner.name, owner.uid));
    cJSON_Delete(object);
}
END_TEST

START_TEST(identity_fields)
{
    cJSON *identity = azidt_owned_azure_identity(&owner, "azure-kv-access-test",
                                                 "tenant-1", "client-1");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(identity, "spec"), "type");

    ck_assert_ptr_nonnull(identity);
    ck_assert_str_eq(string_at(identity, "apiVersion", NULL, NULL),
                     "aadpodidentity.k8s.io/v1");
    ck_assert_str_eq(string_at(identity, "kind", NULL, NULL), "AzureIdentity");
    ck_assert(cJSON_IsNumber(type));
    ck_assert_int_eq(type->valueint, 1);
    ck_assert_str_eq(string_at(identity, "spec", "tenantID", NULL), "tenant-1");
    ck_assert_str_eq(string_at(identity, "spec", "clientID", NULL), "client-1");
    ck_assert_str_eq(string_at(identity, "spec", "clientPassword", "name"),
                     "azure-kv-access-test");
    ck_assert_str_eq(string_at(identity, "metadata", "annotations",
                               AAD_POD_BEHAVIOR_ANNOTATION),
                     "namespaced");
    cJSON_Delete(identity);
}
END_TEST

START_TEST(binding_fields)
{
    cJSON *binding =
        azidt_owned_binding(&owner, "azure-kv-access-test", "azure-kv-pods");

    ck_assert_ptr_nonnull(binding);
    ck_assert_str_eq(string_at(binding, "kind", NULL, NULL),
                     "AzureIdentityBinding");
    ck_assert_str_eq(string_at(binding, "spec", "azureIdentity", NULL),
                     "azure-kv-access-test");
    ck_assert_str_eq(string_at(binding, "spec", "selector", NULL),
                     "azure-kv-pods");
    cJSON_Delete(binding);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("owned_objects");
    TCase *tc = tcase_create("owned_objects");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, secret_encodes_value);
    tcase_add_test(tc, secret_owner_reference);
    tcase_add_loop_test(tc, left_by_previous_owner, 0,
                        sizeof(previous_cases) / sizeof(previous_cases[0]));
    tcase_add_test(tc, left_by_previous_needs_owner);
    tcase_add_test(tc, identity_fields);
    tcase_add_test(tc, binding_fields);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
