#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/handlers.h"
#include "azidt/identity_cache.h"
#include "azidt/provisioner.h"
#include "azidt/role_policy.h"
#include "testutil.h"

#define EXAMPLE "manifests/examples/azure-kv-access-test.yaml"

static struct azidt_handler_ctx ctx;

static void setup(void)
{
    azidt_handler_ctx_init(&ctx);
}

/* Build and parse a review of an AzureIdentityTerminator. object and
 * old_object are taken over (either may be NULL). */
static struct azidt_admission_request *
make_request(const char *operation, cJSON *object, cJSON *old_object,
             bool dry_run, const char *subresource)
{
    cJSON *review = cJSON_Parse(
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"uid-1\",\"kind\":{\"group\":"
        "\"azidterminator.io\",\"version\":\"v1alpha1\",\"kind\":"
        "\"AzureIdentityTerminator\"},\"resource\":{\"resource\":"
        "\"azureidentityterminators\"},\"namespace\":\"my-namespace\"}}");
    cJSON *request = cJSON_GetObjectItem(review, "request");
    struct azidt_admission_request *req = NULL;
    char err[256] = "", *text;

    cJSON_AddStringToObject(request, "operation", operation);
    cJSON_AddBoolToObject(request, "dryRun", dry_run);
    if (subresource)
        cJSON_AddStringToObject(request, "subResource", subresource);
    if (object)
        cJSON_AddItemToObject(request, "object", object);
    if (old_object)
        cJSON_AddItemToObject(request, "oldObject", old_object);
    text = cJSON_PrintUnformatted(review);
    ck_assert_msg(azidt_admission_parse(text, strlen(text), &req, err,
                                        sizeof(err)) == AZIDT_OK,
                  "parse: %s", err);
    free(text);
    cJSON_Delete(review);
    return req;
}

