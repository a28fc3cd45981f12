#include "azidt/curl_pool.h"

#include <pthread.h>
#include <stdlib.h>

/* Idle handles kept for reuse; more are cleaned up when given back. */
#define IDLE_MAX 16

struct azidt_curl_pool {
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t idle_lock;
    CURL *idle[IDLE_MAX];
    size_t idle_count;
};

static void share_lock(CURL *handle, curl_lock_data data,
                       curl_lock_access access, void *userptr)
{
    struct azidt_curl_pool *pool = userptr;

    (void)handle;
    (void)access;
    pthread_mutex_lock(&pool->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userptr)
{
    struct azidt_curl_pool *pool = userptr;

    (void)handle;
    pthread_mutex_unlock(&pool->share_locks[data]);
}

azidt_err azidt_curl_pool_new(bool share_connections,
                              struct azidt_curl_pool **out)
{
    struct azidt_curl_pool *pool = calloc(1, sizeof(*pool));

    *out = NULL;
    if (!pool)
        return AZIDT_ERR_NOMEM;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&pool->share_locks[i], NULL);
    pthread_mutex_init(&pool->idle_lock, NULL);
    pool->share = curl_share_init();
    if (!pool->share) {
        azidt_curl_pool_free(pool);
        return AZIDT_ERR_INTERNAL;
    }
    curl_share_setopt(pool->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(pool->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(pool->share, CURLSHOPT_USERDATA, pool);
    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (share_connections)
        curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    *out = pool;
    return AZIDT_OK;
}

void azidt_curl_pool_free(struct azidt_curl_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->idle_count; i++)
        curl_easy_cleanup(pool->idle[i]);
    if (pool->share)
        curl_share_cleanup(pool->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&pool->share_locks[i]);
    pthread_mutex_destroy(&pool->idle_lock);
    free(pool);
}

CURL *azidt_curl_pool_get(struct azidt_curl_pool *pool)
{
    CURL *easy = NULL;

    pthread_mutex_lock(&pool->idle_lock);
    if (pool->idle_count > 0)
        easy = pool->idle[--pool->idle_count];
    pthread_mutex_unlock(&pool->idle_lock);
    return easy ? easy : curl_easy_init();
}

void azidt_curl_pool_put(struct azidt_curl_pool *pool, CURL *easy)
{
    if (!easy)
        return;
    /* Drop per-call options, keep the connection cache. */
    curl_easy_reset(easy);
    pthread_mutex_lock(&pool->idle_lock);
    if (pool->idle_count < IDLE_MAX) {
        pool->idle[pool->idle_count++] = easy;
        easy = NULL;
    }
    pthread_mutex_unlock(&pool->idle_lock);
    if (easy)
        curl_easy_cleanup(easy);
}

CURLSH *azidt_curl_pool_share(const struct azidt_curl_pool *pool)
{
    return pool->share;
}
