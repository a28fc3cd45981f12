#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/validate.h"
#include "testutil.h"

#define SUB "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590"
#define EXAMPLE "manifests/examples/azure-kv-access-test.yaml"

static cJSON *load_example(void)
{
    cJSON *doc = test_load_yaml(test_source_path(EXAMPLE));

    ck_assert_msg(doc != NULL, "cannot load %s", test_source_path(EXAMPLE));
    return doc;
}

/*
 * Build a JSON value from a table cell: plain JSON text, "@rep:<s>:<n>"
 * for the string s repeated n times, "@tags:<n>" for n distinct tags,
 * "@roles:<n>" for n distinct valid role assignments, or NULL to remove
 * the member.
 */
static cJSON *make_value(const char *cell)
{
    if (!cell)
        return NULL;
    if (strncmp(cell, "@rep:", 5) == 0) {
        const char *colon = strrchr(cell, ':');
        size_t unit = (size_t)(colon - (cell + 5));
        int n = atoi(colon + 1);
        char *text = calloc(unit * (size_t)n + 1, 1);
        cJSON *value;

        for (int i = 0; i < n; i++)
            memcpy(text + unit * (size_t)i, cell + 5, unit);
        value = cJSON_CreateString(text);
        free(text);
        return value;
    }
    if (strncmp(cell, "@tags:", 6) == 0) {
        cJSON *list = cJSON_CreateArray();
        int n = atoi(cell + 6);

        for (int i = 0; i < n; i++) {
            char tag[32];

            snprintf(tag, sizeof(tag), "tag-%d", i);
            cJSON_AddItemToArray(list, cJSON_CreateString(tag));
        }
        return list;
    }
    if (strncmp(cell, "@roles:", 7) == 0) {
        cJSON *list = cJSON_CreateArray();
        int n = atoi(cell + 7);

        for (int i = 0; i < n; i++) {
            cJSON *entry = cJSON_CreateObject();
            char scope[128];

            snprintf(scope, sizeof(scope), SUB "/resourceGroups/rg%d", i);
            cJSON_AddStringToObject(entry, "role", "Reader");
            cJSON_AddStringToObject(entry, "scope", scope);
            cJSON_AddItemToArray(list, entry);
        }
        return list;
    }
    return cJSON_Parse(cell);
}

/* Validate the example with path set to cell; the caller frees result. */
static void validate_modified(const char *path, const char *cell,
                              struct azidt_validate_result *result)
{
    cJSON *doc = load_example();

    if (path) {
        cJSON *value = make_value(cell);

        ck_assert_msg(value != NULL || cell == NULL, "bad cell %s", cell);
        test_set_path(doc, path, value);
    }
    azidt_validate_spec(doc, NULL, result);
    cJSON_Delete(doc);
}

START_TEST(validate_example_is_valid)
{
    struct azidt_validate_result result = {0};
    char *joined;

    validate_modified(NULL, NULL, &result);
    joined = azidt_validate_result_join(&result);
    ck_assert_msg(result.count == 0, "example denied: %s", joined);
    ck_assert(!result.nomem);
    free(joined);
    azidt_validate_result_free(&result);
}
END_TEST

