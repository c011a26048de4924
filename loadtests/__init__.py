"""Load tests (locust scenarios) and the benchmark against nginx and node peers; not part of the installed package."""
