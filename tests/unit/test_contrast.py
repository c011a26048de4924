"""WCAG 2.2 contrast of the colours the real stylesheets use (issue 15: input borders were 1.81:1).

Text needs 4.5:1 against its background (SC 1.4.3); the boundary of a form control 3:1 against what surrounds it
(SC 1.4.11). The stylesheets are read as shipped: the hub's and console's ``idp/static/gerbang.css`` and the
gateway's error pages (``gateway.error_pages.STYLE``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.error_pages import STYLE as ERROR_PAGE_STYLE

ROOT = Path(__file__).resolve().parents[2]
HUB_CSS = (ROOT / "idp" / "static" / "gerbang.css").read_text(encoding="utf-8")
TEXT, BOUNDARY = 4.5, 3.0
WHITE = "#ffffff"  # what a browser draws behind an element that sets no background
CONTROLS = ("input", "select", "textarea")


def rules(css: str) -> dict[str, dict[str, str]]:
    """``selector → {property: value}``, later declarations winning; ``@media`` blocks count like the rest (they
    must meet the ratios too)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip())
            for name, _, value in (part.partition(":") for part in body.split(";"))
            if value.strip()
        )
        for selector in selectors.split(","):
            found.setdefault(selector.strip(), {}).update(declarations)
    return found


def colour(value: str | None) -> str | None:
    """The first colour a value names (``1px solid #6b7785`` → ``#6b7785``), as ``#rrggbb``; None when none."""
    if value is None:
        return None
    if re.search(r"\bwhite\b", value):
        return WHITE
    match = re.search(r"#([0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3,4})\b", value)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    assert len(digits) == 6, f"{value}: a translucent colour cannot be checked on its own"
    return "#" + digits.lower()


def luminance(hex_colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def background(rule: dict[str, str]) -> str | None:
    return colour(rule.get("background-color") or rule.get("background"))


def test_the_ratio_is_wcag_s() -> None:
    assert round(contrast("#000000", WHITE), 2) == 21.0 and contrast("#777777", "#777777") == 1.0
    assert round(contrast("#b8c2cc", WHITE), 2) == 1.81  # the input border the issue measured


HUB = rules(HUB_CSS)
PAGE = background(HUB["body"])
CARD = background(HUB[".card"])


@pytest.mark.parametrize("control", CONTROLS)
def test_form_controls_have_visible_boundaries_and_readable_text(control: str) -> None:
    rule = HUB.get(control)
    assert rule is not None, f"{control} has no rule of its own: the browser's default border is not ours to trust"
    border = colour(rule.get("border-color") or rule.get("border"))
    assert border is not None, f"{control} sets no border colour"
    own = background(rule) or WHITE
    for behind in {own, CARD, PAGE}:
        assert behind is not None
        assert contrast(border, behind) >= BOUNDARY, (control, border, behind, round(contrast(border, behind), 2))
    text = colour(rule.get("color")) or colour(HUB["body"]["color"])
    assert text is not None and contrast(text, own) >= TEXT, (control, text, own)


@pytest.mark.parametrize(
    "css",
    [pytest.param(HUB, id="gerbang.css"), pytest.param(rules(ERROR_PAGE_STYLE), id="error_pages")],
)
def test_every_rule_that_sets_text_and_background_is_readable(css: dict[str, dict[str, str]]) -> None:
    checked = 0
    for selector, rule in css.items():
        text, behind = colour(rule.get("color")), background(rule)
        if text and behind:
            checked += 1
            assert contrast(text, behind) >= TEXT, (selector, text, behind, round(contrast(text, behind), 2))
    assert checked >= 2  # body and the header bar at least: the parser still reads the file


@pytest.mark.parametrize(
    ("selector", "inherits_background_from"),
    [
        (".muted", ".card"),
        (".field-error", ".card"),
        (".status-active", ".card"),
        (".status-suspended", ".card"),
        (".status-pending", ".card"),
        ("button.secondary", "button.secondary"),
        (".console-tools button", ".console-tools button"),
        ("p.danger a", ".card"),
    ],
)
def test_text_on_the_card_and_buttons_is_readable(selector: str, inherits_background_from: str) -> None:
    text = colour(HUB[selector].get("color") or HUB["button"].get("color"))
    behind = background(HUB[inherits_background_from]) or CARD
    assert text is not None and behind is not None
    assert contrast(text, behind) >= TEXT, (selector, text, behind, round(contrast(text, behind), 2))
