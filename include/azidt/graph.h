/*
 * Microsoft Graph v1.0 calls for application registrations, their client
 * secrets and their service principals.
 *
 * Every call takes a monotonic deadline, retries throttling and transient
 * failures inside it (azure_http.h) and writes a message into err on
 * failure: what failed, Azure's error code and message, and whether
 * retrying helps. Messages never contain a secret or a token.
 *
 * Writes are safe to repeat: applications are upserted by uniqueName, a
 * duplicate service principal is adopted, and deletes count an object that
 * is already gone as deleted.
 *
 * Thread-safe: all functions may run concurrently on one client.
 */
#ifndef AZIDT_GRAPH_H
#define AZIDT_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/azure_client.h"
#include "azidt/error.h"

/* Ids are GUIDs (36 characters); uniqueName is at most 120 in Graph. */
#define AZIDT_GRAPH_ID_MAX 64
#define AZIDT_GRAPH_NAME_MAX 260

/* Flag: the object was created moments ago, so a 404 may come from
 * replication delay and is retried within the deadline. */
#define AZIDT_GRAPH_NEW_OBJECT 1u

struct azidt_graph_app {
    char id[AZIDT_GRAPH_ID_MAX];     /* object id */
    char app_id[AZIDT_GRAPH_ID_MAX]; /* application (client) id */
    char unique_name[AZIDT_GRAPH_NAME_MAX];
    char display_name[AZIDT_GRAPH_NAME_MAX];
    cJSON *json; /* the whole application object (owned) */
};

struct azidt_graph_sp {
    char id[AZIDT_GRAPH_ID_MAX]; /* object id, used as principalId in ARM */
    char app_id[AZIDT_GRAPH_ID_MAX];
    cJSON *json; /* the whole service principal object (owned) */
};

struct azidt_graph_password {
    char key_id[AZIDT_GRAPH_ID_MAX];
    char hint[16];
    char end_date_time[40]; /* as Graph returns it, ISO 8601 UTC */
    char *secret_text;      /* owned; wiped by azidt_graph_password_clear */
};

enum azidt_graph_app_key {
    AZIDT_GRAPH_KEY_ID,          /* /applications/{id} */
    AZIDT_GRAPH_KEY_APP_ID,      /* /applications(appId='...') */
    AZIDT_GRAPH_KEY_UNIQUE_NAME, /* /applications(uniqueName='...') */
};

/* Release what app, sp or password owns and zero it. Accept NULL. */
void azidt_graph_app_clear(struct azidt_graph_app *app);
void azidt_graph_sp_clear(struct azidt_graph_sp *sp);
void azidt_graph_password_clear(struct azidt_graph_password *password);

/*
 * Create or update the application whose uniqueName is unique_name:
 * PATCH /applications(uniqueName='...') with "Prefer: create-if-missing",
 * setting displayName and, unless tags is NULL, replacing the tags with
 * the tag_count strings of tags. Graph returns 201 with
 * the new application, or 204 for an update, after which the application
 * is read back by uniqueName. *created tells which happened. On success
 * out contains the application (release with azidt_graph_app_clear).
 */
azidt_err azidt_graph_app_upsert(struct azidt_azure_client *client,
                                 const char *unique_name,
                                 const char *display_name,
                                 const char *const *tags, size_t tag_count,
                                 int64_t deadline_ms,
                                 struct azidt_graph_app *out, bool *created,
                                 char *err, size_t errlen);

/* Read an application by key. Returns AZIDT_ERR_NOT_FOUND when it does not
 * exist. flags may hold AZIDT_GRAPH_NEW_OBJECT. */
azidt_err azidt_graph_app_get(struct azidt_azure_client *client,
                              enum azidt_graph_app_key key, const char *value,
                              unsigned flags, int64_t deadline_ms,
                              struct azidt_graph_app *out, char *err,
                              size_t errlen);

/* PATCH /applications/{id} with changes (a JSON object). */
azidt_err azidt_graph_app_patch(struct azidt_azure_client *client,
                                const char *id, const cJSON *changes,
                                int64_t deadline_ms, char *err, size_t errlen);

