#include "azidt/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/log.h"

/* Upper bound on pages followed in one list call. */
#define MAX_PAGES 1000

/* ---- URLs ---- */

size_t azidt_graph_odata_quote(const char *value, char *out, size_t outlen)
{
    size_t n = 0;

    for (const char *p = value; *p; p++) {
        size_t k = *p == '\'' ? 2 : 1;

        for (size_t i = 0; i < k; i++, n++)
            if (n + 1 < outlen)
                out[n] = *p;
    }
    if (outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

/* OData-quote value, then percent-encode it, into out. */
static azidt_err encode_literal(const char *value, char *out, size_t outlen)
{
    char quoted[1024];

    if (azidt_graph_odata_quote(value, quoted, sizeof(quoted)) >=
            sizeof(quoted) ||
        azidt_azure_url_escape(quoted, out, outlen) >= outlen)
        return AZIDT_ERR_INVALID;
    return AZIDT_OK;
}

static azidt_err format_url(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static azidt_err format_url(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= outlen ? AZIDT_ERR_INVALID : AZIDT_OK;
}

azidt_err azidt_graph_app_url(const char *endpoint,
                              enum azidt_graph_app_key key, const char *value,
                              char *out, size_t outlen)
{
    char literal[1024];

    if (encode_literal(value, literal, sizeof(literal)))
        return AZIDT_ERR_INVALID;
    switch (key) {
    case AZIDT_GRAPH_KEY_ID:
        return format_url(out, outlen, "%s/v1.0/applications/%s", endpoint,
                          literal);
    case AZIDT_GRAPH_KEY_APP_ID:
        return format_url(out, outlen, "%s/v1.0/applications(appId='%s')",
                          endpoint, literal);
    case AZIDT_GRAPH_KEY_UNIQUE_NAME:
        return format_url(out, outlen, "%s/v1.0/applications(uniqueName='%s')",
                          endpoint, literal);
    }
    return AZIDT_ERR_INVALID;
}

azidt_err azidt_graph_list_by_tag_url(const char *endpoint, const char *tag,
                                      char *out, size_t outlen)
{
    char quoted[1024], filter[1100], encoded[3400];

    if (azidt_graph_odata_quote(tag, quoted, sizeof(quoted)) >=
            sizeof(quoted) ||
        format_url(filter, sizeof(filter), "tags/any(t:t eq '%s')", quoted) ||
        azidt_azure_url_escape(filter, encoded, sizeof(encoded)) >=
            sizeof(encoded))
        return AZIDT_ERR_INVALID;
    return format_url(out, outlen, "%s/v1.0/applications?$filter=%s&$top=999",
                      endpoint, encoded);
}

/* ---- results ---- */

static void copy_json_string(const cJSON *obj, const char *name, char *out,
                             size_t outlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    out[0] = '\0';
    if (cJSON_IsString(item))
        snprintf(out, outlen, "%s", item->valuestring);
}

void azidt_graph_app_clear(struct azidt_graph_app *app)
{
    if (!app)
        return;
    cJSON_Delete(app->json);
    memset(app, 0, sizeof(*app));
}

void azidt_graph_sp_clear(struct azidt_graph_sp *sp)
{
    if (!sp)
        return;
    cJSON_Delete(sp->json);
    memset(sp, 0, sizeof(*sp));
}

void azidt_graph_password_clear(struct azidt_graph_password *password)
{
    if (!password)
        return;
    azidt_azure_secret_free(password->secret_text);
    memset(password, 0, sizeof(*password));
}

/* Move the JSON body of resp into app. */
static azidt_err take_app(struct azidt_azure_response *resp,
                          struct azidt_graph_app *app, const char *operation,
                          char *err, size_t errlen)
{
    memset(app, 0, sizeof(*app));
    copy_json_string(resp->json, "id", app->id, sizeof(app->id));
    copy_json_string(resp->json, "appId", app->app_id, sizeof(app->app_id));
    if (!app->id[0] || !app->app_id[0]) {
        snprintf(err, errlen,
                 "%s failed: Graph answered without id or appId; retrying "
                 "will not help",
                 operation);
        return AZIDT_ERR_REMOTE;
    }
    copy_json_string(resp->json, "uniqueName", app->unique_name,
                     sizeof(app->unique_name));
    copy_json_string(resp->json, "displayName", app->display_name,
                     sizeof(app->display_name));
    app->json = resp->json;
    resp->json = NULL;
    return AZIDT_OK;
}

static azidt_err take_sp(struct azidt_azure_response *resp,
                         struct azidt_graph_sp *sp, const char *operation,
                         char *err, size_t errlen)
{
    memset(sp, 0, sizeof(*sp));
    copy_json_string(resp->json, "id", sp->id, sizeof(sp->id));
    copy_json_string(resp->json, "appId", sp->app_id, sizeof(sp->app_id));
    if (!sp->id[0]) {
        snprintf(err, errlen,
                 "%s failed: Graph answered without an id; retrying will not "
                 "help",
                 operation);
        return AZIDT_ERR_REMOTE;
    }
    sp->json = resp->json;
    resp->json = NULL;
    return AZIDT_OK;
}

static cJSON *string_array(const char *const *values, size_t count)
{
    cJSON *array = cJSON_CreateArray();

    for (size_t i = 0; array && i < count; i++) {
        cJSON *item = cJSON_CreateString(values[i]);

        if (!item || !cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

/* Set body's "tags" to the tag_count strings of tags; with tags NULL the
 * field is left out, so that an update keeps the existing tags. */
static bool add_tags(cJSON *body, const char *const *tags, size_t tag_count)
{
    cJSON *array;

    if (!tags)
        return true;
    array = string_array(tags, tag_count);
    if (!array)
        return false;
    if (!cJSON_AddItemToObject(body, "tags", array)) {
        cJSON_Delete(array);
        return false;
    }
    return true;
}

/* ---- retry predicates ---- */

/* A 404 for an object created moments ago means it has not replicated
 * to the server that responded yet. */
static bool retry_not_found(const struct azidt_azure_response *resp, void *ctx)
{
    const unsigned *flags = ctx;

    return resp->status == 404 && (*flags & AZIDT_GRAPH_NEW_OBJECT);
}

/* The errors Graph returns while the application of a new service
 * principal is still replicating. */
static bool retry_sp_replication(const struct azidt_azure_response *resp,
                                 void *ctx)
{
    (void)ctx;
    if (resp->status == 400)
        return strcasestr(resp->error_message,
                          "does not reference a valid application object") ||
               strcasestr(resp->error_message, "NoBackingApplicationObject");
    if (resp->status == 403)
        return strcasestr(resp->error_message, "local tenant") != NULL;
    return false;
}

/* ---- applications ---- */

static azidt_err send_graph(struct azidt_azure_client *client,
                            const struct azidt_azure_request *req,
                            struct azidt_azure_response *resp, char *err,
                            size_t errlen)
{
    return azidt_azure_client_send(client, AZIDT_AZURE_GRAPH, req, resp, err,
                                   errlen);
}

static const char *graph_endpoint(const struct azidt_azure_client *client)
{
    return azidt_azure_client_config(client)->graph_endpoint;
}

static azidt_err url_error(const char *operation, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s failed: the URL is too long", operation);
    return AZIDT_ERR_INVALID;
}

azidt_err azidt_graph_app_get(struct azidt_azure_client *client,
                              enum azidt_graph_app_key key, const char *value,
                              unsigned flags, int64_t deadline_ms,
                              struct azidt_graph_app *out, char *err,
                              size_t errlen)
{
    struct azidt_azure_response resp;
    char url[2048], operation[400];
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    snprintf(operation, sizeof(operation), "read application %.260s", value);
    if (azidt_graph_app_url(graph_endpoint(client), key, value, url,
                            sizeof(url)))
        return url_error(operation, err, errlen);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "GET",
        .url = url,
        .idempotent = true,
        .retryable = retry_not_found,
        .retry_ctx = &flags,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc == AZIDT_OK)
        rc = take_app(&resp, out, operation, err, errlen);
    azidt_azure_response_clear(&resp);
    return rc;
}

azidt_err azidt_graph_app_upsert(struct azidt_azure_client *client,
                                 const char *unique_name,
                                 const char *display_name,
                                 const char *const *tags, size_t tag_count,
                                 int64_t deadline_ms,
                                 struct azidt_graph_app *out, bool *created,
                                 char *err, size_t errlen)
{
    static const char *const prefer[] = {"Prefer: create-if-missing", NULL};
    struct azidt_azure_response resp = {0};
    cJSON *body = NULL;
    char url[2048], operation[400];
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    *created = false;
    snprintf(operation, sizeof(operation),
             "create or update application %.260s", unique_name);
    if (azidt_graph_app_url(graph_endpoint(client), AZIDT_GRAPH_KEY_UNIQUE_NAME,
                            unique_name, url, sizeof(url)))
        return url_error(operation, err, errlen);

    body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "displayName", display_name) ||
        !add_tags(body, tags, tag_count)) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "%s failed: out of memory", operation);
        goto out;
    }

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "PATCH",
        .url = url,
        .json = body,
        .headers = prefer,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc)
        goto out;
    if (resp.status == 201 && resp.json) {
        *created = true;
        rc = take_app(&resp, out, operation, err, errlen);
        goto out;
    }
    /* 204: the application existed and was updated; read its ids. It may
     * have been created by a request whose response was lost moments ago. */
    rc = azidt_graph_app_get(client, AZIDT_GRAPH_KEY_UNIQUE_NAME, unique_name,
                             AZIDT_GRAPH_NEW_OBJECT, deadline_ms, out, err,
                             errlen);
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    return rc;
}

