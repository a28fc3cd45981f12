#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/identity_cache.h"

static struct azidt_identity_cache *cache;

static void setup(void)
{
    ck_assert_int_eq(azidt_identity_cache_new(&cache), AZIDT_OK);
}

static void teardown(void)
{
    azidt_identity_cache_free(cache);
    cache = NULL;
}

static cJSON *object(const char *ns, const char *name, const char *rv)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");

    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "resourceVersion", rv);
    return obj;
}

/* An AzureIdentityBinding; selector NULL leaves spec.selector out. */
static cJSON *binding(const char *ns, const char *name, const char *rv,
                      const char *selector)
{
    cJSON *obj = object(ns, name, rv);
    cJSON *spec = cJSON_AddObjectToObject(obj, "spec");

    cJSON_AddStringToObject(spec, "azureIdentity", name);
    if (selector)
        cJSON_AddStringToObject(spec, "selector", selector);
    return obj;
}

/* An AzureIdentityTerminator with a Ready condition of status (NULL for
 * none). */
static cJSON *terminator(const char *ns, const char *name, const char *rv,
                         const char *selector, const char *status,
                         const char *reason, const char *message)
{
    cJSON *obj = object(ns, name, rv);
    cJSON *spec = cJSON_AddObjectToObject(obj, "spec");

    if (selector)
        cJSON_AddStringToObject(spec, "podSelector", selector);
    if (status) {
        cJSON *st = cJSON_AddObjectToObject(obj, "status");
        cJSON *conditions = cJSON_AddArrayToObject(st, "conditions");
        cJSON *other = cJSON_CreateObject();
        cJSON *ready = cJSON_CreateObject();

        cJSON_AddStringToObject(other, "type", "Progressing");
        cJSON_AddStringToObject(other, "status", "True");
        cJSON_AddItemToArray(conditions, other);
        cJSON_AddStringToObject(ready, "type", "Ready");
        cJSON_AddStringToObject(ready, "status", status);
        if (reason)
            cJSON_AddStringToObject(ready, "reason", reason);
        if (message)
            cJSON_AddStringToObject(ready, "message", message);
        cJSON_AddItemToArray(conditions, ready);
    }
    return obj;
}

static void apply_binding(enum azidt_kube_event_type type, cJSON *obj)
{
    ck_assert_int_eq(
        azidt_kube_cache_apply(azidt_identity_cache_bindings(cache), type, obj),
        AZIDT_OK);
    cJSON_Delete(obj);
}

static void apply_terminator(enum azidt_kube_event_type type, cJSON *obj)
{
    ck_assert_int_eq(azidt_kube_cache_apply(
                         azidt_identity_cache_terminators(cache), type, obj),
                     AZIDT_OK);
    cJSON_Delete(obj);
}

/* Replace the bindings with a list; items is taken over. */
static void relist_bindings(cJSON *items)
{
    ck_assert_int_eq(
        azidt_kube_cache_replace(azidt_identity_cache_bindings(cache), items),
        AZIDT_OK);
    cJSON_Delete(items);
}

struct scope_case {
    const char *selector;
    const char *namespace;
    enum azidt_binding_scope expected;
};

static const char *scope_name(enum azidt_binding_scope scope)
{
    switch (scope) {
    case AZIDT_BINDING_NOWHERE:
        return "nowhere";
    case AZIDT_BINDING_IN_NAMESPACE:
        return "in namespace";
    case AZIDT_BINDING_ELSEWHERE_ONLY:
        return "elsewhere only";
    }
    return "?";
}

static void expect_scopes(const struct scope_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum azidt_binding_scope got = azidt_identity_cache_binding_scope(
            cache, cases[i].selector, cases[i].namespace);

        ck_assert_msg(got == cases[i].expected, "%s in %s: got %s, want %s",
                      cases[i].selector, cases[i].namespace, scope_name(got),
                      scope_name(cases[i].expected));
    }
}

#define EXPECT_SCOPES(...)                                                     \
    do {                                                                       \
        static const struct scope_case cases_[] = {__VA_ARGS__};               \
        expect_scopes(cases_, sizeof(cases_) / sizeof(cases_[0]));             \
    } while (0)

/* --- AzureIdentityTerminators ------------------------------------------- */

START_TEST(identity_ready_projected)
{
    struct azidt_identity_view view;

    apply_terminator(AZIDT_KUBE_ADDED,
                     terminator("ns-a", "kv", "1", "kv-pods", "True",
                                "Provisioned", "all good"));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_OK);
    ck_assert_str_eq(view.pod_selector, "kv-pods");
    ck_assert_int_eq(view.ready, AZIDT_IDENTITY_READY_TRUE);
    ck_assert_str_eq(view.reason, "Provisioned");
    ck_assert_str_eq(view.message, "all good");
    ck_assert(!view.deleting);
}
END_TEST

