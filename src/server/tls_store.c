#include "azidt/tls_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "azidt/clock.h"
#include "azidt/log.h"
#include "azidt/metrics.h"

/* One certificate chain with its key, as handed to GnuTLS. */
struct pair {
    gnutls_pcert_st certs[AZIDT_TLS_CHAIN_MAX];
    unsigned cert_count;
    gnutls_privkey_t key;
    char serial[80];
    int64_t retired_ms; /* monotonic time it was replaced */
    struct pair *next;  /* in the retired list */
};

/* File identity and version from stat(2). Any difference is a change. */
struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool present;
};

struct azidt_tls_store {
    char *cert_path;
    char *key_path;
    pthread_mutex_t lock; /* guards current, retired and the stamps */
    struct pair *current;
    struct pair *retired;
    struct file_stamp cert_stamp;
    struct file_stamp key_stamp;
    uint64_t reloads;
    int64_t interval_ms;
    int64_t grace_ms;
    pthread_t watcher;
    bool watching;
    bool stopping;
    pthread_cond_t wake; /* signalled to stop the watcher */
};

static _Atomic(struct azidt_tls_store *) installed_store;

static void pair_free(struct pair *pair)
{
    if (!pair)
        return;
    for (unsigned i = 0; i < pair->cert_count; i++)
        gnutls_pcert_deinit(&pair->certs[i]);
    gnutls_privkey_deinit(pair->key);
    free(pair);
}

/* Read a whole file of at most AZIDT_TLS_FILE_MAX bytes. The caller wipes
 * and frees data->data. */
static azidt_err read_file(const char *path, gnutls_datum_t *data, char *err,
                           size_t errlen)
{
    FILE *file = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len;

    data->data = NULL;
    data->size = 0;
    if (!file) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return AZIDT_ERR_IO;
    }
    buf = malloc(AZIDT_TLS_FILE_MAX + 1);
    if (!buf) {
        fclose(file);
        snprintf(err, errlen, "out of memory reading %s", path);
        return AZIDT_ERR_NOMEM;
    }
    len = fread(buf, 1, AZIDT_TLS_FILE_MAX + 1, file);
    fclose(file);
    if (len > AZIDT_TLS_FILE_MAX) {
        free(buf);
        snprintf(err, errlen, "%s is larger than %d bytes", path,
                 AZIDT_TLS_FILE_MAX);
        return AZIDT_ERR_IO;
    }
    buf[len] = '\0';
    data->data = buf;
    data->size = (unsigned)len;
    return AZIDT_OK;
}

static void wipe_datum(gnutls_datum_t *data)
{
    if (data->data) {
        memset(data->data, 0, data->size);
        free(data->data);
    }
    data->data = NULL;
    data->size = 0;
}

static void format_serial(gnutls_x509_crt_t crt, char *out, size_t len)
{
    unsigned char serial[40];
    size_t serial_len = sizeof(serial);
    size_t pos = 0;

    out[0] = '\0';
    if (gnutls_x509_crt_get_serial(crt, serial, &serial_len) < 0)
        return;
    for (size_t i = 0; i < serial_len && pos + 3 <= len; i++)
        pos += (size_t)snprintf(out + pos, len - pos, "%02x", serial[i]);
}

/* Compare the SHA-256 key ids of the leaf and the private key. */
static azidt_err check_key_matches(gnutls_x509_crt_t leaf,
                                   gnutls_x509_privkey_t key,
                                   const char *key_path, char *err,
                                   size_t errlen)
{
    unsigned char cert_id[64];
    unsigned char key_id[64];
    size_t cert_id_len = sizeof(cert_id);
    size_t key_id_len = sizeof(key_id);

    if (gnutls_x509_crt_get_key_id(leaf, GNUTLS_KEYID_USE_SHA256, cert_id,
                                   &cert_id_len) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, key_id,
                                       &key_id_len) < 0 ||
        cert_id_len != key_id_len ||
        memcmp(cert_id, key_id, cert_id_len) != 0) {
        snprintf(err, errlen,
                 "private key %s does not belong to the certificate; write "
                 "the key that was issued with this certificate",
                 key_path);
        return AZIDT_ERR_TLS;
    }
    return AZIDT_OK;
}

/* Parse the chain into pair->certs and the leaf into *leaf. */
static azidt_err parse_chain(const gnutls_datum_t *pem, const char *path,
                             struct pair *pair, gnutls_x509_crt_t *leaf,
                             char *err, size_t errlen)
{
    unsigned count = AZIDT_TLS_CHAIN_MAX;
    int ret;

    ret = gnutls_pcert_list_import_x509_raw(pair->certs, &count, pem,
                                            GNUTLS_X509_FMT_PEM, 0);
    if (ret < 0) {
        snprintf(err, errlen,
                 "cannot parse certificate file %s: %s; expected PEM "
                 "certificates, leaf first",
                 path, gnutls_strerror(ret));
        return AZIDT_ERR_TLS;
    }
    pair->cert_count = count;
    if (gnutls_x509_crt_init(leaf) < 0)
        return AZIDT_ERR_NOMEM;
    ret = gnutls_x509_crt_import(*leaf, &pair->certs[0].cert,
                                 GNUTLS_X509_FMT_DER);
    if (ret < 0) {
        snprintf(err, errlen, "cannot read the leaf certificate in %s: %s",
                 path, gnutls_strerror(ret));
        return AZIDT_ERR_TLS;
    }
    return AZIDT_OK;
}

