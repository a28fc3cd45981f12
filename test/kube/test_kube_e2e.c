/*
 * Kubernetes client against a real kube-apiserver. run.sh starts the
 * control plane and sets:
 *   AZIDT_KUBE_E2E_CERT_KUBECONFIG   admin kubeconfig (client certificate)
 *   AZIDT_KUBE_E2E_TOKEN_KUBECONFIG  kubeconfig whose user has a tokenFile
 *   AZIDT_KUBE_E2E_TOKEN_FILE        that token file (starts invalid)
 *   AZIDT_KUBE_E2E_TOKEN             a valid service account token
 *   AZIDT_KUBE_E2E_ETCD_URL          etcd client URL (for compaction)
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "azidt/clock.h"
#include "azidt/kube_cache.h"
#include "azidt/kube_client.h"
#include "azidt/kube_watch.h"
#include "azidt/kubeconfig.h"

#define NS "azidt-kube-e2e"
#define CALL_MS 10000

static const struct azidt_kube_resource namespaces = {"", "v1", "namespaces",
                                                      false};
static const struct azidt_kube_resource configmaps = {"", "v1", "configmaps",
                                                      true};
static const struct azidt_kube_resource secrets = {"", "v1", "secrets", true};
static const struct azidt_kube_resource events = {"", "v1", "events", true};
static const struct azidt_kube_resource crds = {
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
static const struct azidt_kube_resource widgets = {"e2e.azidterminator.io",
                                                   "v1", "widgets", true};

static struct azidt_kube_client *client;

static struct azidt_kube_client *client_from(const char *env)
{
    const char *path = getenv(env);
    struct azidt_kubeconfig *cfg = NULL;
    struct azidt_kube_client *c = NULL;
    char err[AZIDT_KUBECONFIG_ERR_MAX];

    ck_assert_msg(path != NULL, "%s is not set; run test/kube/run.sh", env);
    ck_assert_msg(azidt_kubeconfig_load_file(path, NULL, &cfg, err,
                                             sizeof(err)) == AZIDT_OK,
                  "%s", err);
    ck_assert_int_eq(azidt_kube_client_new(cfg, &c), AZIDT_OK);
    return c;
}

static cJSON *parse(const char *json)
{
    cJSON *obj = cJSON_Parse(json);

    ck_assert_msg(obj != NULL, "bad test JSON: %s", json);
    return obj;
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *item = cJSON_GetObjectItem(obj, a);

    if (b)
        item = cJSON_GetObjectItem(item, b);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static void create_json(const struct azidt_kube_resource *res, const char *ns,
                        const char *json)
{
    struct azidt_kube_response r = {0};
    cJSON *obj = parse(json);
    azidt_err rc = azidt_kube_create(client, res, ns, obj, NULL,
                                     azidt_deadline_in(CALL_MS), &r);

    ck_assert_msg(rc == AZIDT_OK, "create failed: %s: %s", azidt_err_name(rc),
                  r.message);
    cJSON_Delete(obj);
    azidt_kube_response_clear(&r);
}

static void setup_namespace(void)
{
    struct azidt_kube_response r = {0};
    cJSON *obj = parse("{\"metadata\":{\"name\":\"" NS "\"}}");
    azidt_err rc;

    client = client_from("AZIDT_KUBE_E2E_CERT_KUBECONFIG");
    rc = azidt_kube_create(client, &namespaces, NULL, obj, NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK || rc == AZIDT_ERR_CONFLICT, "%s: %s",
                  azidt_err_name(rc), r.message);
    cJSON_Delete(obj);
    azidt_kube_response_clear(&r);
}

static void teardown_client(void)
{
    azidt_kube_client_free(client);
    client = NULL;
}

START_TEST(configmap_crud)
{
    struct azidt_kube_response r = {0};
    cJSON *obj;
    char *rv;
    azidt_err rc;

    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"crud\"},\"data\":{\"k\":\"v1\"}}");

    rc = azidt_kube_get(client, &configmaps, NS, "crud",
                        azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(str_at(r.body, "data", "k"), "v1");
    rv = strdup(str_at(r.body, "metadata", "resourceVersion"));
    obj = cJSON_Duplicate(r.body, true);
    azidt_kube_response_clear(&r);

    /* Replace with the current resourceVersion. */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(obj, "data"), "k",
                              cJSON_CreateString("v2"));
    rc = azidt_kube_update(client, &configmaps, NS, "crud", obj, NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_str_eq(str_at(r.body, "data", "k"), "v2");
    azidt_kube_response_clear(&r);

    /* The same stale resourceVersion again is a conflict. */
    rc = azidt_kube_update(client, &configmaps, NS, "crud", obj, NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_CONFLICT);
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(r.reason, "Conflict");
    ck_assert_ptr_nonnull(r.message);
    azidt_kube_response_clear(&r);
    cJSON_Delete(obj);
    free(rv);

    /* Creating it twice is AlreadyExists. */
    obj = parse("{\"metadata\":{\"name\":\"crud\"}}");
    rc = azidt_kube_create(client, &configmaps, NS, obj, NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_CONFLICT);
    ck_assert_str_eq(r.reason, "AlreadyExists");
    ck_assert_ptr_nonnull(strstr(r.message, "already exists"));
    azidt_kube_response_clear(&r);
    cJSON_Delete(obj);

    rc = azidt_kube_delete(client, &configmaps, NS, "crud", NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    azidt_kube_response_clear(&r);
    rc = azidt_kube_get(client, &configmaps, NS, "crud",
                        azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_NOT_FOUND);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.reason, "NotFound");
    ck_assert_ptr_nonnull(strstr(r.message, "not found"));
    azidt_kube_response_clear(&r);
}
END_TEST

