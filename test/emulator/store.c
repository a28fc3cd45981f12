/*
 * Directory and ARM state: applications, service principals, secrets,
 * role assignments and resource groups, built from the configuration file
 * at start and on every admin reset.
 */
#include "emulator.h"

#include <stdlib.h>
#include <string.h>

#include "azidt/log.h"

/* Append item to a singly linked list, so listings keep creation order
 * and paging offsets stay stable while objects are added. */
#define APPEND(head, item)                                                     \
    do {                                                                       \
        __typeof__(item) *tail_ = &(head);                                     \
        while (*tail_)                                                         \
            tail_ = &(*tail_)->next;                                           \
        *tail_ = (item);                                                       \
    } while (0)

/* Default lifetime of a password credential without endDateTime. */
#define PASSWORD_DEFAULT_MS (2LL * 365 * 24 * 3600 * 1000)

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

bool emu_replicating(int64_t created_ms)
{
    return emu.replication_delay_ms > 0 &&
           emu_now_ms() < created_ms + emu.replication_delay_ms;
}

static void add_iso(cJSON *obj, const char *key, int64_t ms)
{
    char text[32];

    emu_iso8601(ms, text);
    cJSON_AddStringToObject(obj, key, text);
}

static void add_nulls(cJSON *obj, const char *const *keys)
{
    for (; *keys; keys++)
        cJSON_AddNullToObject(obj, *keys);
}

/* Build the Graph representation of a new application with the defaults
 * Graph fills in. */
static cJSON *app_object(const char *id, const char *app_id,
                         const char *display_name)
{
    static const char *const nulls[] = {"applicationTemplateId",
                                        "description",
                                        "disabledByMicrosoftStatus",
                                        "groupMembershipClaims",
                                        "isDeviceOnlyAuthSupported",
                                        "isFallbackPublicClient",
                                        "notes",
                                        "serviceManagementReference",
                                        "tokenEncryptionKeyId",
                                        "uniqueName",
                                        "samlMetadataUrl",
                                        "defaultRedirectUri",
                                        "certification",
                                        "optionalClaims",
                                        "requestSignatureVerification",
                                        NULL};
    cJSON *obj = cJSON_CreateObject();
    cJSON *web;

    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddNullToObject(obj, "deletedDateTime");
    cJSON_AddStringToObject(obj, "appId", app_id);
    add_iso(obj, "createdDateTime", emu_now_ms());
    cJSON_AddStringToObject(obj, "displayName", display_name);
    add_nulls(obj, nulls);
    cJSON_AddArrayToObject(obj, "identifierUris");
    cJSON_AddStringToObject(obj, "publisherDomain",
                            "azidtemulator.onmicrosoft.com");
    cJSON_AddStringToObject(obj, "signInAudience", "AzureADMyOrg");
    cJSON_AddArrayToObject(obj, "tags");
    cJSON_AddArrayToObject(obj, "addIns");
    cJSON_AddArrayToObject(obj, "appRoles");
    cJSON_AddArrayToObject(obj, "keyCredentials");
    cJSON_AddArrayToObject(obj, "passwordCredentials");
    cJSON_AddArrayToObject(obj, "requiredResourceAccess");
    web = cJSON_AddObjectToObject(obj, "web");
    cJSON_AddNullToObject(web, "homePageUrl");
    cJSON_AddNullToObject(web, "logoutUrl");
    cJSON_AddArrayToObject(web, "redirectUris");
    cJSON_AddObjectToObject(obj, "publicClient");
    cJSON_AddArrayToObject(cJSON_GetObjectItem(obj, "publicClient"),
                           "redirectUris");
    return obj;
}

struct emu_app *emu_app_create(const char *display_name, const char *id,
                               const char *app_id)
{
    struct emu_app *app = calloc(1, sizeof(*app));
    char new_id[37], new_app_id[37];

    if (!app)
        return NULL;
    if (!id) {
        emu_uuid4(new_id);
        id = new_id;
    }
    if (!app_id) {
        emu_uuid4(new_app_id);
        app_id = new_app_id;
    }
    app->obj = app_object(id, app_id, display_name);
    app->secrets = cJSON_CreateArray();
    app->owners = cJSON_CreateArray();
    app->fics = cJSON_CreateArray();
    app->fic_created = cJSON_CreateObject();
    app->graph_roles = cJSON_CreateArray();
    app->created_ms = emu_now_ms();
    APPEND(emu.apps, app);
    return app;
}

