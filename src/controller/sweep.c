/*
 * The orphan sweep: delete applications this cluster created whose
 * AzureIdentityTerminator does not exist. They come from an admission that
 * succeeded here while the object was never stored (another webhook denied
 * it, the apiserver failed), from a process killed mid-way, or from an
 * object whose finalizer was removed by hand.
 */
#include "controller_internal.h"

#include <stdio.h>
#include <string.h>

#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/graph.h"
#include "azidt/log.h"
#include "azidt/metrics.h"
#include "azidt/naming.h"

/* Copy the value of the first tag with prefix into out; false if none. */
static bool tag_value(const cJSON *app, const char *prefix, char *out,
                      size_t size)
{
    const cJSON *tag;
    size_t len = strlen(prefix);

    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(app, "tags"))
    {
        if (cJSON_IsString(tag) &&
            strncmp(tag->valuestring, prefix, len) == 0) {
            snprintf(out, size, "%s", tag->valuestring + len);
            return true;
        }
    }
    return false;
}

/* True when the application belongs to a stored AzureIdentityTerminator. */
static bool owner_exists(struct azidt_controller *ctrl, const char *object_key)
{
    char ns[256];
    const char *slash = strchr(object_key, '/');

    if (!slash || (size_t)(slash - object_key) >= sizeof(ns))
        return false;
    memcpy(ns, object_key, (size_t)(slash - object_key));
    ns[slash - object_key] = '\0';
    return azidt_kube_cache_lookup(ctrl->cache, ns, slash + 1, NULL, NULL) ==
           AZIDT_OK;
}

static bool old_enough(struct azidt_controller *ctrl, const cJSON *app)
{
    const char *created = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(app, "createdDateTime"));
    int64_t created_ms;

    /* Without a creation time the age is unknown: keep the application. */
    if (!controller_parse_time(created, &created_ms))
        return false;
    return azidt_clock_wall_ms() - created_ms >= ctrl->cfg.orphan_grace_ms;
}

void controller_sweep_once(struct azidt_controller *ctrl)
{
    struct azidt_azure_client *client = azidt_provisioner_client(ctrl->prov);
    int64_t deadline = azidt_deadline_in(ctrl->cfg.step_timeout_ms);
    char tag[AZIDT_TAG_SIZE];
    char err[1024];
    cJSON *apps = NULL;
    const cJSON *app;
    unsigned removed = 0;

    if (azidt_naming_tag(AZIDT_TAG_CLUSTER_PREFIX,
                         azidt_provisioner_cluster_id(ctrl->prov), tag,
                         sizeof(tag)))
        return;
    if (azidt_graph_app_list_by_tag(client, tag, deadline, &apps, err,
                                    sizeof(err))) {
        if (controller_stopping(ctrl))
            return;
        AZIDT_LOG_WARN("orphan sweep could not list applications; next "
                       "sweep retries",
                       "error", err);
        return;
    }
    cJSON_ArrayForEach(app, apps)
    {
        const char *id =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(app, "id"));
        const char *app_id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(app, "appId"));
        char object_key[AZIDT_TAG_SIZE];

        if (!id || !app_id ||
            !tag_value(app, AZIDT_TAG_OBJECT_PREFIX, object_key,
                       sizeof(object_key)))
            continue;
        if (owner_exists(ctrl, object_key) || !old_enough(ctrl, app))
            continue;
        if (azidt_provision_teardown_app(ctrl->prov, id, app_id, deadline, err,
                                         sizeof(err))) {
            AZIDT_LOG_WARN("failed to remove an orphaned application; next "
                           "sweep retries",
                           "application", id, "object", object_key, "error",
                           err);
            continue;
        }
        removed++;
        azidt_metrics_orphan_removed();
        AZIDT_LOG_INFO("removed orphaned application", "application", id,
                       "client_id", app_id, "object", object_key);
    }
    cJSON_Delete(apps);
    if (removed > 0) {
        char count[16];

        snprintf(count, sizeof(count), "%u", removed);
        AZIDT_LOG_INFO("orphan sweep finished", "removed", count);
    }
}
