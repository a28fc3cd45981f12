/*
 * Access tokens from the Microsoft identity platform (client credentials).
 *
 * The webhook signs in as AZURE_CLIENT_ID with either a client secret or a
 * client assertion read from AZURE_FEDERATED_TOKEN_FILE (read again on
 * every token request, because it rotates). Tokens are cached per scope
 * and renewed 5 minutes before they expire (at half their lifetime when
 * that is shorter). Tokens are opaque to this module.
 *
 * Thread-safe: many threads may call azidt_azure_auth_token() at once.
 * Only one token request per scope is in flight; other callers wait for
 * it, or keep using the cached token while it is still valid. Tokens and
 * secrets are wiped with OPENSSL_cleanse when released and never logged.
 */
#ifndef AZIDT_AZURE_AUTH_H
#define AZIDT_AZURE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "azidt/azure_config.h"
#include "azidt/azure_http.h"
#include "azidt/error.h"

struct azidt_azure_auth;

/*
 * Create a token cache that signs in with cfg's credential through http.
 * cfg and http are borrowed and must outlive the cache.
 */
azidt_err azidt_azure_auth_new(const struct azidt_azure_config *cfg,
                               struct azidt_azure_http *http,
                               struct azidt_azure_auth **out);

/* Free the cache, wiping its tokens. No call may be in flight. */
void azidt_azure_auth_free(struct azidt_azure_auth *auth);

/*
 * Return in *token a copy of a valid access token for scope, such as
 * "https://graph.microsoft.com/.default", requesting one when needed. The
 * caller releases it with azidt_azure_secret_free(). Errors: those of
 * azidt_azure_http_send(), AZIDT_ERR_UNAUTHORIZED when the credential is
 * rejected, AZIDT_ERR_CONFIG when the federated token file cannot be read,
 * AZIDT_ERR_TIMEOUT when the deadline passes while waiting for another
 * thread's request. err receives the reason, never the credential.
 */
azidt_err azidt_azure_auth_token(struct azidt_azure_auth *auth,
                                 const char *scope, int64_t deadline_ms,
                                 char **token, char *err, size_t errlen);

/* Drop the cached token for scope, so that the next call requests a new
 * one. Used when a service rejects a token before it expires. */
void azidt_azure_auth_invalidate(struct azidt_azure_auth *auth,
                                 const char *scope);

/*
 * Request one token for scope with another application's client secret,
 * to prove that the secret works; the token is discarded. Transient
 * failures are retried within the deadline, a rejection is not (a new
 * secret can be rejected for a few seconds, so callers poll). Returns
 * AZIDT_OK, AZIDT_ERR_UNAUTHORIZED when Azure rejects the client or the
 * secret, or another transport error.
 */
azidt_err azidt_azure_auth_check_secret(struct azidt_azure_http *http,
                                        const struct azidt_azure_config *cfg,
                                        const char *client_id,
                                        const char *secret, const char *scope,
                                        int64_t deadline_ms, char *err,
                                        size_t errlen);

/* Wipe and free a token or secret string. Accepts NULL. */
void azidt_azure_secret_free(char *secret);

#endif
