/*
 * Microsoft Graph v1.0: applications, password credentials, owners,
 * federated identity credentials, service principals and deleted items.
 *
 * Authorisation follows the application permissions in the roles claim of
 * the caller's token. Application.ReadWrite.All and Directory.ReadWrite.All
 * may change any application. Application.ReadWrite.OwnedBy may change only
 * what the caller's service principal owns, and it becomes owner of what it
 * creates. Every application permission may read.
 */
#include "emulator.h"

#include <stdlib.h>
#include <string.h>

/* Graph caps $top at 999. */
#define GRAPH_MAX_TOP 999
/* Maximum number of federated identity credentials per application. */
#define MAX_FICS 20

enum key_kind { KEY_NONE, KEY_ID, KEY_APP_ID, KEY_UNIQUE_NAME };

/* A Graph path split into segments, with the alternate-key form
 * "applications(appId='x')" turned into a key on segment 1. */
struct gpath {
    char *segs[8];
    int n;
    enum key_kind key_kind;
    char *key;
};

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

void emu_graph_error(struct emu_request *req, int status, const char *code,
                     const char *message)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(body, "error");
    cJSON *inner;
    char date[32];

    emu_iso8601(emu_now_ms(), date);
    date[19] = '\0'; /* Graph writes innerError.date without a zone */
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    inner = cJSON_AddObjectToObject(err, "innerError");
    cJSON_AddStringToObject(inner, "date", date);
    cJSON_AddStringToObject(inner, "request-id", req->request_id);
    cJSON_AddStringToObject(inner, "client-request-id", req->client_request_id);
    emu_reply_json(req, status, body);
}

static void not_found(struct emu_request *req, const char *id)
{
    char *msg = emu_printf("Resource '%s' does not exist or one of its "
                           "queried reference-property objects are not "
                           "present.",
                           id ? id : "");

    emu_graph_error(req, 404, "Request_ResourceNotFound", msg);
    free(msg);
}

static void denied(struct emu_request *req)
{
    emu_graph_error(req, 403, "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.");
}

static void bad_request(struct emu_request *req, const char *msg)
{
    emu_graph_error(req, 400, "Request_BadRequest", msg);
}

static void method_not_allowed(struct emu_request *req)
{
    emu_graph_error(req, 405, "Request_BadRequest",
                    "Specified HTTP method is not allowed for the request "
                    "target.");
}

/* ---- paths ---- */

static void gpath_free(struct gpath *gp)
{
    int i;

    for (i = 0; i < gp->n; i++)
        free(gp->segs[i]);
    free(gp->key);
    memset(gp, 0, sizeof(*gp));
}

/* Split "name(kind='value')" into name and key. */
static bool split_key(struct gpath *gp, char *seg)
{
    char *open = strchr(seg, '(');
    size_t len = strlen(seg);
    char *eq;

    if (!open)
        return true;
    if (len < 4 || seg[len - 1] != ')')
        return false;
    seg[len - 1] = '\0';
    *open = '\0';
    eq = strchr(open + 1, '=');
    if (!eq || eq[1] != '\'' || eq[strlen(eq) - 1] != '\'' || strlen(eq) < 3)
        return false;
    *eq = '\0';
    if (emu_strcaseeq(open + 1, "appId"))
        gp->key_kind = KEY_APP_ID;
    else if (emu_strcaseeq(open + 1, "uniqueName"))
        gp->key_kind = KEY_UNIQUE_NAME;
    else
        return false;
    gp->key = strndup(eq + 2, strlen(eq + 2) - 1);
    return true;
}

static bool gpath_parse(const char *path, struct gpath *gp)
{
    char *copy, *save = NULL, *tok;
    bool ok = true;

    memset(gp, 0, sizeof(*gp));
    if (strncmp(path, "/v1.0/", 6) != 0)
        return false;
    copy = emu_strdup(path + 6);
    for (tok = strtok_r(copy, "/", &save); tok && ok;
         tok = strtok_r(NULL, "/", &save)) {
        if (gp->n >= 8) {
            ok = false;
            break;
        }
        gp->segs[gp->n++] = emu_strdup(tok);
    }
    free(copy);
    if (!ok || gp->n == 0)
        return false;
    if (!split_key(gp, gp->segs[0]))
        return false;
    if (gp->key_kind == KEY_NONE && gp->n >= 2 &&
        (emu_strcaseeq(gp->segs[0], "applications") ||
         emu_strcaseeq(gp->segs[0], "servicePrincipals"))) {
        /* "/applications/{id}/..." keeps the id in segment 1; move it to
         * the key so both address forms route alike. */
        gp->key_kind = KEY_ID;
        gp->key = gp->segs[1];
        memmove(&gp->segs[1], &gp->segs[2],
                sizeof(gp->segs[0]) * (size_t)(gp->n - 2));
        gp->n--;
    }
    return true;
}

static const char *key_template(enum key_kind kind)
{
    switch (kind) {
    case KEY_ID:
        return "/{id}";
    case KEY_APP_ID:
        return "(appId='{appId}')";
    case KEY_UNIQUE_NAME:
        return "(uniqueName='{uniqueName}')";
    default:
        return "";
    }
}

/* Build the route template; returns false for an unknown route. */
static bool graph_template(const struct gpath *gp, char *out, size_t size)
{
    const char *s0 = gp->segs[0], *s1 = gp->n > 1 ? gp->segs[1] : NULL;
    const char *s2 = gp->n > 2 ? gp->segs[2] : NULL;
    const char *key = key_template(gp->key_kind);
    bool apps = emu_strcaseeq(s0, "applications");
    bool sps = emu_strcaseeq(s0, "servicePrincipals");

    if ((apps || sps) && gp->n == 1) {
        snprintf(out, size, "/v1.0/%s%s",
                 apps ? "applications" : "servicePrincipals", key);
        return true;
    }
    if ((apps || sps) && gp->key_kind != KEY_NONE && gp->n == 2 &&
        (emu_strcaseeq(s1, "addPassword") ||
         emu_strcaseeq(s1, "removePassword") || emu_strcaseeq(s1, "owners") ||
         (apps && emu_strcaseeq(s1, "federatedIdentityCredentials")))) {
        snprintf(out, size, "/v1.0/%s%s/%s", s0, key, s1);
        return true;
    }
    if (apps && gp->key_kind != KEY_NONE && gp->n == 3 &&
        emu_strcaseeq(s1, "owners") && strcmp(s2, "$ref") == 0) {
        snprintf(out, size, "/v1.0/applications%s/owners/$ref", key);
        return true;
    }
    if (apps && gp->key_kind != KEY_NONE && gp->n == 4 &&
        emu_strcaseeq(s1, "owners") && strcmp(gp->segs[3], "$ref") == 0) {
        snprintf(out, size, "/v1.0/applications%s/owners/{ownerId}/$ref", key);
        return true;
    }
    if (apps && gp->key_kind != KEY_NONE && gp->n == 3 &&
        emu_strcaseeq(s1, "federatedIdentityCredentials")) {
        snprintf(out, size,
                 "/v1.0/applications%s/federatedIdentityCredentials/{ficId}",
                 key);
        return true;
    }
    if (emu_strcaseeq(s0, "directory") && emu_strcaseeq(s1, "deletedItems") &&
        gp->n >= 3 && gp->n <= 4) {
        if (gp->n == 3 &&
            (emu_strcaseeq(s2, "microsoft.graph.application") ||
             emu_strcaseeq(s2, "microsoft.graph.servicePrincipal")))
            snprintf(out, size, "/v1.0/directory/deletedItems/%s", s2);
        else if (gp->n == 3)
            snprintf(out, size, "/v1.0/directory/deletedItems/{id}");
        else if (emu_strcaseeq(gp->segs[3], "restore"))
            snprintf(out, size, "/v1.0/directory/deletedItems/{id}/restore");
        else
            return false;
        return true;
    }
    return false;
}

