/*
 * JSON Patch (RFC 6902) documents for admission responses.
 *
 * A patch is a cJSON array owned by the caller (azidt_jsonpatch_new(),
 * freed with cJSON_Delete()). Paths are JSON Pointers (RFC 6901): build
 * them with azidt_jsonpatch_pointer(), which escapes '~' as "~0" and '/'
 * as "~1", so a label key such as azidterminator.io/identity becomes the
 * single token "azidterminator.io~1identity".
 */
#ifndef AZIDT_JSONPATCH_H
#define AZIDT_JSONPATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "azidt/error.h"

/* Return a new empty patch, or NULL when out of memory. */
cJSON *azidt_jsonpatch_new(void);

/*
 * Append {"op":"add"|"replace","path":path,"value":value}. The operation
 * takes ownership of value in every case, also on failure. Returns
 * AZIDT_ERR_INVALID when patch, path or value is NULL, AZIDT_ERR_NOMEM
 * when out of memory.
 */
azidt_err azidt_jsonpatch_add(cJSON *patch, const char *path, cJSON *value);
azidt_err azidt_jsonpatch_replace(cJSON *patch, const char *path, cJSON *value);

/* Append {"op":"remove","path":path}. */
azidt_err azidt_jsonpatch_remove(cJSON *patch, const char *path);

/*
 * Write the JSON Pointer made of the count reference tokens into buf,
 * escaping each token. An empty list gives "" (the whole document).
 * Returns AZIDT_ERR_INVALID when the pointer does not fit in buflen bytes
 * (buf then contains ""), AZIDT_OK otherwise.
 */
azidt_err azidt_jsonpatch_pointer(char *buf, size_t buflen,
                                  const char *const *tokens, size_t count);

#endif