struct emu_sp *emu_sp_create(struct emu_app *app, const char *id)
{
    struct emu_sp *sp = calloc(1, sizeof(*sp));
    const char *app_id = json_str(app->obj, "appId");
    const char *name = json_str(app->obj, "displayName");
    static const char *const nulls[] = {"accountEnabled",
                                        "appDescription",
                                        "applicationTemplateId",
                                        "description",
                                        "disabledByMicrosoftStatus",
                                        "homepage",
                                        "loginUrl",
                                        "logoutUrl",
                                        "notes",
                                        "preferredSingleSignOnMode",
                                        "preferredTokenSigningKeyThumbprint",
                                        "samlSingleSignOnSettings",
                                        "tokenEncryptionKeyId",
                                        NULL};
    char new_id[37];
    cJSON *obj;

    if (!sp)
        return NULL;
    if (!id) {
        emu_uuid4(new_id);
        id = new_id;
    }
    obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddNullToObject(obj, "deletedDateTime");
    add_nulls(obj, nulls);
    cJSON_ReplaceItemInObject(obj, "accountEnabled", cJSON_CreateTrue());
    cJSON_AddStringToObject(obj, "appDisplayName", name);
    cJSON_AddStringToObject(obj, "appId", app_id);
    cJSON_AddStringToObject(obj, "appOwnerOrganizationId", emu.tenant);
    cJSON_AddFalseToObject(obj, "appRoleAssignmentRequired");
    add_iso(obj, "createdDateTime", emu_now_ms());
    cJSON_AddStringToObject(obj, "displayName", name);
    cJSON_AddStringToObject(obj, "servicePrincipalType", "Application");
    cJSON_AddStringToObject(obj, "signInAudience",
                            json_str(app->obj, "signInAudience"));
    cJSON_AddItemToObject(obj, "servicePrincipalNames",
                          cJSON_CreateStringArray(&app_id, 1));
    cJSON_AddArrayToObject(obj, "tags");
    cJSON_AddArrayToObject(obj, "appRoles");
    cJSON_AddArrayToObject(obj, "keyCredentials");
    cJSON_AddArrayToObject(obj, "passwordCredentials");
    cJSON_AddArrayToObject(obj, "replyUrls");
    sp->obj = obj;
    sp->secrets = cJSON_CreateArray();
    sp->owners = cJSON_CreateArray();
    sp->created_ms = emu_now_ms();
    APPEND(emu.sps, sp);
    return sp;
}

void emu_app_free(struct emu_app *app)
{
    if (!app)
        return;
    cJSON_Delete(app->obj);
    cJSON_Delete(app->secrets);
    cJSON_Delete(app->owners);
    cJSON_Delete(app->fics);
    cJSON_Delete(app->fic_created);
    cJSON_Delete(app->graph_roles);
    free(app);
}

void emu_sp_free(struct emu_sp *sp)
{
    if (!sp)
        return;
    cJSON_Delete(sp->obj);
    cJSON_Delete(sp->secrets);
    cJSON_Delete(sp->owners);
    free(sp);
}

struct emu_app *emu_app_find(const char *key_kind, const char *key,
                             bool deleted)
{
    struct emu_app *app;

    for (app = emu.apps; app; app = app->next) {
        if ((app->deleted_ms != 0) != deleted)
            continue;
        if (emu_strcaseeq(json_str(app->obj, key_kind), key))
            return app;
    }
    return NULL;
}

struct emu_sp *emu_sp_find_id(const char *id, bool deleted)
{
    struct emu_sp *sp;

    for (sp = emu.sps; sp; sp = sp->next) {
        if ((sp->deleted_ms != 0) == deleted &&
            emu_strcaseeq(json_str(sp->obj, "id"), id))
            return sp;
    }
    return NULL;
}

struct emu_sp *emu_sp_find_app(const char *app_id, bool deleted)
{
    struct emu_sp *sp;

    for (sp = emu.sps; sp; sp = sp->next) {
        if ((sp->deleted_ms != 0) == deleted &&
            emu_strcaseeq(json_str(sp->obj, "appId"), app_id))
            return sp;
    }
    return NULL;
}

static bool parse_time_field(const cJSON *req, const char *key, int64_t def,
                             int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItem(req, key);

    if (!item || cJSON_IsNull(item)) {
        *out = def;
        return true;
    }
    return cJSON_IsString(item) && emu_parse_iso8601(item->valuestring, out);
}