bool emu_graph_route(struct emu_request *req)
{
    struct gpath gp;
    char tmpl[160];
    bool known =
        gpath_parse(req->path, &gp) && graph_template(&gp, tmpl, sizeof(tmpl));

    snprintf(req->route, sizeof(req->route), "%s %s", req->method,
             known ? tmpl : req->path);
    gpath_free(&gp);
    return known;
}

/* ---- callers and permissions ---- */

static bool has_role(const cJSON *claims, const char *role)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(claims, "roles"))
    {
        if (emu_strcaseeq(cJSON_GetStringValue(item), role))
            return true;
    }
    return false;
}

static bool can_write_all(const cJSON *claims)
{
    return has_role(claims, "Application.ReadWrite.All") ||
           has_role(claims, "Directory.ReadWrite.All");
}

static bool can_create(const cJSON *claims)
{
    return can_write_all(claims) ||
           has_role(claims, "Application.ReadWrite.OwnedBy");
}

static bool can_read(const cJSON *claims)
{
    return can_create(claims) || has_role(claims, "Application.Read.All") ||
           has_role(claims, "Directory.Read.All");
}

static bool list_contains(const cJSON *list, const char *value)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, list)
    {
        if (emu_strcaseeq(cJSON_GetStringValue(item), value))
            return true;
    }
    return false;
}

static bool can_write(const cJSON *claims, const cJSON *owners)
{
    return can_write_all(claims) ||
           (has_role(claims, "Application.ReadWrite.OwnedBy") &&
            list_contains(owners, json_str(claims, "oid")));
}

/* ---- bodies and responses ---- */

static cJSON *parse_body(struct emu_request *req, bool required)
{
    cJSON *body;

    if (req->body_len == 0 && !required)
        return cJSON_CreateObject();
    body = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        emu_graph_error(req, 400, "BadRequest",
                        "Unable to read JSON request payload. Please ensure "
                        "Content-Type header is set and payload is of valid "
                        "JSON format.");
        return NULL;
    }
    return body;
}

static cJSON *with_context(const cJSON *obj, const char *context)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *item;
    char *ctx =
        emu_printf("%s/v1.0/$metadata#%s", emu.urls[EMU_GRAPH], context);

    cJSON_AddStringToObject(out, "@odata.context", ctx);
    free(ctx);
    cJSON_ArrayForEach(item, obj)
    {
        cJSON_AddItemToObject(out, item->string, cJSON_Duplicate(item, true));
    }
    return out;
}

/* Keep only the $select properties (plus @odata annotations). */
static void apply_select(cJSON *obj, const char *select)
{
    cJSON *item = obj ? obj->child : NULL;

    if (!select || !*select)
        return;
    while (item) {
        cJSON *next = item->next;
        const char *name = item->string;
        const char *p = select;
        bool keep = name[0] == '@';
        size_t len = strlen(name);

        while (!keep && p && *p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);

            while (n > 0 && *p == ' ') {
                p++;
                n--;
            }
            keep = n == len && strncasecmp(p, name, n) == 0;
            p = comma ? comma + 1 : NULL;
        }
        if (!keep)
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, item));
        item = next;
    }
}

static void reply_entity(struct emu_request *req, int status, const cJSON *obj,
                         const char *context)
{
    cJSON *out = with_context(obj, context);

    apply_select(out, emu_query(req, "$select"));
    emu_reply_json(req, status, out);
}

/* ---- lists ---- */

static const char *const app_filter_props[] = {"id",
                                               "appId",
                                               "displayName",
                                               "tags",
                                               "uniqueName",
                                               "identifierUris",
                                               "signInAudience",
                                               "publisherDomain",
                                               "createdDateTime",
                                               NULL};
static const char *const sp_filter_props[] = {"id",
                                              "appId",
                                              "displayName",
                                              "tags",
                                              "servicePrincipalNames",
                                              "accountEnabled",
                                              "servicePrincipalType",
                                              "appOwnerOrganizationId",
                                              NULL};

/* Append "&name=value" for a query parameter that a next link keeps. */
static void keep_param(struct emu_request *req, char **link, const char *name)
{
    const char *value = emu_query(req, name);
    char *enc, *grown;

    if (!value)
        return;
    enc = emu_url_encode(value);
    grown = emu_printf("%s%s%s=%s", *link, strchr(*link, '?') ? "&" : "?", name,
                       enc);
    free(enc);
    free(*link);
    *link = grown;
}

/* Parse $top and $skiptoken; sets the error response and returns false when
 * invalid. */
static bool page_params(struct emu_request *req, int *top, int *offset)
{
    const char *top_text = emu_query(req, "$top");
    const char *skip = emu_query(req, "$skiptoken");
    char *end = NULL;
    long value;

    *top = emu.graph_page_size;
    *offset = 0;
    if (top_text) {
        value = strtol(top_text, &end, 10);
        if (*top_text == '\0' || *end != '\0' || value < 1 ||
            value > GRAPH_MAX_TOP) {
            char *msg = emu_printf("Invalid page size specified: '%s'. Must "
                                   "be between 1 and %d inclusive.",
                                   top_text, GRAPH_MAX_TOP);

            emu_graph_error(req, 400, "Request_BadRequest", msg);
            free(msg);
            return false;
        }
        *top = (int)value;
    }
    if (skip) {
        size_t len = 0;
        unsigned char *raw = emu_b64url_decode(skip, strlen(skip), &len);

        if (!raw || len < 7 || memcmp(raw, "offset:", 7) != 0) {
            free(raw);
            emu_graph_error(req, 400, "Request_BadRequest",
                            "The specified page token value has expired and "
                            "can no longer be included in your request.");
            return false;
        }
        raw[len] = '\0';
        *offset = atoi((char *)raw + 7);
        free(raw);
    }
    return true;
}

