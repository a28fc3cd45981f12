/*
 * Kubernetes API client over libcurl (OpenSSL).
 *
 * One client serves many threads: every call borrows a curl easy handle
 * from a pool (so its connections and TLS sessions are reused) and returns
 * it afterwards; a share handle keeps the DNS cache and TLS sessions for
 * all of them. Certificates and keys go to libcurl as in-memory blobs, so
 * no key is written to disk.
 *
 * Every call takes a deadline (absolute, azidt_clock_now_ms milliseconds)
 * and fills a struct azidt_kube_response, which the caller clears with
 * azidt_kube_response_clear. The return value maps the HTTP status:
 * 2xx AZIDT_OK, 400 and 422 AZIDT_ERR_INVALID, 401 AZIDT_ERR_UNAUTHORIZED,
 * 403 AZIDT_ERR_FORBIDDEN, 404 AZIDT_ERR_NOT_FOUND, 409 AZIDT_ERR_CONFLICT,
 * 410 AZIDT_ERR_GONE, 429 AZIDT_ERR_THROTTLED, 502/503/504
 * AZIDT_ERR_UNAVAILABLE, other statuses AZIDT_ERR_REMOTE. Transport
 * failures return AZIDT_ERR_TIMEOUT, AZIDT_ERR_TLS or AZIDT_ERR_HTTP with
 * status 0. In every failure case response->message says what happened:
 * the apiserver's Status message when it sent one.
 *
 * A 429 answer is retried after its Retry-After delay while the deadline
 * allows, because the apiserver sends 429 only for requests it did not
 * process.
 */
#ifndef AZIDT_KUBE_CLIENT_H
#define AZIDT_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"
#include "azidt/kubeconfig.h"

/* A resource type: API group ("" for the core group), version and plural,
 * e.g. {"", "v1", "configmaps", true}. */
struct azidt_kube_resource {
    const char *group;
    const char *version;
    const char *plural;
    bool namespaced;
};

/* Outcome of one API call. */
struct azidt_kube_response {
    /* HTTP status; 0 when no response arrived. */
    long status;
    /* Parsed JSON body, or NULL when the body was empty or not JSON. */
    cJSON *body;
    /* Human-readable reason for a failure: the Status message from the
     * apiserver, or a transport error. NULL on success. */
    char *message;
    /* Status reason from the apiserver, e.g. "AlreadyExists"; or NULL. */
    char *reason;
};

/* Query parameters; NULL or zero fields are left out. */
struct azidt_kube_query {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version;
    /* "NotOlderThan" or "Exact"; needs resource_version. */
    const char *resource_version_match;
    const char *continue_token;
    long limit;
    bool watch;
    bool allow_watch_bookmarks;
    long timeout_seconds;
    /* Write options. */
    const char *field_manager;
    bool dry_run;
    bool force;
};

enum azidt_kube_patch_type {
    /* application/merge-patch+json (RFC 7386). */
    AZIDT_KUBE_PATCH_MERGE,
    /* application/json-patch+json (RFC 6902). */
    AZIDT_KUBE_PATCH_JSON,
    /* application/strategic-merge-patch+json; built-in types only. */
    AZIDT_KUBE_PATCH_STRATEGIC,
    /* application/apply-patch+yaml (server-side apply, JSON is valid
     * YAML); needs field_manager in the options. */
    AZIDT_KUBE_PATCH_APPLY,
};

/* Options for create, update, patch and delete. */
struct azidt_kube_write_options {
    /* "status" (or another subresource) to write only that part; NULL for
     * the main resource. */
    const char *subresource;
    const char *field_manager;
    bool dry_run;
    /* Server-side apply: take ownership of conflicting fields. */
    bool force;
    /* Delete only: "Foreground", "Background" or "Orphan"; NULL for the
     * resource's default. */
    const char *propagation_policy;
    /* Delete only: fail with 409 unless the object still has this uid
     * and/or resourceVersion. */
    const char *precondition_uid;
    const char *precondition_resource_version;
};

struct azidt_kube_client;

/*
 * Create a client. The client takes ownership of cfg (also on failure) and
 * frees it in azidt_kube_client_free. Call curl_global_init once before
 * the first client, as libcurl requires. Returns AZIDT_ERR_CONFIG when
 * cfg->server cannot be parsed as a URL, or AZIDT_ERR_NOMEM.
 */
azidt_err azidt_kube_client_new(struct azidt_kubeconfig *cfg,
                                struct azidt_kube_client **out);

/* Free the client; no call may be running. NULL is a no-op. */
void azidt_kube_client_free(struct azidt_kube_client *client);

/* The config the client uses (owned by the client). */
const struct azidt_kubeconfig *
azidt_kube_client_config(const struct azidt_kube_client *client);

/* Free the response's body and strings and zero it; safe on a zeroed response.
 */
void azidt_kube_response_clear(struct azidt_kube_response *response);

/* Map an HTTP status to an azidt_err as described at the top. */
azidt_err azidt_kube_status_to_err(long status);

/*
 * Build the request path (no scheme or host) for a resource:
 * /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] for the core group and
 * /apis/GROUP/VERSION/... otherwise, plus the query string. namespace is
 * ignored for cluster-scoped resources; NULL lists across namespaces.
 * Path segments and query values are percent-encoded. *out is new memory
 * the caller frees. Returns AZIDT_ERR_INVALID for a namespaced resource
 * with a name but no namespace, or an empty name or namespace.
 */