cJSON *emu_password_add(cJSON *secrets, cJSON *metadata_list,
                        const cJSON *request, const char *secret_text,
                        const char **error)
{
    const char *display = json_str(request, "displayName");
    const char *key_id = json_str(request, "keyId");
    char new_key[37], secret[48], hash[65], hint[4];
    int64_t start, end, now = emu_now_ms();
    cJSON *meta, *record, *resp;

    if (!parse_time_field(request, "startDateTime", now, &start) ||
        !parse_time_field(request, "endDateTime", start + PASSWORD_DEFAULT_MS,
                          &end)) {
        *error = "Invalid value specified for property 'endDateTime' of "
                 "resource 'PasswordCredential'.";
        return NULL;
    }
    if (end <= start) {
        *error = "Key credential end date time must be greater than start "
                 "date time.";
        return NULL;
    }
    if (!key_id || !emu_is_guid(key_id)) {
        emu_uuid4(new_key);
        key_id = new_key;
    }
    if (!secret_text) {
        /* Entra secrets are 40 characters and carry "8Q~" after a
         * three-character hint. */
        emu_random_secret(secret, 3);
        memcpy(secret + 3, "8Q~", 3);
        emu_random_secret(secret + 6, 34);
        secret_text = secret;
    }
    emu_sha256_hex(secret_text, hash);
    snprintf(hint, sizeof(hint), "%.3s", secret_text);

    record = cJSON_CreateObject();
    cJSON_AddStringToObject(record, "keyId", key_id);
    cJSON_AddStringToObject(record, "hash", hash);
    cJSON_AddNumberToObject(record, "startMs", (double)start);
    cJSON_AddNumberToObject(record, "endMs", (double)end);
    cJSON_AddNumberToObject(record, "createdMs", (double)now);
    cJSON_AddItemToArray(secrets, record);

    meta = cJSON_CreateObject();
    cJSON_AddNullToObject(meta, "customKeyIdentifier");
    if (display)
        cJSON_AddStringToObject(meta, "displayName", display);
    else
        cJSON_AddNullToObject(meta, "displayName");
    add_iso(meta, "endDateTime", end);
    cJSON_AddStringToObject(meta, "hint", hint);
    cJSON_AddStringToObject(meta, "keyId", key_id);
    cJSON_AddNullToObject(meta, "secretText");
    add_iso(meta, "startDateTime", start);
    resp = cJSON_Duplicate(meta, true);
    cJSON_ReplaceItemInObject(resp, "secretText",
                              cJSON_CreateString(secret_text));
    cJSON_AddItemToArray(metadata_list, meta);
    OPENSSL_cleanse(secret, sizeof(secret));
    return resp;
}

/* ---- seeding ---- */

static char *substitute(const char *text)
{
    const char *mark = "{subscriptionId}";
    const char *at = text ? strstr(text, mark) : NULL;

    if (!at)
        return emu_strdup(text);
    return emu_printf("%.*s%s%s", (int)(at - text), text, emu.subscription,
                      at + strlen(mark));
}

struct emu_assignment *emu_assignment_add(const char *scope, const char *name,
                                          const char *role_guid,
                                          const char *principal_id,
                                          const char *principal_type,
                                          const char *created_by)
{
    struct emu_assignment *ra = calloc(1, sizeof(*ra));
    char *id = NULL, *role_id = NULL;
    cJSON *obj, *props;
    char now[32];

    if (!ra)
        return NULL;
    emu_iso8601(emu_now_ms(), now);
    id = emu_printf("%s/providers/Microsoft.Authorization/roleAssignments/%s",
                    scope, name);
    role_id = emu_printf("/subscriptions/%s/providers/Microsoft.Authorization/"
                         "roleDefinitions/%s",
                         emu.subscription, role_guid);
    obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddStringToObject(obj, "name", name);
    cJSON_AddStringToObject(obj, "type",
                            "Microsoft.Authorization/roleAssignments");
    props = cJSON_AddObjectToObject(obj, "properties");
    cJSON_AddStringToObject(props, "roleDefinitionId", role_id);
    cJSON_AddStringToObject(props, "principalId", principal_id);
    cJSON_AddStringToObject(props, "principalType", principal_type);
    cJSON_AddStringToObject(props, "scope", scope);
    cJSON_AddNullToObject(props, "condition");
    cJSON_AddNullToObject(props, "conditionVersion");
    cJSON_AddStringToObject(props, "createdOn", now);
    cJSON_AddStringToObject(props, "updatedOn", now);
    cJSON_AddStringToObject(props, "createdBy", created_by);
    cJSON_AddStringToObject(props, "updatedBy", created_by);
    cJSON_AddNullToObject(props, "delegatedManagedIdentityResourceId");
    cJSON_AddNullToObject(props, "description");
    free(id);
    free(role_id);
    ra->obj = obj;
    ra->created_ms = emu_now_ms();
    APPEND(emu.assignments, ra);
    return ra;
}

