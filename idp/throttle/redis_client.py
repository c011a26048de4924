"""Build the asyncio Redis client for a ``GERBANG_REDIS_URL``; every client gets both socket timeouts.

    redis://[[user]:password@]host[:port][/db]            one Redis (TLS: rediss://; unix://path also works)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/master-name[/db][?sentinel_password=...]
                                                           Sentinel: the master is looked up by name on every
                                                           reconnect, so a failover is followed (rediss+sentinel
                                                           for TLS to the master and the sentinels)
    redis+cluster://[[user]:password@]host:port[,host:port...]
                                                           Redis Cluster: the nodes listed are startup nodes
                                                           (rediss+cluster for TLS)

Retries are switched off: redis-py 6+ retries a failed command three times with backoff by default, which
would make a request wait four timeouts; the circuit breaker in ``throttle.fallback_store`` decides instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from idp.throttle.store import RedisTimeouts

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in ("redis+cluster", "rediss+cluster")


def build_redis_client(url: str, timeouts: RedisTimeouts) -> Redis | RedisCluster:
    scheme = url.split("://", 1)[0]
    if scheme not in SCHEMES:
        raise ValueError(f"redis URL scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    common: dict[str, Any] = {
        "socket_timeout": timeouts.socket,
        "socket_connect_timeout": timeouts.connect,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        "max_connections": timeouts.max_connections,
    }
    if scheme.endswith("+sentinel"):
        return _build_sentinel_client(url, common)
    if scheme.endswith("+cluster"):
        return _build_cluster_client(url, common)
    # A full pool makes a caller wait (up to the timeout) for a free connection instead of failing at once.
    pool = BlockingConnectionPool.from_url(url, timeout=timeouts.socket, **common)
    return Redis(connection_pool=pool)


def _nodes(netloc: str) -> list[tuple[str, int]]:
    hosts = netloc.rsplit("@", 1)[-1]
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"redis URL node {item!r} must be host:port")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def _credentials(netloc: str) -> dict[str, Any]:
    if "@" not in netloc:
        return {}
    userinfo = netloc.rsplit("@", 1)[0]
    user, _, password = userinfo.partition(":")
    return {"username": unquote(user) or None, "password": unquote(password) or None}


def _build_sentinel_client(url: str, common: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    path = [segment for segment in parts.path.split("/") if segment]
    if not path:
        raise ValueError("redis+sentinel URL needs the master name as its path: redis+sentinel://h:26379/mymaster")
    db = int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    tls: dict[str, Any] = {"ssl": True} if parts.scheme.startswith("rediss") else {}
    sentinel_kwargs = {**common, **tls}
    if "sentinel_password" in query:
        sentinel_kwargs["password"] = query["sentinel_password"][0]
    nodes = _nodes(parts.netloc)
    sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs, **common, **tls)
    master: Redis = sentinel.master_for(path[0], db=db, **_credentials(parts.netloc), **common, **tls)
    return master


def _build_cluster_client(url: str, common: dict[str, Any]) -> RedisCluster:
    parts = urlsplit(url)
    nodes = [ClusterNode(host, port) for host, port in _nodes(parts.netloc)]
    tls: dict[str, Any] = {"ssl": True} if parts.scheme.startswith("rediss") else {}
    return RedisCluster(startup_nodes=nodes, **_credentials(parts.netloc), **common, **tls)
