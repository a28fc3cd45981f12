/*
 * A subset of the OData $filter language as Microsoft Graph applies it to
 * directory objects: eq, ne, in, startswith, endswith, not, and, or,
 * parentheses, and any() over string collections. String comparisons are
 * case-insensitive, as Graph compares directory strings.
 */
#include "emulator.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum node_kind {
    NODE_AND,
    NODE_OR,
    NODE_NOT,
    NODE_EQ,
    NODE_NE,
    NODE_IN,
    NODE_STARTSWITH,
    NODE_ENDSWITH,
    NODE_ANY_EQ,
    NODE_ANY_STARTSWITH,
};

#define MAX_VALUES 16

struct emu_filter {
    enum node_kind kind;
    struct emu_filter *left, *right;
    char *prop;
    char *values[MAX_VALUES]; /* NULL entry at [0] with is_null means null */
    int value_count;
    bool is_null;
    bool is_bool;
    bool bool_value;
};

struct parser {
    const char *p;
    bool *advanced;
    char *error;
};

static void skip_ws(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static void fail(struct parser *ps, const char *msg)
{
    if (!ps->error)
        ps->error = emu_printf("Invalid filter clause: %s", msg);
}

static char *read_ident(struct parser *ps)
{
    const char *start;

    skip_ws(ps);
    start = ps->p;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '/' ||
           *ps->p == '.' || *ps->p == '@')
        ps->p++;
    if (ps->p == start)
        return NULL;
    return strndup(start, (size_t)(ps->p - start));
}

static bool accept_char(struct parser *ps, char c)
{
    skip_ws(ps);
    if (*ps->p != c)
        return false;
    ps->p++;
    return true;
}

/* Accept a keyword followed by a non-identifier character. */
static bool accept_word(struct parser *ps, const char *word)
{
    size_t len = strlen(word);

    skip_ws(ps);
    if (strncasecmp(ps->p, word, len) != 0 ||
        isalnum((unsigned char)ps->p[len]) || ps->p[len] == '_')
        return false;
    ps->p += len;
    return true;
}

/* Read a literal: 'text' (with '' for a quote), null, true or false. */
static bool read_literal(struct parser *ps, struct emu_filter *node)
{
    char *out;
    size_t n = 0;

    skip_ws(ps);
    if (accept_word(ps, "null")) {
        node->is_null = true;
        return true;
    }
    if (accept_word(ps, "true") || accept_word(ps, "false")) {
        node->is_bool = true;
        node->bool_value = ps->p[-1] == 'e' && ps->p[-2] == 'u';
        return true;
    }
    if (*ps->p != '\'' || node->value_count >= MAX_VALUES) {
        fail(ps, "expected a quoted string literal");
        return false;
    }
    ps->p++;
    out = malloc(strlen(ps->p) + 1);
    if (!out)
        return false;
    for (;;) {
        if (*ps->p == '\0') {
            free(out);
            fail(ps, "unterminated string literal");
            return false;
        }
        if (*ps->p == '\'') {
            if (ps->p[1] != '\'')
                break;
            ps->p++;
        }
        out[n++] = *ps->p++;
    }
    ps->p++;
    out[n] = '\0';
    node->values[node->value_count++] = out;
    return true;
}

static struct emu_filter *new_node(enum node_kind kind)
{
    struct emu_filter *node = calloc(1, sizeof(*node));

    if (!node)
        abort();
    node->kind = kind;
    return node;
}

static struct emu_filter *parse_or(struct parser *ps);

/* any(t:t eq 'x') or any(t:startswith(t,'x')), after "prop/any". */
static struct emu_filter *parse_any(struct parser *ps, char *prop)
{
    struct emu_filter *node = new_node(NODE_ANY_EQ);
    char *var = NULL, *ref = NULL;