static bool seed_app_roles(struct emu_sp *sp, const cJSON *arm_roles)
{
    const cJSON *entry;

    cJSON_ArrayForEach(entry, arm_roles)
    {
        const char *role = json_str(entry, "role");
        const cJSON *def = emu_role_definition_find(role);
        char *scope = substitute(json_str(entry, "scope"));
        char name[37];

        if (!def)
            def = emu_role_definition_by_name(role);
        if (!def || !scope) {
            AZIDT_LOG_ERROR("invalid armRoles entry in the emulator "
                            "configuration; role must be a built-in role "
                            "name or GUID and scope must be set",
                            "role", role);
            free(scope);
            return false;
        }
        emu_uuid4(name);
        emu_assignment_add(scope, name, json_str(def, "name"),
                           json_str(sp->obj, "id"), "ServicePrincipal",
                           json_str(sp->obj, "id"));
        free(scope);
    }
    return true;
}

static bool seed_app(const cJSON *conf)
{
    const char *name = json_str(conf, "displayName");
    struct emu_app *app;
    struct emu_sp *sp;
    const cJSON *item;

    if (!name) {
        AZIDT_LOG_ERROR("an application in the emulator configuration has "
                        "no displayName");
        return false;
    }
    app = emu_app_create(name, json_str(conf, "objectId"),
                         json_str(conf, "appId"));
    /* Seeded objects exist long before the run, so they never replicate. */
    app->created_ms = 0;
    item = cJSON_GetObjectItem(conf, "tags");
    if (cJSON_IsArray(item))
        cJSON_ReplaceItemInObject(app->obj, "tags",
                                  cJSON_Duplicate(item, true));
    item = cJSON_GetObjectItem(conf, "uniqueName");
    if (cJSON_IsString(item))
        cJSON_ReplaceItemInObject(app->obj, "uniqueName",
                                  cJSON_Duplicate(item, true));
    item = cJSON_GetObjectItem(conf, "graphRoles");
    if (cJSON_IsArray(item)) {
        cJSON_Delete(app->graph_roles);
        app->graph_roles = cJSON_Duplicate(item, true);
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(conf, "secrets"))
    {
        const char *error = NULL;
        cJSON *resp = emu_password_add(
            app->secrets, cJSON_GetObjectItem(app->obj, "passwordCredentials"),
            item, json_str(item, "secretText"), &error);

        if (!resp) {
            AZIDT_LOG_ERROR("invalid secret in the emulator configuration",
                            "application", name, "error", error);
            return false;
        }
        cJSON_Delete(resp);
    }
    for (item = app->secrets->child; item; item = item->next)
        cJSON_ReplaceItemInObject((cJSON *)item, "createdMs",
                                  cJSON_CreateNumber(0));
    cJSON_ArrayForEach(
        item, cJSON_GetObjectItem(conf, "federatedIdentityCredentials"))
    {
        cJSON *fic = cJSON_Duplicate(item, true);
        char id[37];

        if (!cJSON_GetObjectItem(fic, "id")) {
            emu_uuid4(id);
            cJSON_AddStringToObject(fic, "id", id);
        }
        if (!cJSON_GetObjectItem(fic, "description"))
            cJSON_AddNullToObject(fic, "description");
        cJSON_AddItemToArray(app->fics, fic);
        cJSON_AddNumberToObject(app->fic_created, json_str(fic, "id"), 0);
    }
    if (cJSON_IsFalse(cJSON_GetObjectItem(conf, "servicePrincipal")))
        return true;
    sp = emu_sp_create(app, json_str(conf, "servicePrincipalId"));
    sp->created_ms = 0;
    return seed_app_roles(sp, cJSON_GetObjectItem(conf, "armRoles"));
}

