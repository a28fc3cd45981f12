/*
 * Azure client settings, read from the variables that the Azure SDKs use.
 *
 * AZURE_TENANT_ID, AZURE_CLIENT_ID and one credential are required:
 * AZURE_CLIENT_SECRET, or AZURE_FEDERATED_TOKEN_FILE (a workload identity
 * token that is read again on every token request, because the kubelet
 * rotates it). When both are set, the client secret wins, as in the Azure
 * SDK's EnvironmentCredential. AZURE_SUBSCRIPTION_ID is required for ARM
 * calls. The endpoints default to the public cloud and may point at a
 * sovereign cloud or the emulator:
 *   AZURE_AUTHORITY_HOST  https://login.microsoftonline.com
 *   AZURE_GRAPH_ENDPOINT  https://graph.microsoft.com
 *   AZURE_ARM_ENDPOINT    https://management.azure.com
 *   AZURE_CA_FILE         extra CA bundle (PEM) trusted for all three
 *
 * A loaded config is immutable and may be read from any thread.
 */
#ifndef AZIDT_AZURE_CONFIG_H
#define AZIDT_AZURE_CONFIG_H

#include <stddef.h>

#include "azidt/error.h"

#define AZIDT_AZURE_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define AZIDT_AZURE_DEFAULT_GRAPH "https://graph.microsoft.com"
#define AZIDT_AZURE_DEFAULT_ARM "https://management.azure.com"

struct azidt_azure_config {
    char *tenant_id;
    char *client_id;
    char *client_secret;        /* NULL when a federated token is used */
    char *federated_token_file; /* NULL when a client secret is used */
    char *subscription_id;
    char *authority_host; /* https URL without a trailing slash */
    char *graph_endpoint; /* https URL without a trailing slash */
    char *arm_endpoint;   /* https URL without a trailing slash */
    char *ca_file;        /* NULL when only the system CAs are trusted */
};

/*
 * Source of setting values: return the value of the variable name, or NULL
 * when it is not set. The returned string only has to live until the next
 * call. Command-line flags can be layered over the environment this way.
 */
typedef const char *(*azidt_azure_lookup_fn)(const char *name, void *ctx);

/*
 * Load and check the settings through lookup. Empty values count as unset.
 * On success *out contains a new config for azidt_azure_config_free(). On
 * failure returns AZIDT_ERR_CONFIG (or AZIDT_ERR_NOMEM) and writes into err
 * a message that names the variable and how to fix it.
 */
azidt_err azidt_azure_config_load(azidt_azure_lookup_fn lookup, void *ctx,
                                  struct azidt_azure_config **out, char *err,
                                  size_t errlen);

/* Load the settings from the process environment (getenv). */
azidt_err azidt_azure_config_from_env(struct azidt_azure_config **out,
                                      char *err, size_t errlen);

/* Free cfg, wiping the client secret first. Accepts NULL. */
void azidt_azure_config_free(struct azidt_azure_config *cfg);

#endif
