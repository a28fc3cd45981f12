/*
 * Client certificate authentication of admission requests (mutual TLS).
 *
 * The store contains the CA certificates of --client-ca-file and, optionally,
 * the names a client certificate must carry (--client-cert-names). The
 * server asks every TLS client for a certificate without requiring one,
 * and the request handler calls azidt_client_auth_verify() with the
 * connection's GnuTLS session before it runs an admission route.
 *
 * The TLS handshake itself does not check the certificate: it only asks
 * for one and sends no list of accepted CA names, so a CA file that
 * changes while the process runs never makes a client withhold its
 * certificate. The verification happens here, against the CA file's
 * current content.
 *
 * A watcher thread polls the CA file as the serving certificate store
 * does (device, inode, size, modification time). A new file that holds
 * no certificate is rejected with an error log line and the previous CAs
 * stay in use.
 *
 * Thread-safe: azidt_client_auth_verify() may run on many threads while
 * the watcher swaps the CA list.
 */
#ifndef AZIDT_CLIENT_AUTH_H
#define AZIDT_CLIENT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "azidt/error.h"

struct azidt_client_auth;

/* Maximum number of names in --client-cert-names. */
#define AZIDT_CLIENT_NAMES_MAX 16

/*
 * Load the CA certificates of ca_path and parse names (comma-separated,
 * spaces around a name ignored; NULL or "" accepts any name). Fails with
 * AZIDT_ERR_IO (file unreadable), AZIDT_ERR_TLS (no certificate in the
 * file), AZIDT_ERR_CONFIG (bad names) or AZIDT_ERR_NOMEM, with a one-line
 * reason in err.
 */
azidt_err azidt_client_auth_create(const char *ca_path, const char *names,
                                   struct azidt_client_auth **out, char *err,
                                   size_t errlen);

/* Start the watcher thread that checks the file every interval_ms.
 * Returns AZIDT_ERR_INTERNAL when the thread cannot start. */
azidt_err azidt_client_auth_start(struct azidt_client_auth *auth,
                                  int64_t interval_ms);

/* Check the file once, as the watcher does: AZIDT_OK when it did not
 * change or the new CAs were loaded, otherwise the load error. */
azidt_err azidt_client_auth_check(struct azidt_client_auth *auth);

/*
 * True when the peer of session sent a certificate chain that the
 * current CAs verify for TLS client use, and, when names were given, whose
 * leaf carries one of them as common name or DNS subject alternative
 * name. Otherwise false with a short reason in why (len bytes), which
 * names the certificate's subject but holds nothing secret.
 */
bool azidt_client_auth_verify(struct azidt_client_auth *auth,
                              gnutls_session_t session, char *why, size_t len);

/* Stop the watcher and free the store. Accepts NULL. */
void azidt_client_auth_destroy(struct azidt_client_auth *auth);

#endif
