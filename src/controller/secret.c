/*
 * The client secret of one AzureIdentityTerminator: created in Azure and
 * stored in a Secret in one step, rotated before it expires, the old
 * password kept for an overlap so running pods never hold a revoked one,
 * then removed. Passwords on the application that no Secret refers to
 * (left by a crash between the two steps) are removed.
 */
#include "controller_internal.h"
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "azidt/azure_auth.h"
#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/graph.h"
#include "azidt/log.h"
#include "azidt/metrics.h"
#include "azidt/owned_objects.h"

static const char *annotation(const cJSON *object, const char *key)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *annotations =
        cJSON_GetObjectItemCaseSensitive(meta, "annotations");

    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(annotations, key));
}

static void set_annotation(cJSON *object, const char *key, const char *value)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    cJSON *annotations = cJSON_GetObjectItemCaseSensitive(meta, "annotations");

    if (!annotations)
        annotations = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_DeleteItemFromObjectCaseSensitive(annotations, key);
    if (value)
        cJSON_AddStringToObject(annotations, key, value);
}

/* Decode data.clientSecret of a Secret into a new string for the caller
 * to wipe with azidt_azure_secret_free(); NULL when absent. */
static char *decode_secret(const cJSON *secret)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");
    const char *encoded = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(data, AZIDT_SECRET_KEY));
    size_t len;
    char *plain;
    int n;

    if (!encoded || !*encoded)
        return NULL;
    len = strlen(encoded);
    plain = OPENSSL_zalloc(len + 1);
    if (!plain)
        return NULL;
    n = EVP_DecodeBlock((unsigned char *)plain, (const unsigned char *)encoded,
                        (int)len);
    if (n < 0) {
        OPENSSL_clear_free(plain, len + 1);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding bytes as output. */
    while (n > 0 && len > 0 && encoded[len - 1] == '=') {
        n--;
        len--;
    }
    plain[n] = '\0';
    return plain;
}

static bool app_has_key(const cJSON *app, const char *key_id)
{
    const cJSON *creds =
        cJSON_GetObjectItemCaseSensitive(app, "passwordCredentials");
    const cJSON *cred;

    if (!key_id)
        return false;
    cJSON_ArrayForEach(cred, creds)
    {
        const char *id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cred, "keyId"));

        if (id && strcasecmp(id, key_id) == 0)
            return true;
    }
    return false;
}

/* Add a password valid for the spec's duration. */
static azidt_err add_password(struct azidt_controller *ctrl,
                              const struct azidt_identity_spec *spec,
                              const struct azidt_azure_identity *azure,
                              int64_t deadline_ms,
                              struct azidt_graph_password *password, char *err,
                              size_t errlen)
{
    int64_t end = azidt_clock_wall_ms() + spec->secret_duration_ms;
    char display[300];

    snprintf(display, sizeof(display), "%s/%s", spec->namespace_,
             spec->identity_name);
    return azidt_graph_app_add_password(azidt_provisioner_client(ctrl->prov),
                                        azure->app_object_id, display, end, 0,
                                        deadline_ms, password, err, errlen);
}

static void remove_password_logged(struct azidt_controller *ctrl,
                                   const struct azidt_azure_identity *azure,
                                   const char *key_id, int64_t deadline_ms,
                                   const char *why)
{
    char reason[512];

    if (azidt_graph_app_remove_password(azidt_provisioner_client(ctrl->prov),
                                        azure->app_object_id, key_id,
                                        deadline_ms, reason, sizeof(reason)))
        AZIDT_LOG_WARN("failed to remove a client secret; the next "
                       "reconcile retries",
                       "application", azure->app_object_id, "key_id", key_id,
                       "why", why, "error", reason);
    else
        AZIDT_LOG_INFO("removed client secret", "application",
                       azure->app_object_id, "key_id", key_id, "why", why);
}

