#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/azure_config.h"

struct var {
    const char *name;
    const char *value;
};

/* Settings for one case; a name missing from the list is unset. */
static const char *lookup_table(const char *name, void *ctx)
{
    for (const struct var *v = ctx; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v->value;
    return NULL;
}

#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define CLIENT "11111111-2222-3333-4444-555555555555"
#define SUB "00000000-0000-0000-0000-000000000001"

START_TEST(config_defaults)
{
    struct var vars[] = {{"AZURE_TENANT_ID", TENANT},
                         {"AZURE_CLIENT_ID", CLIENT},
                         {"AZURE_CLIENT_SECRET", "s3cret"},
                         {"AZURE_SUBSCRIPTION_ID", SUB},
                         {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(cfg->tenant_id, TENANT);
    ck_assert_str_eq(cfg->client_id, CLIENT);
    ck_assert_str_eq(cfg->client_secret, "s3cret");
    ck_assert_ptr_null(cfg->federated_token_file);
    ck_assert_str_eq(cfg->subscription_id, SUB);
    ck_assert_str_eq(cfg->authority_host, "https://login.microsoftonline.com");
    ck_assert_str_eq(cfg->graph_endpoint, "https://graph.microsoft.com");
    ck_assert_str_eq(cfg->arm_endpoint, "https://management.azure.com");
    ck_assert_ptr_null(cfg->ca_file);
    azidt_azure_config_free(cfg);
}
END_TEST

START_TEST(config_endpoints_trimmed)
{
    struct var vars[] = {
        {"AZURE_TENANT_ID", "contoso.onmicrosoft.com"},
        {"AZURE_CLIENT_ID", CLIENT},
        {"AZURE_CLIENT_SECRET", "s3cret"},
        {"AZURE_SUBSCRIPTION_ID", SUB},
        {"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"},
        {"AZURE_GRAPH_ENDPOINT", "https://127.0.0.1:8443//"},
        {"AZURE_ARM_ENDPOINT", "HTTPS://management.usgovcloudapi.net"},
        {"AZURE_CA_FILE", "/dev/null"},
        {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(cfg->authority_host, "https://login.microsoftonline.us");
    ck_assert_str_eq(cfg->graph_endpoint, "https://127.0.0.1:8443");
    ck_assert_str_eq(cfg->arm_endpoint, "HTTPS://management.usgovcloudapi.net");
    ck_assert_str_eq(cfg->ca_file, "/dev/null");
    azidt_azure_config_free(cfg);
}
END_TEST

START_TEST(config_secret_wins)
{
    struct var vars[] = {{"AZURE_TENANT_ID", TENANT},
                         {"AZURE_CLIENT_ID", CLIENT},
                         {"AZURE_CLIENT_SECRET", "s3cret"},
                         {"AZURE_FEDERATED_TOKEN_FILE", "/nonexistent"},
                         {"AZURE_SUBSCRIPTION_ID", SUB},
                         {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_ptr_null(cfg->federated_token_file);
    azidt_azure_config_free(cfg);
}
END_TEST

START_TEST(config_federated_file)
{
    struct var vars[] = {{"AZURE_TENANT_ID", TENANT},
                         {"AZURE_CLIENT_ID", CLIENT},
                         {"AZURE_CLIENT_SECRET", ""},
                         {"AZURE_FEDERATED_TOKEN_FILE", "/dev/null"},
                         {"AZURE_SUBSCRIPTION_ID", SUB},
                         {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_ptr_null(cfg->client_secret);
    ck_assert_str_eq(cfg->federated_token_file, "/dev/null");
    azidt_azure_config_free(cfg);
}
END_TEST

/* Each case breaks one setting; the message must name the variable. */
static const struct {
    const char *name;  /* variable to change */
    const char *value; /* NULL removes it */
    const char *mentioned;
} error_cases[] = {
    {"AZURE_TENANT_ID", NULL, "AZURE_TENANT_ID is not set"},
    {"AZURE_TENANT_ID", "", "AZURE_TENANT_ID is not set"},
    {"AZURE_TENANT_ID", "a/b", "AZURE_TENANT_ID is invalid"},
    {"AZURE_CLIENT_ID", NULL, "AZURE_CLIENT_ID is not set"},
    {"AZURE_CLIENT_ID", "x.y", "AZURE_CLIENT_ID is invalid"},
    {"AZURE_CLIENT_SECRET", NULL, "AZURE_FEDERATED_TOKEN_FILE"},
    {"AZURE_SUBSCRIPTION_ID", NULL, "AZURE_SUBSCRIPTION_ID is not set"},
    {"AZURE_SUBSCRIPTION_ID", "sub?x", "AZURE_SUBSCRIPTION_ID is invalid"},
    {"AZURE_SUBSCRIPTION_ID", "zzz", "\"zzz\" is not a GUID"},
    {"AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-00000000000",
     "AZURE_SUBSCRIPTION_ID is invalid"},
    {"AZURE_CLIENT_ID", "11111111-2222-3333-4444-55555555555g",
     "AZURE_CLIENT_ID is invalid"},
    {"AZURE_AUTHORITY_HOST", "http://login.microsoftonline.com",
     "AZURE_AUTHORITY_HOST is invalid"},
    {"AZURE_GRAPH_ENDPOINT", "graph.microsoft.com",
     "AZURE_GRAPH_ENDPOINT is invalid"},
    {"AZURE_ARM_ENDPOINT", "https://", "AZURE_ARM_ENDPOINT is invalid"},
    {"AZURE_ARM_ENDPOINT", "https://a b", "AZURE_ARM_ENDPOINT is invalid"},
    {"AZURE_CA_FILE", "/nonexistent/ca.pem", "AZURE_CA_FILE names"},
};

START_TEST(config_errors_name_variable)
{
    struct var vars[] = {{"AZURE_TENANT_ID", TENANT},
                         {"AZURE_CLIENT_ID", CLIENT},
                         {"AZURE_CLIENT_SECRET", "s3cret"},
                         {"AZURE_SUBSCRIPTION_ID", SUB},
                         {"AZURE_AUTHORITY_HOST", NULL},
                         {"AZURE_GRAPH_ENDPOINT", NULL},
                         {"AZURE_ARM_ENDPOINT", NULL},
                         {"AZURE_CA_FILE", NULL},
                         {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    for (struct var *v = vars; v->name; v++)
        if (strcmp(v->name, error_cases[_i].name) == 0)
            v->value = error_cases[_i].value;
    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_ERR_CONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, error_cases[_i].mentioned),
                  "message '%s' lacks '%s'", err, error_cases[_i].mentioned);
    ck_assert_ptr_null(strstr(err, "s3cret"));
}
END_TEST

START_TEST(config_missing_federated_file)
{
    struct var vars[] = {{"AZURE_TENANT_ID", TENANT},
                         {"AZURE_CLIENT_ID", CLIENT},
                         {"AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token"},
                         {"AZURE_SUBSCRIPTION_ID", SUB},
                         {NULL, NULL}};
    struct azidt_azure_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(
        azidt_azure_config_load(lookup_table, vars, &cfg, err, sizeof(err)),
        AZIDT_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "AZURE_FEDERATED_TOKEN_FILE"));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/token"));
}
END_TEST

START_TEST(config_free_null)
{
    azidt_azure_config_free(NULL);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("azure_config");
    TCase *tc = tcase_create("azure_config");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_endpoints_trimmed);
    tcase_add_test(tc, config_secret_wins);
    tcase_add_test(tc, config_federated_file);
    tcase_add_loop_test(tc, config_errors_name_variable, 0,
                        sizeof(error_cases) / sizeof(error_cases[0]));
    tcase_add_test(tc, config_missing_federated_file);
    tcase_add_test(tc, config_free_null);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
