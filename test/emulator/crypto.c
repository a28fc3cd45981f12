/* Keys, the test CA, and RS256 JWTs (issued tokens and client
 * assertions). */
#include "emulator.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/log.h"

EVP_PKEY *emu_rsa_generate(int bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static char *bn_to_b64url(const BIGNUM *bn)
{
    int len = BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len + 1);
    char *out;

    if (!buf)
        return NULL;
    BN_bn2bin(bn, buf);
    out = emu_b64url_encode(buf, (size_t)len);
    free(buf);
    return out;
}

cJSON *emu_jwk_from_pkey(EVP_PKEY *key, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    char *n64 = NULL, *e64 = NULL;
    cJSON *jwk = NULL;

    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e))
        goto out;
    n64 = bn_to_b64url(n);
    e64 = bn_to_b64url(e);
    if (!n64 || !e64)
        goto out;
    jwk = cJSON_CreateObject();
    cJSON_AddStringToObject(jwk, "kty", "RSA");
    cJSON_AddStringToObject(jwk, "use", "sig");
    cJSON_AddStringToObject(jwk, "alg", "RS256");
    cJSON_AddStringToObject(jwk, "kid", kid);
    cJSON_AddStringToObject(jwk, "n", n64);
    cJSON_AddStringToObject(jwk, "e", e64);
out:
    BN_free(n);
    BN_free(e);
    free(n64);
    free(e64);
    return jwk;
}

static BIGNUM *b64url_to_bn(const char *text)
{
    size_t len = 0;
    unsigned char *raw = emu_b64url_decode(text, strlen(text), &len);
    BIGNUM *bn;

    if (!raw)
        return NULL;
    bn = BN_bin2bn(raw, (int)len, NULL);
    free(raw);
    return bn;
}

EVP_PKEY *emu_pkey_from_jwk(const cJSON *jwk)
{
    const char *n64 = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "n"));
    const char *e64 = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "e"));
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (!n64 || !e64)
        return NULL;
    n = b64url_to_bn(n64);
    e = b64url_to_bn(e64);
    bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld, "n", n) ||
        !OSSL_PARAM_BLD_push_BN(bld, "e", e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
out:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static char *b64url_json(const cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    char *out;

    if (!text)
        return NULL;
    out = emu_b64url_encode((unsigned char *)text, strlen(text));
    free(text);
    return out;
}

char *emu_jwt_sign(EVP_PKEY *key, const char *kid, const cJSON *claims)
{
    cJSON *header = cJSON_CreateObject();
    char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL, *jwt = NULL;
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    cJSON_AddStringToObject(header, "typ", "JWT");
    cJSON_AddStringToObject(header, "alg", "RS256");
    if (kid)
        cJSON_AddStringToObject(header, "kid", kid);
    h64 = b64url_json(header);
    c64 = b64url_json(claims);
    if (!md || !h64 || !c64)
        goto out;
    input = emu_printf("%s.%s", h64, c64);
    if (!input || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) <= 0 ||
        EVP_DigestSign(md, sig, &sig_len, (unsigned char *)input,
                       strlen(input)) <= 0)
        goto out;
    s64 = emu_b64url_encode(sig, sig_len);
    if (s64)
        jwt = emu_printf("%s.%s", input, s64);
out:
    cJSON_Delete(header);
    EVP_MD_CTX_free(md);
    free(h64);
    free(c64);
    free(input);
    free(s64);
    return jwt;
}

static cJSON *decode_json_part(const char *text, size_t len)
{
    size_t raw_len = 0;
    unsigned char *raw = emu_b64url_decode(text, len, &raw_len);
    cJSON *json;

    if (!raw)
        return NULL;
    json = cJSON_ParseWithLength((char *)raw, raw_len);
    free(raw);
    if (json && !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        json = NULL;
    }
    return json;
}

