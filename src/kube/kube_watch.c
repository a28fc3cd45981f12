#include "azidt/kube_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azidt/clock.h"
#include "azidt/log.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define TIMEOUT_SECONDS_DEFAULT 300
/* Budget for listing the whole collection, all pages together. */
#define LIST_BUDGET_MS 60000
/* Extra silence tolerated beyond timeoutSeconds before the connection is
 * considered dead. Bookmarks arrive about once a minute. */
#define IDLE_MARGIN_MS 90000

const char *azidt_kube_event_type_name(enum azidt_kube_event_type type)
{
    switch (type) {
    case AZIDT_KUBE_ADDED:
        return "ADDED";
    case AZIDT_KUBE_MODIFIED:
        return "MODIFIED";
    case AZIDT_KUBE_DELETED:
        return "DELETED";
    }
    return "UNKNOWN";
}

/* --- Newline-delimited JSON splitting ---------------------------------- */

void azidt_ndjson_init(struct azidt_ndjson *s, size_t max_line)
{
    memset(s, 0, sizeof(*s));
    s->max_line = max_line;
}

void azidt_ndjson_reset(struct azidt_ndjson *s)
{
    s->len = 0;
    s->overflow = false;
}

void azidt_ndjson_free(struct azidt_ndjson *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

static bool reserve(struct azidt_ndjson *s, size_t need)
{
    size_t ncap;
    char *nbuf;

    if (need <= s->cap)
        return true;
    ncap = s->cap ? s->cap : 4096;
    while (ncap < need)
        ncap *= 2;
    nbuf = realloc(s->buf, ncap);
    if (!nbuf)
        return false;
    s->buf = nbuf;
    s->cap = ncap;
    return true;
}

static bool emit_line(char *line, size_t len, azidt_ndjson_line_cb cb,
                      void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (len == 0)
        return true;
    return cb(line, len, ctx);
}

azidt_err azidt_ndjson_feed(struct azidt_ndjson *s, const char *data,
                            size_t len, azidt_ndjson_line_cb line_cb, void *ctx)
{
    while (len > 0) {
        const char *nl;
        size_t take;

        if (s->overflow)
            return AZIDT_ERR_INVALID;
        nl = memchr(data, '\n', len);
        take = nl ? (size_t)(nl - data) : len;
        if (s->len + take > s->max_line) {
            s->overflow = true;
            return AZIDT_ERR_INVALID;
        }
        if (!nl || s->len > 0) {
            /* Keep the partial line, or join it with the rest. */
            if (!reserve(s, s->len + take + 1))
                return AZIDT_ERR_NOMEM;
            memcpy(s->buf + s->len, data, take);
            s->len += take;
            if (nl) {
                size_t line_len = s->len;

                s->len = 0;
                if (!emit_line(s->buf, line_len, line_cb, ctx))
                    return AZIDT_ERR_INTERNAL;
            }
        } else {
            /* A whole line inside the chunk: copy only to NUL-terminate. */
            if (!reserve(s, take + 1))
                return AZIDT_ERR_NOMEM;
            memcpy(s->buf, data, take);
            if (!emit_line(s->buf, take, line_cb, ctx))
                return AZIDT_ERR_INTERNAL;
        }
        if (!nl)
            break;
        data += take + 1;
        len -= take + 1;
    }
    return AZIDT_OK;
}

/* --- Watch ------------------------------------------------------------- */

struct azidt_kube_watch {
    struct azidt_kube_client *client;
    struct azidt_kube_resource resource;
    char *group;
    char *version;
    char *plural;
    char *namespace;
    char *label_selector;
    char *field_selector;
    long timeout_seconds;
    long list_limit;
    struct azidt_kube_watch_handlers h;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stopping;
    atomic_bool synced;
    atomic_ulong lists;
    atomic_ulong watches;

    /* Owned by the watch thread. */
    char *rv;
    struct azidt_ndjson lines;
    /* Outcome of the current watch stream. */
    bool gone;
    bool stream_error;
    unsigned long events_seen;
};

static bool set_rv(struct azidt_kube_watch *w, const char *rv)
{
    char *copy;

    if (!rv || !*rv)
        return true;
    copy = strdup(rv);
    if (!copy)
        return false;
    free(w->rv);
    w->rv = copy;
    return true;
}

static const char *object_rv(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

    return cJSON_IsString(rv) ? rv->valuestring : NULL;
}

/* Sleep up to ms, waking early on stop. */
static void wait_ms(struct azidt_kube_watch *w, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->stopping) &&
           pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w->lock);
}

static const char *scope(const struct azidt_kube_watch *w)
{
    return w->namespace ? w->namespace : "(all namespaces)";
}

