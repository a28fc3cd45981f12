#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/admission.h"
#include "testutil.h"

static const char base_review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
    "\"request\":{\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\","
    "\"kind\":{\"group\":\"azidterminator.io\",\"version\":\"v1alpha1\","
    "\"kind\":\"AzureIdentityTerminator\"},"
    "\"resource\":{\"group\":\"azidterminator.io\",\"version\":\"v1alpha1\","
    "\"resource\":\"azureidentityterminators\"},"
    "\"namespace\":\"my-namespace\",\"operation\":\"CREATE\","
    "\"userInfo\":{\"username\":\"alice\"},"
    "\"object\":{\"metadata\":{\"name\":\"azure-kv-access-test\"}},"
    "\"oldObject\":null,\"dryRun\":false}}";

/* Parse base_review after setting path to the JSON text value (NULL
 * removes the member). */
static azidt_err parse_modified(const char *path, const char *value,
                                struct azidt_admission_request **req, char *err,
                                size_t errlen)
{
    cJSON *doc = cJSON_Parse(base_review);
    char *text;
    azidt_err rc;

    ck_assert_ptr_nonnull(doc);
    if (path)
        test_set_path(doc, path, value ? cJSON_Parse(value) : NULL);
    text = cJSON_PrintUnformatted(doc);
    rc = azidt_admission_parse(text, strlen(text), req, err, errlen);
    free(text);
    cJSON_Delete(doc);
    return rc;
}

static const struct {
    const char *path;
    const char *value;
    const char *reason;
} malformed[] = {
    {"apiVersion", NULL, "missing apiVersion"},
    {"apiVersion", "\"admission.k8s.io/v1beta1\"",
     "apiVersion must be admission.k8s.io/v1"},
    {"apiVersion", "1", "apiVersion must be a string"},
    {"kind", NULL, "missing kind"},
    {"kind", "\"AdmissionResponse\"", "kind must be AdmissionReview"},
    {"request", NULL, "missing request"},
    {"request", "[]", "request must be an object"},
    {"request.uid", NULL, "missing request.uid"},
    {"request.uid", "\"\"", "request.uid must not be empty"},
    {"request.uid", "7", "request.uid must be a string"},
    {"request.operation", NULL, "missing request.operation"},
    {"request.operation", "\"PATCH\"", "request.operation must be CREATE"},
    {"request.kind", NULL, "missing request.kind"},
    {"request.kind", "\"Pod\"", "request.kind must be an object"},
    {"request.kind.kind", NULL, "missing request.kind.kind"},
    {"request.kind.version", NULL, "missing request.kind.version"},
    {"request.kind.group", "1", "request.kind.group must be a string"},
    {"request.resource", NULL, "missing request.resource"},
    {"request.resource.resource", NULL, "missing request.resource.resource"},
    {"request.subResource", "{}", "request.subResource must be a string"},
    {"request.object", NULL, "missing request.object"},
    {"request.object", "\"x\"", "request.object must be an object"},
    {"request.oldObject", "[]", "request.oldObject must be an object"},
    {"request.namespace", "3", "request.namespace must be a string"},
    {"request.name", "true", "request.name must be a string"},
    {"request.userInfo", "\"alice\"", "request.userInfo must be an object"},
    {"request.userInfo.username", "1",
     "request.userInfo.username must be a string"},
    {"request.dryRun", "\"true\"", "request.dryRun must be a boolean"},
};

START_TEST(review_rejects_malformed)
{
    struct azidt_admission_request *req = (void *)1;
    char err[256] = "";

    ck_assert_int_eq(parse_modified(malformed[_i].path, malformed[_i].value,
                                    &req, err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_null(req);
    ck_assert_msg(strstr(err, malformed[_i].reason) != NULL, "%s: got \"%s\"",
                  malformed[_i].path, err);
}
END_TEST

static const struct {
    const char *body;
    const char *reason;
} bad_bodies[] = {
    {"", "body is not valid JSON"},
    {"{", "body is not valid JSON"},
    {"not json", "body is not valid JSON"},
    {"[]", "body must be a JSON object"},
    {"\"AdmissionReview\"", "body must be a JSON object"},
    {"null", "body must be a JSON object"},
};

START_TEST(review_rejects_bad_body)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";
    const char *body = bad_bodies[_i].body;

    ck_assert_int_eq(
        azidt_admission_parse(body, strlen(body), &req, err, sizeof(err)),
        AZIDT_ERR_INVALID);
    ck_assert_ptr_null(req);
    ck_assert_str_eq(err, bad_bodies[_i].reason);
}
END_TEST

START_TEST(review_respects_length)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";

    /* Only the first 10 bytes count, so the document is cut short. */
    ck_assert_int_eq(
        azidt_admission_parse(base_review, 10, &req, err, sizeof(err)),
        AZIDT_ERR_INVALID);
    ck_assert_str_eq(err, "body is not valid JSON");
}
END_TEST