START_TEST(secret_delete_preconditions)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_write_options wrong_uid = {
        .precondition_uid = "00000000-0000-0000-0000-000000000000"};
    struct azidt_kube_write_options right = {.propagation_policy =
                                                 "Foreground"};
    char *uid;
    azidt_err rc;

    create_json(&secrets, NS,
                "{\"metadata\":{\"name\":\"s1\"},\"type\":\"Opaque\","
                "\"data\":{\"clientSecret\":\"c2VjcmV0\"}}");
    rc = azidt_kube_get(client, &secrets, NS, "s1", azidt_deadline_in(CALL_MS),
                        &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_str_eq(str_at(r.body, "data", "clientSecret"), "c2VjcmV0");
    uid = strdup(str_at(r.body, "metadata", "uid"));
    azidt_kube_response_clear(&r);

    rc = azidt_kube_delete(client, &secrets, NS, "s1", &wrong_uid,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_CONFLICT);
    ck_assert_msg(strstr(r.message, "recondition") != NULL, "message: %s",
                  r.message);
    azidt_kube_response_clear(&r);

    right.precondition_uid = uid;
    rc = azidt_kube_delete(client, &secrets, NS, "s1", &right,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    azidt_kube_response_clear(&r);
    free(uid);
}
END_TEST

START_TEST(patch_merge_json_apply)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_write_options apply = {.field_manager = "azidt-e2e",
                                             .force = true};
    azidt_err rc;

    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"patched\"},\"data\":{\"a\":\"1\","
                "\"b\":\"2\"}}");
    rc = azidt_kube_patch(client, &configmaps, NS, "patched",
                          AZIDT_KUBE_PATCH_MERGE,
                          "{\"metadata\":{\"labels\":{\"x\":\"y\"}},"
                          "\"data\":{\"b\":null}}",
                          NULL, azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_str_eq(
        str_at(cJSON_GetObjectItem(r.body, "metadata"), "labels", "x"), "y");
    ck_assert_ptr_null(str_at(r.body, "data", "b"));
    azidt_kube_response_clear(&r);

    rc = azidt_kube_patch(
        client, &configmaps, NS, "patched", AZIDT_KUBE_PATCH_JSON,
        "[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"1\"},"
        "{\"op\":\"replace\",\"path\":\"/data/a\",\"value\":\"3\"}]",
        NULL, azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_str_eq(str_at(r.body, "data", "a"), "3");
    azidt_kube_response_clear(&r);

    /* A failing "test" operation rejects the whole patch. */
    rc = azidt_kube_patch(
        client, &configmaps, NS, "patched", AZIDT_KUBE_PATCH_JSON,
        "[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"1\"}]", NULL,
        azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_INVALID);
    ck_assert_ptr_nonnull(r.message);
    azidt_kube_response_clear(&r);

    rc = azidt_kube_patch(client, &configmaps, NS, "applied",
                          AZIDT_KUBE_PATCH_APPLY,
                          "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                          "\"metadata\":{\"name\":\"applied\"},"
                          "\"data\":{\"z\":\"1\"}}",
                          &apply, azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(str_at(r.body, "data", "z"), "1");
    azidt_kube_response_clear(&r);
}
END_TEST

static void wait_crd_established(const char *name)
{
    int64_t deadline = azidt_deadline_in(30000);

    while (!azidt_deadline_passed(deadline)) {
        struct azidt_kube_response r = {0};
        const cJSON *cond;
        bool ok = false;

        if (azidt_kube_get(client, &crds, NULL, name,
                           azidt_deadline_in(CALL_MS), &r) == AZIDT_OK) {
            cJSON_ArrayForEach(
                cond, cJSON_GetObjectItem(cJSON_GetObjectItem(r.body, "status"),
                                          "conditions"))
            {
                if (strcmp(str_at(cond, "type", NULL), "Established") == 0 &&
                    strcmp(str_at(cond, "status", NULL), "True") == 0)
                    ok = true;
            }
        }
        azidt_kube_response_clear(&r);
        if (ok)
            return;
        usleep(200000);
    }
    ck_abort_msg("CRD %s was not established within 30 s", name);
}

static const char widget_crd[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\","
    "\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.e2e.azidterminator.io\"},"
    "\"spec\":{\"group\":\"e2e.azidterminator.io\",\"scope\":\"Namespaced\","
    "\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
    "\"kind\":\"Widget\"},"
    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
    "\"subresources\":{\"status\":{}},"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":"
    "\"integer\"}}},"
    "\"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":"
    "\"string\"},\"observedGeneration\":{\"type\":\"integer\"}}}}}}}]}}";

START_TEST(status_subresource)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_write_options status = {.subresource = "status"};
    cJSON *obj;
    azidt_err rc;

    obj = parse(widget_crd);
    rc = azidt_kube_create(client, &crds, NULL, obj, NULL,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK || rc == AZIDT_ERR_CONFLICT, "%s", r.message);
    azidt_kube_response_clear(&r);
    cJSON_Delete(obj);
    wait_crd_established("widgets.e2e.azidterminator.io");

    create_json(&widgets, NS,
                "{\"apiVersion\":\"e2e.azidterminator.io/v1\","
                "\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\"},"
                "\"spec\":{\"size\":3},\"status\":{\"phase\":\"Ignored\"}}");
    rc = azidt_kube_get(client, &widgets, NS, "w1", azidt_deadline_in(CALL_MS),
                        &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    /* The main resource ignores status. */
    ck_assert_ptr_null(cJSON_GetObjectItem(r.body, "status"));
    obj = cJSON_Duplicate(r.body, true);
    azidt_kube_response_clear(&r);

    cJSON_AddItemToObject(obj, "status", parse("{\"phase\":\"Ready\"}"));
    cJSON_ReplaceItemInObject(obj, "spec", parse("{\"size\":99}"));
    rc = azidt_kube_update(client, &widgets, NS, "w1", obj, &status,
                           azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_str_eq(str_at(r.body, "status", "phase"), "Ready");
    /* The status subresource ignores spec. */
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r.body, "spec"), "size")
            ->valueint,
        3);
    azidt_kube_response_clear(&r);
    cJSON_Delete(obj);

    rc = azidt_kube_patch(client, &widgets, NS, "w1", AZIDT_KUBE_PATCH_MERGE,
                          "{\"status\":{\"observedGeneration\":1}}", &status,
                          azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r.body, "status"),
                                         "observedGeneration")
                         ->valueint,
                     1);
    ck_assert_str_eq(str_at(r.body, "status", "phase"), "Ready");
    azidt_kube_response_clear(&r);
}
END_TEST

