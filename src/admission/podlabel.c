#include "azidt/podlabel.h"

#include <string.h>

#include "azidt/constants.h"
#include "azidt/jsonpatch.h"

const char *azidt_podlabel_get(const cJSON *pod, const char *key)
{
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(metadata, "labels");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(labels, key);

    if (!cJSON_IsObject(metadata) || !cJSON_IsObject(labels) ||
        !cJSON_IsString(value))
        return NULL;
    return value->valuestring;
}

/* Return {"<key>":"<value>"}, or with wrap_labels {"labels":{...}}. */
static cJSON *label_object(const char *key, const char *value, bool wrap_labels)
{
    cJSON *labels = cJSON_CreateObject();
    cJSON *wrapper = NULL;

    if (!labels || !cJSON_AddStringToObject(labels, key, value)) {
        cJSON_Delete(labels);
        return NULL;
    }
    if (!wrap_labels)
        return labels;
    wrapper = cJSON_CreateObject();
    if (!wrapper || !cJSON_AddItemToObject(wrapper, "labels", labels)) {
        cJSON_Delete(wrapper);
        cJSON_Delete(labels);
        return NULL;
    }
    return wrapper;
}

azidt_err azidt_podlabel_binding_patch(const cJSON *pod, const char *selector,
                                       cJSON **patch, bool *replaced)
{
    static const char *const label_path[] = {"metadata", "labels",
                                             AAD_POD_BINDING_LABEL};
    const cJSON *metadata, *labels, *current;
    cJSON *ops = NULL, *value = NULL;
    char path[128];
    azidt_err rc;

    if (!pod || !selector || !patch || !replaced)
        return AZIDT_ERR_INVALID;
    *patch = NULL;
    *replaced = false;
    metadata = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    labels = cJSON_GetObjectItemCaseSensitive(metadata, "labels");
    current = cJSON_GetObjectItemCaseSensitive(labels, AAD_POD_BINDING_LABEL);
    if (cJSON_IsObject(metadata) && cJSON_IsObject(labels) &&
        cJSON_IsString(current) && strcmp(current->valuestring, selector) == 0)
        return AZIDT_OK;

    ops = azidt_jsonpatch_new();
    if (!ops)
        return AZIDT_ERR_NOMEM;
    if (!cJSON_IsObject(metadata)) {
        value = label_object(AAD_POD_BINDING_LABEL, selector, true);
        rc = value ? azidt_jsonpatch_add(ops, "/metadata", value)
                   : AZIDT_ERR_NOMEM;
    } else if (!cJSON_IsObject(labels)) {
        value = label_object(AAD_POD_BINDING_LABEL, selector, false);
        rc = value ? azidt_jsonpatch_add(ops, "/metadata/labels", value)
                   : AZIDT_ERR_NOMEM;
    } else {
        rc = azidt_jsonpatch_pointer(path, sizeof(path), label_path, 3);
        value = cJSON_CreateString(selector);
        if (!rc && !value)
            rc = AZIDT_ERR_NOMEM;
        else if (!rc && current)
            rc = azidt_jsonpatch_replace(ops, path, value);
        else if (!rc)
            rc = azidt_jsonpatch_add(ops, path, value);
        else
            cJSON_Delete(value);
        *replaced = current != NULL;
    }
    if (rc) {
        cJSON_Delete(ops);
        *replaced = false;
        return rc;
    }
    *patch = ops;
    return AZIDT_OK;
}
