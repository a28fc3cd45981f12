#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/config.h"
#include "azidt/role_policy.h"

#define SUB_RG "/subscriptions/sub-1/resourceGroups/"
#define OWNER_ID                                                               \
    "/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/"  \
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define CUSTOM_GUID "11111111-2222-3333-4444-555555555555"

static const struct {
    const char *denied;
    const char *allowed;
    const char *role;
    const char *resolved; /* NULL: admission */
    enum azidt_role_verdict want;
} role_cases[] = {
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "Owner", NULL, AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "owner", NULL, AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "8E3AF657-A8FF-443C-A75C-2FE8C4BCB635",
     NULL, AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, OWNER_ID, NULL, AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "User Access Administrator", NULL,
     AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
     NULL, AZIDT_ROLE_DENIED},
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "Key Vault Secrets User", NULL,
     AZIDT_ROLE_ALLOWED},
    /* A custom name resolved to a denied GUID is caught by the
     * provisioner. */
    {AZIDT_DEFAULT_DENIED_ROLES, NULL, "My Owner Copy", NULL,
     AZIDT_ROLE_ALLOWED},
    {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", NULL, "My Owner Copy", OWNER_ID,
     AZIDT_ROLE_DENIED},
    {CUSTOM_GUID, NULL, "Custom",
     "/subscriptions/s/providers/"
     "Microsoft.Authorization/roleDefinitions/" CUSTOM_GUID,
     AZIDT_ROLE_DENIED},
    {"", NULL, "Owner", NULL, AZIDT_ROLE_ALLOWED},
    {NULL, "Reader, Key Vault Secrets User", "Key Vault Secrets User", NULL,
     AZIDT_ROLE_ALLOWED},
    {NULL, "Reader", "Contributor", NULL, AZIDT_ROLE_DENIED},
    {NULL, "Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7", NULL,
     AZIDT_ROLE_ALLOWED},
    {NULL, CUSTOM_GUID, "Custom", NULL, AZIDT_ROLE_UNDECIDED},
    {NULL, CUSTOM_GUID, "Custom", CUSTOM_GUID, AZIDT_ROLE_ALLOWED},
    {NULL, "Reader", "Custom", CUSTOM_GUID, AZIDT_ROLE_DENIED},
    {"Owner", "Owner", "Owner", NULL, AZIDT_ROLE_DENIED},
};

START_TEST(policy_role)
{
    struct azidt_role_policy *policy = NULL;
    char err[256] = "", why[512] = "";

    ck_assert_int_eq(azidt_role_policy_new(role_cases[_i].denied,
                                           role_cases[_i].allowed, NULL,
                                           &policy, err, sizeof(err)),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_role_policy_check_role(policy, role_cases[_i].role,
                                                  role_cases[_i].resolved, why,
                                                  sizeof(why)),
                     role_cases[_i].want);
    if (role_cases[_i].want == AZIDT_ROLE_DENIED)
        ck_assert_ptr_nonnull(strstr(why, "role policy (--"));
    azidt_role_policy_free(policy);
}
END_TEST

static const struct {
    const char *scope;
    bool ok;
} scope_cases[] = {
    {SUB_RG "rg-1", true},
    {"/SUBSCRIPTIONS/SUB-1/RESOURCEGROUPS/rg-1", true},
    {SUB_RG "rg-1/providers/Microsoft.KeyVault/vaults/kv", true},
    {"/subscriptions/sub-1", false},
    {"/subscriptions/sub-2/resourceGroups/rg-1", false},
    {SUB_RG "rg-1/../..", false},
    {"/providers/Microsoft.Management/managementGroups/mg", false},
};

START_TEST(policy_scope)
{
    struct azidt_role_policy *policy = NULL;
    char err[256] = "", why[512] = "";

    ck_assert_int_eq(
        azidt_role_policy_new(NULL, NULL, SUB_RG, &policy, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_int_eq(azidt_role_policy_check_scope(
                         policy, scope_cases[_i].scope, why, sizeof(why)),
                     scope_cases[_i].ok);
    azidt_role_policy_free(policy);
}
END_TEST

START_TEST(policy_bad_prefix)
{
    struct azidt_role_policy *policy = NULL;
    char err[256] = "";

    ck_assert_int_eq(azidt_role_policy_new(NULL, NULL, "/a, /b/../c", &policy,
                                           err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_null(policy);
    ck_assert_ptr_nonnull(strstr(err, "/b/../c"));
}
END_TEST

START_TEST(policy_null_allows)
{
    char why[64];

    ck_assert_int_eq(
        azidt_role_policy_check_role(NULL, "Owner", NULL, why, sizeof(why)),
        AZIDT_ROLE_ALLOWED);
    ck_assert(azidt_role_policy_check_scope(NULL, "/", why, sizeof(why)));
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("role_policy");
    TCase *tc = tcase_create("policy");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, policy_role, 0, COUNT(role_cases));
    tcase_add_loop_test(tc, policy_scope, 0, COUNT(scope_cases));
    tcase_add_test(tc, policy_bad_prefix);
    tcase_add_test(tc, policy_null_allows);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
