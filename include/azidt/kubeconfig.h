/*
 * Connection settings for the Kubernetes API server: a kubeconfig file or
 * the in-cluster service account.
 *
 * Loaders fill a struct azidt_kubeconfig that owns every string in it; free
 * it with azidt_kubeconfig_free, which wipes the key and the token. PEM
 * material is held in memory (file references are read at load time), so
 * the client never writes a key to a temporary file.
 *
 * Loaders report failures as an azidt_err plus a one-line message in the
 * caller's buffer that names the file, the key and the fix.
 *
 * Thread safety: after loading, the struct is read-only except for the
 * token cache, which azidt_kubeconfig_token guards with its own mutex, so
 * many threads may share one config.
 */
#ifndef AZIDT_KUBECONFIG_H
#define AZIDT_KUBECONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "azidt/error.h"

/* Default directory of the projected service account volume. */
#define AZIDT_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Size of an error message buffer that no loader message exceeds. */
#define AZIDT_KUBECONFIG_ERR_MAX 512

struct azidt_kubeconfig {
    /* Origin of the settings: the file path or "in-cluster". */
    char *source;
    /* API server base URL without a trailing slash, e.g.
     * "https://127.0.0.1:6443". */
    char *server;
    /* Server name for TLS verification when it differs from the URL host
     * (kubeconfig tls-server-name); NULL to use the URL host. */
    char *tls_server_name;
    /* PEM CA bundle to trust; NULL to use the system store. */
    char *ca_pem;
    size_t ca_pem_len;
    bool insecure_skip_tls_verify;
    /* PEM client certificate chain and key for mutual TLS; both or none. */
    char *client_cert_pem;
    size_t client_cert_pem_len;
    char *client_key_pem;
    size_t client_key_pem_len;
    /* Bearer token given inline; NULL when absent. */
    char *token;
    /* File holding the bearer token, re-read when it changes because the
     * kubelet rotates projected tokens; NULL when absent. Takes precedence
     * over token when both are set, as client-go does. */
    char *token_file;
    /* Default namespace of the context (or of the service account);
     * "default" when the source names none. */
    char *namespace;

    /* Token file cache, guarded by token_lock. */
    pthread_mutex_t token_lock;
    char *token_cached;
    struct timespec token_mtime;
    ino_t token_ino;
    off_t token_size;
};

/*
 * Parse kubeconfig YAML held in memory. source_path names the file in
 * messages, and relative file references (certificate-authority,
 * client-certificate, client-key, tokenFile) resolve against its
 * directory; pass NULL to resolve them against the working directory.
 * context selects a context by name; NULL or "" uses current-context.
 *
 * On success *out owns a new config. On failure *out is NULL, err holds a
 * message and the return is AZIDT_ERR_CONFIG (bad or missing settings),
 * AZIDT_ERR_IO (a referenced file cannot be read) or AZIDT_ERR_NOMEM.
 */
azidt_err azidt_kubeconfig_parse(const char *yaml, size_t len,
                                 const char *source_path, const char *context,
                                 struct azidt_kubeconfig **out, char *err,
                                 size_t errlen);

/* Read the kubeconfig file at path and parse it as azidt_kubeconfig_parse
 * does. */
azidt_err azidt_kubeconfig_load_file(const char *path, const char *context,
                                     struct azidt_kubeconfig **out, char *err,
                                     size_t errlen);

/*
 * Build the in-cluster config: server from KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT, CA from <sa_dir>/ca.crt, token from
 * <sa_dir>/token (re-read when it changes) and namespace from
 * <sa_dir>/namespace. sa_dir NULL means AZIDT_KUBE_SA_DIR; tests pass their
 * own directory.
 */
azidt_err azidt_kubeconfig_load_in_cluster(const char *sa_dir,
                                           struct azidt_kubeconfig **out,
                                           char *err, size_t errlen);

/*
 * Pick the source the way a controller does: the explicit path when it is
 * non-empty, else the first path in the KUBECONFIG environment variable,
 * else the in-cluster config.
 */
azidt_err azidt_kubeconfig_load_default(const char *path, const char *context,
                                        struct azidt_kubeconfig **out,
                                        char *err, size_t errlen);

/*
 * Return the bearer token to send, in a new string the caller frees with
 * azidt_kubeconfig_token_free, or NULL in *out when the config uses no
 * token. With a token file, the file is read again when its inode, size or
 * modification time changes, so a rotated token takes effect on the next
 * call. Returns AZIDT_ERR_IO when the token file cannot be read (and no
 * earlier token is cached). Thread-safe.
 */
azidt_err azidt_kubeconfig_token(struct azidt_kubeconfig *cfg, char **out);

/* Wipe and free a token from azidt_kubeconfig_token; NULL is a no-op. */
void azidt_kubeconfig_token_free(char *token);

/* Wipe the secrets and free the config; NULL is a no-op. */
void azidt_kubeconfig_free(struct azidt_kubeconfig *cfg);

/*
 * Decode standard base64 (whitespace allowed, as in kubeconfig *-data
 * values). On success *out is a new NUL-terminated buffer of *out_len
 * bytes; returns AZIDT_ERR_INVALID for malformed input.
 */
azidt_err azidt_kube_base64_decode(const char *text, char **out,
                                   size_t *out_len);

#endif
