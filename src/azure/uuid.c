#include "azidt/uuid.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

azidt_err azidt_uuid_parse(const char *text, unsigned char out[16])
{
    size_t byte = 0;

    if (strlen(text) != 36)
        return AZIDT_ERR_INVALID;
    for (size_t i = 0; i < 36;) {
        int hi, lo;

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return AZIDT_ERR_INVALID;
            i++;
            continue;
        }
        hi = hex_value(text[i]);
        lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return AZIDT_ERR_INVALID;
        out[byte++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return AZIDT_OK;
}

void azidt_uuid_v5(const unsigned char ns[16], const void *name, size_t len,
                   char out[AZIDT_UUID_TEXT_LEN])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *u = digest;

    memset(digest, 0, sizeof(digest));
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, ns, 16) == 1 &&
        EVP_DigestUpdate(ctx, name, len) == 1)
        EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);

    /* Version 5 in the high nibble of byte 6, variant 10 in byte 8. */
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x50);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, AZIDT_UUID_TEXT_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
}
