/*
 * Helpers shared by the admission unit tests: a small JSONPatch applier,
 * base64 decoding, path setters and a YAML loader for the example
 * manifests. Everything is static inline so that each test program uses
 * only what it needs.
 */
#ifndef AZIDT_TEST_TESTUTIL_H
#define AZIDT_TEST_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <yaml.h>

/* Decode base64 text into a new NUL-terminated string, or NULL. */
static inline char *test_base64_decode(const char *text)
{
    size_t len = strlen(text);
    unsigned char *out = malloc(len + 1);
    int n;

    if (!out)
        return NULL;
    n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
    while (len > 0 && text[len - 1] == '=') {
        n--;
        len--;
    }
    out[n] = '\0';
    return (char *)out;
}

/* Undo RFC 6901 escaping of one reference token in place. */
static inline void test_unescape_token(char *token)
{
    char *w = token;

    for (char *r = token; *r; r++) {
        if (r[0] == '~' && r[1] == '1') {
            *w++ = '/';
            r++;
        } else if (r[0] == '~' && r[1] == '0') {
            *w++ = '~';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Apply one add/replace/remove operation to doc; returns false when the
 * operation does not apply (a missing parent, or replace/remove of a
 * missing member), as a conforming JSONPatch implementation would. */
static inline bool test_patch_apply_op(cJSON *doc, const cJSON *op)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(op, "op"));
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(op, "path"));
    const cJSON *value = cJSON_GetObjectItem(op, "value");
    char buf[512], *token, *next;
    cJSON *parent = doc;

    if (!kind || !path || path[0] != '/' || strlen(path) >= sizeof(buf))
        return false;
    strcpy(buf, path + 1);
    token = buf;
    while ((next = strchr(token, '/')) != NULL) {
        *next = '\0';
        test_unescape_token(token);
        parent = cJSON_GetObjectItemCaseSensitive(parent, token);
        if (!parent)
            return false;
        token = next + 1;
    }
    test_unescape_token(token);
    if (strcmp(kind, "remove") == 0) {
        cJSON *gone = cJSON_DetachItemFromObjectCaseSensitive(parent, token);

        cJSON_Delete(gone);
        return gone != NULL;
    }
    if (!value)
        return false;
    if (cJSON_IsArray(parent) && strcmp(token, "-") == 0 &&
        strcmp(kind, "add") == 0)
        return cJSON_AddItemToArray(parent, cJSON_Duplicate(value, true));
    if (!cJSON_IsObject(parent))
        return false;
    if (strcmp(kind, "replace") == 0 &&
        !cJSON_GetObjectItemCaseSensitive(parent, token))
        return false;
    cJSON_DeleteItemFromObjectCaseSensitive(parent, token);
    return cJSON_AddItemToObject(parent, token, cJSON_Duplicate(value, true));
}

/* Apply every operation of patch to doc. */
static inline bool test_patch_apply(cJSON *doc, const cJSON *patch)
{
    const cJSON *op;

    cJSON_ArrayForEach(op, patch)
    {
        if (!test_patch_apply_op(doc, op))
            return false;
    }
    return true;
}

/* Set the member at a dotted path ("spec.servicePrincipal.tags") to value,
 * creating objects on the way; value NULL removes the member. Takes
 * ownership of value. */
static inline void test_set_path(cJSON *doc, const char *path, cJSON *value)
{
    char buf[256], *token = buf, *dot;
    cJSON *node = doc;

    snprintf(buf, sizeof(buf), "%s", path);
    while ((dot = strchr(token, '.')) != NULL) {
        cJSON *child;

        *dot = '\0';
        child = cJSON_GetObjectItemCaseSensitive(node, token);
        if (!cJSON_IsObject(child)) {
            cJSON_DeleteItemFromObjectCaseSensitive(node, token);
            child = cJSON_AddObjectToObject(node, token);
        }
        node = child;
        token = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(node, token);
    if (value)
        cJSON_AddItemToObject(node, token, value);
}

static inline cJSON *test_yaml_node(yaml_document_t *doc, yaml_node_t *node)
{
    cJSON *out = NULL;

    switch (node->type) {
    case YAML_SCALAR_NODE:
        return cJSON_CreateString((const char *)node->data.scalar.value);
    case YAML_SEQUENCE_NODE:
        out = cJSON_CreateArray();
        for (yaml_node_item_t *item = node->data.sequence.items.start;
             item < node->data.sequence.items.top; item++)
            cJSON_AddItemToArray(
                out, test_yaml_node(doc, yaml_document_get_node(doc, *item)));
        return out;
    case YAML_MAPPING_NODE:
        out = cJSON_CreateObject();
        for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
             pair < node->data.mapping.pairs.top; pair++) {
            yaml_node_t *key = yaml_document_get_node(doc, pair->key);

            cJSON_AddItemToObject(
                out, (const char *)key->data.scalar.value,
                test_yaml_node(doc, yaml_document_get_node(doc, pair->value)));
        }
        return out;
    default:
        return cJSON_CreateNull();
    }
}

/* Load the first document of a YAML file as JSON. Every scalar becomes a
 * string, which holds for the example manifests. Returns NULL on error. */
static inline cJSON *test_load_yaml(const char *path)
{
    FILE *file = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    cJSON *out = NULL;

    if (!file)
        return NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    if (yaml_parser_load(&parser, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);

        if (root)
            out = test_yaml_node(&doc, root);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(file);
    return out;
}

/* Path of a file in the source tree; meson sets AZIDT_SOURCE_ROOT. */
static inline const char *test_source_path(const char *relative)
{
    static char buf[1024];
    const char *root = getenv("AZIDT_SOURCE_ROOT");

    snprintf(buf, sizeof(buf), "%s/%s", root ? root : ".", relative);
    return buf;
}

#endif
