/*
 * Internal interfaces of the Azure emulator (azidt-azure-emulator).
 *
 * The emulator serves the Entra token endpoint, Microsoft Graph v1.0 and
 * Azure Resource Manager on separate HTTPS ports of 127.0.0.1, plus an
 * admin port. All directory and ARM state lives in one struct emu_state,
 * guarded by one mutex. Each request handler holds the mutex for all of its
 * state work, so every request reads a consistent directory. Latency faults
 * sleep before the mutex is taken.
 */
#ifndef AZIDT_EMULATOR_H
#define AZIDT_EMULATOR_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum emu_service {
    EMU_TOKEN,
    EMU_GRAPH,
    EMU_ARM,
    EMU_ADMIN,
    EMU_SERVICE_COUNT,
};

/* Maximum response headers a handler can add. */
#define EMU_MAX_HEADERS 12

/* One HTTP exchange. The HTTP layer fills the request half; a handler
 * fills status, body and headers. */
struct emu_request {
    struct MHD_Connection *conn;
    enum emu_service service;
    char method[16];
    char *path; /* URL path, percent-decoded by libmicrohttpd */
    char *body; /* request body, NUL-terminated; may be empty */
    size_t body_len;
    bool body_too_large;
    char request_id[37];        /* request-id / x-ms-request-id */
    char client_request_id[64]; /* echoed client-request-id */

    /* Route template such as "GET /v1.0/applications/{id}", set by the
     * router before faults are checked, and used in the call log. */
    char route[192];

    int status;
    char *resp_body; /* owned; NULL for no body */
    const char *content_type;
    char *header_names[EMU_MAX_HEADERS];
    char *header_values[EMU_MAX_HEADERS];
    int header_count;
    bool reset; /* close the connection without a response */
};

/* Application record. obj is the Graph representation that GET returns
 * (passwordCredentials carry secretText null). */
struct emu_app {
    cJSON *obj;
    cJSON *secrets;     /* [{keyId, hash, startMs, endMs, createdMs}] */
    cJSON *owners;      /* [object id] */
    cJSON *fics;        /* [federatedIdentityCredential], see fic_created */
    cJSON *fic_created; /* {ficId: createdMs} */
    cJSON *graph_roles; /* Graph application permissions of its tokens */
    int64_t created_ms;
    int64_t deleted_ms; /* 0 while active */
    struct emu_app *next;
};

struct emu_sp {
    cJSON *obj;
    cJSON *secrets;
    cJSON *owners;
    int64_t created_ms;
    int64_t deleted_ms;
    struct emu_sp *next;
};

struct emu_assignment {
    cJSON *obj; /* the ARM representation */
    int64_t created_ms;
    struct emu_assignment *next;
};

/* One fault rule; see docs/emulator.md for the JSON form. */
struct emu_fault {
    int id;
    char service[8]; /* "token", "graph", "arm" or "*" */
    char *route;     /* glob over "METHOD /template"; "*" for every route */
    char kind[12];   /* "latency", "status" or "reset" */
    int status;
    char *code;      /* error code override, or NULL */
    char *message;   /* error message override, or NULL */
    int retry_after; /* seconds; < 0 sends no Retry-After header */
    int latency_ms;
    int times; /* remaining matches; < 0 for unlimited */
    int skip;  /* matches to let through before the first fault */
    double probability;
    uint64_t rng;
    uint64_t seed;
    struct emu_fault *next;
};

struct emu_call {
    uint64_t seq;
    int64_t at_ms;
    enum emu_service service;
    char method[16];
    char route[192];
    int status; /* 0 for a connection reset */
};

struct emu_state {
    pthread_mutex_t lock;

    /* Configuration, kept to rebuild the seed on reset. */
    cJSON *config;
    char tenant[40];
    char subscription[40];
    char *urls[EMU_SERVICE_COUNT]; /* https://127.0.0.1:port */
    char *ca_file;
    int graph_page_size;
    int arm_page_size;
    bool deleted_hold_unique_name;

    EVP_PKEY *signing_key; /* RS256 key of issued tokens */
    char signing_kid[48];

    int64_t clock_offset_ms; /* added to the wall clock */