/* Build the Secret for password, with the rotation annotations. */
static cJSON *build_secret(const struct azidt_identity_spec *spec,
                           const struct azidt_graph_password *password,
                           const char *previous_key, int64_t retire_wall_ms)
{
    struct azidt_owner owner = {spec->namespace_, spec->name, spec->uid};
    char now[40];
    char retire[40];
    cJSON *secret =
        azidt_owned_secret(&owner, spec->identity_name, password->secret_text,
                           password->key_id, password->end_date_time);

    if (!secret)
        return NULL;
    controller_format_time(azidt_clock_wall_ms(), now, sizeof(now));
    set_annotation(secret, AZIDT_SECRET_ROTATED_ANNOTATION, now);
    if (previous_key) {
        controller_format_time(retire_wall_ms, retire, sizeof(retire));
        set_annotation(secret, AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION,
                       previous_key);
        set_annotation(secret, AZIDT_SECRET_RETIRE_ANNOTATION, retire);
    }
    return secret;
}

/* Create a password and write it to the Secret: POST when existing is
 * NULL, otherwise PUT over existing (a rotation). On a failed write the
 * new password is removed again, so no password is left that nothing
 * refers to. */
static azidt_err write_new_secret(struct azidt_controller *ctrl,
                                  const struct azidt_identity_spec *spec,
                                  const struct azidt_azure_identity *azure,
                                  const cJSON *existing, int64_t deadline_ms,
                                  struct secret_state *state, char *err,
                                  size_t errlen)
{
    struct azidt_graph_password password = {0};
    struct azidt_kube_response resp = {0};
    const char *old_key =
        existing ? annotation(existing, AZIDT_SECRET_KEY_ID_ANNOTATION) : NULL;
    int64_t retire = azidt_clock_wall_ms() + ctrl->cfg.secret_overlap_ms;
    cJSON *secret = NULL;
    azidt_err rc;

    rc = add_password(ctrl, spec, azure, deadline_ms, &password, err, errlen);
    if (rc)
        return rc;
    secret = build_secret(spec, &password, old_key, retire);
    if (!secret) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "out of memory while building the Secret");
        goto out;
    }
    if (existing) {
        const cJSON *meta =
            cJSON_GetObjectItemCaseSensitive(existing, "metadata");
        const char *rv = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));

        cJSON_AddStringToObject(
            cJSON_GetObjectItemCaseSensitive(secret, "metadata"),
            "resourceVersion", rv ? rv : "");
        rc = azidt_kube_update(ctrl->kube, &azidt_res_secrets, spec->namespace_,
                               spec->identity_name, secret, NULL, deadline_ms,
                               &resp);
    } else {
        rc = azidt_kube_create(ctrl->kube, &azidt_res_secrets, spec->namespace_,
                               secret, NULL, deadline_ms, &resp);
    }
    if (rc) {
        snprintf(err, errlen, "failed to write Secret %s/%s: %s",
                 spec->namespace_, spec->identity_name,
                 resp.message ? resp.message : azidt_strerror(rc));
        remove_password_logged(ctrl, azure, password.key_id, deadline_ms,
                               "the Secret write failed");
        goto out;
    }
    state->changed = true;
    state->rotated = existing != NULL;
    if (state->rotated)
        azidt_metrics_secret_rotated();
    state->plain = password.secret_text;
    password.secret_text = NULL;
    snprintf(state->key_id, sizeof(state->key_id), "%s", password.key_id);
    controller_parse_time(password.end_date_time, &state->expiry_wall_ms);
    state->rotated_wall_ms = azidt_clock_wall_ms();
    if (old_key)
        state->retire_wall_ms = retire;
    AZIDT_LOG_INFO(existing ? "rotated client secret" : "created client secret",
                   "namespace", spec->namespace_, "name", spec->name, "secret",
                   spec->identity_name, "key_id", state->key_id, "expires",
                   password.end_date_time);
out:
    azidt_owned_free_secret(secret);
    azidt_graph_password_clear(&password);
    azidt_kube_response_clear(&resp);
    return rc;
}

/* Remove the previous password once its overlap has passed, and drop the
 * annotations that name it. */