START_TEST(list_paging)
{
    struct azidt_kube_query q = {.label_selector = "e2e=paging", .limit = 3};
    struct azidt_kube_response r = {0};
    char json[160];
    azidt_err rc;

    for (int i = 0; i < 7; i++) {
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"name\":\"page-%d\",\"labels\":"
                 "{\"e2e\":\"paging\"}}}",
                 i);
        create_json(&configmaps, NS, json);
    }
    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"page-other\",\"labels\":"
                "{\"e2e\":\"other\"}}}");

    rc = azidt_kube_list(client, &configmaps, NS, &q,
                         azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")),
                     3);
    ck_assert_ptr_nonnull(str_at(r.body, "metadata", "continue"));
    azidt_kube_response_clear(&r);

    rc = azidt_kube_list_all(client, &configmaps, NS, &q,
                             azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")),
                     7);
    ck_assert_ptr_nonnull(str_at(r.body, "metadata", "resourceVersion"));
    azidt_kube_response_clear(&r);

    /* Across namespaces, with a field selector. */
    q.label_selector = NULL;
    q.field_selector = "metadata.name=page-other";
    rc = azidt_kube_list_all(client, &configmaps, NULL, &q,
                             azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")),
                     1);
    azidt_kube_response_clear(&r);
}
END_TEST

