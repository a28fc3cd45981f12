#include "azidt/kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

/* Upper bound for a kubeconfig, a PEM file or a token file read from disk.
 * Real ones are a few kilobytes; the cap keeps a wrong path (a device, a
 * huge log) from exhausting memory. */
#define FILE_MAX_BYTES (4 * 1024 * 1024)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void wipe_free(char *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

static void wipe_free_str(char *p)
{
    if (p)
        wipe_free(p, strlen(p));
}

/* Read a whole file into a NUL-terminated buffer. Sets errno on failure. */
static azidt_err read_file(const char *path, char **out, size_t *out_len)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    azidt_err rc = AZIDT_ERR_IO;

    *out = NULL;
    if (out_len)
        *out_len = 0;
    f = fopen(path, "rb");
    if (!f)
        goto out;
    for (;;) {
        size_t n;

        if (cap - len < 4097) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nbuf;

            if (ncap > FILE_MAX_BYTES + 1) {
                errno = EFBIG;
                goto out;
            }
            nbuf = malloc(ncap);
            if (!nbuf) {
                rc = AZIDT_ERR_NOMEM;
                goto out;
            }
            if (buf) {
                memcpy(nbuf, buf, len);
                wipe_free(buf, cap);
            }
            buf = nbuf;
            cap = ncap;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                goto out;
            break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (out_len)
        *out_len = len;
    rc = AZIDT_OK;
out:
    if (buf)
        wipe_free(buf, cap);
    if (f)
        fclose(f);
    return rc;
}

azidt_err azidt_kube_base64_decode(const char *text, char **out,
                                   size_t *out_len)
{
    EVP_ENCODE_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    size_t in_len = strlen(text);
    int n = 0;
    int tail = 0;
    azidt_err rc = AZIDT_ERR_INVALID;

    *out = NULL;
    *out_len = 0;
    if (in_len > INT_MAX)
        return AZIDT_ERR_INVALID;
    buf = malloc(in_len / 4 * 3 + 4);
    ctx = EVP_ENCODE_CTX_new();
    if (!buf || !ctx) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)text,
                         (int)in_len) < 0)
        goto out;
    if (EVP_DecodeFinal(ctx, buf + n, &tail) < 0)
        goto out;
    n += tail;
    /* OpenSSL accepts input whose length is not a multiple of four and
     * drops the partial group; reject it, as Go's decoder does. */
    {
        size_t chars = 0;

        for (const char *p = text; *p; p++)
            if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                chars++;
        if (chars % 4 != 0)
            goto out;
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = (size_t)n;
    buf = NULL;
    rc = AZIDT_OK;
out:
    if (buf)
        wipe_free((char *)buf, in_len / 4 * 3 + 4);
    EVP_ENCODE_CTX_free(ctx);
    return rc;
}

/* --- YAML document helpers -------------------------------------------- */

struct doc {
    yaml_document_t yaml;
    const char *source;
    const char *dir;
    char *err;
    size_t errlen;
};

static const char *scalar(struct doc *d, yaml_node_t *node)
{
    if (!node || node->type != YAML_SCALAR_NODE)
        return NULL;
    (void)d;
    return (const char *)node->data.scalar.value;
}

static yaml_node_t *map_get(struct doc *d, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *pair;

    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const char *k = scalar(d, yaml_document_get_node(&d->yaml, pair->key));

        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(&d->yaml, pair->value);
    }
    return NULL;
}

static const char *map_str(struct doc *d, yaml_node_t *map, const char *key)
{
    const char *v = scalar(d, map_get(d, map, key));

    return v && *v ? v : NULL;
}

/* Find the entry named name in a list such as "contexts" and return its
 * inner mapping (the value under item_key, e.g. "context"). */
static yaml_node_t *named_entry(struct doc *d, const char *list_key,
                                const char *item_key, const char *name)
{
    yaml_node_t *root = yaml_document_get_root_node(&d->yaml);
    yaml_node_t *list = map_get(d, root, list_key);
    yaml_node_item_t *item;

    if (!list || list->type != YAML_SEQUENCE_NODE)
        return NULL;
    for (item = list->data.sequence.items.start;
         item < list->data.sequence.items.top; item++) {
        yaml_node_t *entry = yaml_document_get_node(&d->yaml, *item);
        const char *n = map_str(d, entry, "name");

        if (n && strcmp(n, name) == 0)
            return map_get(d, entry, item_key);
    }
    return NULL;
}

