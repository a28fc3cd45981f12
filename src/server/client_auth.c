#include "azidt/client_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/x509.h>

#include "azidt/clock.h"
#include "azidt/log.h"
#include "azidt/tls_store.h"

/* File identity and version from stat(2). Any difference is a change. */
struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool present;
};

struct azidt_client_auth {
    char *ca_path;
    char *names[AZIDT_CLIENT_NAMES_MAX];
    size_t name_count;
    pthread_rwlock_t trust_lock; /* guards trust */
    gnutls_x509_trust_list_t trust;
    struct file_stamp stamp; /* used by the watcher only */
    int64_t interval_ms;
    pthread_mutex_t lock; /* guards stopping, with wake */
    pthread_cond_t wake;
    pthread_t watcher;
    bool watching;
    bool stopping;
};

static void stamp_file(const char *path, struct file_stamp *stamp)
{
    struct stat st;

    memset(stamp, 0, sizeof(*stamp));
    if (stat(path, &st) != 0)
        return;
    stamp->present = true;
    stamp->dev = st.st_dev;
    stamp->ino = st.st_ino;
    stamp->size = st.st_size;
    stamp->mtime = st.st_mtim;
}

static bool stamps_equal(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Load the CA certificates of path into a new trust list. */
static azidt_err load_trust(const char *path, gnutls_x509_trust_list_t *out,
                            char *err, size_t errlen)
{
    gnutls_x509_trust_list_t list = NULL;
    gnutls_datum_t pem = {NULL, 0};
    gnutls_datum_t loaded = {NULL, 0};
    azidt_err rc = AZIDT_OK;
    int count;

    *out = NULL;
    if (gnutls_load_file(path, &loaded) < 0) {
        snprintf(err, errlen, "cannot read client CA file %s: %s", path,
                 strerror(errno ? errno : EIO));
        return AZIDT_ERR_IO;
    }
    pem = loaded;
    if (pem.size > AZIDT_TLS_FILE_MAX) {
        snprintf(err, errlen, "client CA file %s is larger than %d bytes", path,
                 AZIDT_TLS_FILE_MAX);
        rc = AZIDT_ERR_IO;
        goto out;
    }
    if (gnutls_x509_trust_list_init(&list, 0) < 0) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    count = gnutls_x509_trust_list_add_trust_mem(list, &pem, NULL,
                                                 GNUTLS_X509_FMT_PEM, 0, 0);
    if (count <= 0) {
        snprintf(err, errlen,
                 "client CA file %s holds no PEM certificate; write the CA "
                 "certificates that sign the apiserver's client certificate",
                 path);
        rc = AZIDT_ERR_TLS;
        goto out;
    }
    *out = list;
    list = NULL;

out:
    if (list)
        gnutls_x509_trust_list_deinit(list, 1);
    gnutls_free(loaded.data);
    return rc;
}

/* Split names at commas into auth->names, trimming spaces. */
static azidt_err parse_names(struct azidt_client_auth *auth, const char *names,
                             char *err, size_t errlen)
{
    const char *p = names;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || auth->name_count == AZIDT_CLIENT_NAMES_MAX) {
            snprintf(err, errlen,
                     "invalid --client-cert-names \"%.200s\": expected up to "
                     "%d non-empty names separated by commas",
                     names, AZIDT_CLIENT_NAMES_MAX);
            return AZIDT_ERR_CONFIG;
        }
        auth->names[auth->name_count] = strndup(p, len);
        if (!auth->names[auth->name_count])
            return AZIDT_ERR_NOMEM;
        auth->name_count++;
        p = end ? end + 1 : NULL;
    }
    return AZIDT_OK;
}