/* --- Watch ------------------------------------------------------------- */

struct recorder {
    pthread_mutex_t lock;
    char log[8192];
    int lists;
    atomic_int synced;
};

static void record(struct recorder *rec, const char *text)
{
    pthread_mutex_lock(&rec->lock);
    strncat(rec->log, text, sizeof(rec->log) - strlen(rec->log) - 1);
    pthread_mutex_unlock(&rec->lock);
}

static void rec_event_cb(enum azidt_kube_event_type type, const cJSON *obj,
                         void *ctx)
{
    char line[200];

    snprintf(line, sizeof(line), "%s %s %s;", azidt_kube_event_type_name(type),
             str_at(obj, "metadata", "name"),
             str_at(obj, "data", "v") ? str_at(obj, "data", "v") : "-");
    record(ctx, line);
}

static void rec_list_cb(const cJSON *items, const char *rv, void *ctx)
{
    struct recorder *rec = ctx;
    char line[64];

    (void)rv;
    snprintf(line, sizeof(line), "LIST %d;", cJSON_GetArraySize(items));
    record(rec, line);
    pthread_mutex_lock(&rec->lock);
    rec->lists++;
    pthread_mutex_unlock(&rec->lock);
}

static void rec_synced_cb(void *ctx)
{
    struct recorder *rec = ctx;

    atomic_store(&rec->synced, 1);
}

/* Wait until the recorded log contains text. */
static bool wait_for_log(struct recorder *rec, const char *text, int ms)
{
    int64_t deadline = azidt_deadline_in(ms);

    while (!azidt_deadline_passed(deadline)) {
        bool found;

        pthread_mutex_lock(&rec->lock);
        found = strstr(rec->log, text) != NULL;
        pthread_mutex_unlock(&rec->lock);
        if (found)
            return true;
        usleep(50000);
    }
    return false;
}

static void patch_value(const char *name, const char *value)
{
    struct azidt_kube_response r = {0};
    char patch[128];
    azidt_err rc;

    snprintf(patch, sizeof(patch), "{\"data\":{\"v\":\"%s\"}}", value);
    rc = azidt_kube_patch(client, &configmaps, NS, name, AZIDT_KUBE_PATCH_MERGE,
                          patch, NULL, azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    azidt_kube_response_clear(&r);
}

static void delete_cm(const char *name)
{
    struct azidt_kube_response r = {0};

    ck_assert_int_eq(azidt_kube_delete(client, &configmaps, NS, name, NULL,
                                       azidt_deadline_in(CALL_MS), &r),
                     AZIDT_OK);
    azidt_kube_response_clear(&r);
}

START_TEST(watch_events)
{
    static struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct azidt_kube_watch_options opts = {.resource = &configmaps,
                                            .namespace = NS,
                                            .label_selector = "e2e=watch"};
    struct azidt_kube_watch_handlers h = {
        .event_cb = rec_event_cb, .synced_cb = rec_synced_cb, .ctx = &rec};
    struct azidt_kube_watch *w = NULL;

    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"w-before\",\"labels\":"
                "{\"e2e\":\"watch\"}},\"data\":{\"v\":\"0\"}}");
    ck_assert_int_eq(azidt_kube_watch_start(client, &opts, &h, &w), AZIDT_OK);
    ck_assert(wait_for_log(&rec, "ADDED w-before 0;", 10000));
    ck_assert(azidt_kube_watch_has_synced(w));
    ck_assert_int_eq(atomic_load(&rec.synced), 1);

    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"w1\",\"labels\":"
                "{\"e2e\":\"watch\"}},\"data\":{\"v\":\"1\"}}");
    patch_value("w1", "2");
    delete_cm("w1");
    ck_assert_msg(
        wait_for_log(&rec, "ADDED w1 1;MODIFIED w1 2;DELETED w1 2;", 10000),
        "log: %s", rec.log);
    azidt_kube_watch_stop(w);
}
END_TEST