/* Check $filter and the advanced-query rules; sets the error response and
 * returns false on an error. *filter is NULL when no filter was given. */
static bool list_filter(struct emu_request *req, const char *const *allowed,
                        const char *type, struct emu_filter **filter)
{
    const char *text = emu_query(req, "$filter");
    const char *level = emu_header(req, "ConsistencyLevel");
    const char *count = emu_query(req, "$count");
    bool advanced = false, eventual;
    const char *bad;
    char *error = NULL, *msg;

    *filter = NULL;
    if (text) {
        *filter = emu_filter_parse(text, &advanced, &error);
        if (!*filter) {
            emu_graph_error(req, 400, "BadRequest", error);
            free(error);
            return false;
        }
        bad = emu_filter_check_props(*filter, allowed);
        if (bad) {
            msg = emu_printf("Unsupported or invalid query filter clause "
                             "specified for property '%s' of resource "
                             "'%s'.",
                             bad, type);
            emu_graph_error(req, 400, "Request_UnsupportedQuery", msg);
            free(msg);
            goto fail;
        }
    }
    if (emu_query(req, "$search") || (emu_query(req, "$orderby") && text) ||
        count)
        advanced = true;
    eventual = emu_strcaseeq(level, "eventual") && emu_strcaseeq(count, "true");
    if (advanced && !eventual) {
        emu_graph_error(
            req, 400, "Request_UnsupportedQuery",
            "Operator or query option requires the ConsistencyLevel "
            "header set to 'eventual' and the $count=true query "
            "parameter. Refer to https://aka.ms/graph-docs/"
            "advanced-queries for more information.");
        goto fail;
    }
    return true;
fail:
    emu_filter_free(*filter);
    *filter = NULL;
    return false;
}

/* Send one page of items as a Graph collection. items contains objects, or
 * references to them, in listing order, and is consumed. */
static void reply_page(struct emu_request *req, cJSON *items,
                       const char *context, int top, int offset)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *value = cJSON_CreateArray();
    const cJSON *next = cJSON_GetArrayItem(items, offset);
    int total = cJSON_GetArraySize(items), i;
    char *ctx =
        emu_printf("%s/v1.0/$metadata#%s", emu.urls[EMU_GRAPH], context);

    cJSON_AddStringToObject(body, "@odata.context", ctx);
    free(ctx);
    if (emu_strcaseeq(emu_query(req, "$count"), "true"))
        cJSON_AddNumberToObject(body, "@odata.count", total);
    for (i = offset; next && i < offset + top; i++, next = next->next) {
        cJSON *item = cJSON_Duplicate(next, true);

        apply_select(item, emu_query(req, "$select"));
        cJSON_AddItemToArray(value, item);
    }
    cJSON_AddItemToObject(body, "value", value);
    if (offset + top < total) {
        char *link = emu_printf("%s%s", emu.urls[EMU_GRAPH], req->path);
        char token_text[32], *token, *full;

        keep_param(req, &link, "$filter");
        keep_param(req, &link, "$select");
        keep_param(req, &link, "$top");
        keep_param(req, &link, "$count");
        snprintf(token_text, sizeof(token_text), "offset:%d", offset + top);
        token =
            emu_b64url_encode((unsigned char *)token_text, strlen(token_text));
        full = emu_printf("%s%s$skiptoken=%s", link,
                          strchr(link, '?') ? "&" : "?", token);
        cJSON_AddStringToObject(body, "@odata.nextLink", full);
        free(link);
        free(token);
        free(full);
    }
    cJSON_Delete(items);
    emu_reply_json(req, 200, body);
}

/* Objects created moments ago are not yet in the list index, as with
 * Graph's eventually consistent listing. */
static void list_apps(struct emu_request *req)
{
    struct emu_filter *filter;
    const struct emu_app *app;
    cJSON *items;
    int top, offset;

    if (!page_params(req, &top, &offset) ||
        !list_filter(req, app_filter_props, "Application", &filter))
        return;
    items = cJSON_CreateArray();
    for (app = emu.apps; app; app = app->next) {
        if (app->deleted_ms || emu_replicating(app->created_ms))
            continue;
        if (!filter || emu_filter_match(filter, app->obj))
            cJSON_AddItemReferenceToArray(items, app->obj);
    }
    emu_filter_free(filter);
    reply_page(req, items, "applications", top, offset);
}

static void list_sps(struct emu_request *req)
{
    struct emu_filter *filter;
    const struct emu_sp *sp;
    cJSON *items;
    int top, offset;

    if (!page_params(req, &top, &offset) ||
        !list_filter(req, sp_filter_props, "ServicePrincipal", &filter))
        return;
    items = cJSON_CreateArray();
    for (sp = emu.sps; sp; sp = sp->next) {
        if (sp->deleted_ms || emu_replicating(sp->created_ms))
            continue;
        if (!filter || emu_filter_match(filter, sp->obj))
            cJSON_AddItemReferenceToArray(items, sp->obj);
    }
    emu_filter_free(filter);
    reply_page(req, items, "servicePrincipals", top, offset);
}

/* ---- application properties ---- */

/* Properties a client may write on an application. */
static const char *const app_writable[] = {"displayName",
                                           "tags",
                                           "description",
                                           "notes",
                                           "signInAudience",
                                           "identifierUris",
                                           "uniqueName",
                                           "web",
                                           "spa",
                                           "publicClient",
                                           "requiredResourceAccess",
                                           "appRoles",
                                           "api",
                                           "info",
                                           "optionalClaims",
                                           "groupMembershipClaims",
                                           "isFallbackPublicClient",
                                           "serviceManagementReference",
                                           "tokenEncryptionKeyId",
                                           "parentalControlSettings",
                                           "isDeviceOnlyAuthSupported",
                                           "keyCredentials",
                                           "addIns",
                                           "defaultRedirectUri",
                                           NULL};
/* Read-only properties, which the emulator ignores on write. */
static const char *const app_read_only[] = {"id",
                                            "appId",
                                            "createdDateTime",
                                            "deletedDateTime",
                                            "publisherDomain",
                                            "passwordCredentials",
                                            "applicationTemplateId",
                                            "disabledByMicrosoftStatus",
                                            "certification",
                                            "verifiedPublisher",
                                            NULL};