static bool parse_bool(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
                 strcmp(v, "TRUE") == 0);
}

/* Resolve a file reference relative to the kubeconfig's directory. */
static char *resolve_path(struct doc *d, const char *path)
{
    char *out = NULL;

    if (path[0] == '/' || !d->dir) {
        out = strdup(path);
    } else if (asprintf(&out, "%s/%s", d->dir, path) < 0) {
        out = NULL;
    }
    return out;
}

/*
 * Load PEM material from "<key>-data" (base64) or "<key>" (a file path) in
 * map. Leaves *out NULL when neither is set. what names the entry in
 * messages ("cluster \"kind\"").
 */
static azidt_err load_pem(struct doc *d, yaml_node_t *map, const char *key,
                          const char *what, char **out, size_t *out_len)
{
    char data_key[64];
    const char *data;
    const char *path;
    char *full = NULL;
    azidt_err rc;

    *out = NULL;
    *out_len = 0;
    snprintf(data_key, sizeof(data_key), "%s-data", key);
    data = map_str(d, map, data_key);
    path = map_str(d, map, key);
    if (data) {
        rc = azidt_kube_base64_decode(data, out, out_len);
        if (rc == AZIDT_ERR_INVALID) {
            set_err(d->err, d->errlen,
                    "kubeconfig %s: %s has invalid base64 in %s; encode the "
                    "PEM file with 'base64 -w0'",
                    d->source, what, data_key);
            return AZIDT_ERR_CONFIG;
        }
        return rc;
    }
    if (!path)
        return AZIDT_OK;
    full = resolve_path(d, path);
    if (!full)
        return AZIDT_ERR_NOMEM;
    rc = read_file(full, out, out_len);
    if (rc == AZIDT_ERR_IO)
        set_err(d->err, d->errlen,
                "kubeconfig %s: %s: cannot read %s file %s: %s; fix the path "
                "or inline the PEM as %s",
                d->source, what, key, full, strerror(errno), data_key);
    free(full);
    return rc;
}

static struct azidt_kubeconfig *config_new(void)
{
    struct azidt_kubeconfig *cfg = calloc(1, sizeof(*cfg));

    if (cfg)
        pthread_mutex_init(&cfg->token_lock, NULL);
    return cfg;
}

static azidt_err dup_field(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return AZIDT_OK;
    *dst = strdup(src);
    return *dst ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

static azidt_err fill_cluster(struct doc *d, yaml_node_t *cluster,
                              const char *name, struct azidt_kubeconfig *cfg)
{
    char what[160];
    const char *server = map_str(d, cluster, "server");
    size_t len;
    azidt_err rc;

    snprintf(what, sizeof(what), "cluster \"%s\"", name);
    if (!server) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: %s has no server; set clusters[].cluster."
                "server to the API server URL, e.g. https://127.0.0.1:6443",
                d->source, what);
        return AZIDT_ERR_CONFIG;
    }
    if (strncmp(server, "https://", 8) != 0 &&
        strncmp(server, "http://", 7) != 0) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: %s has server \"%s\" without a scheme; write "
                "it as https://host:port",
                d->source, what, server);
        return AZIDT_ERR_CONFIG;
    }
    if ((rc = dup_field(&cfg->server, server)))
        return rc;
    len = strlen(cfg->server);
    while (len > 0 && cfg->server[len - 1] == '/')
        cfg->server[--len] = '\0';
    if ((rc = dup_field(&cfg->tls_server_name,
                        map_str(d, cluster, "tls-server-name"))))
        return rc;
    cfg->insecure_skip_tls_verify =
        parse_bool(map_str(d, cluster, "insecure-skip-tls-verify"));
    return load_pem(d, cluster, "certificate-authority", what, &cfg->ca_pem,
                    &cfg->ca_pem_len);
}

static azidt_err fill_user(struct doc *d, yaml_node_t *user, const char *name,
                           struct azidt_kubeconfig *cfg)
{
    char what[160];
    azidt_err rc;
    const char *token_file;

