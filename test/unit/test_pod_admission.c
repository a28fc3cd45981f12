#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/constants.h"
#include "azidt/handlers.h"
#include "azidt/identity_cache.h"
#include "testutil.h"

#define NS "my-namespace"
#define OTHER_NS "other-namespace"

static struct azidt_handler_ctx ctx;
static struct azidt_identity_cache *cache;

static cJSON *object(const char *ns, const char *name)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");

    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "resourceVersion", "1");
    return obj;
}

static void add_terminator(const char *name, const char *selector,
                           const char *ready, const char *reason, bool deleting)
{
    cJSON *obj = object(NS, name);
    cJSON *spec = cJSON_AddObjectToObject(obj, "spec");
    cJSON *conditions = cJSON_AddArrayToObject(
        cJSON_AddObjectToObject(obj, "status"), "conditions");
    cJSON *condition = cJSON_CreateObject();

    if (selector)
        cJSON_AddStringToObject(spec, "podSelector", selector);
    cJSON_AddStringToObject(condition, "type", "Ready");
    cJSON_AddStringToObject(condition, "status", ready);
    cJSON_AddStringToObject(condition, "reason", reason);
    cJSON_AddStringToObject(condition, "message", "waiting for Azure");
    cJSON_AddItemToArray(conditions, condition);
    if (deleting)
        cJSON_AddStringToObject(cJSON_GetObjectItem(obj, "metadata"),
                                "deletionTimestamp", "2026-01-01T00:00:00Z");
    ck_assert_int_eq(
        azidt_kube_cache_apply(azidt_identity_cache_terminators(cache),
                               AZIDT_KUBE_ADDED, obj),
        AZIDT_OK);
    cJSON_Delete(obj);
}

static void add_binding(const char *ns, const char *name, const char *selector)
{
    cJSON *obj = object(ns, name);

    cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "spec"), "selector",
                            selector);
    ck_assert_int_eq(
        azidt_kube_cache_apply(azidt_identity_cache_bindings(cache),
                               AZIDT_KUBE_ADDED, obj),
        AZIDT_OK);
    cJSON_Delete(obj);
}

static void mark_synced(void)
{
    cJSON *empty = cJSON_CreateArray();

    ck_assert_int_eq(azidt_kube_cache_replace(
                         azidt_identity_cache_terminators(cache), empty),
                     AZIDT_OK);
    ck_assert_int_eq(
        azidt_kube_cache_replace(azidt_identity_cache_bindings(cache), empty),
        AZIDT_OK);
    cJSON_Delete(empty);
}

/*
 * Identities of my-namespace: ready (ready-pods), pending (Ready False),
 * deleting, no-selector. Bindings: ready-pods in my-namespace, other-pods
 * in other-namespace only, shared-pods in both.
 */
static void setup(void)
{
    azidt_handler_ctx_init(&ctx);
    ck_assert_int_eq(azidt_identity_cache_new(&cache), AZIDT_OK);
    mark_synced();
    add_terminator("ready", "ready-pods", "True", "Provisioned", false);
    add_terminator("pending", "pending-pods", "False", "SecretNotYetAccepted",
                   false);
    add_terminator("deleting", "deleting-pods", "True", "Provisioned", true);
    add_terminator("no-selector", NULL, "True", "Provisioned", false);
    add_binding(NS, "ready", "ready-pods");
    add_binding(OTHER_NS, "other", "other-pods");
    add_binding(NS, "shared", "shared-pods");
    add_binding(OTHER_NS, "shared", "shared-pods");
    ctx.identities = cache;
}

static void teardown(void)
{
    azidt_identity_cache_free(cache);
    cache = NULL;
}

/* A pod with the labels given as "key=value,key=value" ("" for none). */
static cJSON *pod(const char *ns, const char *labels)
{
    cJSON *obj = object(ns, "web-0");
    cJSON *map =
        cJSON_AddObjectToObject(cJSON_GetObjectItem(obj, "metadata"), "labels");
    char *copy = strdup(labels);
    char *save = NULL;

    for (char *pair = strtok_r(copy, ",", &save); pair;
         pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');

        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        cJSON_AddStringToObject(map, pair, eq + 1);
    }
    free(copy);
    return obj;
}