static bool in_list(const char *const *list, const char *name)
{
    for (; *list; list++) {
        if (strcmp(*list, name) == 0)
            return true;
    }
    return false;
}

static bool unique_name_taken(const char *name, const struct emu_app *self)
{
    const struct emu_app *app;

    for (app = emu.apps; app; app = app->next) {
        if (app == self || (app->deleted_ms && !emu.deleted_hold_unique_name))
            continue;
        if (emu_strcaseeq(json_str(app->obj, "uniqueName"), name))
            return true;
    }
    return false;
}

/* Validate body against the application schema and copy the writable
 * properties into app->obj. Sets the error response and returns false on error.
 */
static bool apply_app_props(struct emu_request *req, struct emu_app *app,
                            const cJSON *body)
{
    const cJSON *item;
    char *msg = NULL;

    cJSON_ArrayForEach(item, body)
    {
        const char *name = item->string;

        if (strchr(name, '@') || in_list(app_read_only, name))
            continue;
        if (!in_list(app_writable, name)) {
            msg = emu_printf("Property '%s' does not exist as a declared "
                             "property or extension property.",
                             name);
            goto bad;
        }
    }
    item = cJSON_GetObjectItem(body, "displayName");
    if (item && (!cJSON_IsString(item) || !*item->valuestring ||
                 strlen(item->valuestring) > 256)) {
        msg = emu_strdup("Invalid value specified for property 'displayName' "
                         "of resource 'Application'.");
        goto bad;
    }
    item = cJSON_GetObjectItem(body, "tags");
    if (item) {
        const cJSON *tag;

        if (!cJSON_IsArray(item))
            goto bad_tags;
        cJSON_ArrayForEach(tag, item)
        {
            if (!cJSON_IsString(tag) || strlen(tag->valuestring) > 256)
                goto bad_tags;
        }
    }
    item = cJSON_GetObjectItem(body, "uniqueName");
    if (item && !cJSON_IsNull(item)) {
        const char *current = json_str(app->obj, "uniqueName");

        if (!cJSON_IsString(item) || !*item->valuestring) {
            msg = emu_strdup("Invalid value specified for property "
                             "'uniqueName' of resource 'Application'.");
            goto bad;
        }
        if (current && strcmp(current, item->valuestring) != 0) {
            msg = emu_strdup("Property 'uniqueName' is read-only once set "
                             "and cannot be changed.");
            goto bad;
        }
        if (!current && unique_name_taken(item->valuestring, app)) {
            emu_graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                            "Another object with the same value for property "
                            "uniqueName already exists.");
            return false;
        }
    }
    cJSON_ArrayForEach(item, body)
    {
        if (strchr(item->string, '@') || in_list(app_read_only, item->string))
            continue;
        if (cJSON_IsNull(item) && strcmp(item->string, "uniqueName") == 0)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(app->obj, item->string);
        cJSON_AddItemToObject(app->obj, item->string,
                              cJSON_Duplicate(item, true));
    }
    return true;
bad_tags:
    msg = emu_strdup("Invalid value specified for property 'tags' of "
                     "resource 'Application'.");
bad:
    bad_request(req, msg);
    free(msg);
    return false;
}

/* Apply "owners@odata.bind" of a create request. */
static bool bind_owners(struct emu_request *req, cJSON *owners,
                        const cJSON *body)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(body, "owners@odata.bind"))
    {
        const char *url = cJSON_GetStringValue(item);
        const char *id = url ? strrchr(url, '/') : NULL;

        if (!id || !emu_sp_find_id(id + 1, false)) {
            not_found(req, id ? id + 1 : "");
            return false;
        }
        if (!list_contains(owners, id + 1))
            cJSON_AddItemToArray(owners, cJSON_CreateString(id + 1));
    }
    return true;
}

static void unlink_app(struct emu_app *target)
{
    struct emu_app **link = &emu.apps;

    while (*link && *link != target)
        link = &(*link)->next;
    if (*link)
        *link = target->next;
}

static void unlink_sp(struct emu_sp *target)
{
    struct emu_sp **link = &emu.sps;

    while (*link && *link != target)
        link = &(*link)->next;
    if (*link)
        *link = target->next;
}

/* Create an application from body and set the 201 or error response. */
static struct emu_app *create_app(struct emu_request *req, const cJSON *claims,
                                  const cJSON *body, const char *unique_name)
{
    const char *name = json_str(body, "displayName");
    struct emu_app *app;

    if (!can_create(claims)) {
        denied(req);
        return NULL;
    }
    if (!name || !*name) {
        bad_request(req, "Invalid value specified for property 'displayName' "
                         "of resource 'Application'.");
        return NULL;
    }
    app = emu_app_create(name, NULL, NULL);
    if (unique_name)
        cJSON_ReplaceItemInObject(app->obj, "uniqueName",
                                  cJSON_CreateString(unique_name));
    if (!apply_app_props(req, app, body) ||
        !bind_owners(req, app->owners, body)) {
        unlink_app(app);
        emu_app_free(app);
        return NULL;
    }
    if (unique_name && unique_name_taken(unique_name, app)) {
        emu_graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                        "Another object with the same value for property "
                        "uniqueName already exists.");
        unlink_app(app);
        emu_app_free(app);
        return NULL;
    }
    /* The calling service principal owns what it creates, which is what
     * lets Application.ReadWrite.OwnedBy manage it afterwards. */
    if (!list_contains(app->owners, json_str(claims, "oid")))
        cJSON_AddItemToArray(app->owners,
                             cJSON_CreateString(json_str(claims, "oid")));
    reply_entity(req, 201, app->obj, "applications/$entity");
    return app;
}

static const char *key_field(enum key_kind kind)
{
    switch (kind) {
    case KEY_APP_ID:
        return "appId";
    case KEY_UNIQUE_NAME:
        return "uniqueName";
    default:
        return "id";
    }
}

/* Find the addressed application. Sets a 404 response when it is missing or
 * still replicating. */
static struct emu_app *lookup_app(struct emu_request *req,
                                  const struct gpath *gp)
{
    struct emu_app *app = emu_app_find(key_field(gp->key_kind), gp->key, false);

    if (!app || emu_replicating(app->created_ms)) {
        not_found(req, gp->key);
        return NULL;
    }
    return app;
}

static void upsert_app(struct emu_request *req, const cJSON *claims,
                       const struct gpath *gp, const cJSON *body)
{
    const char *prefer = emu_header(req, "Prefer");
    struct emu_app *app = emu_app_find("uniqueName", gp->key, false);

    if (app) {
        if (!can_write(claims, app->owners)) {
            denied(req);
            return;
        }
        if (apply_app_props(req, app, body))
            emu_reply_empty(req, 204);
        return;
    }
    if (!prefer || !strstr(prefer, "create-if-missing")) {
        not_found(req, gp->key);
        return;
    }
    create_app(req, claims, body, gp->key);
}