    node->prop = prop;
    if (!accept_char(ps, '(') || !(var = read_ident(ps)) ||
        !accept_char(ps, ':')) {
        fail(ps, "expected any(v:...)");
        goto bad;
    }
    if (accept_word(ps, "startswith")) {
        node->kind = NODE_ANY_STARTSWITH;
        if (!accept_char(ps, '(') || !(ref = read_ident(ps)) ||
            strcmp(ref, var) != 0 || !accept_char(ps, ',') ||
            !read_literal(ps, node) || !accept_char(ps, ')'))
            goto syntax;
    } else {
        if (!(ref = read_ident(ps)) || strcmp(ref, var) != 0)
            goto syntax;
        if (accept_word(ps, "ne")) {
            *ps->advanced = true;
            node->kind = NODE_ANY_EQ;
            node->bool_value = true; /* negate */
        } else if (!accept_word(ps, "eq")) {
            goto syntax;
        }
        if (!read_literal(ps, node))
            goto bad;
    }
    if (!accept_char(ps, ')'))
        goto syntax;
    free(var);
    free(ref);
    return node;
syntax:
    fail(ps, "unsupported lambda expression");
bad:
    free(var);
    free(ref);
    emu_filter_free(node);
    return NULL;
}

static struct emu_filter *parse_function(struct parser *ps, char *name)
{
    struct emu_filter *node;

    if (emu_strcaseeq(name, "startswith")) {
        node = new_node(NODE_STARTSWITH);
    } else if (emu_strcaseeq(name, "endswith")) {
        *ps->advanced = true;
        node = new_node(NODE_ENDSWITH);
    } else {
        fail(ps, "unsupported function");
        free(name);
        return NULL;
    }
    free(name);
    if (!accept_char(ps, '(') || !(node->prop = read_ident(ps)) ||
        !accept_char(ps, ',') || !read_literal(ps, node) ||
        !accept_char(ps, ')')) {
        fail(ps, "expected function(property,'value')");
        emu_filter_free(node);
        return NULL;
    }
    return node;
}

static struct emu_filter *parse_primary(struct parser *ps)
{
    struct emu_filter *node;
    char *ident;
    size_t len;

    if (accept_char(ps, '(')) {
        node = parse_or(ps);
        if (node && !accept_char(ps, ')')) {
            fail(ps, "missing ')'");
            emu_filter_free(node);
            return NULL;
        }
        return node;
    }
    if (accept_word(ps, "not")) {
        *ps->advanced = true;
        node = new_node(NODE_NOT);
        node->left = parse_primary(ps);
        if (!node->left) {
            emu_filter_free(node);
            return NULL;
        }
        return node;
    }
    ident = read_ident(ps);
    if (!ident) {
        fail(ps, "expected a property name");
        return NULL;
    }
    len = strlen(ident);
    if (len > 4 && strcasecmp(ident + len - 4, "/any") == 0) {
        ident[len - 4] = '\0';
        return parse_any(ps, ident);
    }
    skip_ws(ps);
    if (*ps->p == '(')
        return parse_function(ps, ident);
    node = new_node(NODE_EQ);
    node->prop = ident;
    if (accept_word(ps, "eq")) {
        node->kind = NODE_EQ;
    } else if (accept_word(ps, "ne")) {
        *ps->advanced = true;
        node->kind = NODE_NE;
    } else if (accept_word(ps, "in")) {
        node->kind = NODE_IN;
        if (!accept_char(ps, '('))
            goto syntax;
        do {
            if (!read_literal(ps, node))
                goto bad;
        } while (accept_char(ps, ','));
        if (!accept_char(ps, ')'))
            goto syntax;
        return node;
    } else {
        goto syntax;
    }
    if (!read_literal(ps, node))
        goto bad;
    return node;
syntax:
    fail(ps, "expected eq, ne or in after the property name");
bad:
    emu_filter_free(node);
    return NULL;
}

static struct emu_filter *parse_and(struct parser *ps)
{
    struct emu_filter *left = parse_primary(ps);

    while (left && accept_word(ps, "and")) {
        struct emu_filter *node = new_node(NODE_AND);

        node->left = left;
        node->right = parse_primary(ps);
        left = node;
        if (!node->right) {
            emu_filter_free(node);
            return NULL;
        }
    }
    return left;
}

static struct emu_filter *parse_or(struct parser *ps)
{
    struct emu_filter *left = parse_and(ps);

