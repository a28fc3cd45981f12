#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/kube_cache.h"

static const struct azidt_kube_resource pods = {"", "v1", "pods", true};

/* The record a hot path would keep: one label value. */
struct record {
    char identity[64];
};

static void *project_identity(const cJSON *object, void *ctx)
{
    const cJSON *meta = cJSON_GetObjectItem(object, "metadata");
    const cJSON *labels = cJSON_GetObjectItem(meta, "labels");
    const cJSON *id = cJSON_GetObjectItem(labels, "identity");
    struct record *r;

    (void)ctx;
    if (!cJSON_IsString(id))
        return NULL;
    r = calloc(1, sizeof(*r));
    snprintf(r->identity, sizeof(r->identity), "%s", id->valuestring);
    return r;
}

static void copy_identity(const void *record, void *ctx)
{
    const struct record *r = record;

    snprintf(ctx, 64, "%s", r->identity);
}

struct changes {
    char log[1024];
};

static void change_cb(enum azidt_kube_event_type type, const char *ns,
                      const char *name, const void *old_record,
                      const void *new_record, void *ctx)
{
    struct changes *c = ctx;
    char line[160];

    snprintf(line, sizeof(line), "%s %s/%s %s->%s;",
             azidt_kube_event_type_name(type), ns, name,
             old_record ? ((const struct record *)old_record)->identity : "-",
             new_record ? ((const struct record *)new_record)->identity : "-");
    strncat(c->log, line, sizeof(c->log) - strlen(c->log) - 1);
}

static cJSON *pod(const char *ns, const char *name, const char *rv,
                  const char *identity)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");

    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "resourceVersion", rv);
    if (identity) {
        cJSON *labels = cJSON_AddObjectToObject(meta, "labels");

        cJSON_AddStringToObject(labels, "identity", identity);
    }
    return obj;
}

static struct azidt_kube_cache *new_cache(struct changes *changes)
{
    struct azidt_kube_cache_options opts = {
        .watch = {.resource = &pods},
        .project = project_identity,
        .free_record = free,
        .change_cb = changes ? change_cb : NULL,
        .ctx = changes,
    };
    struct azidt_kube_cache *cache = NULL;

    ck_assert_int_eq(azidt_kube_cache_new(&opts, &cache), AZIDT_OK);
    return cache;
}

static void apply(struct azidt_kube_cache *cache,
                  enum azidt_kube_event_type type, cJSON *obj)
{
    ck_assert_int_eq(azidt_kube_cache_apply(cache, type, obj), AZIDT_OK);
    cJSON_Delete(obj);
}

START_TEST(cache_apply_events)
{
    struct changes changes = {.log = ""};
    struct azidt_kube_cache *cache = new_cache(&changes);
    char id[64] = "";

    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "a", "1", "id-1"));
    ck_assert_int_eq(
        azidt_kube_cache_lookup(cache, "ns", "a", copy_identity, id), AZIDT_OK);
    ck_assert_str_eq(id, "id-1");
    apply(cache, AZIDT_KUBE_MODIFIED, pod("ns", "a", "2", "id-2"));
    azidt_kube_cache_lookup(cache, "ns", "a", copy_identity, id);
    ck_assert_str_eq(id, "id-2");
    ck_assert_uint_eq(azidt_kube_cache_count(cache), 1);
    apply(cache, AZIDT_KUBE_DELETED, pod("ns", "a", "3", "id-2"));
    ck_assert_int_eq(
        azidt_kube_cache_lookup(cache, "ns", "a", copy_identity, id),
        AZIDT_ERR_NOT_FOUND);
    ck_assert_uint_eq(azidt_kube_cache_count(cache), 0);
    ck_assert_str_eq(changes.log, "ADDED ns/a -->id-1;"
                                  "MODIFIED ns/a id-1->id-2;"
                                  "DELETED ns/a id-2->-;");
    azidt_kube_cache_free(cache);
}
END_TEST

START_TEST(cache_projection_skips)
{
    struct changes changes = {.log = ""};
    struct azidt_kube_cache *cache = new_cache(&changes);

    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "plain", "1", NULL));
    ck_assert_int_eq(azidt_kube_cache_lookup(cache, "ns", "plain", NULL, NULL),
                     AZIDT_ERR_NOT_FOUND);
    /* Gaining the label adds it, losing it removes it. */
    apply(cache, AZIDT_KUBE_MODIFIED, pod("ns", "plain", "2", "x"));
    apply(cache, AZIDT_KUBE_MODIFIED, pod("ns", "plain", "3", NULL));
    ck_assert_str_eq(changes.log, "ADDED ns/plain -->x;"
                                  "DELETED ns/plain x->-;");
    azidt_kube_cache_free(cache);
}
END_TEST