static void delete_app(struct emu_request *req, struct emu_app *app)
{
    char now[32];
    struct emu_sp *sp = emu_sp_find_app(json_str(app->obj, "appId"), false);

    emu_iso8601(emu_now_ms(), now);
    app->deleted_ms = emu_now_ms();
    cJSON_ReplaceItemInObject(app->obj, "deletedDateTime",
                              cJSON_CreateString(now));
    /* The service principal goes with its application. Role assignments
     * that name it stay behind, orphaned, as in Azure. */
    if (sp) {
        sp->deleted_ms = app->deleted_ms;
        cJSON_ReplaceItemInObject(sp->obj, "deletedDateTime",
                                  cJSON_CreateString(now));
    }
    emu_reply_empty(req, 204);
}

static void add_password(struct emu_request *req, cJSON *secrets, cJSON *obj,
                         const cJSON *body)
{
    const cJSON *max =
        cJSON_GetObjectItem(emu.config, "maxPasswordCredentials");
    int limit = cJSON_IsNumber(max) ? max->valueint : 100;
    const char *error = NULL;
    cJSON *resp, *metadata = cJSON_GetObjectItem(obj, "passwordCredentials");

    if (cJSON_GetArraySize(metadata) >= limit) {
        emu_graph_error(req, 400, "Directory_ResourceSizeExceeded",
                        "The size of the object has exceeded its limit. "
                        "Please reduce the number of values and retry your "
                        "request.");
        return;
    }
    resp = emu_password_add(secrets, metadata,
                            cJSON_GetObjectItem(body, "passwordCredential"),
                            NULL, &error);
    if (!resp) {
        bad_request(req, error);
        return;
    }
    reply_entity(req, 200, resp, "microsoft.graph.passwordCredential");
    cJSON_Delete(resp);
}

static void remove_password(struct emu_request *req, cJSON *secrets, cJSON *obj,
                            const cJSON *body)
{
    const char *key_id = json_str(body, "keyId");
    cJSON *metadata = cJSON_GetObjectItem(obj, "passwordCredentials");
    int i;
    char *msg;

    if (!emu_is_guid(key_id)) {
        bad_request(req, "Invalid value specified for property 'keyId' of "
                         "resource 'PasswordCredential'.");
        return;
    }
    for (i = 0; i < cJSON_GetArraySize(metadata); i++) {
        if (emu_strcaseeq(json_str(cJSON_GetArrayItem(metadata, i), "keyId"),
                          key_id)) {
            cJSON_DeleteItemFromArray(metadata, i);
            break;
        }
    }
    for (i = 0; i < cJSON_GetArraySize(secrets); i++) {
        if (emu_strcaseeq(json_str(cJSON_GetArrayItem(secrets, i), "keyId"),
                          key_id)) {
            cJSON_DeleteItemFromArray(secrets, i);
            emu_reply_empty(req, 204);
            return;
        }
    }
    msg = emu_printf("No password credential found with keyId '%s'.", key_id);
    bad_request(req, msg);
    free(msg);
}

/* ---- owners ---- */

static cJSON *directory_object(const char *id)
{
    const struct emu_sp *sp = emu_sp_find_id(id, false);
    cJSON *obj;

    if (!sp) {
        obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "@odata.type",
                                "#microsoft.graph.directoryObject");
        cJSON_AddStringToObject(obj, "id", id);
        return obj;
    }
    obj = cJSON_Duplicate(sp->obj, true);
    cJSON_AddStringToObject(obj, "@odata.type",
                            "#microsoft.graph.servicePrincipal");
    return obj;
}

static void handle_owners(struct emu_request *req, const cJSON *claims,
                          struct emu_app *app, const struct gpath *gp)
{
    cJSON *body = NULL;
    const char *ref, *id;
    int i;

    if (gp->n == 2 && strcmp(req->method, "GET") == 0) {
        cJSON *items = cJSON_CreateArray();
        const cJSON *owner;

        cJSON_ArrayForEach(owner, app->owners)
        {
            cJSON_AddItemToArray(items, directory_object(owner->valuestring));
        }
        reply_page(req, items, "directoryObjects", GRAPH_MAX_TOP, 0);
        return;
    }
    if (!can_write(claims, app->owners)) {
        denied(req);
        return;
    }
    if (gp->n == 3 && strcmp(req->method, "POST") == 0) {
        body = parse_body(req, true);
        if (!body)
            return;
        ref = json_str(body, "@odata.id");
        id = ref ? strrchr(ref, '/') : NULL;
        if (!id) {
            bad_request(req, "Invalid value specified for property "
                             "'@odata.id'.");
        } else if (!emu_sp_find_id(id + 1, false)) {
            not_found(req, id + 1);
        } else if (list_contains(app->owners, id + 1)) {
            bad_request(req, "One or more added object references already "
                             "exist for the following modified properties: "
                             "'owners'.");
        } else {
            cJSON_AddItemToArray(app->owners, cJSON_CreateString(id + 1));
            emu_reply_empty(req, 204);
        }
        cJSON_Delete(body);
        return;
    }
    if (gp->n == 4 && strcmp(req->method, "DELETE") == 0) {
        for (i = 0; i < cJSON_GetArraySize(app->owners); i++) {
            if (emu_strcaseeq(cJSON_GetArrayItem(app->owners, i)->valuestring,
                              gp->segs[2])) {
                cJSON_DeleteItemFromArray(app->owners, i);
                emu_reply_empty(req, 204);
                return;
            }
        }
        not_found(req, gp->segs[2]);
        return;
    }
    method_not_allowed(req);
}

/* ---- federated identity credentials ---- */