static azidt_err parse_key(const gnutls_datum_t *pem, const char *path,
                           gnutls_x509_privkey_t *key, char *err, size_t errlen)
{
    int ret;

    if (gnutls_x509_privkey_init(key) < 0)
        return AZIDT_ERR_NOMEM;
    ret = gnutls_x509_privkey_import2(*key, pem, GNUTLS_X509_FMT_PEM, NULL,
                                      GNUTLS_PKCS_PLAIN);
    if (ret < 0) {
        snprintf(err, errlen,
                 "cannot parse private key file %s: %s; expected an "
                 "unencrypted PEM key",
                 path, gnutls_strerror(ret));
        return AZIDT_ERR_TLS;
    }
    return AZIDT_OK;
}

/* Load and check the pair from disk. On success *out owns a new pair. */
static azidt_err load_pair(const char *cert_path, const char *key_path,
                           struct pair **out, char *err, size_t errlen)
{
    gnutls_datum_t cert_pem = {NULL, 0};
    gnutls_datum_t key_pem = {NULL, 0};
    gnutls_x509_crt_t leaf = NULL;
    gnutls_x509_privkey_t x509_key = NULL;
    struct pair *pair = NULL;
    azidt_err rc;

    *out = NULL;
    rc = read_file(cert_path, &cert_pem, err, errlen);
    if (rc)
        goto out;
    rc = read_file(key_path, &key_pem, err, errlen);
    if (rc)
        goto out;

    pair = calloc(1, sizeof(*pair));
    if (!pair) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    rc = parse_chain(&cert_pem, cert_path, pair, &leaf, err, errlen);
    if (rc)
        goto out;
    rc = parse_key(&key_pem, key_path, &x509_key, err, errlen);
    if (rc)
        goto out;
    rc = check_key_matches(leaf, x509_key, key_path, err, errlen);
    if (rc)
        goto out;

    if (gnutls_privkey_init(&pair->key) < 0 ||
        gnutls_privkey_import_x509(pair->key, x509_key,
                                   GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0) {
        snprintf(err, errlen, "cannot use private key %s", key_path);
        rc = AZIDT_ERR_TLS;
        goto out;
    }
    x509_key = NULL; /* now owned by pair->key */
    format_serial(leaf, pair->serial, sizeof(pair->serial));
    if (gnutls_x509_crt_get_expiration_time(leaf) < time(NULL))
        AZIDT_LOG_WARN("serving certificate has expired; clients will "
                       "reject it until it is renewed",
                       "file", cert_path, "serial", pair->serial);
    *out = pair;
    pair = NULL;

out:
    pair_free(pair);
    gnutls_x509_privkey_deinit(x509_key);
    gnutls_x509_crt_deinit(leaf);
    wipe_datum(&key_pem);
    wipe_datum(&cert_pem);
    return rc;
}

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

azidt_err azidt_tls_store_validate(const char *cert_path, const char *key_path,
                                   char *err, size_t errlen)
{
    struct pair *pair = NULL;
    azidt_err rc = load_pair(cert_path, key_path, &pair, err, errlen);

    pair_free(pair);
    return rc;
}

azidt_err azidt_tls_store_create(const char *cert_path, const char *key_path,
                                 struct azidt_tls_store **out, char *err,
                                 size_t errlen)
{
    struct azidt_tls_store *store = NULL;
    azidt_err rc;

    *out = NULL;
    store = calloc(1, sizeof(*store));
    if (!store)
        return AZIDT_ERR_NOMEM;
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->wake, NULL);
    store->cert_path = strdup(cert_path);
    store->key_path = strdup(key_path);
    if (!store->cert_path || !store->key_path) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    /* Stamp before loading, so a write during the load is seen as a
     * change at the next check. */
    stamp_file(cert_path, &store->cert_stamp);
    stamp_file(key_path, &store->key_stamp);
    rc = load_pair(cert_path, key_path, &store->current, err, errlen);
    if (rc)
        goto out;
    AZIDT_LOG_INFO("serving certificate loaded", "file", cert_path, "serial",
                   store->current->serial);
    *out = store;
    store = NULL;

out:
    azidt_tls_store_destroy(store);
    return rc;
}

/* Free retired pairs older than the grace period. Caller holds the lock. */
static void free_expired_locked(struct azidt_tls_store *store, int64_t now)
{
    struct pair **link = &store->retired;

    while (*link) {
        struct pair *pair = *link;

        if (now - pair->retired_ms >= store->grace_ms) {
            *link = pair->next;
            pair_free(pair);
        } else {
            link = &pair->next;
        }
    }
}