azidt_err azidt_graph_app_patch(struct azidt_azure_client *client,
                                const char *id, const cJSON *changes,
                                int64_t deadline_ms, char *err, size_t errlen)
{
    struct azidt_azure_response resp;
    char url[2048], operation[300];
    azidt_err rc;

    snprintf(operation, sizeof(operation), "update application %.64s", id);
    if (azidt_graph_app_url(graph_endpoint(client), AZIDT_GRAPH_KEY_ID, id, url,
                            sizeof(url)))
        return url_error(operation, err, errlen);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "PATCH",
        .url = url,
        .json = changes,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    azidt_azure_response_clear(&resp);
    return rc;
}

/* Move the items of page's "value" array to the end of all. */
static azidt_err append_page(cJSON *page, cJSON *all)
{
    cJSON *value = cJSON_GetObjectItemCaseSensitive(page, "value");

    if (!cJSON_IsArray(value))
        return AZIDT_ERR_REMOTE;
    while (cJSON_GetArraySize(value) > 0)
        cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(value, 0));
    return AZIDT_OK;
}

azidt_err azidt_graph_app_list_by_tag(struct azidt_azure_client *client,
                                      const char *tag, int64_t deadline_ms,
                                      cJSON **apps, char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    cJSON *all = NULL;
    char *url = NULL;
    char operation[300];
    azidt_err rc = AZIDT_OK;

    *apps = NULL;
    snprintf(operation, sizeof(operation), "list applications tagged %.200s",
             tag);
    url = malloc(4096);
    all = cJSON_CreateArray();
    if (!url || !all) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "%s failed: out of memory", operation);
        goto out;
    }
    if (azidt_graph_list_by_tag_url(graph_endpoint(client), tag, url, 4096)) {
        rc = url_error(operation, err, errlen);
        goto out;
    }

    for (int page = 0; url && page < MAX_PAGES; page++) {
        const cJSON *next;
        struct azidt_azure_request req = {
            .operation = operation,
            .method = "GET",
            .url = url,
            .idempotent = true,
            .deadline_ms = deadline_ms,
        };

        rc = send_graph(client, &req, &resp, err, errlen);
        if (rc)
            goto out;
        if (append_page(resp.json, all)) {
            rc = AZIDT_ERR_REMOTE;
            snprintf(err, errlen,
                     "%s failed: a page has no value array; retrying will "
                     "not help",
                     operation);
            goto out;
        }
        next = cJSON_GetObjectItemCaseSensitive(resp.json, "@odata.nextLink");
        free(url);
        url = NULL;
        if (cJSON_IsString(next)) {
            if (!azidt_azure_link_is_under(next->valuestring,
                                           graph_endpoint(client))) {
                rc = AZIDT_ERR_REMOTE;
                snprintf(err, errlen,
                         "%s failed: the next page link points outside the "
                         "Graph endpoint %s; retrying will not help",
                         operation, graph_endpoint(client));
                goto out;
            }
            url = strdup(next->valuestring);
            if (!url) {
                rc = AZIDT_ERR_NOMEM;
                goto out;
            }
        }
        azidt_azure_response_clear(&resp);
    }
    *apps = all;
    all = NULL;
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(all);
    free(url);
    return rc;
}