azidt_err azidt_client_auth_create(const char *ca_path, const char *names,
                                   struct azidt_client_auth **out, char *err,
                                   size_t errlen)
{
    struct azidt_client_auth *auth = NULL;
    azidt_err rc;

    *out = NULL;
    auth = calloc(1, sizeof(*auth));
    if (!auth)
        return AZIDT_ERR_NOMEM;
    pthread_rwlock_init(&auth->trust_lock, NULL);
    pthread_mutex_init(&auth->lock, NULL);
    pthread_cond_init(&auth->wake, NULL);
    auth->ca_path = strdup(ca_path);
    if (!auth->ca_path) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    rc = parse_names(auth, names, err, errlen);
    if (rc)
        goto out;
    stamp_file(ca_path, &auth->stamp);
    rc = load_trust(ca_path, &auth->trust, err, errlen);
    if (rc)
        goto out;
    AZIDT_LOG_INFO("client certificates required on admission routes",
                   "client_ca_file", ca_path, "client_cert_names",
                   names && *names ? names : "(any)");
    *out = auth;
    auth = NULL;

out:
    azidt_client_auth_destroy(auth);
    return rc;
}

azidt_err azidt_client_auth_check(struct azidt_client_auth *auth)
{
    gnutls_x509_trust_list_t list = NULL;
    gnutls_x509_trust_list_t old;
    struct file_stamp stamp;
    char err[512];
    azidt_err rc;

    stamp_file(auth->ca_path, &stamp);
    if (stamps_equal(&stamp, &auth->stamp))
        return AZIDT_OK;
    /* Remember the stamp even if the load fails, so a bad file is
     * reported once; the next write triggers another attempt. */
    auth->stamp = stamp;
    rc = load_trust(auth->ca_path, &list, err, sizeof(err));
    if (rc) {
        AZIDT_LOG_ERROR("rejected new client CA file; the previous CAs stay "
                        "in use",
                        "error", err);
        return rc;
    }
    pthread_rwlock_wrlock(&auth->trust_lock);
    old = auth->trust;
    auth->trust = list;
    pthread_rwlock_unlock(&auth->trust_lock);
    gnutls_x509_trust_list_deinit(old, 1);
    AZIDT_LOG_INFO("client CA file reloaded", "file", auth->ca_path);
    return AZIDT_OK;
}

static void *watch_main(void *data)
{
    struct azidt_client_auth *auth = data;

    pthread_mutex_lock(&auth->lock);
    while (!auth->stopping) {
        struct timespec until =
            azidt_clock_timespec_in(CLOCK_REALTIME, auth->interval_ms);

        pthread_cond_timedwait(&auth->wake, &auth->lock, &until);
        if (auth->stopping)
            break;
        pthread_mutex_unlock(&auth->lock);
        azidt_client_auth_check(auth);
        pthread_mutex_lock(&auth->lock);
    }
    pthread_mutex_unlock(&auth->lock);
    return NULL;
}

azidt_err azidt_client_auth_start(struct azidt_client_auth *auth,
                                  int64_t interval_ms)
{
    auth->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    if (pthread_create(&auth->watcher, NULL, watch_main, auth) != 0)
        return AZIDT_ERR_INTERNAL;
    auth->watching = true;
    return AZIDT_OK;
}

/* True when name equals one of the accepted names. */
static bool name_accepted(const struct azidt_client_auth *auth,
                          const char *name)
{
    for (size_t i = 0; i < auth->name_count; i++) {
        if (strcmp(auth->names[i], name) == 0)
            return true;
    }
    return false;
}

/* True when the leaf's common name or a DNS SAN is an accepted name. */
static bool leaf_name_accepted(const struct azidt_client_auth *auth,
                               gnutls_x509_crt_t leaf)
{
    char name[256];
    size_t len = sizeof(name);

    if (auth->name_count == 0)
        return true;
    if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                      name, &len) >= 0 &&
        name_accepted(auth, name))
        return true;
    for (unsigned i = 0;; i++) {
        unsigned critical;
        int type;

        len = sizeof(name);
        type = gnutls_x509_crt_get_subject_alt_name(leaf, i, name, &len,
                                                    &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type == GNUTLS_SAN_DNSNAME && name_accepted(auth, name))
            return true;
    }
    return false;
}

static void describe_subject(gnutls_x509_crt_t leaf, char *buf, size_t len)
{
    size_t size = len;

    if (gnutls_x509_crt_get_dn(leaf, buf, &size) < 0)
        snprintf(buf, len, "(unreadable subject)");
}

