#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/kube_client.h"

static const struct azidt_kube_resource configmaps = {"", "v1", "configmaps",
                                                      true};
static const struct azidt_kube_resource nodes = {"", "v1", "nodes", false};
static const struct azidt_kube_resource azidts = {
    "azidterminator.io", "v1alpha1", "azureidentityterminators", true};
static const struct azidt_kube_resource crds = {
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", false};

static const struct azidt_kube_query list_query = {
    .label_selector = "app=web,tier in (a,b)",
    .limit = 50,
    .continue_token = "eyJ2Ijoi+/=",
};
static const struct azidt_kube_query watch_query = {
    .resource_version = "12345",
    .watch = true,
    .allow_watch_bookmarks = true,
    .timeout_seconds = 30,
};
static const struct azidt_kube_query write_query = {
    .field_manager = "azidt",
    .dry_run = true,
    .force = true,
};

static const struct {
    const struct azidt_kube_resource *res;
    const char *ns;
    const char *name;
    const char *sub;
    const struct azidt_kube_query *query;
    const char *path;
} path_cases[] = {
    {&configmaps, "default", "cm1", NULL, NULL,
     "/api/v1/namespaces/default/configmaps/cm1"},
    {&configmaps, "default", NULL, NULL, NULL,
     "/api/v1/namespaces/default/configmaps"},
    {&configmaps, NULL, NULL, NULL, NULL, "/api/v1/configmaps"},
    {&nodes, "ignored", "node-1", NULL, NULL, "/api/v1/nodes/node-1"},
    {&azidts, "team-a", "x", "status", NULL,
     "/apis/azidterminator.io/v1alpha1/namespaces/team-a/"
     "azureidentityterminators/x/status"},
    {&crds, NULL, "a.b.io", NULL, NULL,
     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b.io"},
    {&configmaps, "default", NULL, NULL, &list_query,
     "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb%2Ctier"
     "%20in%20%28a%2Cb%29&limit=50&continue=eyJ2Ijoi%2B%2F%3D"},
    {&configmaps, NULL, NULL, NULL, &watch_query,
     "/api/v1/configmaps?resourceVersion=12345&watch=true&"
     "allowWatchBookmarks=true&timeoutSeconds=30"},
    {&azidts, "a", "b", NULL, &write_query,
     "/apis/azidterminator.io/v1alpha1/namespaces/a/azureidentityterminators"
     "/b?fieldManager=azidt&dryRun=All&force=true"},
    {&configmaps, "default", "a/b c", NULL, NULL,
     "/api/v1/namespaces/default/configmaps/a%2Fb%20c"},
};

START_TEST(build_path_cases)
{
    char *path = NULL;

    ck_assert_int_eq(
        azidt_kube_build_path(path_cases[_i].res, path_cases[_i].ns,
                              path_cases[_i].name, path_cases[_i].sub,
                              path_cases[_i].query, &path),
        AZIDT_OK);
    ck_assert_str_eq(path, path_cases[_i].path);
    free(path);
}
END_TEST

static const struct {
    const struct azidt_kube_resource *res;
    const char *ns;
    const char *name;
    const char *sub;
} bad_path_cases[] = {
    {&configmaps, NULL, "cm1", NULL},
    {&configmaps, "", NULL, NULL},
    {&configmaps, "default", "", NULL},
    {&configmaps, "default", NULL, "status"},
    {&configmaps, "default", "cm1", ""},
};

START_TEST(build_path_rejects)
{
    char *path = NULL;

    ck_assert_int_eq(azidt_kube_build_path(bad_path_cases[_i].res,
                                           bad_path_cases[_i].ns,
                                           bad_path_cases[_i].name,
                                           bad_path_cases[_i].sub, NULL, &path),
                     AZIDT_ERR_INVALID);
    ck_assert_ptr_null(path);
}
END_TEST

static const struct {
    long status;
    azidt_err err;
} status_cases[] = {
    {200, AZIDT_OK},
    {201, AZIDT_OK},
    {202, AZIDT_OK},
    {400, AZIDT_ERR_INVALID},
    {401, AZIDT_ERR_UNAUTHORIZED},
    {403, AZIDT_ERR_FORBIDDEN},
    {404, AZIDT_ERR_NOT_FOUND},
    {409, AZIDT_ERR_CONFLICT},
    {410, AZIDT_ERR_GONE},
    {422, AZIDT_ERR_INVALID},
    {429, AZIDT_ERR_THROTTLED},
    {500, AZIDT_ERR_REMOTE},
    {502, AZIDT_ERR_UNAVAILABLE},
    {503, AZIDT_ERR_UNAVAILABLE},
    {504, AZIDT_ERR_UNAVAILABLE},
    {0, AZIDT_ERR_REMOTE},
    {302, AZIDT_ERR_REMOTE},
};

START_TEST(status_maps_to_err)
{
    ck_assert_msg(
        azidt_kube_status_to_err(status_cases[_i].status) ==
            status_cases[_i].err,
        "status %ld maps to %s", status_cases[_i].status,
        azidt_err_name(azidt_kube_status_to_err(status_cases[_i].status)));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kube_client");
    TCase *tc = tcase_create("kube_client");
    SRunner *runner;
    int failed;

    tcase_add_loop_test(tc, build_path_cases, 0,
                        sizeof(path_cases) / sizeof(path_cases[0]));
    tcase_add_loop_test(tc, build_path_rejects, 0,
                        sizeof(bad_path_cases) / sizeof(bad_path_cases[0]));
    tcase_add_loop_test(tc, status_maps_to_err, 0,
                        sizeof(status_cases) / sizeof(status_cases[0]));
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