bool emu_jwt_parse(const char *token, struct emu_jwt *jwt)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    const char *sig = dot2 ? dot2 + 1 : NULL;

    memset(jwt, 0, sizeof(*jwt));
    if (!dot2 || strchr(sig, '.'))
        return false;
    jwt->header = decode_json_part(token, (size_t)(dot1 - token));
    jwt->claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    jwt->signing_input = strndup(token, (size_t)(dot2 - token));
    jwt->signature = emu_b64url_decode(sig, strlen(sig), &jwt->signature_len);
    if (!jwt->header || !jwt->claims || !jwt->signing_input ||
        !jwt->signature) {
        emu_jwt_free(jwt);
        return false;
    }
    return true;
}

bool emu_jwt_verify(const struct emu_jwt *jwt, EVP_PKEY *key)
{
    const char *alg =
        cJSON_GetStringValue(cJSON_GetObjectItem(jwt->header, "alg"));
    EVP_MD_CTX *md;
    bool ok;

    /* Entra accepts only RS256 for client assertions, and it is the only
     * algorithm of the tokens the emulator issues. */
    if (!alg || strcmp(alg, "RS256") != 0 || !key)
        return false;
    md = EVP_MD_CTX_new();
    ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) > 0 &&
         EVP_DigestVerify(md, jwt->signature, jwt->signature_len,
                          (unsigned char *)jwt->signing_input,
                          strlen(jwt->signing_input)) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

void emu_jwt_free(struct emu_jwt *jwt)
{
    cJSON_Delete(jwt->header);
    cJSON_Delete(jwt->claims);
    free(jwt->signing_input);
    free(jwt->signature);
    memset(jwt, 0, sizeof(*jwt));
}

/* ---- certificates ---- */

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, bool ca)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn;

    if (!cert)
        return NULL;
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_set_version(cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
    X509_set_pubkey(cert, key);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    if (ca) {
        add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(cert, cert, NID_subject_key_identifier, "hash");
    } else {
        add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert, issuer, NID_key_usage,
                "critical,digitalSignature,keyEncipherment");
        add_ext(cert, issuer, NID_ext_key_usage, "serverAuth");
        add_ext(cert, issuer, NID_subject_alt_name,
                "IP:127.0.0.1,IP:::1,DNS:localhost");
        add_ext(cert, issuer, NID_authority_key_identifier, "keyid");
    }
    if (X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static char *bio_string(BIO *bio)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);

    return len > 0 ? strndup(data, (size_t)len) : NULL;
}

static bool load_ca(const char *cert_path, const char *key_path, X509 **ca,
                    EVP_PKEY **ca_key)
{
    FILE *f = fopen(cert_path, "r");

    if (!f)
        return false;
    *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    f = fopen(key_path, "r");
    if (!f)
        return false;
    *ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return *ca && *ca_key;
}

bool emu_tls_setup(const char *ca_cert_path, const char *ca_key_path,
                   const char *ca_out_path, char **cert_pem, char **key_pem)
{
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    BIO *bio = NULL;
    FILE *out = NULL;
    bool ok = false;

    if (ca_cert_path && ca_key_path) {
        if (!load_ca(ca_cert_path, ca_key_path, &ca, &ca_key)) {
            AZIDT_LOG_ERROR("failed to load the CA certificate or key", "cert",
                            ca_cert_path, "key", ca_key_path);
            goto out;
        }
    } else {
        ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        ca = ca_key
                 ? make_cert(ca_key, "azidt emulator test CA", NULL, NULL, true)
                 : NULL;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cert = key && ca ? make_cert(key, "127.0.0.1", ca, ca_key, false) : NULL;
    if (!cert)
        goto out;

    out = fopen(ca_out_path, "w");
    if (!out || PEM_write_X509(out, ca) != 1) {
        AZIDT_LOG_ERROR("failed to write the CA certificate", "path",
                        ca_out_path);
        goto out;
    }

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    *cert_pem = bio_string(bio);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    *key_pem = bio_string(bio);
    ok = *cert_pem && *key_pem;
out:
    if (out)
        fclose(out);
    BIO_free(bio);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return ok;
}