START_TEST(watch_resumes_after_timeout)
{
    static struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct azidt_kube_watch_options opts = {.resource = &configmaps,
                                            .namespace = NS,
                                            .label_selector = "e2e=resume",
                                            .timeout_seconds = 1};
    struct azidt_kube_watch_handlers h = {
        .list_cb = rec_list_cb, .event_cb = rec_event_cb, .ctx = &rec};
    struct azidt_kube_watch *w = NULL;
    int64_t started;

    ck_assert_int_eq(azidt_kube_watch_start(client, &opts, &h, &w), AZIDT_OK);
    ck_assert(wait_for_log(&rec, "LIST 0;", 10000));
    /* The server ends each watch after about a second. */
    started = azidt_clock_now_ms();
    while (azidt_kube_watch_watch_count(w) < 3 &&
           azidt_clock_now_ms() - started < 15000)
        usleep(100000);
    ck_assert_uint_ge(azidt_kube_watch_watch_count(w), 3);
    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"r1\",\"labels\":"
                "{\"e2e\":\"resume\"}},\"data\":{\"v\":\"1\"}}");
    ck_assert_msg(wait_for_log(&rec, "ADDED r1 1;", 10000), "log: %s", rec.log);
    /* Resuming lists nothing again and repeats no event. */
    ck_assert_uint_eq(azidt_kube_watch_list_count(w), 1);
    sleep(2);
    ck_assert_msg(strstr(strstr(rec.log, "ADDED r1 1;") + strlen("ADDED r1 1;"),
                         "r1") == NULL,
                  "event repeated: %s", rec.log);
    azidt_kube_watch_stop(w);
}
END_TEST

static void rec_kube_event_cb(enum azidt_kube_event_type type, const cJSON *obj,
                              void *ctx)
{
    char line[200];

    snprintf(line, sizeof(line), "%s %s;", azidt_kube_event_type_name(type),
             str_at(obj, "reason", NULL));
    record(ctx, line);
}

static void emit_event(const char *reason)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_event ev = {.api_version = "v1",
                                  .kind = "ConfigMap",
                                  .namespace = NS,
                                  .name = "gone-target",
                                  .type = "Normal",
                                  .reason = reason,
                                  .message = "relist test",
                                  .reporting_component = "kube-e2e"};

    ck_assert_int_eq(
        azidt_kube_event_create(client, &ev, azidt_deadline_in(CALL_MS), &r),
        AZIDT_OK);
    azidt_kube_response_clear(&r);
}

/* Current etcd revision, as the resourceVersion of a list. */
static char *current_revision(void)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_query q = {.limit = 1};
    char *rv;

    ck_assert_int_eq(azidt_kube_list(client, &events, NS, &q,
                                     azidt_deadline_in(CALL_MS), &r),
                     AZIDT_OK);
    rv = strdup(str_at(r.body, "metadata", "resourceVersion"));
    azidt_kube_response_clear(&r);
    return rv;
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* Compact etcd up to revision through its JSON gateway, so that older
 * revisions are gone for good. */
static void compact_etcd(const char *revision)
{
    const char *etcd = getenv("AZIDT_KUBE_E2E_ETCD_URL");
    CURL *easy = curl_easy_init();
    char url[256];
    char body[128];
    long status = 0;

    ck_assert_ptr_nonnull(etcd);
    snprintf(url, sizeof(url), "%s/v3/kv/compaction", etcd);
    snprintf(body, sizeof(body), "{\"revision\":\"%s\",\"physical\":true}",
             revision);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_cb);
    ck_assert_int_eq(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 200);
    curl_easy_cleanup(easy);
}

/* A continue token older than an etcd compaction expires with 410. */
START_TEST(list_continue_expires)
{
    struct azidt_kube_query q = {
        .field_selector = "involvedObject.name=page-target", .limit = 1};
    struct azidt_kube_response r = {0};
    struct azidt_kube_event ev = {.api_version = "v1",
                                  .kind = "ConfigMap",
                                  .namespace = NS,
                                  .name = "page-target",
                                  .reason = "Paged",
                                  .message = "paging test"};
    char *token;
    char *now_rv;
    azidt_err rc;

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(azidt_kube_event_create(
                             client, &ev, azidt_deadline_in(CALL_MS), &r),
                         AZIDT_OK);
        azidt_kube_response_clear(&r);
    }
    ck_assert_int_eq(azidt_kube_list(client, &events, NS, &q,
                                     azidt_deadline_in(CALL_MS), &r),
                     AZIDT_OK);
    token = strdup(str_at(r.body, "metadata", "continue"));
    azidt_kube_response_clear(&r);
    ck_assert_int_eq(
        azidt_kube_event_create(client, &ev, azidt_deadline_in(CALL_MS), &r),
        AZIDT_OK);
    azidt_kube_response_clear(&r);
    now_rv = current_revision();
    compact_etcd(now_rv);

    q.continue_token = token;
    rc = azidt_kube_list(client, &events, NS, &q, azidt_deadline_in(CALL_MS),
                         &r);
    ck_assert_int_eq(rc, AZIDT_ERR_GONE);
    ck_assert_int_eq(r.status, 410);
    ck_assert_str_eq(r.reason, "Expired");
    azidt_kube_response_clear(&r);

    /* A new paged list after the compaction returns all four. */
    q.continue_token = NULL;
    rc = azidt_kube_list_all(client, &events, NS, &q,
                             azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")),
                     4);
    azidt_kube_response_clear(&r);
    free(token);
    free(now_rv);
}
END_TEST