/* DELETE url; an object that is already gone counts as deleted. */
static azidt_err delete_object(struct azidt_azure_client *client,
                               const char *url, const char *operation,
                               int64_t deadline_ms, char *err, size_t errlen)
{
    struct azidt_azure_response resp;
    struct azidt_azure_request req = {
        .operation = operation,
        .method = "DELETE",
        .url = url,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    azidt_err rc = send_graph(client, &req, &resp, err, errlen);

    if (rc == AZIDT_ERR_NOT_FOUND) {
        rc = AZIDT_OK;
        err[0] = '\0';
    }
    azidt_azure_response_clear(&resp);
    return rc;
}

azidt_err azidt_graph_app_delete(struct azidt_azure_client *client,
                                 const char *id, bool permanent,
                                 int64_t deadline_ms, char *err, size_t errlen)
{
    char url[2048], literal[256], operation[300];
    azidt_err rc;

    snprintf(operation, sizeof(operation), "delete application %.64s", id);
    if (azidt_graph_app_url(graph_endpoint(client), AZIDT_GRAPH_KEY_ID, id, url,
                            sizeof(url)))
        return url_error(operation, err, errlen);
    rc = delete_object(client, url, operation, deadline_ms, err, errlen);
    if (rc || !permanent)
        return rc;

    snprintf(operation, sizeof(operation),
             "permanently delete application %.64s from deleted items", id);
    if (encode_literal(id, literal, sizeof(literal)) ||
        format_url(url, sizeof(url), "%s/v1.0/directory/deletedItems/%s",
                   graph_endpoint(client), literal))
        return url_error(operation, err, errlen);
    return delete_object(client, url, operation, deadline_ms, err, errlen);
}

/* ---- client secrets ---- */

static void format_iso8601(int64_t wall_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm utc;

    gmtime_r(&secs, &utc);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

static azidt_err take_password(struct azidt_azure_response *resp,
                               struct azidt_graph_password *out,
                               const char *operation, char *err, size_t errlen)
{
    const cJSON *secret =
        cJSON_GetObjectItemCaseSensitive(resp->json, "secretText");

    copy_json_string(resp->json, "keyId", out->key_id, sizeof(out->key_id));
    copy_json_string(resp->json, "hint", out->hint, sizeof(out->hint));
    copy_json_string(resp->json, "endDateTime", out->end_date_time,
                     sizeof(out->end_date_time));
    if (!cJSON_IsString(secret) || !secret->valuestring[0] || !out->key_id[0]) {
        snprintf(err, errlen,
                 "%s failed: Graph answered without secretText or keyId; "
                 "retrying will not help",
                 operation);
        return AZIDT_ERR_REMOTE;
    }
    out->secret_text = strdup(secret->valuestring);
    return out->secret_text ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

azidt_err azidt_graph_app_add_password(struct azidt_azure_client *client,
                                       const char *id, const char *display_name,
                                       int64_t end_wall_ms, unsigned flags,
                                       int64_t deadline_ms,
                                       struct azidt_graph_password *out,
                                       char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    cJSON *body = NULL, *cred;
    char url[2048], operation[300], end[40];
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    snprintf(operation, sizeof(operation),
             "add a client secret to application %.64s", id);
    if (azidt_graph_app_url(graph_endpoint(client), AZIDT_GRAPH_KEY_ID, id, url,
                            sizeof(url)) ||
        strlen(url) + sizeof("/addPassword") > sizeof(url))
        return url_error(operation, err, errlen);
    strcat(url, "/addPassword");

    format_iso8601(end_wall_ms, end, sizeof(end));
    body = cJSON_CreateObject();
    cred = cJSON_AddObjectToObject(body, "passwordCredential");
    if (!cred || !cJSON_AddStringToObject(cred, "displayName", display_name) ||
        !cJSON_AddStringToObject(cred, "endDateTime", end)) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "POST",
        .url = url,
        .json = body,
        .idempotent = false,
        .retryable = retry_not_found,
        .retry_ctx = &flags,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc == AZIDT_OK)
        rc = take_password(&resp, out, operation, err, errlen);
    if (rc)
        azidt_graph_password_clear(out);
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    return rc;
}

azidt_err azidt_graph_app_remove_password(struct azidt_azure_client *client,
                                          const char *id, const char *key_id,
                                          int64_t deadline_ms, char *err,
                                          size_t errlen)
{
    struct azidt_azure_response resp = {0};
    cJSON *body = NULL;
    char url[2048], operation[300];
    azidt_err rc;

    snprintf(operation, sizeof(operation),
             "remove client secret %.64s from application %.64s", key_id, id);
    if (azidt_graph_app_url(graph_endpoint(client), AZIDT_GRAPH_KEY_ID, id, url,
                            sizeof(url)) ||
        strlen(url) + sizeof("/removePassword") > sizeof(url))
        return url_error(operation, err, errlen);
    strcat(url, "/removePassword");

    body = cJSON_CreateObject();
    if (!cJSON_AddStringToObject(body, "keyId", key_id)) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "POST",
        .url = url,
        .json = body,
        .idempotent = true, /* removing a key twice changes nothing */
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc && strcasestr(resp.error_message, "No password credential found")) {
        rc = AZIDT_OK;
        err[0] = '\0';
    }
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    return rc;
}

/* ---- service principals ---- */

azidt_err azidt_graph_sp_get_by_app_id(struct azidt_azure_client *client,
                                       const char *app_id, unsigned flags,
                                       int64_t deadline_ms,
                                       struct azidt_graph_sp *out, char *err,
                                       size_t errlen)
{
    struct azidt_azure_response resp;
    char url[2048], literal[256], operation[300];
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    snprintf(operation, sizeof(operation),
             "read the service principal of application %.64s", app_id);
    if (encode_literal(app_id, literal, sizeof(literal)) ||
        format_url(url, sizeof(url), "%s/v1.0/servicePrincipals(appId='%s')",
                   graph_endpoint(client), literal))
        return url_error(operation, err, errlen);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "GET",
        .url = url,
        .idempotent = true,
        .retryable = retry_not_found,
        .retry_ctx = &flags,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc == AZIDT_OK)
        rc = take_sp(&resp, out, operation, err, errlen);
    azidt_azure_response_clear(&resp);
    return rc;
}