START_TEST(identity_missing)
{
    struct azidt_identity_view view;

    apply_terminator(AZIDT_KUBE_ADDED, terminator("ns-a", "kv", "1", "kv-pods",
                                                  "True", NULL, NULL));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-b", "kv", &view),
                     AZIDT_ERR_NOT_FOUND);
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "other", &view),
                     AZIDT_ERR_NOT_FOUND);
    ck_assert_str_eq(view.pod_selector, "");
}
END_TEST

/* Each terminator and what pod admission must see of it. */
static const struct {
    const char *selector;
    const char *status;
    enum azidt_identity_ready ready;
    const char *expected_selector;
} ready_cases[] = {
    {"kv-pods", "False", AZIDT_IDENTITY_READY_FALSE, "kv-pods"},
    {"kv-pods", "Unknown", AZIDT_IDENTITY_READY_UNKNOWN, "kv-pods"},
    {"kv-pods", NULL, AZIDT_IDENTITY_READY_UNKNOWN, "kv-pods"},
    {NULL, "True", AZIDT_IDENTITY_READY_TRUE, ""},
    /* 64 characters: longer than a label value may be. */
    {"a123456789012345678901234567890123456789012345678901234567890123", "True",
     AZIDT_IDENTITY_READY_TRUE, ""},
    /* 63 characters: the longest label value. */
    {"a12345678901234567890123456789012345678901234567890123456789012", "True",
     AZIDT_IDENTITY_READY_TRUE,
     "a12345678901234567890123456789012345678901234567890123456789012"},
};

START_TEST(identity_ready_states)
{
    struct azidt_identity_view view;

    apply_terminator(AZIDT_KUBE_ADDED,
                     terminator("ns-a", "kv", "1", ready_cases[_i].selector,
                                ready_cases[_i].status, "Reason", "message"));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_OK);
    ck_assert_int_eq(view.ready, ready_cases[_i].ready);
    ck_assert_str_eq(view.pod_selector, ready_cases[_i].expected_selector);
}
END_TEST

START_TEST(identity_deleting)
{
    struct azidt_identity_view view;
    cJSON *obj = terminator("ns-a", "kv", "2", "kv-pods", "True", NULL, NULL);

    cJSON_AddStringToObject(cJSON_GetObjectItem(obj, "metadata"),
                            "deletionTimestamp", "2026-01-01T00:00:00Z");
    apply_terminator(AZIDT_KUBE_MODIFIED, obj);
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_OK);
    ck_assert(view.deleting);
}
END_TEST

START_TEST(identity_long_message_cut)
{
    struct azidt_identity_view view;
    char message[1000];

    memset(message, 'm', sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    apply_terminator(AZIDT_KUBE_ADDED,
                     terminator("ns-a", "kv", "1", "kv-pods", "False",
                                "SecretNotYetAccepted", message));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_OK);
    ck_assert_uint_eq(strlen(view.message), AZIDT_IDENTITY_MESSAGE_MAX);
}
END_TEST

START_TEST(identity_update_and_delete)
{
    struct azidt_identity_view view;

    apply_terminator(AZIDT_KUBE_ADDED, terminator("ns-a", "kv", "1", "kv-pods",
                                                  NULL, NULL, NULL));
    apply_terminator(
        AZIDT_KUBE_MODIFIED,
        terminator("ns-a", "kv", "2", "kv-pods", "True", "Provisioned", NULL));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_OK);
    ck_assert_int_eq(view.ready, AZIDT_IDENTITY_READY_TRUE);
    apply_terminator(
        AZIDT_KUBE_DELETED,
        terminator("ns-a", "kv", "3", "kv-pods", NULL, NULL, NULL));
    ck_assert_int_eq(azidt_identity_cache_find(cache, "ns-a", "kv", &view),
                     AZIDT_ERR_NOT_FOUND);
    ck_assert_uint_eq(azidt_identity_cache_identity_count(cache), 0);
}
END_TEST

/* --- selector index ------------------------------------------------------ */

START_TEST(index_add)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE},
                  {"kv-pods", "ns-b", AZIDT_BINDING_ELSEWHERE_ONLY},
                  {"other", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"kv-pod", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"", "ns-a", AZIDT_BINDING_NOWHERE});
}
END_TEST