    snprintf(what, sizeof(what), "user \"%s\"", name);
    if (map_get(d, user, "exec") || map_get(d, user, "auth-provider")) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: %s uses exec or auth-provider, which this "
                "program does not run; use a token, tokenFile or client "
                "certificate instead",
                d->source, what);
        return AZIDT_ERR_CONFIG;
    }
    rc = load_pem(d, user, "client-certificate", what, &cfg->client_cert_pem,
                  &cfg->client_cert_pem_len);
    if (rc)
        return rc;
    rc = load_pem(d, user, "client-key", what, &cfg->client_key_pem,
                  &cfg->client_key_pem_len);
    if (rc)
        return rc;
    if (!cfg->client_cert_pem != !cfg->client_key_pem) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: %s has %s without %s; set both "
                "client-certificate(-data) and client-key(-data)",
                d->source, what,
                cfg->client_cert_pem ? "a client certificate" : "a client key",
                cfg->client_cert_pem ? "a client key" : "a client certificate");
        return AZIDT_ERR_CONFIG;
    }
    if ((rc = dup_field(&cfg->token, map_str(d, user, "token"))))
        return rc;
    token_file = map_str(d, user, "tokenFile");
    if (token_file) {
        cfg->token_file = resolve_path(d, token_file);
        if (!cfg->token_file)
            return AZIDT_ERR_NOMEM;
    }
    return AZIDT_OK;
}

static azidt_err fill_config(struct doc *d, const char *context,
                             struct azidt_kubeconfig *cfg)
{
    yaml_node_t *root = yaml_document_get_root_node(&d->yaml);
    yaml_node_t *ctx;
    yaml_node_t *cluster;
    yaml_node_t *user = NULL;
    const char *cluster_name;
    const char *user_name;
    azidt_err rc;

    if (!root || root->type != YAML_MAPPING_NODE) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: the document is not a YAML mapping; point "
                "to a kubeconfig file (kind: Config)",
                d->source);
        return AZIDT_ERR_CONFIG;
    }
    if (!context || !*context) {
        context = map_str(d, root, "current-context");
        if (!context) {
            set_err(d->err, d->errlen,
                    "kubeconfig %s: current-context is not set; set it or "
                    "name a context explicitly",
                    d->source);
            return AZIDT_ERR_CONFIG;
        }
    }
    ctx = named_entry(d, "contexts", "context", context);
    if (!ctx) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: context \"%s\" not found in contexts; name "
                "an existing context or fix current-context",
                d->source, context);
        return AZIDT_ERR_CONFIG;
    }
    cluster_name = map_str(d, ctx, "cluster");
    user_name = map_str(d, ctx, "user");
    if (!cluster_name) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: context \"%s\" has no cluster; set "
                "contexts[].context.cluster",
                d->source, context);
        return AZIDT_ERR_CONFIG;
    }
    cluster = named_entry(d, "clusters", "cluster", cluster_name);
    if (!cluster) {
        set_err(d->err, d->errlen,
                "kubeconfig %s: cluster \"%s\" (from context \"%s\") not "
                "found in clusters; add it or fix the context",
                d->source, cluster_name, context);
        return AZIDT_ERR_CONFIG;
    }
    if (user_name) {
        user = named_entry(d, "users", "user", user_name);
        if (!user) {
            set_err(d->err, d->errlen,
                    "kubeconfig %s: user \"%s\" (from context \"%s\") not "
                    "found in users; add it or fix the context",
                    d->source, user_name, context);
            return AZIDT_ERR_CONFIG;
        }
    }
    if ((rc = fill_cluster(d, cluster, cluster_name, cfg)))
        return rc;
    if (user && (rc = fill_user(d, user, user_name, cfg)))
        return rc;
    return dup_field(&cfg->namespace, map_str(d, ctx, "namespace")
                                          ? map_str(d, ctx, "namespace")
                                          : "default");
}

