/*
 * The Azure client: settings, one HTTPS transport and the token cache,
 * shared by the Graph and ARM calls (graph.h, arm.h).
 *
 * Thread-safe: one client serves every admission worker. All functions
 * that take a client may run concurrently on it.
 */
#ifndef AZIDT_AZURE_CLIENT_H
#define AZIDT_AZURE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "azidt/azure_auth.h"
#include "azidt/azure_config.h"
#include "azidt/azure_http.h"
#include "azidt/error.h"

enum azidt_azure_service {
    AZIDT_AZURE_GRAPH, /* Microsoft Graph, <graph endpoint>/v1.0 */
    AZIDT_AZURE_ARM,   /* Azure Resource Manager */
};

struct azidt_azure_client;

/*
 * Create a client. It takes ownership of cfg (also on failure). Returns
 * AZIDT_ERR_CONFIG when AZURE_CA_FILE cannot be used, AZIDT_ERR_NOMEM or
 * AZIDT_ERR_INTERNAL, with the reason in err.
 */
azidt_err azidt_azure_client_new(struct azidt_azure_config *cfg,
                                 struct azidt_azure_client **out, char *err,
                                 size_t errlen);

/* Free the client and its config. No call may be in flight. Accepts NULL. */
void azidt_azure_client_free(struct azidt_azure_client *client);

const struct azidt_azure_config *
azidt_azure_client_config(const struct azidt_azure_client *client);

struct azidt_azure_http *
azidt_azure_client_http(const struct azidt_azure_client *client);

/*
 * Send req to service with a bearer token for it (req->bearer is ignored).
 * Same contract as azidt_azure_http_send(). A failure to get the token is
 * returned as is, with resp left empty. When the service rejects the token
 * with 401, the cached token is dropped and the request sent once more.
 */
azidt_err azidt_azure_client_send(struct azidt_azure_client *client,
                                  enum azidt_azure_service service,
                                  const struct azidt_azure_request *req,
                                  struct azidt_azure_response *resp, char *err,
                                  size_t errlen);

/*
 * Follow a paging link (@odata.nextLink or nextLink) only when it points
 * at base, so that the token is never sent to another host. Returns true
 * when link starts with base followed by '/'.
 */
bool azidt_azure_link_is_under(const char *link, const char *base);

#endif
