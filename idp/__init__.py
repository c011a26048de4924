"""Gerbang's OpenID Connect provider, built on authlib and served by starlette."""