START_TEST(index_move)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "old-pods"));
    apply_binding(AZIDT_KUBE_MODIFIED, binding("ns-a", "b1", "2", "new-pods"));
    EXPECT_SCOPES({"old-pods", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"old-pods", "ns-b", AZIDT_BINDING_NOWHERE},
                  {"new-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE},
                  {"new-pods", "ns-b", AZIDT_BINDING_ELSEWHERE_ONLY});
}
END_TEST

START_TEST(index_modify_same_selector)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    apply_binding(AZIDT_KUBE_MODIFIED, binding("ns-a", "b1", "2", "kv-pods"));
    apply_binding(AZIDT_KUBE_DELETED, binding("ns-a", "b1", "3", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_NOWHERE});
}
END_TEST

START_TEST(index_delete)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    /* A DELETED event carries the last state, which may differ. */
    apply_binding(AZIDT_KUBE_DELETED, binding("ns-a", "b1", "2", "changed"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"changed", "ns-a", AZIDT_BINDING_NOWHERE});
    ck_assert_uint_eq(azidt_identity_cache_binding_count(cache), 0);
}
END_TEST

/* Two bindings of one namespace share a selector: it stays bound until
 * both are gone. */
START_TEST(index_counts_bindings)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b2", "1", "kv-pods"));
    apply_binding(AZIDT_KUBE_DELETED, binding("ns-a", "b1", "2", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE});
    apply_binding(AZIDT_KUBE_DELETED, binding("ns-a", "b2", "2", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_NOWHERE});
}
END_TEST

START_TEST(index_two_namespaces)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-b", "b1", "1", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE},
                  {"kv-pods", "ns-b", AZIDT_BINDING_IN_NAMESPACE},
                  {"kv-pods", "ns-c", AZIDT_BINDING_ELSEWHERE_ONLY});
    apply_binding(AZIDT_KUBE_DELETED, binding("ns-a", "b1", "2", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_ELSEWHERE_ONLY},
                  {"kv-pods", "ns-b", AZIDT_BINDING_IN_NAMESPACE});
}
END_TEST

/* A binding that loses its selector selects no pod any more. */
START_TEST(index_selector_removed)
{
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "b1", "1", "kv-pods"));
    apply_binding(AZIDT_KUBE_MODIFIED, binding("ns-a", "b1", "2", NULL));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"kv-pods", "ns-b", AZIDT_BINDING_NOWHERE});
    apply_binding(AZIDT_KUBE_MODIFIED, binding("ns-a", "b1", "3", "kv-pods"));
    EXPECT_SCOPES({"kv-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE});
}
END_TEST

/* A relist after 410 Gone reports what changed while the watch was away:
 * a deletion it missed, a selector that moved, a binding added. */
START_TEST(index_relist)
{
    cJSON *items = cJSON_CreateArray();

    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "gone", "1", "gone-pods"));
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "moved", "1", "old-pods"));
    apply_binding(AZIDT_KUBE_ADDED, binding("ns-b", "kept", "1", "kept-pods"));
    cJSON_AddItemToArray(items, binding("ns-a", "moved", "5", "new-pods"));
    cJSON_AddItemToArray(items, binding("ns-b", "kept", "1", "kept-pods"));
    cJSON_AddItemToArray(items, binding("ns-c", "added", "6", "gone-pods"));
    relist_bindings(items);
    EXPECT_SCOPES({"gone-pods", "ns-a", AZIDT_BINDING_ELSEWHERE_ONLY},
                  {"gone-pods", "ns-c", AZIDT_BINDING_IN_NAMESPACE},
                  {"old-pods", "ns-a", AZIDT_BINDING_NOWHERE},
                  {"new-pods", "ns-a", AZIDT_BINDING_IN_NAMESPACE},
                  {"kept-pods", "ns-b", AZIDT_BINDING_IN_NAMESPACE});
    ck_assert_uint_eq(azidt_identity_cache_binding_count(cache), 3);
}
END_TEST