static void retire_previous(struct azidt_controller *ctrl,
                            const struct azidt_identity_spec *spec,
                            const struct azidt_azure_identity *azure,
                            const cJSON *secret, int64_t deadline_ms,
                            struct secret_state *state)
{
    const char *previous =
        annotation(secret, AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION);
    int64_t retire = 0;
    struct azidt_kube_response resp = {0};
    char patch[512];

    if (!previous)
        return;
    if (controller_parse_time(
            annotation(secret, AZIDT_SECRET_RETIRE_ANNOTATION), &retire) &&
        retire > azidt_clock_wall_ms()) {
        state->retire_wall_ms = retire;
        return;
    }
    remove_password_logged(ctrl, azure, previous, deadline_ms,
                           "its rotation overlap has passed");
    snprintf(patch, sizeof(patch),
             "{\"metadata\":{\"annotations\":{\"%s\":null,\"%s\":null}}}",
             AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION,
             AZIDT_SECRET_RETIRE_ANNOTATION);
    if (azidt_kube_patch(ctrl->kube, &azidt_res_secrets, spec->namespace_,
                         spec->identity_name, AZIDT_KUBE_PATCH_MERGE, patch,
                         NULL, deadline_ms, &resp))
        AZIDT_LOG_WARN("failed to clear the previous-key annotations",
                       "namespace", spec->namespace_, "secret",
                       spec->identity_name, "error", resp.message);
    azidt_kube_response_clear(&resp);
}

/* Remove passwords that neither the current nor the previous key names. */
static void remove_stray_passwords(struct azidt_controller *ctrl,
                                   const struct azidt_azure_identity *azure,
                                   const char *current, const char *previous,
                                   int64_t deadline_ms)
{
    const cJSON *creds =
        cJSON_GetObjectItemCaseSensitive(azure->app, "passwordCredentials");
    const cJSON *cred;

    cJSON_ArrayForEach(cred, creds)
    {
        const char *id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cred, "keyId"));

        if (!id || (current && strcasecmp(id, current) == 0) ||
            (previous && strcasecmp(id, previous) == 0))
            continue;
        remove_password_logged(ctrl, azure, id, deadline_ms,
                               "no Secret refers to it");
    }
}

/* True while the previous password's overlap runs. A rotation that is
 * merely due waits for it, so pods never lose a password before its
 * overlap ends; a missing or revoked password is still replaced at once. */
static bool previous_in_overlap(const cJSON *secret)
{
    int64_t retire = 0;

    return annotation(secret, AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION) &&
           controller_parse_time(
               annotation(secret, AZIDT_SECRET_RETIRE_ANNOTATION), &retire) &&
           retire > azidt_clock_wall_ms();
}

/* Decide whether the stored secret must be replaced now. */
static const char *rotation_reason(const struct azidt_identity_spec *spec,
                                   const struct azidt_azure_identity *azure,
                                   const cJSON *secret, int64_t *expiry)
{
    const char *key_id = annotation(secret, AZIDT_SECRET_KEY_ID_ANNOTATION);
    char *plain = decode_secret(secret);
    bool has_value = plain != NULL;

    azidt_azure_secret_free(plain);
    if (!has_value)
        return "the Secret holds no client secret";
    if (!app_has_key(azure->app, key_id))
        return "the application no longer has the stored client secret";
    if (!controller_parse_time(
            annotation(secret, AZIDT_SECRET_EXPIRY_ANNOTATION), expiry))
        return "the Secret does not record the expiry";
    if (azidt_clock_wall_ms() >= *expiry - spec->renew_before_ms &&
        !previous_in_overlap(secret))
        return "the client secret is due for rotation";
    return NULL;
}