static const struct {
    const char *path;
    const char *value;
} valid[] = {
    {"spec.appRegistration.displayName", "@rep:x:120"},
    {"spec.appRegistration.displayName", "@rep:\xc3\xa9:120"},
    {"spec.appRegistration.displayName", "\"Key Vault access (test)\""},
    {"spec.azureIdentityName", "\"a\""},
    {"spec.azureIdentityName", "\"a.b-c.d0\""},
    {"spec.azureIdentityName", "@rep:a:253"},
    {"spec.nodeResourceGroup", "\"MC_rg_cluster_westeurope\""},
    {"spec.nodeResourceGroup", "\"rg(1).x-y_z\""},
    {"spec.nodeResourceGroup", "@rep:r:90"},
    {"spec.podSelector", "\"A\""},
    {"spec.podSelector", "\"a_b.c-D9\""},
    {"spec.podSelector", "@rep:p:63"},
    {"spec.servicePrincipal.clientSecretDuration", "\"1h\""},
    {"spec.servicePrincipal.clientSecretDuration", "\"60m\""},
    {"spec.servicePrincipal.clientSecretDuration", "\"1.5h\""},
    {"spec.servicePrincipal.clientSecretDuration", "\"2h45m30s\""},
    {"spec.servicePrincipal.clientSecretDuration", "\"17520h\""},
    {"spec.servicePrincipal.renewBefore", "\"240h\""},
    {"spec.servicePrincipal.renewBefore", "\"719h59m59s\""},
    {"spec.servicePrincipal.tags", NULL},
    {"spec.servicePrincipal.tags", "[]"},
    {"spec.servicePrincipal.tags", "[\"a\",\"A\",\"team:payments\"]"},
    {"spec.servicePrincipal.tags", "@tags:64"},
    {"spec.roleAssignments", "[]"},
    {"spec.roleAssignments", "@roles:20"},
    {"spec.roleAssignments",
     "[{\"role\":\"Key Vault Secrets User\",\"scope\":\"" SUB
     "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"4633458b-17de-408a-b874-0445c86b69e6\","
     "\"scope\":\"" SUB "\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"" SUB "/providers/Microsoft.Authorization/roleDefinitions/"
     "acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"scope\":\"" SUB
     "/resourceGroups/rg\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"/providers/Microsoft.Authorization/roleDefinitions/"
     "acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"scope\":\"/providers/"
     "Microsoft.Management/managementGroups/platform-prod\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"Storage Blob Data Reader\",\"scope\":\"" SUB
     "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/"
     "blobServices/default/containers/c\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"AcrPull\",\"scope\":\"" SUB
     "/providers/Microsoft.ContainerRegistry/registries/acr\"}]"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB "/resourceGroups/a\"},"
     "{\"role\":\"Reader\",\"scope\":\"" SUB "/resourceGroups/b\"}]"},
};

START_TEST(validate_accepts_valid)
{
    struct azidt_validate_result result = {0};
    char *joined;

    validate_modified(valid[_i].path, valid[_i].value, &result);
    joined = azidt_validate_result_join(&result);
    ck_assert_msg(result.count == 0, "%s=%s denied: %s", valid[_i].path,
                  valid[_i].value, joined);
    free(joined);
    azidt_validate_result_free(&result);
}
END_TEST

/* Each row sets one member, then expects count messages, the first of
 * which contains field and rule. */
