"""The gateway's rate-limit step: ``GatewayLimiter`` (selects a request's limits, checks them in one round
trip) and ``headers`` (RateLimit-Policy / RateLimit / Retry-After). The algorithms and stores live in the
neutral ``throttle`` package, which the provider uses too."""