/* Events bypass the apiserver's watch cache, so a watch from a compacted
 * revision reaches etcd and fails with 410 Gone. */
START_TEST(watch_relists_on_gone)
{
    static struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct azidt_kube_watch_options opts = {
        .resource = &events,
        .namespace = NS,
        .field_selector = "involvedObject.name=gone-target"};
    struct azidt_kube_watch_handlers h = {
        .list_cb = rec_list_cb, .event_cb = rec_kube_event_cb, .ctx = &rec};
    struct azidt_kube_watch *w = NULL;
    char *old_rv;
    char *now_rv;

    emit_event("First");
    old_rv = current_revision();
    emit_event("Second");
    emit_event("Third");
    now_rv = current_revision();
    compact_etcd(now_rv);

    opts.start_resource_version = old_rv;
    ck_assert_int_eq(azidt_kube_watch_start(client, &opts, &h, &w), AZIDT_OK);
    ck_assert_msg(wait_for_log(&rec, "LIST 3;", 15000), "log: %s", rec.log);
    ck_assert_uint_eq(azidt_kube_watch_list_count(w), 1);
    /* Nothing from before the compaction came through as an event. */
    ck_assert_ptr_null(strstr(rec.log, "ADDED Second;"));
    emit_event("Fourth");
    ck_assert_msg(wait_for_log(&rec, "ADDED Fourth;", 10000), "log: %s",
                  rec.log);
    azidt_kube_watch_stop(w);
    free(old_rv);
    free(now_rv);
}
END_TEST

/* --- Cache ------------------------------------------------------------- */

struct small {
    char value[32];
};

static void *project_value(const cJSON *obj, void *ctx)
{
    struct small *s = calloc(1, sizeof(*s));

    (void)ctx;
    snprintf(s->value, sizeof(s->value), "%s",
             str_at(obj, "data", "v") ? str_at(obj, "data", "v") : "");
    return s;
}

static void copy_value(const void *record, void *ctx)
{
    snprintf(ctx, 32, "%s", ((const struct small *)record)->value);
}

static bool wait_cache_value(struct azidt_kube_cache *cache, const char *name,
                             const char *want)
{
    int64_t deadline = azidt_deadline_in(10000);
    char value[32];

    while (!azidt_deadline_passed(deadline)) {
        azidt_err rc =
            azidt_kube_cache_lookup(cache, NS, name, copy_value, value);

        if (want ? rc == AZIDT_OK && strcmp(value, want) == 0
                 : rc == AZIDT_ERR_NOT_FOUND)
            return true;
        usleep(20000);
    }
    return false;
}

START_TEST(cache_follows_changes)
{
    struct azidt_kube_cache_options opts = {
        .watch = {.resource = &configmaps,
                  .namespace = NS,
                  .label_selector = "e2e=cache"},
        .project = project_value,
        .free_record = free,
    };
    struct azidt_kube_cache *cache = NULL;

    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"c0\",\"labels\":"
                "{\"e2e\":\"cache\"}},\"data\":{\"v\":\"zero\"}}");
    ck_assert_int_eq(azidt_kube_cache_new(&opts, &cache), AZIDT_OK);
    ck_assert_int_eq(azidt_kube_cache_start(cache, client), AZIDT_OK);
    ck_assert_int_eq(
        azidt_kube_cache_wait_synced(cache, azidt_deadline_in(10000)),
        AZIDT_OK);
    ck_assert(wait_cache_value(cache, "c0", "zero"));
    create_json(&configmaps, NS,
                "{\"metadata\":{\"name\":\"c1\",\"labels\":"
                "{\"e2e\":\"cache\"}},\"data\":{\"v\":\"one\"}}");
    ck_assert(wait_cache_value(cache, "c1", "one"));
    patch_value("c1", "two");
    ck_assert(wait_cache_value(cache, "c1", "two"));
    delete_cm("c1");
    ck_assert(wait_cache_value(cache, "c1", NULL));
    ck_assert_uint_eq(azidt_kube_cache_count(cache), 1);
    azidt_kube_cache_free(cache);
}
END_TEST