    /* Directory and ARM state. */
    struct emu_app *apps;
    struct emu_sp *sps;
    struct emu_assignment *assignments;
    cJSON *resource_groups; /* [ARM resource group] */
    cJSON *issuers;         /* {issuer: jwks} */

    /* Faults. */
    int64_t replication_delay_ms;
    char replication_sp_error[8]; /* "400" or "403" */
    struct emu_fault *faults;
    int next_fault_id;

    /* Call log, oldest first and capped; counts keep every call. */
    struct emu_call *calls;
    size_t call_len;
    size_t call_cap;
    uint64_t next_call_seq;
    cJSON *call_counts; /* {"service METHOD route status": n} */
};

extern struct emu_state emu;

/* ---- util.c: time, ids, encodings ---- */

/* Emulator time: the wall clock plus the admin clock offset. */
int64_t emu_now_ms(void);
/* Format ms since the epoch as "2026-01-02T03:04:05Z". */
void emu_iso8601(int64_t ms, char out[32]);
/* Parse "YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)"; returns false if invalid. */
bool emu_parse_iso8601(const char *text, int64_t *ms);
void emu_uuid4(char out[37]);
bool emu_is_guid(const char *text);
/* Fill out with len random characters of a client secret's alphabet. */
void emu_random_secret(char *out, size_t len);
void emu_sha256_hex(const char *text, char out[65]);
char *emu_b64url_encode(const unsigned char *data, size_t len);
unsigned char *emu_b64url_decode(const char *text, size_t text_len,
                                 size_t *out_len);
/* Decode one value of an application/x-www-form-urlencoded body; returns
 * a malloc'd string or NULL when the field is absent. */
char *emu_form_value(const char *body, const char *name);
/* Decode len bytes of percent-encoding, with '+' as a space; malloc'd. */
char *emu_url_decode(const char *text, size_t len);
/* Percent-encode text for a query string. */
char *emu_url_encode(const char *text);
bool emu_strcaseeq(const char *a, const char *b);
/* Glob match with '*' over case-insensitive text. */
bool emu_glob(const char *pattern, const char *text);
char *emu_strdup(const char *text);
char *emu_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Read a whole file; returns NULL on error. */
char *emu_read_file(const char *path);

/* ---- crypto.c: keys, certificates, JWT ---- */

EVP_PKEY *emu_rsa_generate(int bits);
/* Build a JWK {kty, n, e, kid, use, alg} for the public half of key. */
cJSON *emu_jwk_from_pkey(EVP_PKEY *key, const char *kid);
EVP_PKEY *emu_pkey_from_jwk(const cJSON *jwk);
/* Sign header+claims with RS256; returns a malloc'd compact JWT. */
char *emu_jwt_sign(EVP_PKEY *key, const char *kid, const cJSON *claims);

struct emu_jwt {
    cJSON *header;
    cJSON *claims;
    char *signing_input;
    unsigned char *signature;
    size_t signature_len;
};

/* Split and decode a compact JWT; returns false if it is malformed. */
bool emu_jwt_parse(const char *token, struct emu_jwt *jwt);
bool emu_jwt_verify(const struct emu_jwt *jwt, EVP_PKEY *key);
void emu_jwt_free(struct emu_jwt *jwt);

/* Create a CA and a server certificate for 127.0.0.1 and localhost. When
 * ca_cert_path and ca_key_path are set, the CA is loaded from them. The
 * CA certificate is written to ca_out_path. Outputs are malloc'd PEM. */
bool emu_tls_setup(const char *ca_cert_path, const char *ca_key_path,
                   const char *ca_out_path, char **cert_pem, char **key_pem);

/* ---- http.c ---- */

/* Start a daemon for service on 127.0.0.1:port (0 picks a free port).
 * Returns NULL on failure; *bound receives the port. */
struct MHD_Daemon *emu_http_start(enum emu_service service, uint16_t port,
                                  const char *cert_pem, const char *key_pem,
                                  uint16_t *bound);
void emu_add_header(struct emu_request *req, const char *name,
                    const char *value);
const char *emu_header(struct emu_request *req, const char *name);
const char *emu_query(struct emu_request *req, const char *name);
/* Set status and a JSON body (takes ownership of body, may be NULL). */
void emu_reply_json(struct emu_request *req, int status, cJSON *body);
void emu_reply_empty(struct emu_request *req, int status);
const char *emu_service_name(enum emu_service service);