azidt_err azidt_graph_sp_create(struct azidt_azure_client *client,
                                const char *app_id, const char *const *tags,
                                size_t tag_count, int64_t deadline_ms,
                                struct azidt_graph_sp *out, bool *created,
                                char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    cJSON *body = NULL;
    char url[2048], operation[300];
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    *created = false;
    snprintf(operation, sizeof(operation),
             "create the service principal of application %.64s", app_id);
    if (format_url(url, sizeof(url), "%s/v1.0/servicePrincipals",
                   graph_endpoint(client)))
        return url_error(operation, err, errlen);

    body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "appId", app_id) ||
        !add_tags(body, tags, tag_count)) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "%s failed: out of memory", operation);
        goto out;
    }

    /* A repeated POST meets 409 and adopts the principal, so retrying
     * transient failures cannot create a second one. */
    struct azidt_azure_request req = {
        .operation = operation,
        .method = "POST",
        .url = url,
        .json = body,
        .idempotent = true,
        .retryable = retry_sp_replication,
        .deadline_ms = deadline_ms,
    };
    rc = send_graph(client, &req, &resp, err, errlen);
    if (rc == AZIDT_OK) {
        *created = true;
        rc = take_sp(&resp, out, operation, err, errlen);
    } else if (rc == AZIDT_ERR_CONFLICT) {
        AZIDT_LOG_INFO("service principal exists, adopting it", "appId",
                       app_id);
        rc =
            azidt_graph_sp_get_by_app_id(client, app_id, AZIDT_GRAPH_NEW_OBJECT,
                                         deadline_ms, out, err, errlen);
    }
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    return rc;
}

azidt_err azidt_graph_sp_delete(struct azidt_azure_client *client,
                                const char *id, int64_t deadline_ms, char *err,
                                size_t errlen)
{
    char url[2048], literal[256], operation[300];

    snprintf(operation, sizeof(operation), "delete service principal %.64s",
             id);
    if (encode_literal(id, literal, sizeof(literal)) ||
        format_url(url, sizeof(url), "%s/v1.0/servicePrincipals/%s",
                   graph_endpoint(client), literal))
        return url_error(operation, err, errlen);
    return delete_object(client, url, operation, deadline_ms, err, errlen);
}