azidt_err azidt_kubeconfig_parse(const char *yaml, size_t len,
                                 const char *source_path, const char *context,
                                 struct azidt_kubeconfig **out, char *err,
                                 size_t errlen)
{
    yaml_parser_t parser;
    struct doc d = {.source = source_path ? source_path : "<memory>",
                    .err = err,
                    .errlen = errlen};
    bool have_doc = false;
    char *dir = NULL;
    struct azidt_kubeconfig *cfg = NULL;
    azidt_err rc = AZIDT_ERR_NOMEM;

    *out = NULL;
    set_err(err, errlen, "%s", "");
    if (!yaml_parser_initialize(&parser))
        return AZIDT_ERR_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &d.yaml)) {
        set_err(err, errlen,
                "kubeconfig %s: invalid YAML at line %zu: %s; fix the file "
                "syntax",
                d.source, parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "parse error");
        rc = AZIDT_ERR_CONFIG;
        goto out;
    }
    have_doc = true;
    if (source_path && strchr(source_path, '/')) {
        dir = strdup(source_path);
        if (!dir)
            goto out;
        *strrchr(dir, '/') = '\0';
        if (!*dir) {
            free(dir);
            dir = strdup("/");
            if (!dir)
                goto out;
        }
        d.dir = dir;
    }
    cfg = config_new();
    if (!cfg)
        goto out;
    rc = dup_field(&cfg->source, d.source);
    if (rc)
        goto out;
    rc = fill_config(&d, context, cfg);
    if (rc)
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    if (rc == AZIDT_ERR_NOMEM)
        set_err(err, errlen, "kubeconfig %s: out of memory", d.source);
    azidt_kubeconfig_free(cfg);
    free(dir);
    if (have_doc)
        yaml_document_delete(&d.yaml);
    yaml_parser_delete(&parser);
    return rc;
}

azidt_err azidt_kubeconfig_load_file(const char *path, const char *context,
                                     struct azidt_kubeconfig **out, char *err,
                                     size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    azidt_err rc;

    *out = NULL;
    rc = read_file(path, &text, &len);
    if (rc == AZIDT_ERR_IO) {
        set_err(err, errlen,
                "kubeconfig %s: cannot read the file: %s; pass an existing "
                "kubeconfig path",
                path, strerror(errno));
        return rc;
    }
    if (rc)
        return rc;
    rc = azidt_kubeconfig_parse(text, len, path, context, out, err, errlen);
    wipe_free(text, len);
    return rc;
}

/* Read a small file such as the service account namespace, trimmed of
 * trailing whitespace. */
static azidt_err read_trimmed(const char *path, char **out)
{
    size_t len = 0;
    azidt_err rc = read_file(path, out, &len);

    if (rc)
        return rc;
    while (len > 0 && strchr(" \t\r\n", (*out)[len - 1]))
        (*out)[--len] = '\0';
    return AZIDT_OK;
}

azidt_err azidt_kubeconfig_load_in_cluster(const char *sa_dir,
                                           struct azidt_kubeconfig **out,
                                           char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct azidt_kubeconfig *cfg = NULL;
    char *path = NULL;
    azidt_err rc = AZIDT_ERR_NOMEM;

    *out = NULL;
    if (!sa_dir)
        sa_dir = AZIDT_KUBE_SA_DIR;
    if (!host || !*host || !port || !*port) {
        set_err(err, errlen,
                "in-cluster config: KUBERNETES_SERVICE_HOST or "
                "KUBERNETES_SERVICE_PORT is not set; run inside a pod or "
                "pass a kubeconfig");
        return AZIDT_ERR_CONFIG;
    }
    cfg = config_new();
    if (!cfg || !(cfg->source = strdup("in-cluster")))
        goto out;
    /* An IPv6 service address needs brackets in a URL. */
    if (asprintf(&cfg->server,
                 strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                 port) < 0) {
        cfg->server = NULL;
        goto out;
    }
    if (asprintf(&path, "%s/ca.crt", sa_dir) < 0) {
        path = NULL;
        goto out;
    }
    rc = read_file(path, &cfg->ca_pem, &cfg->ca_pem_len);
    if (rc == AZIDT_ERR_IO)
        set_err(err, errlen,
                "in-cluster config: cannot read %s: %s; mount the service "
                "account token (automountServiceAccountToken: true)",
                path, strerror(errno));
    if (rc)
        goto out;
    free(path);
    rc = AZIDT_ERR_NOMEM;
    if (asprintf(&path, "%s/token", sa_dir) < 0) {
        path = NULL;
        goto out;
    }
    cfg->token_file = path;
    path = NULL;
    if (asprintf(&path, "%s/namespace", sa_dir) < 0) {
        path = NULL;
        goto out;
    }
    rc = read_trimmed(path, &cfg->namespace);
    if (rc == AZIDT_ERR_IO) {
        /* The namespace file is optional; default as client-go does. */
        rc = dup_field(&cfg->namespace, "default");
    }
    if (rc)
        goto out;
    /* Fail at start-up, not at the first request, when the token is
     * missing. */
    {
        char *token = NULL;

        rc = azidt_kubeconfig_token(cfg, &token);
        azidt_kubeconfig_token_free(token);
        if (rc) {
            set_err(err, errlen,
                    "in-cluster config: cannot read %s: %s; mount the "
                    "service account token",
                    cfg->token_file, strerror(errno));
            goto out;
        }
    }
    *out = cfg;
    cfg = NULL;
    rc = AZIDT_OK;
out:
    if (rc == AZIDT_ERR_NOMEM)
        set_err(err, errlen, "in-cluster config: out of memory");
    free(path);
    azidt_kubeconfig_free(cfg);
    return rc;
}

