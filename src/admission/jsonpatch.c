#include "azidt/jsonpatch.h"

#include <stdbool.h>
#include <string.h>

cJSON *azidt_jsonpatch_new(void)
{
    return cJSON_CreateArray();
}

static azidt_err append_op(cJSON *patch, const char *op, const char *path,
                           cJSON *value, bool has_value)
{
    cJSON *entry = NULL;

    if (!patch || !path || (has_value && !value)) {
        cJSON_Delete(value);
        return AZIDT_ERR_INVALID;
    }
    entry = cJSON_CreateObject();
    if (!entry || !cJSON_AddStringToObject(entry, "op", op) ||
        !cJSON_AddStringToObject(entry, "path", path)) {
        cJSON_Delete(entry);
        cJSON_Delete(value);
        return AZIDT_ERR_NOMEM;
    }
    if (has_value && !cJSON_AddItemToObject(entry, "value", value)) {
        cJSON_Delete(entry);
        cJSON_Delete(value);
        return AZIDT_ERR_NOMEM;
    }
    if (!cJSON_AddItemToArray(patch, entry)) {
        cJSON_Delete(entry);
        return AZIDT_ERR_NOMEM;
    }
    return AZIDT_OK;
}

azidt_err azidt_jsonpatch_add(cJSON *patch, const char *path, cJSON *value)
{
    return append_op(patch, "add", path, value, true);
}

azidt_err azidt_jsonpatch_replace(cJSON *patch, const char *path, cJSON *value)
{
    return append_op(patch, "replace", path, value, true);
}

azidt_err azidt_jsonpatch_remove(cJSON *patch, const char *path)
{
    return append_op(patch, "remove", path, NULL, false);
}

azidt_err azidt_jsonpatch_pointer(char *buf, size_t buflen,
                                  const char *const *tokens, size_t count)
{
    size_t len = 0;

    if (!buf || buflen == 0)
        return AZIDT_ERR_INVALID;
    for (size_t i = 0; i < count; i++) {
        const char *token = tokens[i] ? tokens[i] : "";

        if (len + 1 >= buflen)
            goto too_long;
        buf[len++] = '/';
        for (const char *c = token; *c; c++) {
            const char *text = NULL;
            size_t n;

            if (*c == '~')
                text = "~0";
            else if (*c == '/')
                text = "~1";
            n = text ? 2 : 1;

            if (len + n >= buflen)
                goto too_long;
            if (text)
                memcpy(buf + len, text, n);
            else
                buf[len] = *c;
            len += n;
        }
    }
    buf[len] = '\0';
    return AZIDT_OK;

too_long:
    buf[0] = '\0';
    return AZIDT_ERR_INVALID;
}
