"""The one log line ``gerbang serve`` writes before it listens: what this hub runs with, no secrets in it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import make_url

from gateway.settings import Settings


def describe_database(url: str) -> str:
    """The database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def describe_mail(settings: Settings, demo: bool) -> tuple[str, str | None]:
    """(transport, warning): mail into a file outbox outside the demo reaches nobody."""
    if settings.smtp_url:
        return describe_database(settings.smtp_url) if "://" in settings.smtp_url else "smtp", None
    outbox = settings.effective_mail_outbox
    warning = (
        None if demo else (f"mail goes to the file outbox {outbox}: citizens receive no email (set GERBANG_SMTP_URL)")
    )
    return f"file outbox {outbox}", warning


def build_summary(settings: Settings, *, listeners: list[str], demo: bool = False) -> dict[str, Any]:
    from policies import DEFAULT_POLICY_DIR, PolicyError, load_policy_dir

    policy_dir = settings.policy_dir or DEFAULT_POLICY_DIR
    try:
        policy_set = load_policy_dir(policy_dir)
        rules: Any = {"rules": len(policy_set.rules), "limits": len(policy_set.limits), "apps": len(policy_set.apps)}
    except PolicyError as exc:
        rules = {"error": str(exc).splitlines()[0]}
    mail, mail_warning = describe_mail(settings, demo)
    summary = {
        "issuer": settings.issuer,
        "database": describe_database(settings.effective_database_url),
        "redis": describe_database(settings.redis_url) if settings.redis_url else "none (limits per process)",
        "mail": mail,
        "policy_dir": str(policy_dir),
        "policy": rules,
        "apps": _count_apps(settings.effective_database_url),
        "listeners": listeners,
    }
    if mail_warning:
        summary["warning"] = mail_warning
    return summary


def _count_apps(url: str) -> int | None:
    from sqlalchemy import func, select

    from idp.storage.db import build_engine
    from idp.storage.gateway_models import App

    async def count() -> int | None:
        engine = build_engine(url)
        try:
            async with engine.connect() as connection:
                return int((await connection.execute(select(func.count()).select_from(App))).scalar() or 0)
        except Exception:  # noqa: BLE001 - the summary reports what it can; /readyz reports the database
            return None
        finally:
            await engine.dispose()

    return asyncio.run(count())