static bool valid_fic_name(const char *name)
{
    size_t i, len = name ? strlen(name) : 0;

    if (len == 0 || len > 120)
        return false;
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool valid_url_field(const cJSON *obj, const char *key)
{
    const char *value = json_str(obj, key);

    return value && *value && strlen(value) <= 600;
}

/* Validate a credential; sets the error response and returns false on error. */
static bool check_fic(struct emu_request *req, const struct emu_app *app,
                      const cJSON *fic, const cJSON *self)
{
    const cJSON *aud = cJSON_GetObjectItem(fic, "audiences");
    const cJSON *other;

    if (!valid_fic_name(json_str(fic, "name"))) {
        bad_request(req, "Invalid value specified for property 'name' of "
                         "resource 'FederatedIdentityCredential'. It must be "
                         "1 to 120 characters from [A-Za-z0-9._-].");
        return false;
    }
    if (!valid_url_field(fic, "issuer") || !valid_url_field(fic, "subject")) {
        bad_request(req, "Invalid value specified for property 'issuer' or "
                         "'subject' of resource "
                         "'FederatedIdentityCredential'. Each must be 1 to "
                         "600 characters.");
        return false;
    }
    if (!cJSON_IsArray(aud) || cJSON_GetArraySize(aud) != 1 ||
        !cJSON_IsString(cJSON_GetArrayItem(aud, 0)) ||
        strlen(cJSON_GetArrayItem(aud, 0)->valuestring) > 600) {
        bad_request(req, "Invalid value specified for property 'audiences' "
                         "of resource 'FederatedIdentityCredential'. It must "
                         "contain exactly one value.");
        return false;
    }
    cJSON_ArrayForEach(other, app->fics)
    {
        if (other == self)
            continue;
        if (emu_strcaseeq(json_str(other, "name"), json_str(fic, "name"))) {
            emu_graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                            "FederatedIdentityCredential with name already "
                            "exists.");
            return false;
        }
        if (strcmp(json_str(other, "issuer"), json_str(fic, "issuer")) == 0 &&
            strcmp(json_str(other, "subject"), json_str(fic, "subject")) == 0) {
            bad_request(req, "FederatedIdentityCredential with the same "
                             "issuer and subject already exists on this "
                             "application.");
            return false;
        }
    }
    return true;
}

static cJSON *find_fic(const struct emu_app *app, const char *key)
{
    cJSON *fic;

    cJSON_ArrayForEach(fic, app->fics)
    {
        if (emu_strcaseeq(json_str(fic, "id"), key) ||
            emu_strcaseeq(json_str(fic, "name"), key))
            return fic;
    }
    return NULL;
}

static void create_fic(struct emu_request *req, struct emu_app *app,
                       const cJSON *body, const char *context)
{
    cJSON *fic = cJSON_CreateObject();
    const char *fields[] = {"name", "issuer", "subject", "description"};
    char id[37];
    size_t i;

    if (cJSON_GetArraySize(app->fics) >= MAX_FICS) {
        bad_request(req, "The application already has the maximum of 20 "
                         "federated identity credentials.");
        cJSON_Delete(fic);
        return;
    }
    emu_uuid4(id);
    cJSON_AddStringToObject(fic, "id", id);
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const cJSON *v = cJSON_GetObjectItem(body, fields[i]);

        cJSON_AddItemToObject(
            fic, fields[i], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
    }
    cJSON_AddItemToObject(
        fic, "audiences",
        cJSON_Duplicate(cJSON_GetObjectItem(body, "audiences"), true));
    if (!check_fic(req, app, fic, NULL)) {
        cJSON_Delete(fic);
        return;
    }
    cJSON_AddItemToArray(app->fics, fic);
    cJSON_AddNumberToObject(app->fic_created, id, (double)emu_now_ms());
    {
        char entity[192];

        snprintf(entity, sizeof(entity), "%s/$entity", context);
        reply_entity(req, 201, fic, entity);
    }
}

static void patch_fic(struct emu_request *req, struct emu_app *app, cJSON *fic)
{
    cJSON *body = parse_body(req, true), *updated;
    const cJSON *item;

    if (!body)
        return;
    if (json_str(body, "name") &&
        strcmp(json_str(body, "name"), json_str(fic, "name")) != 0) {
        bad_request(req, "Property 'name' of resource "
                         "'FederatedIdentityCredential' cannot be changed.");
        cJSON_Delete(body);
        return;
    }
    updated = cJSON_Duplicate(fic, true);
    cJSON_ArrayForEach(item, body)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(updated, item->string);
        cJSON_AddItemToObject(updated, item->string,
                              cJSON_Duplicate(item, true));
    }
    if (check_fic(req, app, updated, fic)) {
        cJSON_ReplaceItemViaPointer(app->fics, fic, updated);
        emu_reply_empty(req, 204);
    } else {
        cJSON_Delete(updated);
    }
    cJSON_Delete(body);
}

static void handle_fics(struct emu_request *req, const cJSON *claims,
                        struct emu_app *app, const struct gpath *gp)
{
    const char *m = req->method;
    bool get = strcmp(m, "GET") == 0;
    char context[128];
    const cJSON *created;
    cJSON *body, *fic;

    snprintf(context, sizeof(context),
             "applications('%s')/federatedIdentityCredentials",
             json_str(app->obj, "id"));
    if (!get && !can_write(claims, app->owners)) {
        denied(req);
        return;
    }
    if (gp->n == 2 && get) {
        reply_page(req, cJSON_Duplicate(app->fics, true), context,
                   GRAPH_MAX_TOP, 0);
        return;
    }
    if (gp->n == 2 && strcmp(m, "POST") == 0) {
        body = parse_body(req, true);
        if (body)
            create_fic(req, app, body, context);
        cJSON_Delete(body);
        return;
    }
    if (gp->n == 2) {
        method_not_allowed(req);
        return;
    }
    /* A new credential is not readable while it replicates. */
    fic = find_fic(app, gp->segs[2]);
    created =
        fic ? cJSON_GetObjectItem(app->fic_created, json_str(fic, "id")) : NULL;
    if (!fic || (created && emu_replicating((int64_t)created->valuedouble))) {
        not_found(req, gp->segs[2]);
        return;
    }
    if (get) {
        strncat(context, "/$entity", sizeof(context) - strlen(context) - 1);
        reply_entity(req, 200, fic, context);
    } else if (strcmp(m, "DELETE") == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(app->fic_created,
                                                json_str(fic, "id"));
        cJSON_Delete(cJSON_DetachItemViaPointer(app->fics, fic));
        emu_reply_empty(req, 204);
    } else if (strcmp(m, "PATCH") == 0) {
        patch_fic(req, app, fic);
    } else {
        method_not_allowed(req);
    }
}

/* ---- applications ---- */