azidt_err azidt_kube_build_path(const struct azidt_kube_resource *resource,
                                const char *namespace, const char *name,
                                const char *subresource,
                                const struct azidt_kube_query *query,
                                char **out);

/* GET one object. */
azidt_err azidt_kube_get(struct azidt_kube_client *client,
                         const struct azidt_kube_resource *resource,
                         const char *namespace, const char *name,
                         int64_t deadline_ms,
                         struct azidt_kube_response *response);

/* POST object to the collection (namespace from the argument, not from
 * object's metadata). options may be NULL. */
azidt_err azidt_kube_create(struct azidt_kube_client *client,
                            const struct azidt_kube_resource *resource,
                            const char *namespace, const cJSON *object,
                            const struct azidt_kube_write_options *options,
                            int64_t deadline_ms,
                            struct azidt_kube_response *response);

/* PUT object (replace). With options->subresource "status" this is the
 * status update. Include metadata.resourceVersion to get optimistic
 * concurrency (409 on a stale version). */
azidt_err azidt_kube_update(struct azidt_kube_client *client,
                            const struct azidt_kube_resource *resource,
                            const char *namespace, const char *name,
                            const cJSON *object,
                            const struct azidt_kube_write_options *options,
                            int64_t deadline_ms,
                            struct azidt_kube_response *response);

/* PATCH with the given patch document (JSON text). */
azidt_err azidt_kube_patch(struct azidt_kube_client *client,
                           const struct azidt_kube_resource *resource,
                           const char *namespace, const char *name,
                           enum azidt_kube_patch_type type, const char *patch,
                           const struct azidt_kube_write_options *options,
                           int64_t deadline_ms,
                           struct azidt_kube_response *response);

/* DELETE with DeleteOptions built from options (may be NULL). */
azidt_err azidt_kube_delete(struct azidt_kube_client *client,
                            const struct azidt_kube_resource *resource,
                            const char *namespace, const char *name,
                            const struct azidt_kube_write_options *options,
                            int64_t deadline_ms,
                            struct azidt_kube_response *response);

/*
 * GET one page of a collection. query may be NULL. The body is the List;
 * its metadata.continue, when non-empty, fetches the next page.
 */
azidt_err azidt_kube_list(struct azidt_kube_client *client,
                          const struct azidt_kube_resource *resource,
                          const char *namespace,
                          const struct azidt_kube_query *query,
                          int64_t deadline_ms,
                          struct azidt_kube_response *response);

/*
 * GET every page of a collection (page size query->limit, default 500)
 * and return one List in response->body whose "items" contains them all and
 * whose metadata.resourceVersion is the snapshot's version, ready to
 * start a watch from. query->continue_token is ignored. When a continue
 * token has expired (410), the list starts over once without paging.
 */
azidt_err azidt_kube_list_all(struct azidt_kube_client *client,
                              const struct azidt_kube_resource *resource,
                              const char *namespace,
                              const struct azidt_kube_query *query,
                              int64_t deadline_ms,
                              struct azidt_kube_response *response);

/* An Event about one object. */
struct azidt_kube_event {
    /* The object the event is about. uid may be NULL. */
    const char *api_version;
    const char *kind;
    const char *namespace;
    const char *name;
    const char *uid;
    /* "Normal" or "Warning". */
    const char *type;
    /* UpperCamelCase cause, e.g. "Provisioned". */
    const char *reason;
    /* Sentence for people; cut to 1024 bytes. Never put a secret here. */
    const char *message;
    /* Component that reports, e.g. "azure-identity-terminator"; and the
     * instance (pod name), which may be NULL. */
    const char *reporting_component;
    const char *reporting_instance;
};

/*
 * Create a core/v1 Event in the object's namespace ("default" for a
 * cluster-scoped object). Events are advisory: callers usually log a
 * failure and go on.
 */
azidt_err azidt_kube_event_create(struct azidt_kube_client *client,
                                  const struct azidt_kube_event *event,
                                  int64_t deadline_ms,
                                  struct azidt_kube_response *response);

/*
 * Send one request and parse the JSON response: the primitive under the
 * calls above. path comes from azidt_kube_build_path; body (may be NULL)
 * is sent with content_type.
 */
azidt_err azidt_kube_request(struct azidt_kube_client *client,
                             const char *method, const char *path,
                             const char *content_type, const char *body,
                             int64_t deadline_ms,
                             struct azidt_kube_response *response);

/*
 * Streaming GET for watches. data_cb receives the body as it arrives and
 * returns false to abort; stop_cb is polled about once a second and aborts
 * the transfer when it returns true. idle_timeout_ms ends a connection on
 * which no byte arrived for that long. Returns like azidt_kube_request;
 * for a non-2xx status, the body is parsed into response->body and
 * data_cb is not called. An abort by data_cb or stop_cb returns
 * AZIDT_ERR_HTTP with status set.
 */
typedef bool (*azidt_kube_data_cb)(const char *data, size_t len, void *ctx);
typedef bool (*azidt_kube_stop_cb)(void *ctx);

azidt_err azidt_kube_stream(struct azidt_kube_client *client, const char *path,
                            azidt_kube_data_cb data_cb,
                            azidt_kube_stop_cb stop_cb, void *ctx,
                            int64_t idle_timeout_ms,
                            struct azidt_kube_response *response);

#endif
