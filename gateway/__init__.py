"""The only public entry point: authenticates, decides, rate limits and proxies to OPD apps."""