/* --- Authentication, events, deadlines, threads ------------------------ */

START_TEST(token_file_rotation)
{
    struct azidt_kube_client *tc =
        client_from("AZIDT_KUBE_E2E_TOKEN_KUBECONFIG");
    const char *token_file = getenv("AZIDT_KUBE_E2E_TOKEN_FILE");
    const char *token = getenv("AZIDT_KUBE_E2E_TOKEN");
    struct azidt_kube_response r = {0};
    char tmp[512];
    FILE *f;
    azidt_err rc;

    ck_assert_ptr_nonnull(token_file);
    ck_assert_ptr_nonnull(token);
    /* run.sh leaves an invalid token in the file. */
    rc = azidt_kube_get(tc, &namespaces, NULL, NS, azidt_deadline_in(CALL_MS),
                        &r);
    ck_assert_int_eq(rc, AZIDT_ERR_UNAUTHORIZED);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_nonnull(r.message);
    azidt_kube_response_clear(&r);

    /* Rotate as the kubelet does: write aside, rename over. */
    snprintf(tmp, sizeof(tmp), "%s.new", token_file);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", token);
    fclose(f);
    ck_assert_int_eq(rename(tmp, token_file), 0);
    rc = azidt_kube_get(tc, &namespaces, NULL, NS, azidt_deadline_in(CALL_MS),
                        &r);
    ck_assert_msg(rc == AZIDT_OK, "%s: %s", azidt_err_name(rc), r.message);
    azidt_kube_response_clear(&r);

    /* The service account may read namespaces but not secrets. */
    rc =
        azidt_kube_list(tc, &secrets, NS, NULL, azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_ERR_FORBIDDEN);
    ck_assert_ptr_nonnull(strstr(r.message, "forbidden"));
    azidt_kube_response_clear(&r);
    azidt_kube_client_free(tc);
}
END_TEST

