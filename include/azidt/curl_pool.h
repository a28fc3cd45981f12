/*
 * Reusable libcurl easy handles and one share handle, for clients that
 * many threads call at once (the Azure and Kubernetes clients).
 *
 * A handle taken with azidt_curl_pool_get() belongs to the caller until it
 * gives it back with azidt_curl_pool_put(), which resets its options but
 * keeps its connection cache, so the next request to the same host reuses
 * the connection. The share handle holds the DNS cache and TLS sessions
 * (and, when asked, the connection pool) for every handle; set it on each
 * request with CURLOPT_SHARE.
 *
 * Thread-safe. Call curl_global_init() before the first pool.
 */
#ifndef AZIDT_CURL_POOL_H
#define AZIDT_CURL_POOL_H

#include <stdbool.h>

#include <curl/curl.h>

#include "azidt/error.h"

struct azidt_curl_pool;

/* Create a pool. With share_connections, handles also share one
 * connection cache. Returns AZIDT_ERR_NOMEM or AZIDT_ERR_INTERNAL. */
azidt_err azidt_curl_pool_new(bool share_connections,
                              struct azidt_curl_pool **out);

/* Free the pool and its idle handles. Every handle must be back. Accepts
 * NULL. */
void azidt_curl_pool_free(struct azidt_curl_pool *pool);

/* Take an idle handle, or a new one; NULL when out of memory. */
CURL *azidt_curl_pool_get(struct azidt_curl_pool *pool);

/* Reset easy and keep it for reuse, or clean it up when enough handles
 * are idle. Accepts NULL. */
void azidt_curl_pool_put(struct azidt_curl_pool *pool, CURL *easy);

/* The share handle to set with CURLOPT_SHARE. */
CURLSH *azidt_curl_pool_share(const struct azidt_curl_pool *pool);

#endif