azidt_err azidt_kubeconfig_load_default(const char *path, const char *context,
                                        struct azidt_kubeconfig **out,
                                        char *err, size_t errlen)
{
    const char *env = getenv("KUBECONFIG");
    char *first = NULL;
    azidt_err rc;

    if (path && *path)
        return azidt_kubeconfig_load_file(path, context, out, err, errlen);
    if (env && *env) {
        /* NOTE: kubectl merges every file in KUBECONFIG; this takes the
         * first, which covers the common single-file case. */
        first = strndup(env, strcspn(env, ":"));
        if (!first)
            return AZIDT_ERR_NOMEM;
        rc = azidt_kubeconfig_load_file(first, context, out, err, errlen);
        free(first);
        return rc;
    }
    return azidt_kubeconfig_load_in_cluster(NULL, out, err, errlen);
}

azidt_err azidt_kubeconfig_token(struct azidt_kubeconfig *cfg, char **out)
{
    struct stat st;
    bool have_stat;
    char *fresh = NULL;
    azidt_err rc = AZIDT_OK;

    *out = NULL;
    if (!cfg->token_file) {
        if (cfg->token && !(*out = strdup(cfg->token)))
            return AZIDT_ERR_NOMEM;
        return AZIDT_OK;
    }
    pthread_mutex_lock(&cfg->token_lock);
    have_stat = stat(cfg->token_file, &st) == 0;
    if (!have_stat)
        memset(&st, 0, sizeof(st));
    if (have_stat && cfg->token_cached && st.st_ino == cfg->token_ino &&
        st.st_size == cfg->token_size &&
        st.st_mtim.tv_sec == cfg->token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == cfg->token_mtime.tv_nsec)
        goto copy;
    rc = read_trimmed(cfg->token_file, &fresh);
    if (rc) {
        /* Keep serving the cached token while a rotation is in flight;
         * the apiserver rejects it once it really expires. */
        if (cfg->token_cached)
            rc = AZIDT_OK;
        goto copy;
    }
    wipe_free_str(cfg->token_cached);
    cfg->token_cached = fresh;
    cfg->token_ino = st.st_ino;
    cfg->token_size = st.st_size;
    cfg->token_mtime = st.st_mtim;
copy:
    if (rc == AZIDT_OK && cfg->token_cached &&
        !(*out = strdup(cfg->token_cached)))
        rc = AZIDT_ERR_NOMEM;
    pthread_mutex_unlock(&cfg->token_lock);
    return rc;
}

void azidt_kubeconfig_token_free(char *token)
{
    wipe_free_str(token);
}

void azidt_kubeconfig_free(struct azidt_kubeconfig *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->server);
    free(cfg->tls_server_name);
    free(cfg->ca_pem);
    free(cfg->client_cert_pem);
    wipe_free(cfg->client_key_pem, cfg->client_key_pem_len);
    wipe_free_str(cfg->token);
    free(cfg->token_file);
    free(cfg->namespace);
    wipe_free_str(cfg->token_cached);
    pthread_mutex_destroy(&cfg->token_lock);
    free(cfg);
}