START_TEST(event_is_created)
{
    struct azidt_kube_response r = {0};
    struct azidt_kube_query q = {
        .field_selector = "involvedObject.name=evented,reason=Provisioned"};
    struct azidt_kube_event ev = {
        .api_version = "v1",
        .kind = "ConfigMap",
        .namespace = NS,
        .name = "evented",
        .type = "Normal",
        .reason = "Provisioned",
        .message = "Created the application registration",
        .reporting_component = "azure-identity-terminator",
        .reporting_instance = "e2e",
    };
    const cJSON *item;
    azidt_err rc;

    create_json(&configmaps, NS, "{\"metadata\":{\"name\":\"evented\"}}");
    rc = azidt_kube_get(client, &configmaps, NS, "evented",
                        azidt_deadline_in(CALL_MS), &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ev.uid = strdup(str_at(r.body, "metadata", "uid"));
    azidt_kube_response_clear(&r);
    rc = azidt_kube_event_create(client, &ev, azidt_deadline_in(CALL_MS), &r);
    ck_assert_msg(rc == AZIDT_OK, "%s", r.message);
    azidt_kube_response_clear(&r);

    rc = azidt_kube_list(client, &events, NS, &q, azidt_deadline_in(CALL_MS),
                         &r);
    ck_assert_int_eq(rc, AZIDT_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")),
                     1);
    item = cJSON_GetArrayItem(cJSON_GetObjectItem(r.body, "items"), 0);
    ck_assert_str_eq(str_at(item, "message", NULL),
                     "Created the application registration");
    ck_assert_str_eq(str_at(item, "involvedObject", "uid"), ev.uid);
    ck_assert_str_eq(str_at(item, "source", "component"),
                     "azure-identity-terminator");
    azidt_kube_response_clear(&r);
    free((char *)ev.uid);
}
END_TEST

START_TEST(deadline_passed)
{
    struct azidt_kube_response r = {0};
    azidt_err rc = azidt_kube_get(client, &configmaps, NS, "x",
                                  azidt_clock_now_ms() - 1, &r);

    ck_assert_int_eq(rc, AZIDT_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(r.message, "deadline"));
    azidt_kube_response_clear(&r);
}
END_TEST

START_TEST(unreachable_server)
{
    struct azidt_kubeconfig *cfg = NULL;
    struct azidt_kube_client *c = NULL;
    struct azidt_kube_response r = {0};
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    /* Port 1 on loopback: nothing listens there. */
    static const char yaml[] =
        "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n";

    ck_assert_int_eq(azidt_kubeconfig_parse(yaml, strlen(yaml), NULL, NULL,
                                            &cfg, err, sizeof(err)),
                     AZIDT_OK);
    ck_assert_int_eq(azidt_kube_client_new(cfg, &c), AZIDT_OK);
    ck_assert_int_eq(
        azidt_kube_get(c, &configmaps, NS, "x", azidt_deadline_in(CALL_MS), &r),
        AZIDT_ERR_HTTP);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(r.message);
    azidt_kube_response_clear(&r);
    azidt_kube_client_free(c);
}
END_TEST

/* Send GET /version through a kubeconfig with the given tls-server-name
 * and return the outcome. */
static azidt_err get_version_as(const char *server_name)
{
    struct azidt_kubeconfig *cfg = NULL;
    struct azidt_kube_client *c = NULL;
    struct azidt_kube_response r = {0};
    char err[AZIDT_KUBECONFIG_ERR_MAX];
    char yaml[1024];
    azidt_err rc;

    ck_assert_ptr_nonnull(getenv("AZIDT_TEST_APISERVER_URL"));
    snprintf(yaml, sizeof(yaml),
             "current-context: x\ncontexts:\n- name: x\n  context: "
             "{cluster: c}\nclusters:\n- name: c\n  cluster:\n"
             "    server: %s\n    certificate-authority: %s\n"
             "    tls-server-name: %s\n",
             getenv("AZIDT_TEST_APISERVER_URL"), getenv("AZIDT_TEST_CA_FILE"),
             server_name);
    ck_assert_msg(azidt_kubeconfig_parse(yaml, strlen(yaml), NULL, NULL, &cfg,
                                         err, sizeof(err)) == AZIDT_OK,
                  "%s", err);
    ck_assert_int_eq(azidt_kube_client_new(cfg, &c), AZIDT_OK);
    rc = azidt_kube_request(c, "GET", "/version", NULL, NULL,
                            azidt_deadline_in(CALL_MS), &r);
    azidt_kube_response_clear(&r);
    azidt_kube_client_free(c);
    return rc;
}

/* The serving certificate names 127.0.0.1, localhost and
 * kubernetes.default.svc. */
START_TEST(tls_server_name)
{
    ck_assert_int_eq(get_version_as("kubernetes.default.svc"), AZIDT_OK);
    ck_assert_int_eq(get_version_as("wrong.invalid"), AZIDT_ERR_TLS);
}
END_TEST

#define THREADS 8
#define CALLS_PER_THREAD 100

static atomic_int thread_failures;

static void *getter_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        struct azidt_kube_response r = {0};

        if (azidt_kube_get(client, &namespaces, NULL, NS,
                           azidt_deadline_in(CALL_MS), &r) != AZIDT_OK)
            atomic_fetch_add(&thread_failures, 1);
        azidt_kube_response_clear(&r);
    }
    return NULL;
}

START_TEST(many_threads)
{
    pthread_t threads[THREADS];
    int64_t started = azidt_clock_now_ms();
    int64_t elapsed;

    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, getter_main, NULL),
                         0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    elapsed = azidt_clock_now_ms() - started;
    ck_assert_int_eq(atomic_load(&thread_failures), 0);
    printf("many_threads: %d GETs on %d threads in %lld ms\n",
           THREADS * CALLS_PER_THREAD, THREADS, (long long)elapsed);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kube_e2e");
    TCase *tc = tcase_create("kube_e2e");
    SRunner *runner;
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    tcase_add_checked_fixture(tc, setup_namespace, teardown_client);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, configmap_crud);
    tcase_add_test(tc, secret_delete_preconditions);
    tcase_add_test(tc, patch_merge_json_apply);
    tcase_add_test(tc, status_subresource);
    tcase_add_test(tc, list_paging);
    tcase_add_test(tc, watch_events);
    tcase_add_test(tc, watch_resumes_after_timeout);
    tcase_add_test(tc, watch_relists_on_gone);
    tcase_add_test(tc, list_continue_expires);
    tcase_add_test(tc, cache_follows_changes);
    tcase_add_test(tc, token_file_rotation);
    tcase_add_test(tc, event_is_created);
    tcase_add_test(tc, deadline_passed);
    tcase_add_test(tc, unreachable_server);
    tcase_add_test(tc, tls_server_name);
    tcase_add_test(tc, many_threads);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