    while (left && accept_word(ps, "or")) {
        struct emu_filter *node = new_node(NODE_OR);

        node->left = left;
        node->right = parse_and(ps);
        left = node;
        if (!node->right) {
            emu_filter_free(node);
            return NULL;
        }
    }
    return left;
}

struct emu_filter *emu_filter_parse(const char *text, bool *advanced,
                                    char **error)
{
    struct parser ps = {text, advanced, NULL};
    struct emu_filter *filter;

    *advanced = false;
    filter = parse_or(&ps);
    skip_ws(&ps);
    if (filter && *ps.p != '\0') {
        fail(&ps, "unexpected text after the expression");
        emu_filter_free(filter);
        filter = NULL;
    }
    if (!filter && !ps.error)
        fail(&ps, "syntax error");
    *error = filter ? NULL : ps.error;
    if (filter)
        free(ps.error);
    return filter;
}

static bool str_prefix(const char *text, const char *prefix)
{
    return strncasecmp(text, prefix, strlen(prefix)) == 0;
}

static bool str_suffix(const char *text, const char *suffix)
{
    size_t a = strlen(text), b = strlen(suffix);

    return a >= b && strcasecmp(text + a - b, suffix) == 0;
}

static bool compare_eq(const struct emu_filter *f, const cJSON *value)
{
    if (f->is_null)
        return !value || cJSON_IsNull(value);
    if (f->is_bool)
        return cJSON_IsBool(value) && cJSON_IsTrue(value) == f->bool_value;
    return cJSON_IsString(value) &&
           emu_strcaseeq(value->valuestring, f->values[0]);
}

bool emu_filter_match(const struct emu_filter *f, const cJSON *obj)
{
    const cJSON *value = f->prop ? cJSON_GetObjectItem(obj, f->prop) : NULL;
    const cJSON *item;
    int i;

    switch (f->kind) {
    case NODE_AND:
        return emu_filter_match(f->left, obj) &&
               emu_filter_match(f->right, obj);
    case NODE_OR:
        return emu_filter_match(f->left, obj) ||
               emu_filter_match(f->right, obj);
    case NODE_NOT:
        return !emu_filter_match(f->left, obj);
    case NODE_EQ:
        return compare_eq(f, value);
    case NODE_NE:
        return !compare_eq(f, value);
    case NODE_IN:
        for (i = 0; i < f->value_count; i++) {
            if (cJSON_IsString(value) &&
                emu_strcaseeq(value->valuestring, f->values[i]))
                return true;
        }
        return false;
    case NODE_STARTSWITH:
        return cJSON_IsString(value) &&
               str_prefix(value->valuestring, f->values[0]);
    case NODE_ENDSWITH:
        return cJSON_IsString(value) &&
               str_suffix(value->valuestring, f->values[0]);
    case NODE_ANY_EQ:
    case NODE_ANY_STARTSWITH:
        cJSON_ArrayForEach(item, value)
        {
            bool hit;

            if (!cJSON_IsString(item) || f->value_count == 0)
                continue;
            hit = f->kind == NODE_ANY_EQ
                      ? emu_strcaseeq(item->valuestring, f->values[0])
                      : str_prefix(item->valuestring, f->values[0]);
            if (hit != (f->kind == NODE_ANY_EQ && f->bool_value))
                return true;
        }
        return false;
    }
    return false;
}

const char *emu_filter_check_props(const struct emu_filter *f,
                                   const char *const *allowed)
{
    const char *bad;
    size_t i;

    if (!f)
        return NULL;
    if (f->prop) {
        for (i = 0; allowed[i]; i++) {
            if (emu_strcaseeq(allowed[i], f->prop))
                break;
        }
        if (!allowed[i])
            return f->prop;
    }
    bad = emu_filter_check_props(f->left, allowed);
    return bad ? bad : emu_filter_check_props(f->right, allowed);
}

void emu_filter_free(struct emu_filter *f)
{
    int i;

    if (!f)
        return;
    emu_filter_free(f->left);
    emu_filter_free(f->right);
    free(f->prop);
    for (i = 0; i < f->value_count; i++)
        free(f->values[i]);
    free(f);
}
