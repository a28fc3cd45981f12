#include "azidt/naming.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

azidt_err azidt_naming_unique_name(const char *cluster_id,
                                   const char *namespace_, const char *name,
                                   char out[AZIDT_UNIQUE_NAME_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = NULL;
    azidt_err err = AZIDT_ERR_INTERNAL;

    out[0] = '\0';
    if (!cluster_id || !*cluster_id || !namespace_ || !*namespace_ || !name ||
        !*name)
        return AZIDT_ERR_INVALID;

    md = EVP_MD_CTX_new();
    if (!md)
        return AZIDT_ERR_NOMEM;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, cluster_id, strlen(cluster_id)) != 1 ||
        EVP_DigestUpdate(md, "/", 1) != 1 ||
        EVP_DigestUpdate(md, namespace_, strlen(namespace_)) != 1 ||
        EVP_DigestUpdate(md, "/", 1) != 1 ||
        EVP_DigestUpdate(md, name, strlen(name)) != 1 ||
        EVP_DigestFinal_ex(md, digest, &digest_len) != 1)
        goto out;

    memcpy(out, "azidt-", 6);
    for (int i = 0; i < 16; i++)
        snprintf(out + 6 + 2 * i, 3, "%02x", digest[i]);
    err = AZIDT_OK;
out:
    EVP_MD_CTX_free(md);
    return err;
}

azidt_err azidt_naming_tag(const char *prefix, const char *value, char *out,
                           size_t size)
{
    int n = snprintf(out, size, "%s%s", prefix, value);

    if (n < 0 || (size_t)n >= size)
        return AZIDT_ERR_INVALID;
    return AZIDT_OK;
}

azidt_err azidt_naming_object_key(const char *namespace_, const char *name,
                                  char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", namespace_, name);

    if (n < 0 || (size_t)n >= size)
        return AZIDT_ERR_INVALID;
    return AZIDT_OK;
}