static void handle_app_item(struct emu_request *req, const cJSON *claims,
                            const struct gpath *gp)
{
    const char *m = req->method;
    bool upsert = gp->key_kind == KEY_UNIQUE_NAME && gp->n == 1 &&
                  strcmp(m, "PATCH") == 0;
    struct emu_app *app;
    cJSON *body = NULL;

    if (upsert) {
        body = parse_body(req, true);
        if (body)
            upsert_app(req, claims, gp, body);
        cJSON_Delete(body);
        return;
    }
    app = lookup_app(req, gp);
    if (!app)
        return;
    if (gp->n >= 2 && gp->n <= 4 && emu_strcaseeq(gp->segs[1], "owners")) {
        handle_owners(req, claims, app, gp);
        return;
    }
    if (emu_strcaseeq(gp->segs[gp->n > 1 ? 1 : 0],
                      "federatedIdentityCredentials")) {
        handle_fics(req, claims, app, gp);
        return;
    }
    if (gp->n == 1 && strcmp(m, "GET") == 0) {
        reply_entity(req, 200, app->obj, "applications/$entity");
        return;
    }
    if (!can_write(claims, app->owners)) {
        denied(req);
        return;
    }
    if (gp->n == 1 && strcmp(m, "DELETE") == 0) {
        delete_app(req, app);
        return;
    }
    if (!(gp->n == 1 && strcmp(m, "PATCH") == 0) &&
        !(gp->n == 2 && strcmp(m, "POST") == 0)) {
        method_not_allowed(req);
        return;
    }
    body = parse_body(req, gp->n == 1);
    if (!body)
        return;
    if (gp->n == 1 && strcmp(m, "PATCH") == 0) {
        if (apply_app_props(req, app, body))
            emu_reply_empty(req, 204);
    } else if (gp->n == 2 && emu_strcaseeq(gp->segs[1], "addPassword")) {
        add_password(req, app->secrets, app->obj, body);
    } else if (gp->n == 2 && emu_strcaseeq(gp->segs[1], "removePassword")) {
        remove_password(req, app->secrets, app->obj, body);
    } else {
        method_not_allowed(req);
    }
    cJSON_Delete(body);
}

/* ---- service principals ---- */

static void create_sp(struct emu_request *req, const cJSON *claims)
{
    cJSON *body = parse_body(req, true);
    const char *app_id = json_str(body, "appId");
    const cJSON *tags = cJSON_GetObjectItem(body, "tags");
    struct emu_app *app;
    struct emu_sp *sp;
    char *msg = NULL;

    if (!body)
        return;
    if (!can_create(claims)) {
        denied(req);
        goto out;
    }
    if (!app_id) {
        bad_request(req, "Invalid value specified for property 'appId' of "
                         "resource 'ServicePrincipal'.");
        goto out;
    }
    app = emu_app_find("appId", app_id, false);
    if (app && emu_replicating(app->created_ms) &&
        strcmp(emu.replication_sp_error, "403") == 0) {
        emu_graph_error(req, 403, "Authorization_RequestDenied",
                        "When using this permission, the backing application "
                        "of the service principal being created must in the "
                        "local tenant");
        goto out;
    }
    if (!app || emu_replicating(app->created_ms)) {
        msg = emu_printf("The appId '%s' of the service principal does not "
                         "reference a valid application object.",
                         app_id);
        bad_request(req, msg);
        goto out;
    }
    if (!can_write(claims, app->owners)) {
        denied(req);
        goto out;
    }
    if (emu_sp_find_app(app_id, false)) {
        msg = emu_printf("The service principal cannot be created, updated, "
                         "or restored because the service principal name %s "
                         "is already in use.",
                         app_id);
        emu_graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                        msg);
        goto out;
    }
    if (tags && !cJSON_IsArray(tags)) {
        bad_request(req, "Invalid value specified for property 'tags' of "
                         "resource 'ServicePrincipal'.");
        goto out;
    }
    sp = emu_sp_create(app, NULL);
    if (tags)
        cJSON_ReplaceItemInObject(sp->obj, "tags", cJSON_Duplicate(tags, true));
    if (cJSON_IsString(cJSON_GetObjectItem(body, "description")))
        cJSON_ReplaceItemInObject(
            sp->obj, "description",
            cJSON_Duplicate(cJSON_GetObjectItem(body, "description"), true));
    cJSON_AddItemToArray(sp->owners,
                         cJSON_CreateString(json_str(claims, "oid")));
    reply_entity(req, 201, sp->obj, "servicePrincipals/$entity");
out:
    free(msg);
    cJSON_Delete(body);
}

static struct emu_sp *lookup_sp(struct emu_request *req, const struct gpath *gp)
{
    struct emu_sp *sp = gp->key_kind == KEY_APP_ID
                            ? emu_sp_find_app(gp->key, false)
                            : emu_sp_find_id(gp->key, false);

    if (!sp || gp->key_kind == KEY_UNIQUE_NAME ||
        emu_replicating(sp->created_ms)) {
        not_found(req, gp->key);
        return NULL;
    }
    return sp;
}

static void handle_sp_item(struct emu_request *req, const cJSON *claims,
                           const struct gpath *gp)
{
    const char *m = req->method;
    struct emu_sp *sp = lookup_sp(req, gp);
    cJSON *body = NULL;
    const cJSON *item;

    if (!sp)
        return;
    if (strcmp(m, "GET") == 0 && gp->n == 1) {
        reply_entity(req, 200, sp->obj, "servicePrincipals/$entity");
        return;
    }
    if (strcmp(m, "GET") == 0 && gp->n == 2 &&
        emu_strcaseeq(gp->segs[1], "owners")) {
        cJSON *items = cJSON_CreateArray();

        cJSON_ArrayForEach(item, sp->owners)
        {
            cJSON_AddItemToArray(items, directory_object(item->valuestring));
        }
        reply_page(req, items, "directoryObjects", GRAPH_MAX_TOP, 0);
        return;
    }
    if (!can_write(claims, sp->owners)) {
        denied(req);
        return;
    }
    if (strcmp(m, "DELETE") == 0 && gp->n == 1) {
        char now[32];

        emu_iso8601(emu_now_ms(), now);
        sp->deleted_ms = emu_now_ms();
        cJSON_ReplaceItemInObject(sp->obj, "deletedDateTime",
                                  cJSON_CreateString(now));
        emu_reply_empty(req, 204);
        return;
    }
    body = strcmp(m, "PATCH") == 0 || strcmp(m, "POST") == 0
               ? parse_body(req, gp->n == 1)
               : NULL;
    if (!body) {
        if (strcmp(m, "PATCH") != 0 && strcmp(m, "POST") != 0)
            method_not_allowed(req);
        return;
    }
    if (strcmp(m, "PATCH") == 0 && gp->n == 1) {
        static const char *const writable[] = {"tags",
                                               "description",
                                               "notes",
                                               "accountEnabled",
                                               "appRoleAssignmentRequired",
                                               "displayName",
                                               NULL};

        cJSON_ArrayForEach(item, body)
        {
            if (!in_list(writable, item->string)) {
                char *msg = emu_printf("Property '%s' does not exist as a "
                                       "declared property or extension "
                                       "property.",
                                       item->string);

                bad_request(req, msg);
                free(msg);
                cJSON_Delete(body);
                return;
            }
        }
        cJSON_ArrayForEach(item, body)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(sp->obj, item->string);
            cJSON_AddItemToObject(sp->obj, item->string,
                                  cJSON_Duplicate(item, true));
        }
        emu_reply_empty(req, 204);
    } else if (gp->n == 2 && emu_strcaseeq(gp->segs[1], "addPassword")) {
        add_password(req, sp->secrets, sp->obj, body);
    } else if (gp->n == 2 && emu_strcaseeq(gp->segs[1], "removePassword")) {
        remove_password(req, sp->secrets, sp->obj, body);
    } else {
        method_not_allowed(req);
    }
    cJSON_Delete(body);
}