static bool seed_issuers(const cJSON *list)
{
    const cJSON *entry;

    cJSON_ArrayForEach(entry, list)
    {
        const char *issuer = json_str(entry, "issuer");
        const char *file = json_str(entry, "jwksFile");
        cJSON *jwks = NULL;

        if (file) {
            char *text = emu_read_file(file);

            jwks = text ? cJSON_Parse(text) : NULL;
            free(text);
        } else if (cJSON_GetObjectItem(entry, "jwks")) {
            jwks = cJSON_Duplicate(cJSON_GetObjectItem(entry, "jwks"), true);
        }
        if (!issuer || !cJSON_IsArray(cJSON_GetObjectItem(jwks, "keys"))) {
            AZIDT_LOG_ERROR("invalid federatedIssuers entry in the emulator "
                            "configuration; it needs issuer and jwks (or a "
                            "readable jwksFile) with a keys array",
                            "issuer", issuer, "jwksFile", file);
            cJSON_Delete(jwks);
            return false;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(emu.issuers, issuer);
        cJSON_AddItemToObject(emu.issuers, issuer, jwks);
    }
    return true;
}

static bool seed_resource_groups(const cJSON *list)
{
    const cJSON *entry;

    cJSON_ArrayForEach(entry, list)
    {
        const char *name = json_str(entry, "name");
        const char *location = json_str(entry, "location");
        cJSON *rg, *tags = cJSON_GetObjectItem(entry, "tags");
        char *id;

        if (!name) {
            AZIDT_LOG_ERROR("a resource group in the emulator configuration "
                            "has no name");
            return false;
        }
        id = emu_printf("/subscriptions/%s/resourceGroups/%s", emu.subscription,
                        name);
        rg = cJSON_CreateObject();
        cJSON_AddStringToObject(rg, "id", id);
        cJSON_AddStringToObject(rg, "name", name);
        cJSON_AddStringToObject(rg, "type",
                                "Microsoft.Resources/resourceGroups");
        cJSON_AddStringToObject(rg, "location",
                                location ? location : "westeurope");
        if (json_str(entry, "managedBy"))
            cJSON_AddStringToObject(rg, "managedBy",
                                    json_str(entry, "managedBy"));
        cJSON_AddItemToObject(rg, "tags",
                              tags ? cJSON_Duplicate(tags, true)
                                   : cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_AddObjectToObject(rg, "properties"),
                                "provisioningState", "Succeeded");
        cJSON_AddItemToArray(emu.resource_groups, rg);
        free(id);
    }
    return true;
}

static void clear_state(void)
{
    while (emu.apps) {
        struct emu_app *next = emu.apps->next;

        emu_app_free(emu.apps);
        emu.apps = next;
    }
    while (emu.sps) {
        struct emu_sp *next = emu.sps->next;

        emu_sp_free(emu.sps);
        emu.sps = next;
    }
    while (emu.assignments) {
        struct emu_assignment *next = emu.assignments->next;

        cJSON_Delete(emu.assignments->obj);
        free(emu.assignments);
        emu.assignments = next;
    }
    cJSON_Delete(emu.resource_groups);
    cJSON_Delete(emu.issuers);
    emu.resource_groups = cJSON_CreateArray();
    emu.issuers = cJSON_CreateObject();
}

/* Build the seed state from emu.config. Returns false on an invalid
 * configuration. */
static bool seed(void)
{
    const cJSON *conf = emu.config, *item;
    const char *error = NULL;

    clear_state();
    __atomic_store_n(&emu.clock_offset_ms, 0, __ATOMIC_RELAXED);
    item = cJSON_GetObjectItem(conf, "replicationDelayMs");
    emu.replication_delay_ms =
        cJSON_IsNumber(item) ? (int64_t)item->valuedouble : 0;
    snprintf(emu.replication_sp_error, sizeof(emu.replication_sp_error), "%s",
             json_str(conf, "replicationServicePrincipalError")
                 ? json_str(conf, "replicationServicePrincipalError")
                 : "400");
    if (!seed_resource_groups(cJSON_GetObjectItem(conf, "resourceGroups")) ||
        !seed_issuers(cJSON_GetObjectItem(conf, "federatedIssuers")))
        return false;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(conf, "applications"))
    {
        if (!seed_app(item))
            return false;
    }
    if (!emu_faults_load(conf, &error)) {
        AZIDT_LOG_ERROR("invalid fault in the emulator configuration", "error",
                        error);
        return false;
    }
    return true;
}

static int int_option(const char *key, int def)
{
    const cJSON *item = cJSON_GetObjectItem(emu.config, key);

    return cJSON_IsNumber(item) && item->valueint > 0 ? item->valueint : def;
}

