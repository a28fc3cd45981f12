#include "azidt/owned_objects.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "azidt/constants.h"

/* metadata with name, namespace, the managed-by label and a controller
 * owner reference to the AzureIdentityTerminator. */
static cJSON *new_metadata(const struct azidt_owner *owner, const char *name)
{
    cJSON *meta = cJSON_CreateObject();
    cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
    cJSON *refs = cJSON_AddArrayToObject(meta, "ownerReferences");
    cJSON *ref = cJSON_CreateObject();

    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", owner->namespace_);
    cJSON_AddStringToObject(labels, AZIDT_MANAGED_BY_LABEL,
                            AZIDT_MANAGED_BY_VALUE);
    cJSON_AddStringToObject(ref, "apiVersion", AZIDT_API_VERSION);
    cJSON_AddStringToObject(ref, "kind", AZIDT_KIND);
    cJSON_AddStringToObject(ref, "name", owner->name);
    cJSON_AddStringToObject(ref, "uid", owner->uid);
    cJSON_AddBoolToObject(ref, "controller", 1);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(refs, ref);
    return meta;
}

static cJSON *new_object(const char *api_version, const char *kind,
                         const struct azidt_owner *owner, const char *name)
{
    cJSON *obj = cJSON_CreateObject();

    if (!obj)
        return NULL;
    cJSON_AddStringToObject(obj, "apiVersion", api_version);
    cJSON_AddStringToObject(obj, "kind", kind);
    cJSON_AddItemToObject(obj, "metadata", new_metadata(owner, name));
    return obj;
}

/* cJSON reports allocation failures only through NULL children, so each
 * builder checks the finished tree once instead of after every call. */
static bool tree_complete(const cJSON *obj, const char *const *paths)
{
    for (; *paths; paths++) {
        const cJSON *node = obj;
        char part[64];
        const char *p = *paths;

        while (node && *p) {
            size_t len = strcspn(p, ".");

            if (len >= sizeof(part))
                return false;
            memcpy(part, p, len);
            part[len] = '\0';
            node = cJSON_GetObjectItemCaseSensitive(node, part);
            p += len + (p[len] == '.');
        }
        if (!node)
            return false;
    }
    return true;
}

static char *base64_encode(const char *text)
{
    size_t len = strlen(text);
    char *out = OPENSSL_malloc(4 * ((len + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text,
                        (int)len);
    return out;
}

cJSON *azidt_owned_secret(const struct azidt_owner *owner, const char *name,
                          const char *secret_text, const char *key_id,
                          const char *expires_at)
{
    static const char *const required[] = {"metadata.ownerReferences",
                                           "metadata.annotations",
                                           "data.clientSecret", "type", NULL};
    cJSON *obj = new_object("v1", "Secret", owner, name);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    char *encoded = base64_encode(secret_text);
    cJSON *annotations;
    cJSON *data;

    if (!obj || !meta || !encoded)
        goto fail;
    annotations = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(annotations, AZIDT_SECRET_KEY_ID_ANNOTATION,
                            key_id);
    cJSON_AddStringToObject(annotations, AZIDT_SECRET_EXPIRY_ANNOTATION,
                            expires_at);
    cJSON_AddStringToObject(obj, "type", "Opaque");
    data = cJSON_AddObjectToObject(obj, "data");
    cJSON_AddStringToObject(data, AZIDT_SECRET_KEY, encoded);
    OPENSSL_clear_free(encoded, strlen(encoded));
    if (!tree_complete(obj, required))
        goto fail;
    return obj;
fail:
    if (encoded)
        OPENSSL_clear_free(encoded, strlen(encoded));
    azidt_owned_free_secret(obj);
    return NULL;
}

static void wipe_strings(cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsString(node) && node->valuestring)
            OPENSSL_cleanse(node->valuestring, strlen(node->valuestring));
        wipe_strings(node->child);
    }
}

void azidt_owned_free_secret(cJSON *tree)
{
    if (!tree)
        return;
    wipe_strings(tree->child);
    cJSON_Delete(tree);
}

cJSON *azidt_owned_azure_identity(const struct azidt_owner *owner,
                                  const char *name, const char *tenant_id,
                                  const char *client_id)
{
    static const char *const required[] = {"metadata.ownerReferences",
                                           "metadata.annotations",
                                           "spec.clientPassword.namespace",
                                           "spec.tenantID",
                                           "spec.clientID",
                                           "spec.type",
                                           NULL};
    cJSON *obj =
        new_object(AAD_POD_IDENTITY_API_VERSION, "AzureIdentity", owner, name);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *annotations;
    cJSON *spec;
    cJSON *password;

    if (!obj || !meta)
        goto fail;
    annotations = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(annotations, AAD_POD_BEHAVIOR_ANNOTATION,
                            AAD_POD_BEHAVIOR_NAMESPACED);
    spec = cJSON_AddObjectToObject(obj, "spec");
    cJSON_AddNumberToObject(spec, "type", AAD_POD_IDENTITY_TYPE_SP_SECRET);
    cJSON_AddStringToObject(spec, "tenantID", tenant_id);
    cJSON_AddStringToObject(spec, "clientID", client_id);
    password = cJSON_AddObjectToObject(spec, "clientPassword");
    cJSON_AddStringToObject(password, "name", name);
    cJSON_AddStringToObject(password, "namespace", owner->namespace_);
    if (!tree_complete(obj, required))
        goto fail;
    return obj;
fail:
    cJSON_Delete(obj);
    return NULL;
}

cJSON *azidt_owned_binding(const struct azidt_owner *owner, const char *name,
                           const char *selector)
{
    static const char *const required[] = {"metadata.ownerReferences",
                                           "spec.azureIdentity",
                                           "spec.selector", NULL};
    cJSON *obj = new_object(AAD_POD_IDENTITY_API_VERSION,
                            "AzureIdentityBinding", owner, name);
    cJSON *spec;

    if (!obj)
        return NULL;
    spec = cJSON_AddObjectToObject(obj, "spec");
    cJSON_AddStringToObject(spec, "azureIdentity", name);
    cJSON_AddStringToObject(spec, "selector", selector);
    if (!tree_complete(obj, required)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

bool azidt_owned_is_owned_by(const cJSON *object, const char *uid)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *refs =
        cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *ref;

    cJSON_ArrayForEach(ref, refs)
    {
        const cJSON *ref_uid = cJSON_GetObjectItemCaseSensitive(ref, "uid");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ref, "kind");

        if (cJSON_IsString(ref_uid) && cJSON_IsString(kind) &&
            strcmp(kind->valuestring, AZIDT_KIND) == 0 &&
            strcmp(ref_uid->valuestring, uid) == 0)
            return true;
    }
    return false;
}

const char *azidt_owned_controller_name(const cJSON *object)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *ref;

    cJSON_ArrayForEach(
        ref, cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences"))
    {
        const char *kind =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "kind"));

        if (kind && strcmp(kind, AZIDT_KIND) == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
            return cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(ref, "name"));
    }
    return NULL;
}

bool azidt_owned_is_left_by_previous(const cJSON *object,
                                     const char *owner_name, const char *uid)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *refs =
        cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *ref;

    cJSON_ArrayForEach(ref, refs)
    {
        const char *kind =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "kind"));
        const char *name =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "name"));
        const char *ref_uid =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "uid"));

        if (kind && name && ref_uid && strcmp(kind, AZIDT_KIND) == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
            return strcmp(name, owner_name) == 0 && strcmp(ref_uid, uid) != 0;
    }
    return false;
}