static azidt_err do_list(struct azidt_kube_watch *w)
{
    struct azidt_kube_query q = {.label_selector = w->label_selector,
                                 .field_selector = w->field_selector,
                                 .limit = w->list_limit};
    struct azidt_kube_response resp = {0};
    const cJSON *items;
    const char *rv;
    azidt_err rc;

    rc = azidt_kube_list_all(w->client, &w->resource, w->namespace, &q,
                             azidt_deadline_in(LIST_BUDGET_MS), &resp);
    if (rc) {
        AZIDT_LOG_WARN("kubernetes list failed; retrying with backoff",
                       "resource", w->plural, "namespace", scope(w), "error",
                       azidt_err_name(rc), "detail", resp.message);
        goto out;
    }
    items = cJSON_GetObjectItemCaseSensitive(resp.body, "items");
    rv = object_rv(resp.body);
    if (!rv || !*rv) {
        AZIDT_LOG_WARN("kubernetes list has no resourceVersion; retrying",
                       "resource", w->plural, "namespace", scope(w));
        rc = AZIDT_ERR_REMOTE;
        goto out;
    }
    if (!set_rv(w, rv)) {
        rc = AZIDT_ERR_NOMEM;
        goto out;
    }
    if (w->h.list_cb) {
        w->h.list_cb(items, rv, w->h.ctx);
    } else if (w->h.event_cb) {
        const cJSON *item;

        cJSON_ArrayForEach(item, items)
        {
            w->h.event_cb(AZIDT_KUBE_ADDED, item, w->h.ctx);
        }
    }
    atomic_fetch_add(&w->lists, 1);
out:
    azidt_kube_response_clear(&resp);
    return rc;
}

static bool handle_error_event(struct azidt_kube_watch *w, const cJSON *status)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(status, "message");

    if (cJSON_IsNumber(code) && code->valueint == 410) {
        w->gone = true;
        AZIDT_LOG_INFO("kubernetes watch resourceVersion expired; listing "
                       "again",
                       "resource", w->plural, "namespace", scope(w));
    } else {
        w->stream_error = true;
        AZIDT_LOG_WARN("kubernetes watch sent an error event; reconnecting",
                       "resource", w->plural, "namespace", scope(w), "detail",
                       cJSON_IsString(msg) ? msg->valuestring : NULL);
    }
    return false;
}

static bool line_cb(char *line, size_t len, void *ctx)
{
    struct azidt_kube_watch *w = ctx;
    cJSON *event = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(event, "object");
    const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
    bool keep_going = true;

    if (!t || !cJSON_IsObject(obj)) {
        AZIDT_LOG_WARN("kubernetes watch sent an unreadable event; "
                       "reconnecting",
                       "resource", w->plural, "namespace", scope(w));
        w->stream_error = true;
        keep_going = false;
    } else if (strcmp(t, "ERROR") == 0) {
        keep_going = handle_error_event(w, obj);
    } else if (!set_rv(w, object_rv(obj))) {
        w->stream_error = true;
        keep_going = false;
    } else if (strcmp(t, "BOOKMARK") == 0) {
        /* Only the resourceVersion matters. */
    } else {
        enum azidt_kube_event_type et;

        if (strcmp(t, "ADDED") == 0)
            et = AZIDT_KUBE_ADDED;
        else if (strcmp(t, "MODIFIED") == 0)
            et = AZIDT_KUBE_MODIFIED;
        else if (strcmp(t, "DELETED") == 0)
            et = AZIDT_KUBE_DELETED;
        else
            goto out;
        w->events_seen++;
        if (w->h.event_cb)
            w->h.event_cb(et, obj, w->h.ctx);
    }
out:
    cJSON_Delete(event);
    return keep_going;
}

static bool data_cb(const char *data, size_t len, void *ctx)
{
    struct azidt_kube_watch *w = ctx;
    azidt_err rc = azidt_ndjson_feed(&w->lines, data, len, line_cb, w);

    if (rc == AZIDT_ERR_INVALID)
        AZIDT_LOG_WARN("kubernetes watch event exceeds the line limit; "
                       "reconnecting",
                       "resource", w->plural, "namespace", scope(w));
    if (rc && rc != AZIDT_ERR_INTERNAL)
        w->stream_error = true;
    return rc == AZIDT_OK;
}

static bool stop_cb(void *ctx)
{
    struct azidt_kube_watch *w = ctx;

    return atomic_load(&w->stopping);
}

/* Run one watch request from w->rv until the server ends it. */
static azidt_err do_watch(struct azidt_kube_watch *w)
{
    struct azidt_kube_query q = {.label_selector = w->label_selector,
                                 .field_selector = w->field_selector,
                                 .resource_version = w->rv,
                                 .watch = true,
                                 .allow_watch_bookmarks = true,
                                 .timeout_seconds = w->timeout_seconds};
    struct azidt_kube_response resp = {0};
    char *path = NULL;
    azidt_err rc;

    w->gone = false;
    w->stream_error = false;
    azidt_ndjson_reset(&w->lines);
    rc = azidt_kube_build_path(&w->resource, w->namespace, NULL, NULL, &q,
                               &path);
    if (rc)
        return rc;
    atomic_fetch_add(&w->watches, 1);
    rc = azidt_kube_stream(w->client, path, data_cb, stop_cb, w,
                           w->timeout_seconds * 1000 + IDLE_MARGIN_MS, &resp);
    if (w->gone || rc == AZIDT_ERR_GONE) {
        rc = AZIDT_ERR_GONE;
    } else if (w->stream_error && !rc) {
        rc = AZIDT_ERR_REMOTE;
    } else if (rc && !atomic_load(&w->stopping) && !w->stream_error) {
        AZIDT_LOG_WARN("kubernetes watch failed; resuming with backoff",
                       "resource", w->plural, "namespace", scope(w), "error",
                       azidt_err_name(rc), "detail", resp.message);
    }
    azidt_kube_response_clear(&resp);
    free(path);
    return rc;
}