/* Drop the trailing spaces and full stop of GnuTLS's status text. */
static void trim_status(gnutls_datum_t *text)
{
    char *s = (char *)text->data;
    size_t len = s ? strlen(s) : 0;

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '.'))
        s[--len] = '\0';
}

/* Verify the imported chain against the current CAs. */
static bool verify_chain(struct azidt_client_auth *auth,
                         gnutls_x509_crt_t *chain, unsigned count, char *why,
                         size_t len)
{
    gnutls_typed_vdata_st purpose = {
        .type = GNUTLS_DT_KEY_PURPOSE_OID,
        .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
    };
    gnutls_datum_t text = {NULL, 0};
    unsigned status = 0;
    char subject[256];
    int ret;

    pthread_rwlock_rdlock(&auth->trust_lock);
    ret = gnutls_x509_trust_list_verify_crt2(auth->trust, chain, count,
                                             &purpose, 1, 0, &status, NULL);
    pthread_rwlock_unlock(&auth->trust_lock);
    if (ret >= 0 && status == 0)
        return true;
    describe_subject(chain[0], subject, sizeof(subject));
    if (ret < 0) {
        snprintf(why, len, "client certificate \"%s\" not verified: %s",
                 subject, gnutls_strerror(ret));
        return false;
    }
    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text,
                                                 0);
    trim_status(&text);
    snprintf(why, len,
             "client certificate \"%s\" not verified by --client-ca-file: %s",
             subject, text.data ? (const char *)text.data : "rejected");
    gnutls_free(text.data);
    return false;
}

bool azidt_client_auth_verify(struct azidt_client_auth *auth,
                              gnutls_session_t session, char *why, size_t len)
{
    gnutls_x509_crt_t chain[AZIDT_TLS_CHAIN_MAX] = {NULL};
    const gnutls_datum_t *peers;
    unsigned peer_count = 0;
    unsigned count = 0;
    bool ok = false;

    peers = session ? gnutls_certificate_get_peers(session, &peer_count) : NULL;
    if (!peers || peer_count == 0) {
        snprintf(why, len, "no client certificate was sent");
        return false;
    }
    if (peer_count > AZIDT_TLS_CHAIN_MAX) {
        snprintf(why, len,
                 "client certificate chain has %u certificates, "
                 "more than %d",
                 peer_count, AZIDT_TLS_CHAIN_MAX);
        return false;
    }
    for (; count < peer_count; count++) {
        if (gnutls_x509_crt_init(&chain[count]) < 0 ||
            gnutls_x509_crt_import(chain[count], &peers[count],
                                   GNUTLS_X509_FMT_DER) < 0) {
            snprintf(why, len, "client certificate %u cannot be parsed", count);
            count++;
            goto out;
        }
    }
    if (!verify_chain(auth, chain, count, why, len))
        goto out;
    if (!leaf_name_accepted(auth, chain[0])) {
        char subject[256];

        describe_subject(chain[0], subject, sizeof(subject));
        snprintf(why, len,
                 "client certificate \"%s\" has no name listed in "
                 "--client-cert-names",
                 subject);
        goto out;
    }
    ok = true;

out:
    for (unsigned i = 0; i < count; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return ok;
}

void azidt_client_auth_destroy(struct azidt_client_auth *auth)
{
    if (!auth)
        return;
    if (auth->watching) {
        pthread_mutex_lock(&auth->lock);
        auth->stopping = true;
        pthread_cond_signal(&auth->wake);
        pthread_mutex_unlock(&auth->lock);
        pthread_join(auth->watcher, NULL);
    }
    if (auth->trust)
        gnutls_x509_trust_list_deinit(auth->trust, 1);
    for (size_t i = 0; i < auth->name_count; i++)
        free(auth->names[i]);
    pthread_cond_destroy(&auth->wake);
    pthread_mutex_destroy(&auth->lock);
    pthread_rwlock_destroy(&auth->trust_lock);
    free(auth->ca_path);
    free(auth);
}
