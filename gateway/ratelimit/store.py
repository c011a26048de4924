"""How the process's limit store (``IdpContext.limits``, built by ``idp.context.build_limit_store``) is doing,
for the ``/readyz`` detail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from idp.throttle.memory_store import MemoryStore

if TYPE_CHECKING:
    from idp.throttle.fallback_store import FallbackStore


def describe_limit_store(store: MemoryStore | FallbackStore) -> dict[str, object]:
    """For the /readyz detail: which store decides, and whether it is degraded to local limits."""
    if isinstance(store, MemoryStore):
        return {"store": "memory", "degraded": False}
    return {"store": "redis", "degraded": store.degraded, "last_error": store.last_error if store.degraded else None}