static void *watch_main(void *arg)
{
    struct azidt_kube_watch *w = arg;
    bool need_list = w->rv == NULL;
    long backoff = 0;

    if (!need_list && !atomic_exchange(&w->synced, true) && w->h.synced_cb)
        w->h.synced_cb(w->h.ctx);

    while (!atomic_load(&w->stopping)) {
        azidt_err rc;
        int64_t started;

        if (need_list) {
            rc = do_list(w);
            if (atomic_load(&w->stopping))
                break;
            if (rc) {
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
                if (backoff > BACKOFF_MAX_MS)
                    backoff = BACKOFF_MAX_MS;
                wait_ms(w, backoff);
                continue;
            }
            need_list = false;
            if (!atomic_exchange(&w->synced, true) && w->h.synced_cb)
                w->h.synced_cb(w->h.ctx);
        }
        started = azidt_clock_now_ms();
        w->events_seen = 0;
        rc = do_watch(w);
        if (atomic_load(&w->stopping))
            break;
        if (rc == AZIDT_ERR_GONE) {
            need_list = true;
            backoff = 0;
            continue;
        }
        /* A watch that ran a while or delivered events is healthy;
         * a watch that failed at once backs off. */
        if (rc == AZIDT_OK &&
            (w->events_seen > 0 ||
             azidt_clock_now_ms() - started >= BACKOFF_MIN_MS)) {
            backoff = 0;
            continue;
        }
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        wait_ms(w, backoff);
    }
    return NULL;
}

static void watch_free(struct azidt_kube_watch *w)
{
    if (!w)
        return;
    free(w->group);
    free(w->version);
    free(w->plural);
    free(w->namespace);
    free(w->label_selector);
    free(w->field_selector);
    free(w->rv);
    azidt_ndjson_free(&w->lines);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

static bool dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return true;
    *dst = strdup(src);
    return *dst != NULL;
}

azidt_err azidt_kube_watch_start(struct azidt_kube_client *client,
                                 const struct azidt_kube_watch_options *opts,
                                 const struct azidt_kube_watch_handlers *h,
                                 struct azidt_kube_watch **out)
{
    const struct azidt_kube_resource *res = opts ? opts->resource : NULL;
    struct azidt_kube_watch *w = NULL;
    pthread_condattr_t attr;

    *out = NULL;
    if (!client || !res || !res->version || !res->plural || !h)
        return AZIDT_ERR_INVALID;
    w = calloc(1, sizeof(*w));
    if (!w)
        return AZIDT_ERR_NOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->client = client;
    w->h = *h;
    w->timeout_seconds = opts->timeout_seconds > 0 ? opts->timeout_seconds
                                                   : TIMEOUT_SECONDS_DEFAULT;
    w->list_limit = opts->list_limit;
    azidt_ndjson_init(&w->lines, AZIDT_KUBE_WATCH_LINE_MAX);
    if (!dup_opt(&w->group, res->group ? res->group : "") ||
        !dup_opt(&w->version, res->version) ||
        !dup_opt(&w->plural, res->plural) ||
        !dup_opt(&w->namespace, res->namespaced ? opts->namespace : NULL) ||
        !dup_opt(&w->label_selector, opts->label_selector) ||
        !dup_opt(&w->field_selector, opts->field_selector) ||
        !dup_opt(&w->rv, opts->start_resource_version)) {
        watch_free(w);
        return AZIDT_ERR_NOMEM;
    }
    w->resource = (struct azidt_kube_resource){w->group, w->version, w->plural,
                                               res->namespaced};
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        watch_free(w);
        return AZIDT_ERR_INTERNAL;
    }
    *out = w;
    return AZIDT_OK;
}

bool azidt_kube_watch_has_synced(const struct azidt_kube_watch *w)
{
    return atomic_load(&((struct azidt_kube_watch *)w)->synced);
}

unsigned long azidt_kube_watch_list_count(const struct azidt_kube_watch *w)
{
    return atomic_load(&((struct azidt_kube_watch *)w)->lists);
}

unsigned long azidt_kube_watch_watch_count(const struct azidt_kube_watch *w)
{
    return atomic_load(&((struct azidt_kube_watch *)w)->watches);
}

void azidt_kube_watch_stop(struct azidt_kube_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stopping, true);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    watch_free(w);
}
