"""The front balancer of docs/deployment.md, run as documented: nginx ends TLS for the hub's name and the wildcard
apps domain and passes both to a real Gerbang on loopback, which routes by Host.

The nginx block is read from the deployment doc itself; only the names (``gerbang.localhost``,
``*.apps.localhost``), the ports, the upstream address and the certificate paths are replaced. The certificate is
made here (a throwaway CA and one certificate for both names).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.app import create_app
from gateway.apps import add_app
from gateway.settings import Settings
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.ci import skip_or_fail
from tests.support.hub import HUB_POLICIES, LOOPBACK_UPSTREAMS, PASSWORD, TEST_UPSTREAM_ADDRESSES, free_port, seed
from tests.support.server import run_server
from tests.support.upstream import Upstream

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
HUB, APPS = "gerbang.localhost", "apps.localhost"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        skip_or_fail("nginx is missing (apt-get install nginx-light)", ".ci/run installs it")
    return found


def documented_config(https_port: int, http_port: int, gerbang_port: int, certificate: Path, key: Path) -> str:
    block = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/deployment.md has no nginx block"
    config = block.group(1).replace("gerbang.palembang.go.id", HUB).replace("apps.palembang.go.id", APPS)
    config = re.sub(r"(    server 10\.10\.0\.\d+:8000;\n)+", f"    server 127.0.0.1:{gerbang_port};\n", config)
    config = config.replace("listen 443", f"listen 127.0.0.1:{https_port}")
    config = config.replace("listen 80", f"listen 127.0.0.1:{http_port}")
    return config.replace("/etc/ssl/gerbang/gerbang-and-apps.pem", str(certificate)).replace(
        "/etc/ssl/gerbang/gerbang-and-apps.key", str(key)
    )


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and one certificate for the hub's name and the wildcard apps domain signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Gerbang test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HUB)]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HUB), x509.DNSName(f"*.{APPS}")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "gerbang-and-apps.pem", directory / "gerbang-and-apps.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


async def register_parkir(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            slug="parkir",
            opd_slug="dishub",
            upstreams=(upstream,),
            auth_mode="none",
            issuer=issuer,
            now=int(time.time()),
            apps_domain=APPS,
            addresses=TEST_UPSTREAM_ADDRESSES,
        )
    await engine.dispose()


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def front(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, httpx.Client]]:
    binary = nginx_binary()
    https_port, http_port, gerbang_port = free_port(), free_port(), free_port()
    ca, certificate, key = make_certificates(tmp_path)
    issuer = f"https://{HUB}:{https_port}"
    settings = Settings(
        issuer=issuer,
        apps_domain=APPS,
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="t" * 40,
        policy_dir=HUB_POLICIES,
        trusted_proxies=("127.0.0.1/32",),
        registry_refresh_seconds=0.2,
        upstream_allow=LOOPBACK_UPSTREAMS,
    )
    asyncio.run(seed(database_url))
    root = tmp_path / "nginx"
    (root / "logs").mkdir(parents=True)
    (root / "nginx.conf").write_text(
        f"daemon off;\npid {root}/nginx.pid;\nerror_log {root}/logs/error.log warn;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {root}/body;\n proxy_temp_path {root}/proxy;\n"
        f" fastcgi_temp_path {root}/fastcgi;\n uwsgi_temp_path {root}/uwsgi;\n scgi_temp_path {root}/scgi;\n"
        + documented_config(https_port, http_port, gerbang_port, certificate, key)
        + "}\n"
    )
    with run_server(Upstream("parkir")) as upstream, run_server(create_app(settings), port=gerbang_port):
        asyncio.run(register_parkir(database_url, issuer, upstream))
        nginx = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(root / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(https_port)
            with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as http:
                deadline = time.monotonic() + 10
                while (
                    http.get(f"https://parkir.{APPS}:{https_port}/").status_code == 404 and time.monotonic() < deadline
                ):
                    time.sleep(0.2)
                yield issuer, f"http://{HUB}:{http_port}", http
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def test_the_documented_nginx_front_routes_the_hub_and_each_app_by_name(front: tuple[str, str, httpx.Client]) -> None:
    issuer, plain, http = front
    port = issuer.rsplit(":", 1)[1]
    app = f"https://parkir.{APPS}:{port}"
    answer = http.get(f"{app}/tiket/1?x=1")
    assert answer.status_code == 200, answer.text
    seen = dict(answer.json()["headers"])
    assert answer.json()["raw_path"] == "/tiket/1"
    assert seen["x-forwarded-host"] == f"parkir.{APPS}:{port}" and seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-for"].endswith("127.0.0.1")
    assert answer.headers["strict-transport-security"].startswith("max-age=")

    discovery = http.get(f"{issuer}/.well-known/openid-configuration")
    assert discovery.status_code == 200 and discovery.json()["issuer"] == issuer
    assert discovery.headers["strict-transport-security"].startswith("max-age=")
    page = http.get(f"{issuer}/auth/reset")
    cookies = page.headers.get_list("set-cookie")
    assert page.status_code == 200 and cookies
    assert all(c.startswith("__Host-gerbang") and "Secure" in c and "Path=/" in c for c in cookies), cookies

    moved = http.get(f"{issuer}/apps/parkir/tiket/1")
    assert moved.status_code == 308 and moved.headers["location"] == f"{app}/tiket/1"
    unknown = http.get(f"https://nope.{APPS}:{port}/")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    with pytest.raises(httpx.ConnectError):  # a name outside the certificate: nginx refuses the handshake
        http.get(f"https://evil.localhost:{port}/")
    redirect = httpx.get(f"{plain}/account")
    assert redirect.status_code == 308 and redirect.headers["location"] == f"https://{HUB}/account"


def test_a_citizen_signs_in_over_tls_with_host_prefixed_cookies_only(front: tuple[str, str, httpx.Client]) -> None:
    issuer, _plain, http = front
    page = http.get(f"{issuer}/auth/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token
    done = http.post(
        f"{issuer}/auth/login", data={"login": "warga@example.id", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    account = http.get(f"{issuer}/account")
    assert account.status_code == 200 and "warga@example.id" in account.text
    names = {cookie.name for cookie in http.cookies.jar}
    assert "__Host-gerbang_session" in names and "__Host-gerbang_csrf" in names
    assert not any(name.startswith("gerbang") for name in names)  # nothing the hub sets goes without the prefix
    # A bare gerbang_* cookie (what any sibling host could set for a parent domain) is never believed, even
    # with a valid session id in it: only the __Host- name, which no other host can set, counts.
    session = http.cookies.get("__Host-gerbang_session")
    http.cookies.clear()
    http.cookies.set("gerbang_session", session, domain=HUB)
    assert http.get(f"{issuer}/account").status_code in (302, 303)