/*
 * List the applications that carry tag, following @odata.nextLink. On
 * success *apps is a new JSON array of application objects for the caller
 * to cJSON_Delete. Graph's list queries are eventually consistent, so an
 * application created moments ago may be missing.
 */
azidt_err azidt_graph_app_list_by_tag(struct azidt_azure_client *client,
                                      const char *tag, int64_t deadline_ms,
                                      cJSON **apps, char *err, size_t errlen);

/*
 * Delete the application with object id id (which also deletes its
 * service principal and secrets). With permanent, also remove it from
 * /directory/deletedItems, so that its uniqueName is freed. An object that
 * is already gone counts as deleted. Role assignments of its service
 * principal stay behind in ARM, so delete those first.
 */
azidt_err azidt_graph_app_delete(struct azidt_azure_client *client,
                                 const char *id, bool permanent,
                                 int64_t deadline_ms, char *err, size_t errlen);

/*
 * Add a client secret to the application with object id id, valid until
 * end_wall_ms (Unix epoch milliseconds). On success out->secret_text contains
 * the secret, which Graph returns only here; the caller wipes it with
 * azidt_graph_password_clear(). flags may hold AZIDT_GRAPH_NEW_OBJECT.
 * A failed call is not retried after a 5xx, because the secret may have
 * been added; 429 and replication 404s are retried.
 */
azidt_err azidt_graph_app_add_password(struct azidt_azure_client *client,
                                       const char *id, const char *display_name,
                                       int64_t end_wall_ms, unsigned flags,
                                       int64_t deadline_ms,
                                       struct azidt_graph_password *out,
                                       char *err, size_t errlen);

/* Remove the client secret key_id. A key that does not exist counts as
 * removed ("No password credential found with keyId"). */
azidt_err azidt_graph_app_remove_password(struct azidt_azure_client *client,
                                          const char *id, const char *key_id,
                                          int64_t deadline_ms, char *err,
                                          size_t errlen);

/*
 * Create the service principal of application app_id with tags. While the
 * new application is still replicating, Graph returns 400 "does not
 * reference a valid application object" or 403 "... must in the local
 * tenant"; both are retried within the deadline. A 409 (the principal
 * exists) is answered by reading it back by appId and adopting it.
 * *created tells which happened.
 */
azidt_err azidt_graph_sp_create(struct azidt_azure_client *client,
                                const char *app_id, const char *const *tags,
                                size_t tag_count, int64_t deadline_ms,
                                struct azidt_graph_sp *out, bool *created,
                                char *err, size_t errlen);

/* Read the service principal of application app_id. Returns
 * AZIDT_ERR_NOT_FOUND when it does not exist. */
azidt_err azidt_graph_sp_get_by_app_id(struct azidt_azure_client *client,
                                       const char *app_id, unsigned flags,
                                       int64_t deadline_ms,
                                       struct azidt_graph_sp *out, char *err,
                                       size_t errlen);

/* Delete the service principal with object id id; absent counts as
 * deleted. */
azidt_err azidt_graph_sp_delete(struct azidt_azure_client *client,
                                const char *id, int64_t deadline_ms, char *err,
                                size_t errlen);

/*
 * Quote value as the inside of an OData string literal: each ' becomes ''.
 * Returns the length needed without the NUL; the result is complete only
 * when that is below outlen.
 */
size_t azidt_graph_odata_quote(const char *value, char *out, size_t outlen);

/*
 * Build the URL of one application: <endpoint>/v1.0/applications/{id},
 * /applications(appId='...') or /applications(uniqueName='...'), with the
 * value OData-quoted and percent-encoded. Returns AZIDT_ERR_INVALID when
 * the URL does not fit in outlen.
 */
azidt_err azidt_graph_app_url(const char *endpoint,
                              enum azidt_graph_app_key key, const char *value,
                              char *out, size_t outlen);

/* Build <endpoint>/v1.0/applications?$filter=tags/any(t:t eq '<tag>') with
 * $top=999, quoted and percent-encoded. */
azidt_err azidt_graph_list_by_tag_url(const char *endpoint, const char *tag,
                                      char *out, size_t outlen);

#endif