static const struct {
    const char *path;
    const char *value;
    size_t count;
    const char *field;
    const char *rule;
} invalid[] = {
    /* spec */
    {"spec", NULL, 1, "spec: Required value", "needs a spec"},
    {"spec", "\"x\"", 1, "spec: Invalid value: string", "must be an object"},
    /* appRegistration.displayName */
    {"spec.appRegistration", NULL, 1, "spec.appRegistration: Required value",
     "displayName"},
    {"spec.appRegistration", "\"x\"", 1,
     "spec.appRegistration: Invalid value: string", "must be an object"},
    {"spec.appRegistration.displayName", NULL, 1,
     "spec.appRegistration.displayName: Required value", "display name"},
    {"spec.appRegistration.displayName", "\"\"", 1,
     "spec.appRegistration.displayName: Required value", "must not be empty"},
    {"spec.appRegistration.displayName", "\"   \"", 1,
     "spec.appRegistration.displayName: Required value", "or blank"},
    {"spec.appRegistration.displayName", "@rep:x:121", 1,
     "spec.appRegistration.displayName: Invalid value: \"xxxx",
     "must be at most 120 characters (it has 121)"},
    {"spec.appRegistration.displayName", "@rep:\xc3\xa9:121", 1,
     "spec.appRegistration.displayName: Invalid value: \"\xc3\xa9",
     "must be at most 120 characters (it has 121)"},
    {"spec.appRegistration.displayName", "\"a\\nb\"", 1,
     "spec.appRegistration.displayName: Invalid value: \"a\\nb\"",
     "must not contain control characters"},
    {"spec.appRegistration.displayName", "42", 1,
     "spec.appRegistration.displayName: Invalid value: number",
     "must be a string"},
    /* azureIdentityName */
    {"spec.azureIdentityName", NULL, 1,
     "spec.azureIdentityName: Required value", "AzureIdentityBinding"},
    {"spec.azureIdentityName", "\"Azure_KV\"", 1,
     "spec.azureIdentityName: Invalid value: \"Azure_KV\"",
     "must be a DNS-1123 subdomain"},
    {"spec.azureIdentityName", "\"\"", 1,
     "spec.azureIdentityName: Invalid value: \"\"", "DNS-1123 subdomain"},
    {"spec.azureIdentityName", "\"-kv\"", 1,
     "spec.azureIdentityName: Invalid value: \"-kv\"", "DNS-1123"},
    {"spec.azureIdentityName", "\"kv-\"", 1,
     "spec.azureIdentityName: Invalid value: \"kv-\"", "DNS-1123"},
    {"spec.azureIdentityName", "\"a..b\"", 1,
     "spec.azureIdentityName: Invalid value: \"a..b\"", "DNS-1123"},
    {"spec.azureIdentityName", "\"a.-b\"", 1,
     "spec.azureIdentityName: Invalid value: \"a.-b\"", "DNS-1123"},
    {"spec.azureIdentityName", "\".a\"", 1,
     "spec.azureIdentityName: Invalid value: \".a\"", "DNS-1123"},
    {"spec.azureIdentityName", "@rep:a:254", 1,
     "spec.azureIdentityName: Invalid value: \"aaaa", "at most 253"},
    {"spec.azureIdentityName", "[]", 1,
     "spec.azureIdentityName: Invalid value: list", "must be a string"},
    /* nodeResourceGroup */
    {"spec.nodeResourceGroup", NULL, 1,
     "spec.nodeResourceGroup: Required value", "az aks show"},
    {"spec.nodeResourceGroup", "\"\"", 1,
     "spec.nodeResourceGroup: Invalid value: \"\"",
     "must be an Azure resource group name"},
    {"spec.nodeResourceGroup", "\"rg.\"", 1,
     "spec.nodeResourceGroup: Invalid value: \"rg.\"", "not ending in '.'"},
    {"spec.nodeResourceGroup", "\"my rg\"", 1,
     "spec.nodeResourceGroup: Invalid value: \"my rg\"", "resource group name"},
    {"spec.nodeResourceGroup", "\"rg/x\"", 1,
     "spec.nodeResourceGroup: Invalid value: \"rg/x\"", "resource group name"},
    {"spec.nodeResourceGroup", "@rep:r:91", 1,
     "spec.nodeResourceGroup: Invalid value: \"rrrr", "1-90 characters"},
    /* podSelector */
    {"spec.podSelector", NULL, 1, "spec.podSelector: Required value",
     "aadpodidbinding"},
    {"spec.podSelector", "\"\"", 1, "spec.podSelector: Required value",
     "must not be empty"},
    {"spec.podSelector", "\"-pods\"", 1,
     "spec.podSelector: Invalid value: \"-pods\"",
     "must be a Kubernetes label value"},
    {"spec.podSelector", "\"kv pods\"", 1,
     "spec.podSelector: Invalid value: \"kv pods\"", "label value"},
    {"spec.podSelector", "\"a/b\"", 1,
     "spec.podSelector: Invalid value: \"a/b\"", "label value"},
    {"spec.podSelector", "@rep:p:64", 1,
     "spec.podSelector: Invalid value: \"pppp", "at most 63 characters"},
    {"spec.podSelector", "true", 1, "spec.podSelector: Invalid value: boolean",
     "must be a string"},
    /* servicePrincipal and clientSecretDuration */
    {"spec.servicePrincipal", NULL, 1, "spec.servicePrincipal: Required value",
     "clientSecretDuration"},
    {"spec.servicePrincipal", "[]", 1,
     "spec.servicePrincipal: Invalid value: list", "must be an object"},
    {"spec.servicePrincipal.clientSecretDuration", NULL, 1,
     "spec.servicePrincipal.clientSecretDuration: Required value", "720h"},
    {"spec.servicePrincipal.clientSecretDuration", "\"\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: \"\"",
     "empty duration; write a positive number with a unit"},
    {"spec.servicePrincipal.clientSecretDuration", "\"30d\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: \"30d\"",
     "unknown unit \"d\"; write a positive number with a unit, or a "
     "sequence of them, such as 720h"},
    {"spec.servicePrincipal.clientSecretDuration", "\"-1h\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: \"-1h\"",
     "duration is negative; write"},
    {"spec.servicePrincipal.clientSecretDuration", "\"0s\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: \"0s\"",
     "duration is zero; write"},
    {"spec.servicePrincipal.clientSecretDuration", "\"720\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: \"720\"",
     "missing unit"},
    {"spec.servicePrincipal.clientSecretDuration", "\"99999999999h\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: "
     "\"99999999999h\"",
     "value out of range"},
    {"spec.servicePrincipal.clientSecretDuration", "\"59m59s\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: "
     "\"59m59s\"",
     "must be between 1h0m0s and 17520h0m0s"},
    {"spec.servicePrincipal.clientSecretDuration", "\"17520h1s\"", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: "
     "\"17520h1s\"",
     "must be between 1h0m0s and 17520h0m0s"},
    {"spec.servicePrincipal.clientSecretDuration", "720", 1,
     "spec.servicePrincipal.clientSecretDuration: Invalid value: number",
     "must be a string"},
    /* renewBefore */
    {"spec.servicePrincipal.renewBefore", "\"720h\"", 1,
     "spec.servicePrincipal.renewBefore: Invalid value: \"720h\"",
     "must be shorter than spec.servicePrincipal.clientSecretDuration "
     "(720h0m0s)"},
    {"spec.servicePrincipal.renewBefore", "\"1000h\"", 1,
     "spec.servicePrincipal.renewBefore: Invalid value: \"1000h\"",
     "must be shorter"},
    {"spec.servicePrincipal.renewBefore", "\"10d\"", 1,
     "spec.servicePrincipal.renewBefore: Invalid value: \"10d\"",
     "unknown unit"},
    {"spec.servicePrincipal.renewBefore", "\"0s\"", 1,
     "spec.servicePrincipal.renewBefore: Invalid value: \"0s\"",
     "duration is zero"},
    {"spec.servicePrincipal.renewBefore", "24", 1,
     "spec.servicePrincipal.renewBefore: Invalid value: number",
     "must be a string"},
    /* tags */
    {"spec.servicePrincipal.tags", "\"a\"", 1,
     "spec.servicePrincipal.tags: Invalid value: string", "must be a list"},
    {"spec.servicePrincipal.tags", "[1]", 1,
     "spec.servicePrincipal.tags[0]: Invalid value: number",
     "must be a string"},
    {"spec.servicePrincipal.tags", "[\"\"]", 1,
     "spec.servicePrincipal.tags[0]: Required value", "must not be empty"},
    {"spec.servicePrincipal.tags", "[\"a\",\"b\",\"a\"]", 1,
     "spec.servicePrincipal.tags[2]: Duplicate value: \"a\"",
     "already spec.servicePrincipal.tags[0]"},
    {"spec.servicePrincipal.tags", "[\"a\\u0001\"]", 1,
     "spec.servicePrincipal.tags[0]: Invalid value: \"a\\x01\"",
     "without control characters"},
    {"spec.servicePrincipal.tags", "[\"azidterminator.io:managed\"]", 1,
     "spec.servicePrincipal.tags[0]: Invalid value: "
     "\"azidterminator.io:managed\"",
     "is reserved"},
    {"spec.servicePrincipal.tags", "[\"AzIdTerminator.IO:uid=x\"]", 1,
     "spec.servicePrincipal.tags[0]: Invalid value: "
     "\"AzIdTerminator.IO:uid=x\"",
     "is reserved"},
    {"spec.servicePrincipal.tags", "@tags:65", 1,
     "spec.servicePrincipal.tags: Too many: 65", "at most 64 entries"},
    /* unknown fields */
    {"spec.foo", "1", 1, "unknown field \"spec.foo\"",
     "the fields of spec are appRegistration, azureIdentityName"},
    {"spec.podselector", "\"x\"", 1, "unknown field \"spec.podselector\"",
     "did you mean \"podSelector\"?"},
    {"spec.nodeResourceGroups", "\"x\"", 1,
     "unknown field \"spec.nodeResourceGroups\"",
     "did you mean \"nodeResourceGroup\"?"},
    {"spec.appRegistration.name", "\"x\"", 1,
     "unknown field \"spec.appRegistration.name\"",
     "the fields of spec.appRegistration are displayName"},
    {"spec.servicePrincipal.clientSecretDuraton", "\"1h\"", 1,
     "unknown field \"spec.servicePrincipal.clientSecretDuraton\"",
     "did you mean \"clientSecretDuration\"?"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB "\",\"scopes\":\"x\"}]", 1,
     "unknown field \"spec.roleAssignments[0].scopes\"",
     "did you mean \"scope\"?"},
    /* roleAssignments */
    {"spec.roleAssignments", "{}", 1,
     "spec.roleAssignments: Invalid value: object", "must be a list"},
    {"spec.roleAssignments", "[1]", 1,
     "spec.roleAssignments[0]: Invalid value: number",
     "must be an object with role and scope"},
    {"spec.roleAssignments", "[{}]", 2,
     "spec.roleAssignments[0].role: Required value", "a built-in role name"},
    {"spec.roleAssignments", "[{\"role\":\"Reader\"}]", 1,
     "spec.roleAssignments[0].scope: Required value", "an ARM scope"},
    {"spec.roleAssignments", "[{\"scope\":\"" SUB "\"}]", 1,
     "spec.roleAssignments[0].role: Required value", "role definition id"},
    {"spec.roleAssignments", "[{\"role\":\"Reader;x\",\"scope\":\"" SUB "\"}]",
     1, "spec.roleAssignments[0].role: Invalid value: \"Reader;x\"",
     "must be a built-in role name"},
    {"spec.roleAssignments", "[{\"role\":\"/bad\",\"scope\":\"" SUB "\"}]", 1,
     "spec.roleAssignments[0].role: Invalid value: \"/bad\"",
     "role definition GUID"},
    {"spec.roleAssignments",
     "[{\"role\":\"" SUB "/providers/Microsoft.Authorization/"
     "roleDefinitions/nope\",\"scope\":\"" SUB "\"}]",
     1, "spec.roleAssignments[0].role: Invalid value", "roleDefinitions"},
    {"spec.roleAssignments", "[{\"role\":\"Reader\",\"scope\":\"/\"}]", 1,
     "spec.roleAssignments[0].scope: Invalid value: \"/\"",
     "must be an ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"subscriptions/x\"}]", 1,
     "spec.roleAssignments[0].scope: Invalid value", "ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"/subscriptions/my-sub\"}]", 1,
     "spec.roleAssignments[0].scope: Invalid value", "subscription guid"},
    {"spec.roleAssignments", "[{\"role\":\"Reader\",\"scope\":\"" SUB "/\"}]",
     1, "spec.roleAssignments[0].scope: Invalid value", "ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB "/resourceGroups/rg.\"}]", 1,
     "spec.roleAssignments[0].scope: Invalid value", "ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB
     "/providers/Microsoft.Compute\"}]",
     1, "spec.roleAssignments[0].scope: Invalid value", "ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB
     "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults\"}]",
     1, "spec.roleAssignments[0].scope: Invalid value", "ARM scope"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"/providers/Microsoft.Management/"
     "managementGroups/\"}]",
     1, "spec.roleAssignments[0].scope: Invalid value", "managementGroups"},
    {"spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"" SUB "\"},"
     "{\"role\":\"reader\",\"scope\":\"" SUB "\"}]",
     1, "spec.roleAssignments[1]: Duplicate value",
     "already spec.roleAssignments[0]"},
    {"spec.roleAssignments", "@roles:21", 1,
     "spec.roleAssignments: Too many: 21", "at most 20 entries"},
};

