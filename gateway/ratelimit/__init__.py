"""The gateway's rate-limit step, on the neutral ``throttle`` package (which the provider uses too):

limiter.py   GatewayLimiter: selects a request's limits, checks them in one round trip, the tightest wins
headers.py   RateLimit-Policy / RateLimit / Retry-After, the 429 and the fail-closed 503
store.py     describe_limit_store(store) for /readyz (the store itself: idp.context.build_limit_store)
"""