/* ---- store.c ---- */

/* Load the configuration and build the seed state. Call with the lock
 * not held; returns false with a logged error on invalid configuration. */
bool emu_store_init(const char *config_path);
/* Drop all state and rebuild it from the configuration. Lock held. */
void emu_store_reset(void);
/* Free all state and the configuration, at exit. */
void emu_store_free(void);
struct emu_app *emu_app_find(const char *key_kind, const char *key,
                             bool deleted);
struct emu_sp *emu_sp_find_id(const char *id, bool deleted);
struct emu_sp *emu_sp_find_app(const char *app_id, bool deleted);
/* Create records with Graph's defaults; a NULL id or appId is generated.
 * The record is appended to the state. */
struct emu_app *emu_app_create(const char *display_name, const char *id,
                               const char *app_id);
struct emu_sp *emu_sp_create(struct emu_app *app, const char *id);
struct emu_assignment *emu_assignment_add(const char *scope, const char *name,
                                          const char *role_guid,
                                          const char *principal_id,
                                          const char *principal_type,
                                          const char *created_by);
void emu_app_free(struct emu_app *app);
void emu_sp_free(struct emu_sp *sp);
/* True while an object created at created_ms is still replicating. */
bool emu_replicating(int64_t created_ms);
/* Add a password credential: its hash to secrets and its metadata to
 * metadata_list. secret_text NULL generates one. Returns the addPassword
 * response (with secretText), or NULL with *error set to a message. */
cJSON *emu_password_add(cJSON *secrets, cJSON *metadata_list,
                        const cJSON *request, const char *secret_text,
                        const char **error);
cJSON *emu_state_dump(void);
const cJSON *emu_role_definitions(void);
const cJSON *emu_role_definition_find(const char *guid);
const cJSON *emu_role_definition_by_name(const char *name);
bool emu_role_allows(const cJSON *def, const char *action);

/* ---- service handlers; called with the lock held ---- */

/* Set req->route to the route template of the request. Returns false for
 * an unknown route, for which the handler sends the service's error. */
bool emu_token_route(struct emu_request *req);
void emu_token_handle(struct emu_request *req);
bool emu_graph_route(struct emu_request *req);
void emu_graph_handle(struct emu_request *req);
bool emu_arm_route(struct emu_request *req);
void emu_arm_handle(struct emu_request *req);
void emu_admin_handle(struct emu_request *req);

/* Verify the bearer token of a Graph or ARM request. On failure it sets
 * the 401 response and returns NULL. The caller owns the returned claims. */
cJSON *emu_authenticate(struct emu_request *req, enum emu_service service);

/* Graph error body with innerError. */
void emu_graph_error(struct emu_request *req, int status, const char *code,
                     const char *message);
void emu_arm_error(struct emu_request *req, int status, const char *code,
                   const char *message);
void emu_token_error(struct emu_request *req, int status, const char *error,
                     int aadsts, const char *text);

/* ---- faults.c ---- */

/* Apply the fault rules that match req->route. Returns true when a status
 * or reset fault replaced the response. *delay_ms receives added latency. */
bool emu_faults_apply(struct emu_request *req, int *delay_ms);
/* Parse one rule; returns NULL with *error set. */
struct emu_fault *emu_fault_parse(const cJSON *json, const char **error);
void emu_fault_free(struct emu_fault *f);
void emu_faults_clear(void);
cJSON *emu_faults_dump(void);
bool emu_faults_load(const cJSON *config, const char **error);
void emu_call_record(struct emu_request *req);
cJSON *emu_calls_dump(uint64_t since);
void emu_calls_clear(void);

/* ---- filter.c: Graph $filter ---- */

struct emu_filter;
/* Parse a $filter expression. *advanced is set when the expression needs
 * ConsistencyLevel: eventual. Returns NULL with *error set. */
struct emu_filter *emu_filter_parse(const char *text, bool *advanced,
                                    char **error);
/* Return true when obj matches the filter. */
bool emu_filter_match(const struct emu_filter *filter, const cJSON *obj);
/* Return the first property not in allowed (NULL-terminated), or NULL. */
const char *emu_filter_check_props(const struct emu_filter *filter,
                                   const char *const *allowed);
void emu_filter_free(struct emu_filter *filter);

#endif