/* Parse a pod review. old_labels NULL leaves oldObject out. */
static struct azidt_admission_request *pod_request(const char *operation,
                                                   const char *ns,
                                                   const char *labels,
                                                   const char *old_labels)
{
    cJSON *review = cJSON_Parse(
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"request\":{\"uid\":\"uid-1\",\"kind\":{\"group\":\"\",\"version\":"
        "\"v1\",\"kind\":\"Pod\"},\"resource\":{\"resource\":\"pods\"}}}");
    cJSON *request = cJSON_GetObjectItem(review, "request");
    struct azidt_admission_request *req = NULL;
    char err[256] = "", *text;

    cJSON_AddStringToObject(request, "namespace", ns);
    cJSON_AddStringToObject(request, "operation", operation);
    if (labels)
        cJSON_AddItemToObject(request, "object", pod(ns, labels));
    if (old_labels)
        cJSON_AddItemToObject(request, "oldObject", pod(ns, old_labels));
    text = cJSON_PrintUnformatted(review);
    ck_assert_msg(azidt_admission_parse(text, strlen(text), &req, err,
                                        sizeof(err)) == AZIDT_OK,
                  "parse: %s", err);
    free(text);
    cJSON_Delete(review);
    return req;
}

/* The pod's aadpodidbinding label after resp's patch, or NULL. Caller
 * frees. */
static char *patched_binding_label(const struct azidt_admission_request *req,
                                   const struct azidt_admission_response *resp)
{
    cJSON *doc = cJSON_Duplicate(req->object, true);
    const cJSON *value;
    char *result = NULL;

    ck_assert(test_patch_apply(doc, resp->patch));
    value = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metadata"), "labels"),
        AAD_POD_BINDING_LABEL);
    if (cJSON_IsString(value))
        result = strdup(value->valuestring);
    cJSON_Delete(doc);
    return result;
}

static bool has_warning(const struct azidt_admission_response *resp,
                        const char *text)
{
    for (size_t i = 0; i < resp->warning_count; i++)
        if (strstr(resp->warnings[i], text))
            return true;
    return false;
}

/* --- mutating ------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *operation;
    const char *ns;
    const char *labels;
    enum azidt_not_ready_pods policy;
    int code;            /* 0 when allowed */
    const char *label;   /* aadpodidbinding after the patch; NULL: none */
    const char *message; /* part of the denial message */
    const char *warning; /* part of a warning, or NULL for none */
} mutate_cases[] = {
    {"labels ready identity", "CREATE", NS, "azidterminator.io/identity=ready",
     AZIDT_NOT_READY_PODS_DENY, 0, "ready-pods", NULL, NULL},
    {"replay adds nothing", "CREATE", NS,
     "azidterminator.io/identity=ready,aadpodidbinding=ready-pods",
     AZIDT_NOT_READY_PODS_DENY, 0, NULL, NULL, NULL},
    {"replaces other value", "CREATE", NS,
     "azidterminator.io/identity=ready,aadpodidbinding=other-pods",
     AZIDT_NOT_READY_PODS_DENY, 0, "ready-pods", NULL,
     "aadpodidbinding=other-pods replaced by ready-pods"},
    {"missing identity", "CREATE", NS, "azidterminator.io/identity=missing",
     AZIDT_NOT_READY_PODS_DENY, 403, NULL,
     "label azidterminator.io/identity=missing names an "
     "AzureIdentityTerminator that does not exist in namespace my-namespace",
     NULL},
    {"identity of other namespace", "CREATE", OTHER_NS,
     "azidterminator.io/identity=ready", AZIDT_NOT_READY_PODS_DENY, 403, NULL,
     "does not exist in namespace other-namespace", NULL},
    {"not ready denied", "CREATE", NS, "azidterminator.io/identity=pending",
     AZIDT_NOT_READY_PODS_DENY, 403, NULL,
     "is not Ready (SecretNotYetAccepted: waiting for Azure)", NULL},
    {"not ready warned", "CREATE", NS, "azidterminator.io/identity=pending",
     AZIDT_NOT_READY_PODS_WARN, 0, "pending-pods", NULL,
     "my-namespace/pending is not Ready (SecretNotYetAccepted"},
    {"deleting identity", "CREATE", NS, "azidterminator.io/identity=deleting",
     AZIDT_NOT_READY_PODS_WARN, 403, NULL, "is being deleted", NULL},
    {"identity without selector", "CREATE", NS,
     "azidterminator.io/identity=no-selector", AZIDT_NOT_READY_PODS_DENY, 403,
     NULL, "has no valid spec.podSelector", NULL},
    {"unlabelled pod", "CREATE", NS, "app=web", AZIDT_NOT_READY_PODS_DENY, 0,
     NULL, NULL, NULL},
    {"update untouched", "UPDATE", NS, "azidterminator.io/identity=missing",
     AZIDT_NOT_READY_PODS_DENY, 0, NULL, NULL, NULL},
};

