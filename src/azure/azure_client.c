#include "azidt/azure_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azidt/clock.h"
#include "azidt/log.h"

struct azidt_azure_client {
    struct azidt_azure_config *cfg;
    struct azidt_azure_http *http;
    struct azidt_azure_auth *auth;
    char graph_scope[600];
    char arm_scope[600];
};

azidt_err azidt_azure_client_new(struct azidt_azure_config *cfg,
                                 struct azidt_azure_client **out, char *err,
                                 size_t errlen)
{
    struct azidt_azure_client *client = NULL;
    azidt_err rc;

    *out = NULL;
    client = calloc(1, sizeof(*client));
    if (!client) {
        azidt_azure_config_free(cfg);
        snprintf(err, errlen, "out of memory while creating the Azure client");
        return AZIDT_ERR_NOMEM;
    }
    client->cfg = cfg;
    snprintf(client->graph_scope, sizeof(client->graph_scope), "%s/.default",
             cfg->graph_endpoint);
    snprintf(client->arm_scope, sizeof(client->arm_scope), "%s/.default",
             cfg->arm_endpoint);

    rc = azidt_azure_http_new(cfg->ca_file, &client->http);
    if (rc) {
        snprintf(err, errlen, "cannot set up HTTPS for Azure: %s%s%s%s",
                 azidt_strerror(rc),
                 cfg->ca_file ? "; check that AZURE_CA_FILE '" : "",
                 cfg->ca_file ? cfg->ca_file : "",
                 cfg->ca_file ? "' is a readable PEM file" : "");
        goto out;
    }
    rc = azidt_azure_auth_new(cfg, client->http, &client->auth);
    if (rc)
        snprintf(err, errlen, "cannot create the Azure token cache: %s",
                 azidt_strerror(rc));
out:
    if (rc) {
        azidt_azure_client_free(client);
        return rc;
    }
    *out = client;
    return AZIDT_OK;
}

void azidt_azure_client_free(struct azidt_azure_client *client)
{
    if (!client)
        return;
    azidt_azure_auth_free(client->auth);
    azidt_azure_http_free(client->http);
    azidt_azure_config_free(client->cfg);
    free(client);
}

const struct azidt_azure_config *
azidt_azure_client_config(const struct azidt_azure_client *client)
{
    return client->cfg;
}

struct azidt_azure_http *
azidt_azure_client_http(const struct azidt_azure_client *client)
{
    return client->http;
}

static azidt_err send_with_token(struct azidt_azure_client *client,
                                 const char *scope,
                                 const struct azidt_azure_request *req,
                                 struct azidt_azure_response *resp, char *err,
                                 size_t errlen)
{
    struct azidt_azure_request with_token = *req;
    char *token = NULL;
    azidt_err rc;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    rc = azidt_azure_auth_token(client->auth, scope, req->deadline_ms, &token,
                                err, errlen);
    if (rc) {
        /* Say which operation could not start. */
        char reason[1024];

        snprintf(reason, sizeof(reason), "%s", err);
        snprintf(err, errlen, "%s failed: cannot sign in: %s", req->operation,
                 reason);
        return rc;
    }
    with_token.bearer = token;
    rc = azidt_azure_http_send(client->http, &with_token, resp, err, errlen);
    azidt_azure_secret_free(token);
    return rc;
}

azidt_err azidt_azure_client_send(struct azidt_azure_client *client,
                                  enum azidt_azure_service service,
                                  const struct azidt_azure_request *req,
                                  struct azidt_azure_response *resp, char *err,
                                  size_t errlen)
{
    const char *scope =
        service == AZIDT_AZURE_GRAPH ? client->graph_scope : client->arm_scope;
    struct azidt_azure_request labelled = *req;
    azidt_err rc;

    labelled.service = service == AZIDT_AZURE_GRAPH ? AZIDT_METRICS_AZURE_GRAPH
                                                    : AZIDT_METRICS_AZURE_ARM;
    req = &labelled;
    rc = send_with_token(client, scope, req, resp, err, errlen);
    /* A token can be revoked or expire early (a clock step, a tenant
     * policy change); drop it and try once more with a new one. */
    if (rc == AZIDT_ERR_UNAUTHORIZED && resp->status == 401 &&
        !azidt_deadline_passed(req->deadline_ms)) {
        AZIDT_LOG_WARN("Azure rejected the cached token, requesting a new one",
                       "request", req->operation, "scope", scope);
        azidt_azure_auth_invalidate(client->auth, scope);
        azidt_azure_response_clear(resp);
        rc = send_with_token(client, scope, req, resp, err, errlen);
    }
    return rc;
}

bool azidt_azure_link_is_under(const char *link, const char *base)
{
    size_t len = strlen(base);

    return link && strncasecmp(link, base, len) == 0 && link[len] == '/';
}