START_TEST(validate_rejects_invalid)
{
    struct azidt_validate_result result = {0};
    char *joined;

    validate_modified(invalid[_i].path, invalid[_i].value, &result);
    joined = azidt_validate_result_join(&result);
    ck_assert_msg(result.count == invalid[_i].count,
                  "%s=%s: expected %zu messages, got: %s", invalid[_i].path,
                  invalid[_i].value, invalid[_i].count, joined);
    ck_assert_msg(strstr(result.messages[0], invalid[_i].field) ==
                      result.messages[0],
                  "expected field \"%s\" first in: %s", invalid[_i].field,
                  result.messages[0]);
    ck_assert_msg(strstr(result.messages[0], invalid[_i].rule) != NULL,
                  "expected rule \"%s\" in: %s", invalid[_i].rule,
                  result.messages[0]);
    free(joined);
    azidt_validate_result_free(&result);
}
END_TEST

START_TEST(validate_reports_every_violation)
{
    struct azidt_validate_result result = {0};
    cJSON *doc = load_example();
    char *joined;

    test_set_path(doc, "spec.podSelector", cJSON_CreateString("-x"));
    test_set_path(doc, "spec.azureIdentityName", cJSON_CreateString("X"));
    azidt_validate_spec(doc, NULL, &result);
    ck_assert_uint_eq(result.count, 2);
    joined = azidt_validate_result_join(&result);
    ck_assert_ptr_nonnull(strstr(joined, "spec.azureIdentityName"));
    ck_assert_ptr_nonnull(strstr(joined, "; spec.podSelector"));
    free(joined);
    azidt_validate_result_free(&result);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(validate_caps_messages)
{
    struct azidt_validate_result result = {0};
    cJSON *doc = load_example();
    cJSON *spec = cJSON_GetObjectItem(doc, "spec");
    char name[32], *joined;

    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "extra%d", i);
        cJSON_AddNumberToObject(spec, name, i);
    }
    azidt_validate_spec(doc, NULL, &result);
    ck_assert_uint_eq(result.count, AZIDT_VALIDATE_MAX_MESSAGES);
    ck_assert_uint_eq(result.omitted, 1000 - AZIDT_VALIDATE_MAX_MESSAGES);
    joined = azidt_validate_result_join(&result);
    ck_assert_ptr_nonnull(strstr(joined, "\"spec.extra19\""));
    ck_assert_ptr_null(strstr(joined, "\"spec.extra20\""));
    ck_assert_str_eq(joined + strlen(joined) - strlen("; and 980 more"),
                     "; and 980 more");
    free(joined);
    azidt_validate_result_free(&result);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(validate_uses_limits)
{
    struct azidt_validate_result result = {0};
    struct azidt_validate_limits limits;
    cJSON *doc = load_example();

    azidt_validate_limits_init(&limits);
    limits.max_secret_duration_ns = 48 * AZIDT_NS_PER_HOUR;
    azidt_validate_spec(doc, &limits, &result);
    ck_assert_uint_eq(result.count, 1);
    ck_assert_ptr_nonnull(
        strstr(result.messages[0], "must be between 1h0m0s and 48h0m0s"));
    azidt_validate_result_free(&result);
    cJSON_Delete(doc);
}
END_TEST