START_TEST(review_parses_fields)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";

    ck_assert_int_eq(parse_modified(NULL, NULL, &req, err, sizeof(err)),
                     AZIDT_OK);
    ck_assert_str_eq(req->uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    ck_assert_str_eq(req->group, "azidterminator.io");
    ck_assert_str_eq(req->version, "v1alpha1");
    ck_assert_str_eq(req->kind, "AzureIdentityTerminator");
    ck_assert_str_eq(req->resource, "azureidentityterminators");
    ck_assert_ptr_null(req->subresource);
    ck_assert_str_eq(req->namespace_, "my-namespace");
    ck_assert_str_eq(req->name, "azure-kv-access-test");
    ck_assert_str_eq(req->username, "alice");
    ck_assert_int_eq(req->operation, AZIDT_OP_CREATE);
    ck_assert(!req->dry_run);
    ck_assert_ptr_nonnull(req->object);
    ck_assert_ptr_null(req->old_object);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(review_prefers_request_name)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";

    ck_assert_int_eq(parse_modified("request.name", "\"from-request\"", &req,
                                    err, sizeof(err)),
                     AZIDT_OK);
    ck_assert_str_eq(req->name, "from-request");
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(review_defaults_optional_fields)
{
    struct azidt_admission_request *req = NULL;
    cJSON *doc = cJSON_Parse(base_review);
    char err[256] = "", *text;

    test_set_path(doc, "request.namespace", NULL);
    test_set_path(doc, "request.userInfo", NULL);
    test_set_path(doc, "request.dryRun", NULL);
    test_set_path(doc, "request.kind.group", NULL);
    test_set_path(doc, "request.object.metadata", NULL);
    text = cJSON_PrintUnformatted(doc);
    ck_assert_int_eq(
        azidt_admission_parse(text, strlen(text), &req, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(req->namespace_, "");
    ck_assert_str_eq(req->username, "");
    ck_assert_str_eq(req->group, "");
    ck_assert_str_eq(req->name, "");
    ck_assert(!req->dry_run);
    azidt_admission_request_free(req);
    free(text);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(review_parses_dry_run)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";

    ck_assert_int_eq(
        parse_modified("request.dryRun", "true", &req, err, sizeof(err)),
        AZIDT_OK);
    ck_assert(req->dry_run);
    azidt_admission_request_free(req);
}
END_TEST

START_TEST(review_parses_delete)
{
    struct azidt_admission_request *req = NULL;
    cJSON *doc = cJSON_Parse(base_review);
    char err[256] = "", *text;

    test_set_path(doc, "request.operation", cJSON_CreateString("DELETE"));
    test_set_path(doc, "request.object", cJSON_CreateNull());
    test_set_path(doc, "request.oldObject",
                  cJSON_Parse("{\"metadata\":{\"name\":\"old\"}}"));
    test_set_path(doc, "request.subResource", cJSON_CreateString("status"));
    text = cJSON_PrintUnformatted(doc);
    ck_assert_int_eq(
        azidt_admission_parse(text, strlen(text), &req, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_int_eq(req->operation, AZIDT_OP_DELETE);
    ck_assert_ptr_null(req->object);
    ck_assert_ptr_nonnull(req->old_object);
    ck_assert_str_eq(req->name, "old");
    ck_assert_str_eq(req->subresource, "status");
    azidt_admission_request_free(req);
    free(text);
    cJSON_Delete(doc);
}
END_TEST

static const struct {
    const char *name;     /* JSON text of request.object.metadata.name */
    const char *expected; /* the string the handlers see */
} nul_cases[] = {
    {"\"good\\u0000BAD\"", "good\001BAD"}, {"\"\\u0000\\u0000\"", "\001\001"},
    {"\"a\\\\u0000\"", "a\\u0000"}, /* an escaped backslash, no NUL */
    {"\"a\\u00001\"", "a\0011"},           {"\"a\\u0001\"", "a\001"},
};

/* cJSON would end the string at the NUL, so the parse shows U+0001,
 * which string rules reject, instead of a shortened value. */
START_TEST(review_keeps_nul_visible)
{
    static const char marker[] = "\"azure-kv-access-test\"";
    struct azidt_admission_request *req = NULL;
    const char *name = nul_cases[_i].name;
    const char *at = strstr(base_review, marker);
    size_t head = (size_t)(at - base_review);
    char *body = malloc(sizeof(base_review) + strlen(name));
    char err[256] = "";

    ck_assert_ptr_nonnull(at);
    memcpy(body, base_review, head);
    strcpy(body + head, name);
    strcat(body, at + strlen(marker));
    ck_assert_int_eq(
        azidt_admission_parse(body, strlen(body), &req, err, sizeof(err)),
        AZIDT_OK);
    ck_assert_str_eq(req->name, nul_cases[_i].expected);
    azidt_admission_request_free(req);
    free(body);
}
END_TEST

START_TEST(review_update_needs_old_object)
{
    struct azidt_admission_request *req = NULL;
    char err[256] = "";

    ck_assert_int_eq(parse_modified("request.operation", "\"UPDATE\"", &req,
                                    err, sizeof(err)),
                     AZIDT_ERR_INVALID);
    ck_assert_str_eq(err, "missing request.oldObject");
}
END_TEST

/* --- responses ------------------------------------------------------------ */

static cJSON *response_of(const char *uid,
                          const struct azidt_admission_response *resp)
{
    char *text = azidt_admission_response_json(uid, resp);
    cJSON *doc;

    ck_assert_ptr_nonnull(text);
    doc = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

static const char *string_at(const cJSON *doc, const char *a, const char *b,
                             const char *c)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, a);

    if (b)
        node = cJSON_GetObjectItemCaseSensitive(node, b);
    if (c)
        node = cJSON_GetObjectItemCaseSensitive(node, c);
    return cJSON_IsString(node) ? node->valuestring : NULL;
}

START_TEST(response_allows_with_uid)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc, *response;

    azidt_admission_allow(&resp);
    doc = response_of("uid-1", &resp);
    response = cJSON_GetObjectItemCaseSensitive(doc, "response");
    ck_assert_str_eq(string_at(doc, "apiVersion", NULL, NULL),
                     "admission.k8s.io/v1");
    ck_assert_str_eq(string_at(doc, "kind", NULL, NULL), "AdmissionReview");
    ck_assert_str_eq(string_at(doc, "response", "uid", NULL), "uid-1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(response, "allowed")));
    ck_assert_ptr_null(cJSON_GetObjectItem(response, "status"));
    ck_assert_ptr_null(cJSON_GetObjectItem(response, "patch"));
    ck_assert_ptr_null(cJSON_GetObjectItem(response, "patchType"));
    ck_assert_ptr_null(cJSON_GetObjectItem(response, "warnings"));
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_denial_has_status)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc, *status;

    azidt_admission_deny(&resp, 422, "spec.%s: bad", "podSelector");
    resp.reason = strdup("Invalid");
    doc = response_of("uid-2", &resp);
    status =
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "status");
    ck_assert(cJSON_IsFalse(
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "allowed")));
    ck_assert_int_eq(cJSON_GetObjectItem(status, "code")->valueint, 422);
    ck_assert_str_eq(string_at(status, "message", NULL, NULL),
                     "spec.podSelector: bad");
    ck_assert_str_eq(string_at(status, "reason", NULL, NULL), "Invalid");
    ck_assert_str_eq(string_at(status, "status", NULL, NULL), "Failure");
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_denial_code_at_least_400)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc, *status;

    azidt_admission_deny(&resp, 200, "no");
    doc = response_of("uid-3", &resp);
    status =
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "status");
    ck_assert_int_eq(cJSON_GetObjectItem(status, "code")->valueint, 403);
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_patch_is_base64)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc;
    char *decoded;

    azidt_admission_allow(&resp);
    resp.patch = cJSON_Parse("[{\"op\":\"add\",\"path\":\"/metadata/labels/"
                             "a~1b\",\"value\":\"x\"}]");
    doc = response_of("uid-4", &resp);
    ck_assert_str_eq(string_at(doc, "response", "patchType", NULL),
                     "JSONPatch");
    decoded = test_base64_decode(string_at(doc, "response", "patch", NULL));
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded, "[{\"op\":\"add\",\"path\":\"/metadata/labels/"
                              "a~1b\",\"value\":\"x\"}]");
    free(decoded);
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_skips_empty_patch)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc;

    azidt_admission_allow(&resp);
    resp.patch = cJSON_CreateArray();
    doc = response_of("uid-5", &resp);
    ck_assert_ptr_null(string_at(doc, "response", "patch", NULL));
    ck_assert_ptr_null(string_at(doc, "response", "patchType", NULL));
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_deny_drops_patch)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc;

    azidt_admission_allow(&resp);
    resp.patch = cJSON_Parse("[{\"op\":\"remove\",\"path\":\"/a\"}]");
    azidt_admission_deny(&resp, 400, "no");
    ck_assert_ptr_null(resp.patch);
    doc = response_of("uid-6", &resp);
    ck_assert_ptr_null(string_at(doc, "response", "patch", NULL));
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_carries_warnings)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc, *warnings;

    azidt_admission_allow(&resp);
    ck_assert_int_eq(azidt_admission_warn(&resp, "first %d", 1), AZIDT_OK);
    ck_assert_int_eq(azidt_admission_warn(&resp, "second"), AZIDT_OK);
    doc = response_of("uid-7", &resp);
    warnings =
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "warnings");
    ck_assert_int_eq(cJSON_GetArraySize(warnings), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(warnings, 0)->valuestring, "first 1");
    ck_assert_str_eq(cJSON_GetArrayItem(warnings, 1)->valuestring, "second");
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_escapes_message)
{
    struct azidt_admission_response resp = {0};
    cJSON *doc;

    azidt_admission_deny(&resp, 400, "bad \"value\"\n%s", "\\");
    doc = response_of("uid-\"8", &resp);
    ck_assert_str_eq(string_at(doc, "response", "uid", NULL), "uid-\"8");
    ck_assert_str_eq(string_at(doc, "response", "status", "message"),
                     "bad \"value\"\n\\");
    cJSON_Delete(doc);
    azidt_admission_response_clear(&resp);
}
END_TEST

