#include "azidt/error.h"

static const char *const error_texts[] = {
#define AZIDT_ERROR_TEXT(name, text) text,
    AZIDT_ERROR_LIST(AZIDT_ERROR_TEXT)
#undef AZIDT_ERROR_TEXT
};

static const char *const error_names[] = {
#define AZIDT_ERROR_NAME(name, text) #name,
    AZIDT_ERROR_LIST(AZIDT_ERROR_NAME)
#undef AZIDT_ERROR_NAME
};

const char *azidt_strerror(azidt_err err)
{
    if (err < 0 || err >= AZIDT_ERR_LAST)
        return "unknown error";
    return error_texts[err];
}

const char *azidt_err_name(azidt_err err)
{
    if (err < 0 || err >= AZIDT_ERR_LAST)
        return "AZIDT_ERR_UNKNOWN";
    return error_names[err];
}