START_TEST(cache_same_name_other_namespace)
{
    struct changes changes = {.log = ""};
    struct azidt_kube_cache *cache = new_cache(&changes);
    char id[64] = "";

    apply(cache, AZIDT_KUBE_ADDED, pod("a", "x", "1", "in-a"));
    apply(cache, AZIDT_KUBE_ADDED, pod("b", "x", "2", "in-b"));
    azidt_kube_cache_lookup(cache, "b", "x", copy_identity, id);
    ck_assert_str_eq(id, "in-b");
    azidt_kube_cache_lookup(cache, "a", "x", copy_identity, id);
    ck_assert_str_eq(id, "in-a");
    ck_assert_int_eq(azidt_kube_cache_lookup(cache, "c", "x", NULL, NULL),
                     AZIDT_ERR_NOT_FOUND);
    azidt_kube_cache_free(cache);
}
END_TEST

START_TEST(cache_replace_reports_diff)
{
    struct changes changes = {.log = ""};
    struct azidt_kube_cache *cache = new_cache(&changes);
    cJSON *items = cJSON_CreateArray();

    ck_assert(!azidt_kube_cache_has_synced(cache));
    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "keep", "1", "k"));
    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "change", "1", "c1"));
    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "gone", "1", "g"));
    changes.log[0] = '\0';
    cJSON_AddItemToArray(items, pod("ns", "keep", "1", "k"));
    cJSON_AddItemToArray(items, pod("ns", "change", "5", "c2"));
    cJSON_AddItemToArray(items, pod("ns", "new", "6", "n"));
    ck_assert_int_eq(azidt_kube_cache_replace(cache, items), AZIDT_OK);
    ck_assert(azidt_kube_cache_has_synced(cache));
    ck_assert_uint_eq(azidt_kube_cache_count(cache), 3);
    ck_assert_ptr_nonnull(strstr(changes.log, "MODIFIED ns/change c1->c2;"));
    ck_assert_ptr_nonnull(strstr(changes.log, "ADDED ns/new -->n;"));
    ck_assert_ptr_nonnull(strstr(changes.log, "DELETED ns/gone g->-;"));
    ck_assert_ptr_null(strstr(changes.log, "ns/keep"));
    cJSON_Delete(items);
    azidt_kube_cache_free(cache);
}
END_TEST

START_TEST(cache_grows)
{
    struct azidt_kube_cache *cache = new_cache(NULL);
    char name[32];
    char id[64];

    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "pod-%d", i);
        apply(cache, AZIDT_KUBE_ADDED, pod("ns", name, "1", name));
    }
    ck_assert_uint_eq(azidt_kube_cache_count(cache), 5000);
    for (int i = 0; i < 5000; i += 97) {
        snprintf(name, sizeof(name), "pod-%d", i);
        ck_assert_int_eq(
            azidt_kube_cache_lookup(cache, "ns", name, copy_identity, id),
            AZIDT_OK);
        ck_assert_str_eq(id, name);
    }
    azidt_kube_cache_free(cache);
}
END_TEST

START_TEST(cache_default_projection)
{
    struct azidt_kube_cache_options opts = {.watch = {.resource = &pods}};
    struct azidt_kube_cache *cache = NULL;

    ck_assert_int_eq(azidt_kube_cache_new(&opts, &cache), AZIDT_OK);
    apply(cache, AZIDT_KUBE_ADDED, pod("ns", "a", "1", NULL));
    ck_assert_int_eq(azidt_kube_cache_lookup(cache, "ns", "a", NULL, NULL),
                     AZIDT_OK);
    azidt_kube_cache_free(cache);
}
END_TEST

static struct azidt_kube_cache *shared_cache;
static atomic_bool readers_stop;

static void *reader_main(void *arg)
{
    char id[64];
    unsigned long found = 0;

    (void)arg;
    while (!atomic_load(&readers_stop)) {
        if (azidt_kube_cache_lookup(shared_cache, "ns", "hot", copy_identity,
                                    id) == AZIDT_OK) {
            ck_assert_int_eq(strncmp(id, "gen-", 4), 0);
            found++;
        }
    }
    return (void *)found;
}

/* Readers run while the writer replaces the record; under the sanitizers
 * this checks that no reader sees a freed record. */
START_TEST(cache_concurrent_readers)
{
    pthread_t readers[4];
    char gen[32];

    shared_cache = new_cache(NULL);
    atomic_store(&readers_stop, false);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&readers[i], NULL, reader_main, NULL),
                         0);
    for (int i = 0; i < 20000; i++) {
        snprintf(gen, sizeof(gen), "gen-%d", i);
        apply(shared_cache,
              i % 7 == 6 ? AZIDT_KUBE_DELETED : AZIDT_KUBE_MODIFIED,
              pod("ns", "hot", gen, gen));
    }
    atomic_store(&readers_stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(readers[i], NULL);
    azidt_kube_cache_free(shared_cache);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kube_cache");
    TCase *tc = tcase_create("kube_cache");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, cache_apply_events);
    tcase_add_test(tc, cache_projection_skips);
    tcase_add_test(tc, cache_same_name_other_namespace);
    tcase_add_test(tc, cache_replace_reports_diff);
    tcase_add_test(tc, cache_grows);
    tcase_add_test(tc, cache_default_projection);
    tcase_add_test(tc, cache_concurrent_readers);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