/* Enough selectors to grow the index several times. */
START_TEST(index_many_selectors)
{
    char ns[32], name[32], selector[32];
    const int n = 5000;

    for (int i = 0; i < n; i++) {
        snprintf(ns, sizeof(ns), "ns-%d", i % 50);
        snprintf(name, sizeof(name), "b-%d", i);
        snprintf(selector, sizeof(selector), "pods-%d", i);
        apply_binding(AZIDT_KUBE_ADDED, binding(ns, name, "1", selector));
    }
    for (int i = 0; i < n; i++) {
        snprintf(ns, sizeof(ns), "ns-%d", i % 50);
        snprintf(selector, sizeof(selector), "pods-%d", i);
        ck_assert_int_eq(
            azidt_identity_cache_binding_scope(cache, selector, ns),
            AZIDT_BINDING_IN_NAMESPACE);
        snprintf(ns, sizeof(ns), "ns-%d", (i + 1) % 50);
        ck_assert_int_eq(
            azidt_identity_cache_binding_scope(cache, selector, ns),
            AZIDT_BINDING_ELSEWHERE_ONLY);
    }
    for (int i = 0; i < n; i++) {
        snprintf(ns, sizeof(ns), "ns-%d", i % 50);
        snprintf(name, sizeof(name), "b-%d", i);
        apply_binding(AZIDT_KUBE_DELETED, binding(ns, name, "2", "x"));
    }
    EXPECT_SCOPES({"pods-0", "ns-0", AZIDT_BINDING_NOWHERE},
                  {"pods-4999", "ns-49", AZIDT_BINDING_NOWHERE});
}
END_TEST

static atomic_bool readers_stop;
static atomic_int reader_errors;

/* Look up a selector that stays bound and others that keep moving. */
static void *reader_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&readers_stop)) {
        if (azidt_identity_cache_binding_scope(cache, "stable", "ns-a") !=
            AZIDT_BINDING_IN_NAMESPACE)
            atomic_fetch_add(&reader_errors, 1);
        azidt_identity_cache_binding_scope(cache, "moving-0", "ns-a");
        azidt_identity_cache_binding_scope(cache, "moving-1", "ns-b");
    }
    return NULL;
}

/* Readers run while the watch thread moves a selector between values and
 * namespaces; under the sanitizers this checks that no reader sees a freed
 * entry, and a selector that stays bound never looks unbound. */
START_TEST(index_concurrent_readers)
{
    pthread_t readers[3];
    char rv[32], selector[32];

    apply_binding(AZIDT_KUBE_ADDED, binding("ns-a", "stable", "1", "stable"));
    atomic_store(&readers_stop, false);
    atomic_store(&reader_errors, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&readers[i], NULL, reader_main, NULL),
                         0);
    for (int i = 0; i < 20000; i++) {
        snprintf(rv, sizeof(rv), "%d", i + 2);
        snprintf(selector, sizeof(selector), "moving-%d", i % 2);
        apply_binding(i % 5 == 4 ? AZIDT_KUBE_DELETED : AZIDT_KUBE_MODIFIED,
                      binding(i % 3 ? "ns-a" : "ns-b", "hot", rv, selector));
    }
    atomic_store(&readers_stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(readers[i], NULL);
    ck_assert_int_eq(atomic_load(&reader_errors), 0);
}
END_TEST

/* --- readiness ----------------------------------------------------------- */

START_TEST(ready_after_both_lists)
{
    char why[200] = "";
    cJSON *empty = cJSON_CreateArray();

    ck_assert(!azidt_identity_cache_synced(cache));
    ck_assert(!azidt_identity_cache_ready(cache, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "AzureIdentityTerminators"));
    ck_assert_int_eq(azidt_kube_cache_replace(
                         azidt_identity_cache_terminators(cache), empty),
                     AZIDT_OK);
    ck_assert(!azidt_identity_cache_ready(cache, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "AzureIdentityBindings"));
    relist_bindings(empty);
    ck_assert(azidt_identity_cache_synced(cache));
    ck_assert(azidt_identity_cache_ready(cache, why, sizeof(why)));
    ck_assert(azidt_identity_cache_healthy(cache));
}
END_TEST

START_TEST(free_accepts_null)
{
    azidt_identity_cache_free(NULL);
}
END_TEST

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

int main(void)
{
    Suite *suite = suite_create("identity_cache");
    TCase *tc = tcase_create("identity_cache");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, identity_ready_projected);
    tcase_add_test(tc, identity_missing);
    tcase_add_loop_test(tc, identity_ready_states, 0, COUNT(ready_cases));
    tcase_add_test(tc, identity_deleting);
    tcase_add_test(tc, identity_long_message_cut);
    tcase_add_test(tc, identity_update_and_delete);
    tcase_add_test(tc, index_add);
    tcase_add_test(tc, index_move);
    tcase_add_test(tc, index_modify_same_selector);
    tcase_add_test(tc, index_delete);
    tcase_add_test(tc, index_counts_bindings);
    tcase_add_test(tc, index_two_namespaces);
    tcase_add_test(tc, index_selector_removed);
    tcase_add_test(tc, index_relist);
    tcase_add_test(tc, index_many_selectors);
    tcase_add_test(tc, index_concurrent_readers);
    tcase_add_test(tc, ready_after_both_lists);
    tcase_add_test(tc, free_accepts_null);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