bool emu_store_init(const char *config_path)
{
    char *text = emu_read_file(config_path);
    const char *tenant, *sub;
    const cJSON *hold;
    bool ok;

    if (!text) {
        AZIDT_LOG_ERROR("failed to read the emulator configuration", "path",
                        config_path);
        return false;
    }
    emu.config = cJSON_Parse(text);
    free(text);
    tenant = json_str(emu.config, "tenantId");
    sub = json_str(emu.config, "subscriptionId");
    if (!emu_is_guid(tenant) || !emu_is_guid(sub)) {
        AZIDT_LOG_ERROR("the emulator configuration needs tenantId and "
                        "subscriptionId as GUIDs",
                        "path", config_path);
        return false;
    }
    snprintf(emu.tenant, sizeof(emu.tenant), "%s", tenant);
    snprintf(emu.subscription, sizeof(emu.subscription), "%s", sub);
    emu.graph_page_size = int_option("graphPageSize", 100);
    emu.arm_page_size = int_option("armPageSize", 100);
    hold = cJSON_GetObjectItem(emu.config, "softDeletedAppsHoldUniqueName");
    emu.deleted_hold_unique_name = !cJSON_IsFalse(hold);
    pthread_mutex_lock(&emu.lock);
    ok = seed();
    pthread_mutex_unlock(&emu.lock);
    return ok;
}

void emu_store_reset(void)
{
    emu_faults_clear();
    emu_calls_clear();
    if (!seed())
        AZIDT_LOG_ERROR("failed to rebuild the seed state on reset");
}

/* ---- inspection ---- */

static cJSON *dump_app(const struct emu_app *app)
{
    cJSON *obj = cJSON_Duplicate(app->obj, true);

    cJSON_AddItemToObject(obj, "owners", cJSON_Duplicate(app->owners, true));
    cJSON_AddItemToObject(obj, "federatedIdentityCredentials",
                          cJSON_Duplicate(app->fics, true));
    cJSON_AddItemToObject(obj, "graphRoles",
                          cJSON_Duplicate(app->graph_roles, true));
    return obj;
}

cJSON *emu_state_dump(void)
{
    cJSON *state = cJSON_CreateObject();
    cJSON *apps = cJSON_AddArrayToObject(state, "applications");
    cJSON *sps = cJSON_AddArrayToObject(state, "servicePrincipals");
    cJSON *ras = cJSON_AddArrayToObject(state, "roleAssignments");
    cJSON *deleted = cJSON_AddArrayToObject(state, "deletedItems");
    const struct emu_app *app;
    const struct emu_sp *sp;
    const struct emu_assignment *ra;
    char now[32];

    cJSON_AddStringToObject(state, "tenantId", emu.tenant);
    cJSON_AddStringToObject(state, "subscriptionId", emu.subscription);
    emu_iso8601(emu_now_ms(), now);
    cJSON_AddStringToObject(state, "now", now);
    cJSON_AddNumberToObject(state, "clockOffsetMs",
                            (double)emu.clock_offset_ms);
    for (app = emu.apps; app; app = app->next) {
        cJSON *obj = dump_app(app);

        if (app->deleted_ms) {
            cJSON_AddStringToObject(obj, "@odata.type",
                                    "#microsoft.graph.application");
            cJSON_AddItemToArray(deleted, obj);
        } else {
            cJSON_AddItemToArray(apps, obj);
        }
    }
    for (sp = emu.sps; sp; sp = sp->next) {
        cJSON *obj = cJSON_Duplicate(sp->obj, true);

        cJSON_AddItemToObject(obj, "owners", cJSON_Duplicate(sp->owners, true));
        if (sp->deleted_ms) {
            cJSON_AddStringToObject(obj, "@odata.type",
                                    "#microsoft.graph.servicePrincipal");
            cJSON_AddItemToArray(deleted, obj);
        } else {
            cJSON_AddItemToArray(sps, obj);
        }
    }
    for (ra = emu.assignments; ra; ra = ra->next)
        cJSON_AddItemToArray(ras, cJSON_Duplicate(ra->obj, true));
    cJSON_AddItemToObject(state, "resourceGroups",
                          cJSON_Duplicate(emu.resource_groups, true));
    cJSON_AddItemToObject(state, "federatedIssuers",
                          cJSON_Duplicate(emu.issuers, true));
    return state;
}

void emu_store_free(void)
{
    clear_state();
    cJSON_Delete(emu.resource_groups);
    cJSON_Delete(emu.issuers);
    cJSON_Delete(emu.config);
    emu.resource_groups = NULL;
    emu.issuers = NULL;
    emu.config = NULL;
}