azidt_err azidt_tls_store_check(struct azidt_tls_store *store)
{
    struct file_stamp cert_stamp;
    struct file_stamp key_stamp;
    struct pair *pair = NULL;
    char err[512];
    azidt_err rc;

    stamp_file(store->cert_path, &cert_stamp);
    stamp_file(store->key_path, &key_stamp);
    pthread_mutex_lock(&store->lock);
    free_expired_locked(store, azidt_clock_now_ms());
    if (stamps_equal(&cert_stamp, &store->cert_stamp) &&
        stamps_equal(&key_stamp, &store->key_stamp)) {
        pthread_mutex_unlock(&store->lock);
        return AZIDT_OK;
    }
    /* Remember the new stamps even if the load fails, so a bad pair is
     * reported once rather than at every poll. The next write to either
     * file triggers another attempt. */
    store->cert_stamp = cert_stamp;
    store->key_stamp = key_stamp;
    pthread_mutex_unlock(&store->lock);

    rc = load_pair(store->cert_path, store->key_path, &pair, err, sizeof(err));
    azidt_metrics_certificate_reload(rc == AZIDT_OK);
    if (rc) {
        char serial[80];

        azidt_tls_store_serial(store, serial, sizeof(serial));
        AZIDT_LOG_ERROR("rejected new serving certificate; the previous "
                        "one stays in use",
                        "error", err, "serial_in_use", serial);
        return rc;
    }

    pthread_mutex_lock(&store->lock);
    store->current->retired_ms = azidt_clock_now_ms();
    store->current->next = store->retired;
    store->retired = store->current;
    store->current = pair;
    store->reloads++;
    pthread_mutex_unlock(&store->lock);
    AZIDT_LOG_INFO("serving certificate reloaded", "file", store->cert_path,
                   "serial", pair->serial);
    return AZIDT_OK;
}

static void *watch_main(void *data)
{
    struct azidt_tls_store *store = data;

    pthread_mutex_lock(&store->lock);
    while (!store->stopping) {
        struct timespec until =
            azidt_clock_timespec_in(CLOCK_REALTIME, store->interval_ms);

        pthread_cond_timedwait(&store->wake, &store->lock, &until);
        if (store->stopping)
            break;
        pthread_mutex_unlock(&store->lock);
        azidt_tls_store_check(store);
        pthread_mutex_lock(&store->lock);
    }
    pthread_mutex_unlock(&store->lock);
    return NULL;
}

azidt_err azidt_tls_store_start(struct azidt_tls_store *store,
                                int64_t interval_ms, int64_t grace_ms)
{
    store->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    store->grace_ms = grace_ms;
    if (pthread_create(&store->watcher, NULL, watch_main, store) != 0)
        return AZIDT_ERR_INTERNAL;
    store->watching = true;
    return AZIDT_OK;
}

void azidt_tls_store_serial(struct azidt_tls_store *store, char *buf,
                            size_t len)
{
    pthread_mutex_lock(&store->lock);
    snprintf(buf, len, "%s", store->current ? store->current->serial : "");
    pthread_mutex_unlock(&store->lock);
}

uint64_t azidt_tls_store_reloads(struct azidt_tls_store *store)
{
    uint64_t reloads;

    pthread_mutex_lock(&store->lock);
    reloads = store->reloads;
    pthread_mutex_unlock(&store->lock);
    return reloads;
}

void azidt_tls_store_install(struct azidt_tls_store *store)
{
    atomic_store(&installed_store, store);
}

int azidt_tls_store_retrieve(gnutls_session_t session,
                             const gnutls_datum_t *req_ca_rdn, int nreqs,
                             const gnutls_pk_algorithm_t *pk_algos,
                             int pk_algos_length, gnutls_pcert_st **pcert,
                             unsigned int *pcert_length,
                             gnutls_privkey_t *privkey)
{
    struct azidt_tls_store *store = atomic_load(&installed_store);

    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    if (!store)
        return -1;
    /* GnuTLS uses these pointers without copying them. The pair stays
     * allocated for the grace period after a reload, which is longer than
     * a handshake may take. */
    pthread_mutex_lock(&store->lock);
    *pcert = store->current->certs;
    *pcert_length = store->current->cert_count;
    *privkey = store->current->key;
    pthread_mutex_unlock(&store->lock);
    return 0;
}

void azidt_tls_store_destroy(struct azidt_tls_store *store)
{
    if (!store)
        return;
    if (atomic_load(&installed_store) == store)
        azidt_tls_store_install(NULL);
    if (store->watching) {
        pthread_mutex_lock(&store->lock);
        store->stopping = true;
        pthread_cond_signal(&store->wake);
        pthread_mutex_unlock(&store->lock);
        pthread_join(store->watcher, NULL);
    }
    while (store->retired) {
        struct pair *next = store->retired->next;

        pair_free(store->retired);
        store->retired = next;
    }
    pair_free(store->current);
    pthread_cond_destroy(&store->wake);
    pthread_mutex_destroy(&store->lock);
    free(store->cert_path);
    free(store->key_path);
    free(store);
}