START_TEST(response_clear_zeroes)
{
    struct azidt_admission_response resp = {0};

    azidt_admission_deny(&resp, 400, "no");
    azidt_admission_warn(&resp, "w");
    azidt_admission_response_clear(&resp);
    ck_assert_ptr_null(resp.message);
    ck_assert_ptr_null(resp.warnings);
    ck_assert_uint_eq(resp.warning_count, 0);
    azidt_admission_response_clear(NULL);
}
END_TEST

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
    Suite *suite = suite_create("review");
    TCase *parse = tcase_create("parse");
    TCase *respond = tcase_create("response");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(parse, review_rejects_malformed, 0, COUNT(malformed));
    tcase_add_loop_test(parse, review_rejects_bad_body, 0, COUNT(bad_bodies));
    tcase_add_test(parse, review_respects_length);
    tcase_add_test(parse, review_parses_fields);
    tcase_add_test(parse, review_prefers_request_name);
    tcase_add_test(parse, review_defaults_optional_fields);
    tcase_add_test(parse, review_parses_dry_run);
    tcase_add_test(parse, review_parses_delete);
    tcase_add_test(parse, review_update_needs_old_object);
    tcase_add_loop_test(parse, review_keeps_nul_visible, 0, COUNT(nul_cases));
    suite_add_tcase(suite, parse);

    tcase_add_test(respond, response_allows_with_uid);
    tcase_add_test(respond, response_denial_has_status);
    tcase_add_test(respond, response_denial_code_at_least_400);
    tcase_add_test(respond, response_patch_is_base64);
    tcase_add_test(respond, response_skips_empty_patch);
    tcase_add_test(respond, response_deny_drops_patch);
    tcase_add_test(respond, response_carries_warnings);
    tcase_add_test(respond, response_escapes_message);
    tcase_add_test(respond, response_clear_zeroes);
    suite_add_tcase(suite, respond);

    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