azidt_err controller_ensure_secret(struct azidt_controller *ctrl,
                                   const struct azidt_identity_spec *spec,
                                   const struct azidt_azure_identity *azure,
                                   int64_t deadline_ms,
                                   struct secret_state *state, char *err,
                                   size_t errlen)
{
    struct azidt_kube_response resp = {0};
    const char *why;
    int64_t expiry = 0;
    azidt_err rc;

    memset(state, 0, sizeof(*state));
    rc = azidt_kube_get(ctrl->kube, &azidt_res_secrets, spec->namespace_,
                        spec->identity_name, deadline_ms, &resp);
    if (rc == AZIDT_OK &&
        azidt_owned_is_left_by_previous(resp.body, spec->name, spec->uid)) {
        /* The stray password removal below revokes its client secret. */
        rc =
            controller_delete_previous(ctrl, &azidt_res_secrets, "Secret", spec,
                                       resp.body, deadline_ms, err, errlen);
        if (rc)
            goto out;
        rc = AZIDT_ERR_NOT_FOUND;
    }
    if (rc == AZIDT_ERR_NOT_FOUND) {
        remove_stray_passwords(ctrl, azure, NULL, NULL, deadline_ms);
        rc = write_new_secret(ctrl, spec, azure, NULL, deadline_ms, state, err,
                              errlen);
        goto out;
    }
    if (rc) {
        snprintf(err, errlen, "failed to read Secret %s/%s: %s",
                 spec->namespace_, spec->identity_name, resp.message);
        goto out;
    }
    if (!azidt_owned_is_owned_by(resp.body, spec->uid)) {
        const char *owner = azidt_owned_controller_name(resp.body);

        state->conflict = true;
        if (owner && strcmp(owner, spec->name) != 0)
            snprintf(err, errlen,
                     "Secret %s/%s belongs to AzureIdentityTerminator %s; "
                     "choose another spec.azureIdentityName",
                     spec->namespace_, spec->identity_name, owner);
        else
            snprintf(err, errlen,
                     "Secret %s/%s exists and was not created for this "
                     "AzureIdentityTerminator; delete it or choose another "
                     "spec.azureIdentityName",
                     spec->namespace_, spec->identity_name);
        rc = AZIDT_ERR_CONFLICT;
        goto out;
    }
    why = rotation_reason(spec, azure, resp.body, &expiry);
    if (why) {
        AZIDT_LOG_INFO("replacing client secret", "namespace", spec->namespace_,
                       "name", spec->name, "reason", why);
        remove_stray_passwords(
            ctrl, azure, annotation(resp.body, AZIDT_SECRET_KEY_ID_ANNOTATION),
            annotation(resp.body, AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION),
            deadline_ms);
        rc = write_new_secret(ctrl, spec, azure, resp.body, deadline_ms, state,
                              err, errlen);
        goto out;
    }
    remove_stray_passwords(
        ctrl, azure, annotation(resp.body, AZIDT_SECRET_KEY_ID_ANNOTATION),
        annotation(resp.body, AZIDT_SECRET_PREVIOUS_KEY_ANNOTATION),
        deadline_ms);
    retire_previous(ctrl, spec, azure, resp.body, deadline_ms, state);
    snprintf(state->key_id, sizeof(state->key_id), "%s",
             annotation(resp.body, AZIDT_SECRET_KEY_ID_ANNOTATION));
    state->expiry_wall_ms = expiry;
    controller_parse_time(
        annotation(resp.body, AZIDT_SECRET_ROTATED_ANNOTATION),
        &state->rotated_wall_ms);
    state->plain = decode_secret(resp.body);
out:
    azidt_kube_response_clear(&resp);
    return rc;
}

azidt_err controller_verify_secret(struct azidt_controller *ctrl,
                                   const struct azidt_azure_identity *azure,
                                   const struct secret_state *state,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen)
{
    struct azidt_azure_client *client = azidt_provisioner_client(ctrl->prov);
    const struct azidt_azure_config *cfg = azidt_azure_client_config(client);
    char scope[512];

    if (!state->plain) {
        snprintf(err, errlen, "the Secret holds no client secret");
        return AZIDT_ERR_INVALID;
    }
    snprintf(scope, sizeof(scope), "%s/.default", cfg->graph_endpoint);
    return azidt_azure_auth_check_secret(azidt_azure_client_http(client), cfg,
                                         azure->client_id, state->plain, scope,
                                         deadline_ms, err, errlen);
}

void controller_secret_state_clear(struct secret_state *state)
{
    azidt_azure_secret_free(state->plain);
    memset(state, 0, sizeof(*state));
}