START_TEST(mutate_table)
{
    bool update = strcmp(mutate_cases[_i].operation, "UPDATE") == 0;
    struct azidt_admission_request *req = pod_request(
        mutate_cases[_i].operation, mutate_cases[_i].ns,
        mutate_cases[_i].labels, update ? mutate_cases[_i].labels : NULL);
    struct azidt_admission_response resp = {0};
    char *label;

    ctx.not_ready_pods = mutate_cases[_i].policy;
    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert_msg(resp.allowed == (mutate_cases[_i].code == 0),
                  "%s: allowed %d, message %s", mutate_cases[_i].name,
                  resp.allowed, resp.message ? resp.message : "(none)");
    if (mutate_cases[_i].code) {
        ck_assert_int_eq(resp.code, mutate_cases[_i].code);
        ck_assert_msg(resp.message &&
                          strstr(resp.message, mutate_cases[_i].message),
                      "%s: message \"%s\" lacks \"%s\"", mutate_cases[_i].name,
                      resp.message, mutate_cases[_i].message);
        ck_assert_ptr_null(resp.patch);
    }
    if (mutate_cases[_i].label) {
        label = patched_binding_label(req, &resp);
        ck_assert_pstr_eq(label, mutate_cases[_i].label);
        free(label);
    } else {
        ck_assert_ptr_null(resp.patch);
    }
    if (mutate_cases[_i].warning)
        ck_assert_msg(has_warning(&resp, mutate_cases[_i].warning),
                      "%s: no warning with \"%s\"", mutate_cases[_i].name,
                      mutate_cases[_i].warning);
    else
        ck_assert_uint_eq(resp.warning_count, 0);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* The denial names the fix. */
START_TEST(mutate_missing_names_fix)
{
    struct azidt_admission_request *req =
        pod_request("CREATE", NS, "azidterminator.io/identity=missing", NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert_ptr_nonnull(strstr(resp.message, "create it there first"));
    ck_assert_ptr_nonnull(strstr(resp.message, "kubectl get azidt -n " NS));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* --- validating ---------------------------------------------------------- */

static const struct {
    const char *name;
    const char *operation;
    const char *labels;
    const char *old_labels;
    int code;            /* 0 when allowed */
    const char *warning; /* part of a warning, or NULL for none */
} validate_cases[] = {
    {"bound here", "CREATE", "aadpodidbinding=ready-pods", NULL, 0, NULL},
    {"bound here and elsewhere", "CREATE", "aadpodidbinding=shared-pods", NULL,
     0, NULL},
    {"bound elsewhere only", "CREATE", "aadpodidbinding=other-pods", NULL, 403,
     NULL},
    {"bound nowhere", "CREATE", "aadpodidbinding=unbound", NULL, 0,
     "no AzureIdentityBinding selects label aadpodidbinding=unbound"},
    {"no label", "CREATE", "app=web", NULL, 0, NULL},
    {"update keeps label", "UPDATE", "aadpodidbinding=other-pods",
     "aadpodidbinding=other-pods", 0, NULL},
    {"update adds label", "UPDATE", "aadpodidbinding=other-pods", "app=web",
     403, NULL},
    {"update changes label", "UPDATE", "aadpodidbinding=other-pods",
     "aadpodidbinding=ready-pods", 403, NULL},
    {"update removes label", "UPDATE", "app=web", "aadpodidbinding=other-pods",
     0, NULL},
};

START_TEST(validate_table)
{
    struct azidt_admission_request *req =
        pod_request(validate_cases[_i].operation, NS, validate_cases[_i].labels,
                    validate_cases[_i].old_labels);
    struct azidt_admission_response resp = {0};

    azidt_handle_pod_validate(&ctx, req, &resp);
    ck_assert_msg(resp.allowed == (validate_cases[_i].code == 0),
                  "%s: allowed %d, message %s", validate_cases[_i].name,
                  resp.allowed, resp.message ? resp.message : "(none)");
    if (validate_cases[_i].code)
        ck_assert_int_eq(resp.code, validate_cases[_i].code);
    if (validate_cases[_i].warning)
        ck_assert_msg(has_warning(&resp, validate_cases[_i].warning),
                      "%s: no warning with \"%s\"", validate_cases[_i].name,
                      validate_cases[_i].warning);
    else
        ck_assert_uint_eq(resp.warning_count, 0);
    ck_assert_ptr_null(resp.patch);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* The denial names the value and this namespace, never the namespace that
 * binds it. */
START_TEST(validate_hides_other_namespaces)
{
    struct azidt_admission_request *req =
        pod_request("CREATE", NS, "aadpodidbinding=other-pods", NULL);
    struct azidt_admission_response resp = {0};

    azidt_handle_pod_validate(&ctx, req, &resp);
    ck_assert_ptr_nonnull(resp.message);
    ck_assert_ptr_nonnull(strstr(resp.message, "aadpodidbinding=other-pods"));
    ck_assert_ptr_nonnull(
        strstr(resp.message, "is not bound in namespace " NS));
    ck_assert_ptr_null(strstr(resp.message, OTHER_NS));
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* --- without a usable cache ---------------------------------------------- */

/* Without Kubernetes access (provisioning disabled) pods pass unchanged. */
START_TEST(no_cache_allows)
{
    struct azidt_admission_request *req = pod_request(
        "CREATE", NS, "azidterminator.io/identity=missing,aadpodidbinding=x",
        NULL);
    struct azidt_admission_response resp = {0};

    ctx.identities = NULL;
    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    ck_assert_ptr_null(resp.patch);
    azidt_admission_response_clear(&resp);
    azidt_handle_pod_validate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_handle_pod_mutate(NULL, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

/* Before the first lists the cache cannot tell, so both handlers deny
 * with 503 instead of guessing. */
START_TEST(unsynced_cache_denies)
{
    struct azidt_identity_cache *fresh = NULL;
    struct azidt_admission_request *req = pod_request(
        "CREATE", NS,
        "azidterminator.io/identity=ready,aadpodidbinding=ready-pods", NULL);
    struct azidt_admission_response resp = {0};

    ck_assert_int_eq(azidt_identity_cache_new(&fresh), AZIDT_OK);
    ctx.identities = fresh;
    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_int_eq(resp.code, 503);
    azidt_admission_response_clear(&resp);
    azidt_handle_pod_validate(&ctx, req, &resp);
    ck_assert(!resp.allowed);
    ck_assert_int_eq(resp.code, 503);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
    azidt_identity_cache_free(fresh);
}
END_TEST

/* Pod subresources such as pods/binding are never checked. */
START_TEST(subresource_allowed)
{
    struct azidt_admission_request *req =
        pod_request("CREATE", NS, "azidterminator.io/identity=missing", NULL);
    struct azidt_admission_response resp = {0};

    req->subresource = "binding";
    azidt_handle_pod_mutate(&ctx, req, &resp);
    ck_assert(resp.allowed);
    azidt_admission_response_clear(&resp);
    azidt_admission_request_free(req);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("pod_admission");
    TCase *tc = tcase_create("pod_admission");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, mutate_table, 0, COUNT(mutate_cases));
    tcase_add_test(tc, mutate_missing_names_fix);
    tcase_add_loop_test(tc, validate_table, 0, COUNT(validate_cases));
    tcase_add_test(tc, validate_hides_other_namespaces);
    tcase_add_test(tc, no_cache_allows);
    tcase_add_test(tc, unsynced_cache_denies);
    tcase_add_test(tc, subresource_allowed);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
