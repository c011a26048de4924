"""The provider's HTTP endpoints, one module each."""