static const struct {
    const char *path;
    const char *value;
    const char *denial; /* NULL when the update is allowed */
} updates[] = {
    {"spec.podSelector", "\"other-pods\"", NULL},
    {"spec.servicePrincipal.tags", "[\"new\"]", NULL},
    {"spec.servicePrincipal.clientSecretDuration", "\"48h\"", NULL},
    {"spec.servicePrincipal.renewBefore", "\"12h\"", NULL},
    {"spec.roleAssignments", "[{\"role\":\"Reader\",\"scope\":\"" SUB "\"}]",
     NULL},
    {"spec.appRegistration.displayName", "\"renamed\"",
     "spec.appRegistration.displayName: Invalid value: \"renamed\": field is "
     "immutable (it was \"azure-kv-access-test\"): the webhook does not "
     "rename"},
    {"spec.azureIdentityName", "\"renamed\"",
     "spec.azureIdentityName: Invalid value: \"renamed\": field is immutable "
     "(it was \"azure-kv-access-test\"): it names the Secret"},
    {"spec.nodeResourceGroup", "\"other-rg\"",
     "spec.nodeResourceGroup: Invalid value: \"other-rg\": field is "
     "immutable (it was \"my-aks-cluster-node-resource-group\")"},
    {"spec.nodeResourceGroup", NULL,
     "spec.nodeResourceGroup: Invalid value: \"\": field is immutable"},
};

