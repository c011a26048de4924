"""nginx twice over: the benchmark's upstream (a static 200) and the reference reverse proxy.

The upstream is nginx answering ``return 200`` from memory: C, ~13 µs of CPU per request here, so
it is never the bottleneck of a gateway measured at 10-50k req/s. A Python upstream would spend
more CPU per request than some of the gateways it is meant to serve.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import Service, start_service, wait_for_http

BODY = '{"ok":true}'

_MAIN = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
{server}
}}
"""

_STATIC = """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}"""

# RFC 9110 §7.6.1: Connection is hop-by-hop; clearing it lets nginx keep upstream connections open.
_PROXY = """\
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 128;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /healthz {{ return 200 'ok'; }}
        location /apps/api/ {{
            proxy_pass http://bench_upstream/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}"""


def start_static(name: str, root: Path, port: int, pin: list[str], log_dir: Path) -> Service:
    return _start(name, root, _STATIC.format(port=port, body=BODY), port, "/", pin, log_dir)


def start_proxy(name: str, root: Path, port: int, upstream_port: int, pin: list[str], log_dir: Path) -> Service:
    server = _PROXY.format(port=port, upstream_port=upstream_port)
    return _start(name, root, server, port, "/healthz", pin, log_dir)


def _start(name: str, root: Path, server: str, port: int, probe: str, pin: list[str], log_dir: Path) -> Service:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise Unavailable("nginx is not installed (apt-get install -y nginx-light)")
    root.mkdir(parents=True, exist_ok=True)
    config = root / "nginx.conf"
    config.write_text(_MAIN.format(root=root, server=server))
    service = start_service(
        name, [binary, "-p", str(root), "-e", str(root / "error.log"), "-c", str(config)], pin=pin, log_dir=log_dir
    )
    wait_for_http(service, f"http://127.0.0.1:{port}{probe}")
    return service
