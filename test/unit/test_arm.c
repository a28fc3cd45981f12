#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/arm.h"

#define SUB "00000000-0000-0000-0000-000000000001"
#define SCOPE "/subscriptions/" SUB "/resourceGroups/rg-1"
#define READER "acdd72a7-3385-48ef-bd42-f606fba81ae7"
#define READER_ID                                                              \
    "/subscriptions/" SUB                                                      \
    "/providers/Microsoft.Authorization/roleDefinitions/" READER
#define PRINCIPAL "11111111-2222-3333-4444-555555555555"

/* Python: uuid.uuid5(uuid.UUID(AZIDT_ARM_ROLE_ASSIGNMENT_NAMESPACE),
 * "/subscriptions/<sub>/resourcegroups/rg-1|<reader>|<principal>"). */
#define EXPECTED_NAME "8b300d5d-0fb1-5639-be37-4eb151cb59f7"

START_TEST(assignment_name_known_value)
{
    char name[AZIDT_UUID_TEXT_LEN];

    azidt_arm_role_assignment_name(SCOPE, READER_ID, PRINCIPAL, name);
    ck_assert_str_eq(name, EXPECTED_NAME);
}
END_TEST

/* Spellings of the same scope, role and principal give the same name. */
static const struct {
    const char *scope;
    const char *role;
    const char *principal;
} same_name_cases[] = {
    {SCOPE, READER_ID, PRINCIPAL},
    {SCOPE "/", READER_ID, PRINCIPAL},
    {"/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/RG-1", READER_ID, PRINCIPAL},
    {SCOPE, "/providers/Microsoft.Authorization/roleDefinitions/" READER,
     PRINCIPAL},
    {SCOPE, READER, PRINCIPAL},
    {SCOPE, "ACDD72A7-3385-48EF-BD42-F606FBA81AE7",
     "11111111-2222-3333-4444-555555555555"},
};

START_TEST(assignment_name_normalised)
{
    char name[AZIDT_UUID_TEXT_LEN];

    azidt_arm_role_assignment_name(same_name_cases[_i].scope,
                                   same_name_cases[_i].role,
                                   same_name_cases[_i].principal, name);
    ck_assert_str_eq(name, EXPECTED_NAME);
}
END_TEST

START_TEST(assignment_name_differs)
{
    char a[AZIDT_UUID_TEXT_LEN], b[AZIDT_UUID_TEXT_LEN], c[AZIDT_UUID_TEXT_LEN];

    azidt_arm_role_assignment_name(SCOPE, READER_ID, PRINCIPAL, a);
    azidt_arm_role_assignment_name(SCOPE "2", READER_ID, PRINCIPAL, b);
    azidt_arm_role_assignment_name(
        SCOPE, "b24988ac-6180-42a0-ab88-20f7382dd24c", PRINCIPAL, c);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

static const struct {
    const char *name;
    const char *guid;
} builtin_cases[] = {
    {"Reader", READER},
    {"reader", READER},
    {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
    {"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
    {"Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
    {"Owner of Everything", NULL},
    {"", NULL},
};

START_TEST(builtin_role_lookup)
{
    const char *guid = azidt_arm_builtin_role_guid(builtin_cases[_i].name);

    if (builtin_cases[_i].guid)
        ck_assert_str_eq(guid, builtin_cases[_i].guid);
    else
        ck_assert_ptr_null(guid);
}
END_TEST

START_TEST(role_guid_trailing)
{
    ck_assert_str_eq(azidt_arm_role_guid(READER_ID), READER);
    ck_assert_str_eq(azidt_arm_role_guid(READER), READER);
}
END_TEST

static const struct {
    const char *scope;
    bool valid;
} scope_cases[] = {
    {SCOPE, true},
    {"/subscriptions/" SUB, true},
    {"/subscriptions/" SUB "/resourceGroups/rg(1).x", true},
    {"subscriptions/" SUB, false},
    {"", false},
    {"/subscriptions/" SUB "/resourceGroups/a b", false},
    {"/subscriptions/" SUB "?api-version=1", false},
    {"/subscriptions/" SUB "#x", false},
    {"/subscriptions/" SUB "/%2e%2e", false},
    {"/subscriptions/" SUB "/../other", false},
    {"/subscriptions/" SUB "/rg\n", false},
};

START_TEST(scope_validation)
{
    ck_assert_int_eq(azidt_arm_scope_is_valid(scope_cases[_i].scope),
                     scope_cases[_i].valid);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("arm");
    TCase *tc = tcase_create("arm");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, assignment_name_known_value);
    tcase_add_loop_test(tc, assignment_name_normalised, 0,
                        sizeof(same_name_cases) / sizeof(same_name_cases[0]));
    tcase_add_test(tc, assignment_name_differs);
    tcase_add_loop_test(tc, builtin_role_lookup, 0,
                        sizeof(builtin_cases) / sizeof(builtin_cases[0]));
    tcase_add_test(tc, role_guid_trailing);
    tcase_add_loop_test(tc, scope_validation, 0,
                        sizeof(scope_cases) / sizeof(scope_cases[0]));
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
