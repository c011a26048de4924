"""``gerbang demo``: the whole hub on the embedded default with a seeded Palembang."""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the hub, the sample apps and storage load when the demo runs, not for --help
    from gateway.demo.seed import SeedResult
    from gateway.settings import Settings

DEMO_UPSTREAMS = ("127.0.0.0/8", "::1/128")
BAPENDA_CLIENT_KEY = "bapenda-client.pem"  # the private_key_jwt key of Bapenda's integration (data directory)


def demo_upstreams(host: str) -> tuple[str, ...]:
    """Loopback, and the address the sample apps listen on when it is given as an IP (e.g. 0.0.0.0)."""
    try:
        return (*DEMO_UPSTREAMS, str(ipaddress.ip_address(host)))
    except ValueError:
        return DEMO_UPSTREAMS


@click.command("demo")
@click.option("--port", default=8000, show_default=True, help="the hub's port; sample apps use the next ones")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the demo keeps its SQLite database (default: a new temporary directory)",
)
def demo(port: int, host: str, data_dir: Path | None) -> None:
    """Run a seeded demo city: the provider, the gateway and sample OPD apps on loopback."""
    from gateway.settings import Settings
    from idp.storage.migrate import upgrade

    temporary = data_dir is None  # a directory the demo made is removed when it stops
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="gerbang-demo-"))
    base = f"http://{host}:{port}"
    # The sample apps run on loopback: the demo allows loopback upstreams for itself (production refuses them).
    settings = Settings(
        issuer=base,
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'demo.db'}",
        mail_outbox=data_dir / "outbox",
        upstream_allow=demo_upstreams(host),
    )
    if (data_dir / "demo.db").exists():
        raise click.ClickException(f"{data_dir} already holds a demo; pass a new --data-dir")
    try:
        upgrade(settings.effective_database_url, issuer=settings.issuer, apps_domain=settings.apps_domain)
        asyncio.run(_run(settings, host, port))
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _run(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from gateway.app import create_app
    from gateway.cli.runtime import cli_profile_guard
    from gateway.demo.opd_apps import budget_app, cctv_app, parking_app
    from gateway.demo.relying_party import create_relying_party
    from gateway.demo.seed import seed_demo
    from idp.dpop.client import load_or_create_key, public_jwk
    from idp.storage.db import build_engine, build_sessionmaker
    from idp.upstream_addresses import build_upstream_addresses

    rp_base = f"http://{host}:{port + 1}"
    upstreams = {"parkir": port + 2, "cctv": port + 3, "e-budgeting": port + 4}
    engine = build_engine(settings.effective_database_url)
    # Bapenda's integration authenticates with private_key_jwt (FAPI 2.0: e-budgeting is restricted): its key
    # stays in the data directory, the hub holds the public half.
    bapenda_key = load_or_create_key(settings.data_dir / BAPENDA_CLIENT_KEY)
    async with build_sessionmaker(engine)() as session, session.begin():
        seeded = await seed_demo(
            session,
            issuer=settings.issuer,
            rp_base=rp_base,
            upstreams={slug: f"http://{host}:{p}" for slug, p in upstreams.items()},
            profiles=cli_profile_guard(settings),
            bapenda_jwks={"keys": [{**public_jwk(bapenda_key), "alg": "ES256", "use": "sig"}]},
            addresses=build_upstream_addresses(settings),
            apps_domain=settings.apps_domain,
        )
    await engine.dispose()
    portal = seeded.clients["portal"]
    issuer = settings.issuer
    apps: list[tuple[Any, int]] = [
        (create_app(settings), port),
        (create_relying_party(issuer, portal["client_id"], portal["client_secret"], rp_base), port + 1),
        (parking_app(issuer, settings.apps_domain), upstreams["parkir"]),
        (cctv_app(issuer, settings.apps_domain), upstreams["cctv"]),
        (budget_app(issuer, settings.apps_domain), upstreams["e-budgeting"]),
    ]
    _print_banner(settings, seeded, rp_base)
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=app_port, log_level="warning", lifespan="on"))
        for app, app_port in apps
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def _print_banner(settings: Settings, seeded: SeedResult, rp_base: str) -> None:
    from gateway.demo.opd_apps import address

    echo = click.echo
    echo("")
    echo("Gerbang demo — Pemerintah Kota Palembang")
    echo(f"  hub (provider + gateway): {settings.issuer}")
    echo(f"  discovery:                {settings.issuer}/.well-known/openid-configuration")
    echo(f"  demo relying party:       {rp_base}/   (Portal Warga: sign in with Gerbang)")
    parkir, cctv, budget = (
        address(settings.issuer, settings.apps_domain, slug) for slug in ("parkir", "cctv", "e-budgeting")
    )
    echo("  every app on its own origin (*.localhost resolves to this machine in every current browser):")
    echo(f"  Dishub parking (session): {parkir}")
    echo(f"  Dishub CCTV (stream):     {cctv}")
    echo(f"  BPKAD e-budgeting (API):  {budget}api/anggaran  (bearer, DPoP required)")
    echo(f"  your account page:        {settings.issuer}/account")
    echo(
        f"  Kominfo's console:        {settings.issuer}/admin/   (the kominfo-admin below; enrol a second factor at "
        "/account first)"
    )
    echo(f"  mail outbox (no SMTP):    {settings.effective_mail_outbox}   (verification and reset mails)")
    echo(
        f"  data directory:           {settings.data_dir}  ({seeded.opd_count} OPD units; removed on exit "
        "unless you passed --data-dir)"
    )
    echo("")
    echo("Logins (email or NIK / password):")
    for person in seeded.people:
        who = f"{person.roles[0]}@{person.opd}" if person.opd else "warga"
        nik = f"  NIK {person.nik}" if person.nik else ""
        echo(f"  {who:<28} {person.email:<36} {person.password}{nik}")
    bapenda = seeded.clients["bapenda"]
    echo("")
    key = shlex.quote(str(settings.data_dir / "bapenda-dpop.pem"))
    client_key = shlex.quote(str(settings.data_dir / BAPENDA_CLIENT_KEY))
    api = f"{budget}api/anggaran"
    echo("Bapenda's integration calls e-budgeting, a restricted app, under FAPI 2.0 (Kominfo's policy rule")
    echo("fapi2-for-restricted-apps): client_credentials with private_key_jwt and the RFC 8707 resource, a DPoP-bound")
    echo("token (RFC 9449: curl cannot sign the assertion or the proofs, `gerbang dpop` does; the keys stay in .pem):")
    echo(
        f"  TOKEN=$(gerbang dpop token --key {key} --client {bapenda['client_id']} --client-key {client_key} "
        f"-d scope=budget.read -d resource={budget} {settings.issuer}/auth/token)"
    )
    echo(
        f'  curl -H "Authorization: DPoP $TOKEN" '
        f'-H "DPoP: $(gerbang dpop proof --key {key} --token "$TOKEN" GET {api})" {api}'
    )
    echo("")
    echo("Press Ctrl+C to stop.")


def register(group: click.Group) -> None:
    group.add_command(demo)