static cJSON *example(void)
{
    cJSON *doc = test_load_yaml(test_source_path(EXAMPLE));

    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* --- mutating ----------------------------------------------------------- */

static const struct {
    const char *metadata;
    const char *patch; /* NULL when no patch is expected */
} finalizer_cases[] = {
    {"{\"name\":\"a\"}", "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\","
                         "\"value\":[\"azidterminator.io/cleanup\"]}]"},
    {"{\"name\":\"a\",\"finalizers\":null}",
     "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\","
     "\"value\":[\"azidterminator.io/cleanup\"]}]"},
    {"{\"name\":\"a\",\"finalizers\":[\"example.com/other\"]}",
     "[{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\","
     "\"value\":\"azidterminator.io/cleanup\"}]"},
    {"{\"name\":\"a\",\"finalizers\":[\"azidterminator.io/cleanup\"]}", NULL},
    {"{\"name\":\"a\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"}", NULL},
    {NULL, "[{\"op\":\"add\",\"path\":\"/metadata\","
           "\"value\":{\"finalizers\":[\"azidterminator.io/cleanup\"]}}]"},
};

static cJSON *object_with_metadata(const char *metadata)
{
    cJSON *object = example();

    test_set_path(object, "metadata", metadata ? cJSON_Parse(metadata) : NULL);
    return object;
}

START_TEST(mutate_adds_finalizer)
{
    struct azidt_admission_request *req = make_request(
        "CREATE", object_with_metadata(finalizer_cases[_i].metadata), NULL,
        false, NULL);
    struct azidt_admission_response resp = {0};
    char *text = NULL;

    azidt_handle_azidt_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    if (!finalizer_cases[_i].patch) {
        ck_assert_ptr_null(resp.patch);
    } else {
        text = cJSON_PrintUnformatted(resp.patch);
        ck_assert_str_eq(text, finalizer_cases[_i].patch);
    }
    free(text);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* Apply the patch as the apiserver would, then replay the request with
 * the patched object: no second finalizer may appear. */
START_TEST(mutate_replay_is_idempotent)
{
    cJSON *object = object_with_metadata(finalizer_cases[_i].metadata);
    struct azidt_admission_request *req =
        make_request("UPDATE", cJSON_Duplicate(object, true),
                     cJSON_Duplicate(object, true), false, NULL);
    struct azidt_admission_response resp = {0};
    cJSON *finalizers;
    int count = 0;
    const cJSON *entry;

    azidt_handle_azidt_mutate(&ctx, req, &resp);
    ck_assert(test_patch_apply(object, resp.patch));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);

    req = make_request("UPDATE", cJSON_Duplicate(object, true),
                       cJSON_Duplicate(object, true), false, NULL);
    azidt_handle_azidt_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    ck_assert_ptr_null(resp.patch);

    finalizers = cJSON_GetObjectItem(cJSON_GetObjectItem(object, "metadata"),
                                     "finalizers");
    cJSON_ArrayForEach(entry, finalizers)
    {
        if (strcmp(entry->valuestring, AZIDT_FINALIZER) == 0)
            count++;
    }
    ck_assert_int_le(count, 1);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
    cJSON_Delete(object);
}
END_TEST

START_TEST(mutate_skips_delete)
{
    struct azidt_admission_request *req =
        make_request("DELETE", NULL, example(), false, NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_azidt_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    ck_assert_ptr_null(resp.patch);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(mutate_patches_dry_run)
{
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, true, NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_azidt_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    ck_assert_int_eq(cJSON_GetArraySize(resp.patch), 1);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* --- validating --------------------------------------------------------- */

START_TEST(validate_allows_example)
{
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert_msg(resp.allowed, "denied: %s", resp.message);
    ck_assert_ptr_null(resp.message);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_denies_invalid_spec)
{
    cJSON *object = example();
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.servicePrincipal.clientSecretDuration",
                  cJSON_CreateString("30d"));
    req = make_request("CREATE", object, NULL, false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_int_eq(resp.code, 422);
    ck_assert_str_eq(resp.reason, "Invalid");
    ck_assert_ptr_nonnull(strstr(resp.message,
                                 "AzureIdentityTerminator my-namespace/"
                                 "azure-kv-access-test is invalid: "
                                 "spec.servicePrincipal.clientSecretDuration: "
                                 "Invalid value: \"30d\": unknown unit \"d\""));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* A NUL in a string must not shorten the value that validation checks. */
START_TEST(validate_denies_nul_in_name)
{
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};
    static const char field[] = "\"azureIdentityName\":\"azure-kv-access-test";
    char *text = cJSON_PrintUnformatted(req->review), *at, err[256] = "";

    azidt_admission_request_free(req);
    req = NULL;
    at = strstr(text, field);
    ck_assert_ptr_nonnull(at);
    /* Overwrite "access" in the name with the six characters \u0000. */
    memcpy(at + strlen(field) - strlen("access-test"), "\\u0000", 6);
    ck_assert_int_eq(
        azidt_admission_parse(text, strlen(text), &req, err, sizeof(err)),
        AZIDT_OK);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_ptr_nonnull(strstr(resp.message,
                                 "spec.azureIdentityName: Invalid value: "
                                 "\"azure-kv-\\x01-test\""));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
    free(text);
}
END_TEST

START_TEST(validate_uses_ctx_limits)
{
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    ctx.limits.max_secret_duration_ns = 24 * AZIDT_NS_PER_HOUR;
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_ptr_nonnull(strstr(resp.message, "and 24h0m0s"));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_denies_immutable_change)
{
    cJSON *object = example();
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.azureIdentityName",
                  cJSON_CreateString("renamed"));
    req = make_request("UPDATE", object, example(), false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_ptr_nonnull(strstr(resp.message,
                                 "spec.azureIdentityName: Invalid value: "
                                 "\"renamed\": field is immutable"));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_allows_selector_change)
{
    cJSON *object = example();
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.podSelector", cJSON_CreateString("new-pods"));
    req = make_request("UPDATE", object, example(), false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert_msg(resp.allowed, "denied: %s", resp.message);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* An object stored before a rule existed must still take status writes
 * and lose its finalizer, so an UPDATE that keeps spec is allowed. */
START_TEST(validate_allows_unchanged_spec)
{
    cJSON *object = example(), *old_object;
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.podSelector", cJSON_CreateString("-bad"));
    old_object = cJSON_Duplicate(object, true);
    test_set_path(object, "metadata.finalizers", cJSON_CreateArray());
    req = make_request("UPDATE", object, old_object, false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_skips_status_and_delete)
{
    cJSON *object = example();
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.podSelector", cJSON_CreateString("-bad"));
    req = make_request("UPDATE", object, example(), false, "status");
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);

    req = make_request("DELETE", NULL, example(), false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_accepts_null_ctx)
{
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_azidt_validate(NULL, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

static const struct {
    const char *operation;
    bool dry_run;
    bool expected;
} workers[] = {
    {"CREATE", false, true},
    {"CREATE", true, false},
    {"UPDATE", false, false},
    {"DELETE", false, false},
};

START_TEST(validate_needs_worker)
{
    bool has_object = strcmp(workers[_i].operation, "DELETE") != 0;
    struct azidt_admission_request *req =
        make_request(workers[_i].operation, has_object ? example() : NULL,
                     example(), workers[_i].dry_run, NULL);

    ck_assert_int_eq(azidt_azidt_validate_needs_worker(req),
                     workers[_i].expected);
    azidt_admission_request_free(req);
}
END_TEST

/* --- pods ------------------------------------------------------------- */

START_TEST(pod_handlers_allow)
{
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"labels\":{"
                             "\"azidterminator.io/identity\":\"kv\"}}}");
    struct azidt_admission_request *req =
        make_request("CREATE", pod, NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    ck_assert_ptr_null(resp.patch);
    azidt_admission_response_clear(&resp);
    azidt_handle_pod_validate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* --- checks from memory before Azure ------------------------------------ */

static struct azidt_identity_cache *cache;
static struct azidt_role_policy *policy;

static void add_object(struct azidt_kube_cache *target, const char *ns,
                       const char *name, const char *field, const char *value)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");

    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "uid", "uid-live");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "spec"), field, value);
    ck_assert_int_eq(azidt_kube_cache_apply(target, AZIDT_KUBE_ADDED, obj),
                     AZIDT_OK);
    cJSON_Delete(obj);
}

/* A synced cache holding my-namespace/live and a binding of selector
 * team-b-pods in team-b; the default role policy, scopes limited to the
 * resource groups of subscription sub-1. */
static void setup_memory(void)
{
    cJSON *empty = cJSON_CreateArray();
    char err[256];

    azidt_handler_ctx_init(&ctx);
    ck_assert_int_eq(azidt_identity_cache_new(&cache), AZIDT_OK);
    ck_assert_int_eq(azidt_kube_cache_replace(
                         azidt_identity_cache_terminators(cache), empty),
                     AZIDT_OK);
    ck_assert_int_eq(
        azidt_kube_cache_replace(azidt_identity_cache_bindings(cache), empty),
        AZIDT_OK);
    cJSON_Delete(empty);
    add_object(azidt_identity_cache_terminators(cache), "my-namespace", "live",
               "podSelector", "live-pods");
    add_object(azidt_identity_cache_bindings(cache), "other-team", "b",
               "selector", "team-b-pods");
    add_object(azidt_identity_cache_bindings(cache), "my-namespace", "mine",
               "selector", "shared-pods");
    add_object(azidt_identity_cache_bindings(cache), "other-team", "shared",
               "selector", "shared-pods");
    ck_assert_int_eq(azidt_role_policy_new(
                         AZIDT_DEFAULT_DENIED_ROLES, NULL,
                         "/subscriptions/00000000-0000-0000-0000-000000000001/"
                         "resourceGroups/",
                         &policy, err, sizeof(err)),
                     AZIDT_OK);
    ctx.identities = cache;
    ctx.role_policy = policy;
}

static void teardown_memory(void)
{
    azidt_identity_cache_free(cache);
    azidt_role_policy_free(policy);
    cache = NULL;
    policy = NULL;
}

static const struct {
    const char *operation;
    const char *name;
    const char *path;  /* set in the new object; NULL: none */
    const char *value; /* JSON */
    int code;          /* 0: allowed */
    const char *message;
} memory_cases[] = {
    {"CREATE", NULL, NULL, NULL, 0, NULL},
    {"CREATE", "live", NULL, NULL, 409, "my-namespace/live already exists"},
    {"CREATE", NULL, "spec.roleAssignments",
     "[{\"role\":\"Owner\",\"scope\":\"/subscriptions/"
     "00000000-0000-0000-0000-000000000001\"}]",
     403,
     "spec.roleAssignments[0].role: role \"Owner\" is denied by the role "
     "policy (--denied-roles); spec.roleAssignments[0].scope: scope "
     "\"/subscriptions/00000000-0000-0000-0000-000000000001\" is outside"},
    {"CREATE", NULL, "spec.roleAssignments",
     "[{\"role\":\"Reader\",\"scope\":\"/subscriptions/"
     "00000000-0000-0000-0000-000000000001/"
     "resourceGroups/rg\"},{\"role\":\"18d7d88d-d35e-4fb5-a5c3-"
     "7773c20a72d9\",\"scope\":\"/subscriptions/"
     "00000000-0000-0000-0000-000000000001/resourceGroups/"
     "rg\"}]",
     403, "spec.roleAssignments[1].role: role \"18d7d88d"},
    {"UPDATE", NULL, "spec.roleAssignments",
     "[{\"role\":\"User Access Administrator\",\"scope\":"
     "\"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
     "rg\"}]",
     403, "--denied-roles"},
    {"CREATE", NULL, "spec.podSelector", "\"team-b-pods\"", 409,
     "already selected by an AzureIdentityBinding in another namespace"},
    {"CREATE", NULL, "spec.podSelector", "\"shared-pods\"", 409,
     "in another namespace"},
    {"UPDATE", NULL, "spec.podSelector", "\"team-b-pods\"", 409,
     "in another namespace"},
};

START_TEST(validate_checks_memory)
{
    cJSON *object = example();
    cJSON *old = NULL;
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};
    bool update = strcmp(memory_cases[_i].operation, "UPDATE") == 0;

    if (memory_cases[_i].name)
        test_set_path(object, "metadata.name",
                      cJSON_CreateString(memory_cases[_i].name));
    if (update)
        old = cJSON_Duplicate(object, true);
    if (memory_cases[_i].path)
        test_set_path(object, memory_cases[_i].path,
                      cJSON_Parse(memory_cases[_i].value));
    req = make_request(memory_cases[_i].operation, object, old, false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    if (memory_cases[_i].code == 0) {
        ck_assert_msg(resp.allowed, "denied: %s", resp.message);
    } else {
        ck_assert(!resp.allowed);
        ck_assert_int_eq(resp.code, memory_cases[_i].code);
        ck_assert_msg(strstr(resp.message, memory_cases[_i].message),
                      "message: %s", resp.message);
        ck_assert_ptr_null(strstr(resp.message, "other-team"));
    }
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* An UPDATE that keeps a podSelector bound elsewhere is not re-judged. */
START_TEST(validate_keeps_unchanged_selector)
{
    cJSON *object = example();
    cJSON *old;
    struct azidt_admission_request *req;
    struct azidt_admission_response resp = {0};

    test_set_path(object, "spec.podSelector",
                  cJSON_CreateString("team-b-pods"));
    old = cJSON_Duplicate(object, true);
    test_set_path(object, "spec.servicePrincipal.tags",
                  cJSON_Parse("[\"team=a\"]"));
    req = make_request("UPDATE", object, old, false, NULL);
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert_msg(resp.allowed, "denied: %s", resp.message);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(validate_waits_for_cache)
{
    struct azidt_identity_cache *fresh;
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    ck_assert_int_eq(azidt_identity_cache_new(&fresh), AZIDT_OK);
    ctx.identities = fresh;
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_int_eq(resp.code, 503);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
    azidt_identity_cache_free(fresh);
}
END_TEST

/* A CREATE whose working deadline (deadline minus the undo reserve)
 * passed while it waited is denied with 504 before any Azure call: the
 * provisioner's client is never touched. */
START_TEST(validate_late_job_gets_504)
{
    static int not_a_client;
    struct azidt_provisioner *prov = NULL;
    struct azidt_admission_request *req =
        make_request("CREATE", example(), NULL, false, NULL);
    struct azidt_admission_response resp = {0};

    ck_assert_int_eq(azidt_provisioner_new(
                         (struct azidt_azure_client *)(void *)&not_a_client,
                         "cluster-1", &prov),
                     AZIDT_OK);
    ctx.provisioner = prov;
    ctx.undo_reserve_ms = 4000;
    req->deadline_ms = azidt_clock_now_ms() + 1000;
    azidt_handle_azidt_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_int_eq(resp.code, 504);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
    azidt_provisioner_free(prov);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("handlers");
    TCase *mutate = tcase_create("mutate");
    TCase *validate = tcase_create("validate");
    TCase *memory = tcase_create("memory");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(mutate, setup, NULL);
    tcase_add_loop_test(mutate, mutate_adds_finalizer, 0,
                        COUNT(finalizer_cases));
    tcase_add_loop_test(mutate, mutate_replay_is_idempotent, 0,
                        COUNT(finalizer_cases));
    tcase_add_test(mutate, mutate_skips_delete);
    tcase_add_test(mutate, mutate_patches_dry_run);
    suite_add_tcase(suite, mutate);

    tcase_add_checked_fixture(validate, setup, NULL);
    tcase_add_test(validate, validate_allows_example);
    tcase_add_test(validate, validate_denies_invalid_spec);
    tcase_add_test(validate, validate_denies_nul_in_name);
    tcase_add_test(validate, validate_uses_ctx_limits);
    tcase_add_test(validate, validate_denies_immutable_change);
    tcase_add_test(validate, validate_allows_selector_change);
    tcase_add_test(validate, validate_allows_unchanged_spec);
    tcase_add_test(validate, validate_skips_status_and_delete);
    tcase_add_test(validate, validate_accepts_null_ctx);
    tcase_add_loop_test(validate, validate_needs_worker, 0, COUNT(workers));
    tcase_add_test(validate, pod_handlers_allow);
    suite_add_tcase(suite, validate);

    tcase_add_checked_fixture(memory, setup_memory, teardown_memory);
    tcase_add_loop_test(memory, validate_checks_memory, 0, COUNT(memory_cases));
    tcase_add_test(memory, validate_keeps_unchanged_selector);
    tcase_add_test(memory, validate_waits_for_cache);
    tcase_add_test(memory, validate_late_job_gets_504);
    suite_add_tcase(suite, memory);

    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