/* ---- deleted items ---- */

static void list_deleted(struct emu_request *req, bool apps)
{
    cJSON *items = cJSON_CreateArray();
    const struct emu_app *app;
    const struct emu_sp *sp;
    int top, offset;

    if (!page_params(req, &top, &offset)) {
        cJSON_Delete(items);
        return;
    }
    if (apps) {
        for (app = emu.apps; app; app = app->next) {
            if (app->deleted_ms)
                cJSON_AddItemReferenceToArray(items, app->obj);
        }
    } else {
        for (sp = emu.sps; sp; sp = sp->next) {
            if (sp->deleted_ms)
                cJSON_AddItemReferenceToArray(items, sp->obj);
        }
    }
    reply_page(req, items,
               apps ? "directory/deletedItems/microsoft.graph.application"
                    : "directory/deletedItems/microsoft.graph.servicePrincipal",
               top, offset);
}

static void handle_deleted(struct emu_request *req, const cJSON *claims,
                           const struct gpath *gp)
{
    const char *id = gp->segs[2];
    struct emu_app *app;
    struct emu_sp *sp;
    cJSON *obj;

    if (gp->n == 3 && strcmp(req->method, "GET") == 0 &&
        (emu_strcaseeq(id, "microsoft.graph.application") ||
         emu_strcaseeq(id, "microsoft.graph.servicePrincipal"))) {
        list_deleted(req, emu_strcaseeq(id, "microsoft.graph.application"));
        return;
    }
    app = emu_app_find("id", id, true);
    sp = app ? NULL : emu_sp_find_id(id, true);
    if (!app && !sp) {
        not_found(req, id);
        return;
    }
    if (strcmp(req->method, "GET") == 0 && gp->n == 3) {
        obj = cJSON_Duplicate(app ? app->obj : sp->obj, true);
        cJSON_AddStringToObject(obj, "@odata.type",
                                app ? "#microsoft.graph.application"
                                    : "#microsoft.graph.servicePrincipal");
        reply_entity(req, 200, obj, "directoryObjects/$entity");
        cJSON_Delete(obj);
        return;
    }
    if (!can_write(claims, app ? app->owners : sp->owners)) {
        denied(req);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0 && gp->n == 3) {
        if (app) {
            unlink_app(app);
            emu_app_free(app);
        } else {
            unlink_sp(sp);
            emu_sp_free(sp);
        }
        emu_reply_empty(req, 204);
        return;
    }
    if (strcmp(req->method, "POST") == 0 && gp->n == 4) {
        if (app && json_str(app->obj, "uniqueName") &&
            emu_app_find("uniqueName", json_str(app->obj, "uniqueName"),
                         false)) {
            emu_graph_error(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                            "Another object with the same value for property "
                            "uniqueName already exists.");
            return;
        }
        if (sp && (!emu_app_find("appId", json_str(sp->obj, "appId"), false) ||
                   emu_sp_find_app(json_str(sp->obj, "appId"), false))) {
            bad_request(req, "The service principal cannot be restored "
                             "because its application is not active or "
                             "another service principal uses its appId.");
            return;
        }
        if (app) {
            app->deleted_ms = 0;
            cJSON_ReplaceItemInObject(app->obj, "deletedDateTime",
                                      cJSON_CreateNull());
        } else {
            sp->deleted_ms = 0;
            cJSON_ReplaceItemInObject(sp->obj, "deletedDateTime",
                                      cJSON_CreateNull());
        }
        obj = cJSON_Duplicate(app ? app->obj : sp->obj, true);
        cJSON_AddStringToObject(obj, "@odata.type",
                                app ? "#microsoft.graph.application"
                                    : "#microsoft.graph.servicePrincipal");
        reply_entity(req, 200, obj, "directoryObjects/$entity");
        cJSON_Delete(obj);
        return;
    }
    method_not_allowed(req);
}

/* ---- dispatch ---- */

static void dispatch(struct emu_request *req, const cJSON *claims,
                     const struct gpath *gp)
{
    const char *m = req->method;
    bool apps = emu_strcaseeq(gp->segs[0], "applications");
    bool sps = emu_strcaseeq(gp->segs[0], "servicePrincipals");

    if (!can_read(claims)) {
        denied(req);
        return;
    }
    if (apps && gp->key_kind == KEY_NONE) {
        if (strcmp(m, "GET") == 0) {
            list_apps(req);
        } else if (strcmp(m, "POST") == 0) {
            cJSON *body = parse_body(req, true);

            if (body)
                create_app(req, claims, body, NULL);
            cJSON_Delete(body);
        } else {
            method_not_allowed(req);
        }
    } else if (apps) {
        handle_app_item(req, claims, gp);
    } else if (sps && gp->key_kind == KEY_NONE) {
        if (strcmp(m, "GET") == 0)
            list_sps(req);
        else if (strcmp(m, "POST") == 0)
            create_sp(req, claims);
        else
            method_not_allowed(req);
    } else if (sps) {
        handle_sp_item(req, claims, gp);
    } else {
        handle_deleted(req, claims, gp);
    }
}

void emu_graph_handle(struct emu_request *req)
{
    struct gpath gp;
    char tmpl[160];
    cJSON *claims;

    req->content_type = "application/json;odata.metadata=minimal;"
                        "odata.streaming=true;IEEE754Compatible=false;"
                        "charset=utf-8";
    if (!gpath_parse(req->path, &gp) ||
        !graph_template(&gp, tmpl, sizeof(tmpl))) {
        const char *seg = strrchr(req->path, '/');
        char *msg = emu_printf("Resource not found for the segment '%s'.",
                               seg ? seg + 1 : req->path);

        emu_graph_error(req, 400, "BadRequest", msg);
        free(msg);
        gpath_free(&gp);
        return;
    }
    claims = emu_authenticate(req, EMU_GRAPH);
    if (claims)
        dispatch(req, claims, &gp);
    cJSON_Delete(claims);
    gpath_free(&gp);
}