START_TEST(validate_update_rules)
{
    struct azidt_validate_result result = {0};
    cJSON *old_doc = load_example(), *doc = load_example();

    test_set_path(doc, updates[_i].path, make_value(updates[_i].value));
    azidt_validate_update(doc, old_doc, &result);
    if (!updates[_i].denial) {
        ck_assert_msg(result.count == 0, "%s denied: %s", updates[_i].path,
                      result.count ? result.messages[0] : "");
    } else {
        ck_assert_uint_eq(result.count, 1);
        ck_assert_msg(strstr(result.messages[0], updates[_i].denial) ==
                          result.messages[0],
                      "expected \"%s\" in: %s", updates[_i].denial,
                      result.messages[0]);
    }
    azidt_validate_result_free(&result);
    cJSON_Delete(doc);
    cJSON_Delete(old_doc);
}
END_TEST

static const struct {
    const char *value;
    const char *quoted;
} quotes[] = {
    {"plain", "\"plain\""},
    {"a\"b\\c", "\"a\\\"b\\\\c\""},
    {"tab\there\n", "\"tab\\there\\n\""},
    {"bell\x07", "\"bell\\x07\""},
    {"bad\xff", "\"bad\\xff\""},
    {"\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""},
    {"", "\"\""},
};

START_TEST(validate_quote_escapes)
{
    char buf[AZIDT_QUOTE_MAX];

    ck_assert_str_eq(azidt_validate_quote(quotes[_i].value, buf, sizeof(buf)),
                     quotes[_i].quoted);
}
END_TEST

START_TEST(validate_quote_caps_length)
{
    char value[1000], buf[AZIDT_QUOTE_MAX];

    memset(value, '\x01', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    azidt_validate_quote(value, buf, sizeof(buf));
    ck_assert_uint_eq(strlen(buf), 2 + 64 * 4 + 3);
    ck_assert_str_eq(buf + strlen(buf) - 4, "\"...");
}
END_TEST

START_TEST(validate_join_empty)
{
    struct azidt_validate_result result = {0};
    char *joined = azidt_validate_result_join(&result);

    ck_assert_str_eq(joined, "");
    free(joined);
    azidt_validate_result_free(&result);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("validate");
    TCase *tc = tcase_create("validate");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, validate_example_is_valid);
    tcase_add_loop_test(tc, validate_accepts_valid, 0, COUNT(valid));
    tcase_add_loop_test(tc, validate_rejects_invalid, 0, COUNT(invalid));
    tcase_add_test(tc, validate_reports_every_violation);
    tcase_add_test(tc, validate_caps_messages);
    tcase_add_test(tc, validate_uses_limits);
    tcase_add_loop_test(tc, validate_update_rules, 0, COUNT(updates));
    tcase_add_loop_test(tc, validate_quote_escapes, 0, COUNT(quotes));
    tcase_add_test(tc, validate_quote_caps_length);
    tcase_add_test(tc, validate_join_empty);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
