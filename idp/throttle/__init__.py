"""Rate limits, shared by the gateway (``gateway.ratelimit``) and the provider (``idp.auth_limits``).

A neutral package so the provider can use it without importing the gateway; it imports only ``policies``
(for ``LimitSpec``). After envoyproxy/ratelimit: the algorithm is pure, the store sits behind a small
interface, one function builds every key, and the limit rules (policy files) stay apart from the settings.

    gcra.py, quota.py      the algorithms, pure and clock-injected (GCRA; fixed Jakarta-calendar windows)
    keys.py                build_key: every key, with a Redis Cluster hash tag
    store.py               Hit, Outcome, the LimitStore protocol, StoreUnavailable, RedisTimeouts
    limits.lua             the same algorithms in Redis, all of a request's limits in one atomic EVALSHA
    redis_client.py        redis://, rediss://, redis+sentinel://, redis+cluster:// with timeouts always set
    redis_store.py         RedisStore (coalesces the checks of one loop tick into one round trip)
    memory_store.py        MemoryStore: identical decisions in-process
    breaker.py             Breaker: the circuit breaker in front of the shared store
    fallback_store.py      FallbackStore: fail modes, degraded metric
    backends.py            build_store: the one place a process picks its store (imports redis-py only
                           when Redis is configured)
"""
