/*
 * Serving certificate store with hot reload.
 *
 * The store loads a PEM certificate chain and its private key, checks that
 * both parse and that the key belongs to the leaf certificate, and hands
 * the current pair to each new TLS handshake through a GnuTLS certificate
 * retrieve function (libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK).
 *
 * A watcher thread polls the two files (device, inode, size and
 * modification time, so an atomic symlink swap as done by Kubernetes
 * Secret volumes counts as a change). When either changes it loads the
 * new pair; a pair that fails a check is rejected with an error log line
 * and the previous pair stays in use. A superseded pair is kept for a
 * grace period because GnuTLS does not copy what the retrieve function
 * returns, and a handshake that started before the swap may still use it.
 *
 * Thread-safe. The retrieve function reaches the store through one
 * process-wide pointer set by azidt_tls_store_install(), because the
 * GnuTLS callback has no user data argument.
 */
#ifndef AZIDT_TLS_STORE_H
#define AZIDT_TLS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

#include "azidt/error.h"

struct azidt_tls_store;

/* Largest certificate or key file read, and longest chain accepted. */
#define AZIDT_TLS_FILE_MAX (1024 * 1024)
#define AZIDT_TLS_CHAIN_MAX 16

/*
 * Create a store and load the first pair. Fails with AZIDT_ERR_IO (file
 * unreadable), AZIDT_ERR_TLS (parse failure or key mismatch) or
 * AZIDT_ERR_NOMEM, with a one-line reason naming the file in err.
 */
azidt_err azidt_tls_store_create(const char *cert_path, const char *key_path,
                                 struct azidt_tls_store **out, char *err,
                                 size_t errlen);

/*
 * Start the watcher thread: check the files every interval_ms and free a
 * superseded pair grace_ms after it was replaced. Returns
 * AZIDT_ERR_INTERNAL when the thread cannot start.
 */
azidt_err azidt_tls_store_start(struct azidt_tls_store *store,
                                int64_t interval_ms, int64_t grace_ms);

/*
 * Check the files once, as the watcher does: AZIDT_OK when nothing
 * changed or the new pair was loaded, otherwise the load error (the
 * previous pair stays in use). The watcher calls this; tests may too.
 */
azidt_err azidt_tls_store_check(struct azidt_tls_store *store);

/*
 * Load and check a pair without a store: AZIDT_OK when both files parse
 * and the key belongs to the leaf. err as for azidt_tls_store_create().
 */
azidt_err azidt_tls_store_validate(const char *cert_path, const char *key_path,
                                   char *err, size_t errlen);

/* Copy the current leaf's serial number, lowercase hex, into buf. */
void azidt_tls_store_serial(struct azidt_tls_store *store, char *buf,
                            size_t len);

/* Number of pairs loaded after the first one. */
uint64_t azidt_tls_store_reloads(struct azidt_tls_store *store);

/* Make store the one the retrieve function serves. Pass NULL to clear. */
void azidt_tls_store_install(struct azidt_tls_store *store);

/*
 * The GnuTLS retrieve function for MHD_OPTION_HTTPS_CERT_CALLBACK. It
 * returns the installed store's current pair, or -1 (handshake fails)
 * when no store is installed.
 */
int azidt_tls_store_retrieve(gnutls_session_t session,
                             const gnutls_datum_t *req_ca_rdn, int nreqs,
                             const gnutls_pk_algorithm_t *pk_algos,
                             int pk_algos_length, gnutls_pcert_st **pcert,
                             unsigned int *pcert_length,
                             gnutls_privkey_t *privkey);

/* Stop the watcher and free every pair. Call only after the TLS server
 * has stopped. Accepts NULL. */
void azidt_tls_store_destroy(struct azidt_tls_store *store);

#endif
