"""The token endpoint's write checks (``idp.oauth.state.Effects``) see every kind of write, the ones added later too."""

from __future__ import annotations

from typing import Any

import pytest

from idp.oauth.state import EFFECT_FIELDS, Effects
from idp.storage.models import Grant, RefreshToken

SAMPLES: dict[str, Any] = {
    "new_code": {"code": "c"},
    "redeem_code": "digest",
    "new_grant": Grant(),
    "rotate_refresh": "digest",
    "new_refresh": RefreshToken(),
    "access_jtis": [("jti", None, "client", 0)],
    "replay_marks": [("jti", 0)],
    "revoke_grant": "grant",
    "revoke_jti": ("jti", 0),
    "touch_session": "sid",
    "spend_pushed": "digest",
    "device_polled": ("digest", False),
    "redeem_device": "digest",
    "audit": [{"action": "x"}],
}


def test_every_field_has_a_sample() -> None:
    assert set(SAMPLES) == set(EFFECT_FIELDS)


@pytest.mark.parametrize("name", EFFECT_FIELDS)
def test_any_single_write_is_not_empty(name: str) -> None:
    assert Effects().is_empty()
    assert not Effects(**{name: SAMPLES[name]}).is_empty()


def test_a_pushed_request_spent_with_its_code_is_not_a_plain_code_issue() -> None:
    # The one-statement path writes the code only: a request_uri spent beside it must take the general path.
    assert Effects(new_code=SAMPLES["new_code"]).is_plain_code_issue()
    assert not Effects(new_code=SAMPLES["new_code"], spend_pushed="digest").is_plain_code_issue()


@pytest.mark.parametrize("name", EFFECT_FIELDS)
def test_the_one_statement_paths_take_nothing_they_do_not_write(name: str) -> None:
    rotation = {k: SAMPLES[k] for k in ("rotate_refresh", "new_refresh", "access_jtis")}
    redemption = {k: SAMPLES[k] for k in ("redeem_code", "new_grant", "access_jtis")}
    assert Effects(**rotation).is_plain_rotation() and Effects(**redemption).is_plain_redemption()
    if name not in (*rotation, "touch_session"):
        assert not Effects(**{**rotation, name: SAMPLES[name]}).is_plain_rotation()
    if name not in (*redemption, "new_refresh"):
        assert not Effects(**{**redemption, name: SAMPLES[name]}).is_plain_redemption()
