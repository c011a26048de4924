"""The results: a markdown table with the machine's facts, an SVG bar chart, raw JSON, and LATEST.md."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from xml.sax.saxutils import escape

from loadtests.harness.machine import Cores, MachineFacts
from loadtests.harness.measure import Plan, Result
from loadtests.harness.wrk import WrkRun

BASELINES = {"proxy": "nginx", "token": "token-oidc-provider"}


def write_report(results: list[Result], facts: MachineFacts, cores: Cores, plan: Plan, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{facts.date}-{facts.host}"
    (directory / f"{stem}.svg").write_text(build_svg(results, facts))
    (directory / f"{stem}.json").write_text(json.dumps(_raw(results, facts, cores, plan), indent=2) + "\n")
    report = directory / f"{stem}.md"
    report.write_text(build_markdown(results, facts, cores, plan, f"{stem}.svg"))
    latest = f"<!-- Written by `python -m loadtests.bench`; the full report is [{stem}.md]({stem}.md). -->\n"
    (directory / "LATEST.md").write_text(latest + build_markdown(results, facts, cores, plan, f"{stem}.svg"))
    return report


def build_markdown(results: list[Result], facts: MachineFacts, cores: Cores, plan: Plan, svg_name: str) -> str:
    pinning = (
        f"server under test alone on core {cores.target}; wrk (1 thread) and the upstream on core {cores.load}"
        if cores.pinned
        else "not pinned (one core): numbers include the load generator's cost"
    )
    lines = [
        f"# Gerbang benchmark — {facts.started_at} on {facts.host}",
        "",
        f"- Machine: {facts.cores} cores, {facts.cpu_model}, Linux {facts.kernel}, Python {facts.python}",
        f"- Tools: {', '.join(facts.tools.values())}",
        f"- Pinning: {pinning}. Gerbang with 2 workers runs on cores {cores.every} (shared with wrk)."
        + (f" Every process the benchmark starts runs at nice {cores.niceness}." if cores.niceness else ""),
        f"- Load: wrk, {plan.connections} connections, {plan.warmup:g} s warm-up, {plan.rounds} rounds of "
        f"{plan.duration:g} s each; medians of the rounds. Upstream: nginx `return 200` (12-byte JSON).",
        "- CPU µs/req: CPU time of the server under test (all its processes) divided by requests served.",
        "",
        *_disturbance_warning(results),
        "| target | what | req/s | vs baseline | p50 ms | p99 ms | p99 vs baseline | CPU µs/req | per-core vs baseline "
        "| core busy | RSS MiB/worker | cold start s | non-2xx | socket errors | others' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    measured = {result.name: result for result in results if result.unavailable is None}
    for result in results:
        if result.unavailable is not None:
            lines.append(f"| {result.name} | {result.title} | not available: {_cell(result.unavailable)} |{' |' * 12}")
            continue
        baseline = measured.get(BASELINES[result.kind])
        lines.append(
            f"| {result.name} | {result.title} | {result.requests_per_s:,.0f} | "
            f"{_ratio(result.requests_per_s, baseline.requests_per_s if baseline else None)} | "
            f"{result.p50_ms:.2f} | {result.p99_ms:.2f} | "
            f"{_ratio(result.p99_ms, baseline.p99_ms if baseline else None, 'x')} | {result.cpu_us:.0f} | "
            f"{_ratio(1 / result.cpu_us, 1 / baseline.cpu_us if baseline else None)} | {result.busy:.0%} | "
            f"{' / '.join(f'{rss:.0f}' for rss in result.rss_mib)} | "
            f"{'' if result.cold_start_s is None else f'{result.cold_start_s:.2f}'} | {result.non_2xx} | "
            f"{result.socket_errors} | {result.foreign:.0%} |"
        )
    lines += [
        "",
        "Baselines: proxy targets against `nginx`, token endpoints against `token-oidc-provider`.",
        "`core busy`: the target's CPU seconds per second (100 % = its core saturated). Below that, on a quiet",
        "machine, the load core (wrk + upstream) was the limit and CPU µs/req is the fairer comparison.",
        "`per-core vs baseline`: requests one core can serve (1 / CPU µs per request) against the baseline's.",
        "`non-2xx` and `socket errors` are summed over all rounds. `others' CPU`: the largest share of the",
        "machine that processes outside the benchmark used during a round; above a few % the numbers are disturbed.",
        "",
        f"![requests per second]({svg_name})",
        "",
        *build_goals(measured),
    ]
    return "\n".join(lines)


def build_goals(measured: dict[str, Result]) -> list[str]:
    """The bars the issues set, each checked against this run (issues 2, 3, 7, 14 and 21)."""

    def ratio(name: str, baseline: str, key: str = "requests_per_s") -> float | None:
        if name not in measured or baseline not in measured:
            return None
        return float(getattr(measured[name], key)) / float(getattr(measured[baseline], key))

    gerbang = [result for name, result in measured.items() if name.startswith(("gerbang", "token-gerbang"))]
    rss = max((value for result in gerbang for value in result.rss_mib), default=None)
    # The bar is a process's start; with --workers N uvicorn starts the workers one after another.
    cold = max(
        (
            result.cold_start_s
            for name, result in measured.items()
            if name in ONE_WORKER and result.cold_start_s is not None
        ),
        default=None,
    )
    goals = [
        ("bearer pipeline >= 15 % of nginx req/s", ratio("gerbang-bearer", "nginx"), 0.15),
        (
            "bearer pipeline >= 15 % of nginx per core (CPU µs/req)",
            _inverse(ratio("gerbang-bearer", "nginx", "cpu_us")),
            0.15,
        ),
        ("full pipeline ahead of the fastify gateway (req/s)", ratio("gerbang-full", "fastify"), 1.0),
        ("bearer ahead of fastify with assertions (req/s)", ratio("gerbang-bearer", "fastify-assert"), 1.0),
        ("token endpoint on par with oidc-provider", ratio("token-gerbang", "token-oidc-provider"), 1.0),
        # Issue 14 (the app plane at protocol speed) and issue 21 (integrity).
        ("none apps >= 45 % of nginx req/s", ratio("gerbang-none", "nginx"), 0.45),
        ("bearer pipeline >= 35 % of nginx req/s", ratio("gerbang-bearer", "nginx"), 0.35),
        ("full pipeline >= 25 % of nginx req/s", ratio("gerbang-full", "nginx"), 0.25),
        ("token endpoint 1.5x oidc-provider", ratio("token-gerbang", "token-oidc-provider"), 1.5),
        (
            "token endpoint p99 no worse than oidc-provider's",
            _inverse(ratio("token-gerbang", "token-oidc-provider", "p99_ms")),
            1.0,
        ),
        ("ledger pipeline >= 60 % of the bearer pipeline's req/s", ratio("gerbang-ledger", "gerbang-bearer"), 0.6),
    ]
    lines = ["## Against the issues' bars", "", "| bar | measured | met |", "|---|---:|---|"]
    for label, value, bar in goals:
        lines.append(f"| {label} | {'' if value is None else f'{value:.2f}x'} | {_verdict(value, bar, above=True)} |")
    lines.append(
        f"| memory per Gerbang worker < 100 MiB | {'' if rss is None else f'{rss:.0f} MiB'} | "
        f"{_verdict(rss, 100.0, above=False)} |"
    )
    lines.append(
        f"| cold start < 2 s (one worker) | {'' if cold is None else f'{cold:.2f} s'} | "
        f"{_verdict(cold, 2.0, above=False)} |"
    )
    lines += [
        "",
        "For scale, not bars: what the prescribed stack (uvicorn + aiohttp) costs before any gateway work.",
        "",
        "| comparison | measured |",
        "|---|---:|",
    ]
    for label, value in (
        ("floor (bare-proxy) vs nginx, req/s", ratio("bare-proxy", "nginx")),
        ("floor (bare-proxy) vs nginx, per core", _inverse(ratio("bare-proxy", "nginx", "cpu_us"))),
        ("Gerbang none vs the floor, per core", _inverse(ratio("gerbang-none", "bare-proxy", "cpu_us"))),
        ("Gerbang bearer vs the floor, per core", _inverse(ratio("gerbang-bearer", "bare-proxy", "cpu_us"))),
        ("DPoP pipeline vs bearer pipeline, req/s", ratio("gerbang-dpop", "gerbang-bearer")),
        ("DPoP pipeline vs bearer pipeline, per core", _inverse(ratio("gerbang-dpop", "gerbang-bearer", "cpu_us"))),
    ):
        lines.append(f"| {label} | {'' if value is None else f'{value:.2f}x'} |")
    return [*lines, ""]


ONE_WORKER = frozenset({"gerbang-none", "gerbang-bearer", "gerbang-dpop", "gerbang-full", "token-gerbang"})


def _inverse(value: float | None) -> float | None:
    return None if value is None or value == 0 else 1 / value


def _verdict(value: float | None, bar: float, above: bool) -> str:
    if value is None:
        return "not measured"
    return "yes" if (value >= bar if above else value < bar) else "**no**"


def build_svg(results: list[Result], facts: MachineFacts) -> str:
    """A horizontal bar per measured target (req/s), its p99 written beside it."""
    measured = [result for result in results if result.unavailable is None]
    width, bar_height, left, top = 900, 26, 170, 50
    height = top + bar_height * max(len(measured), 1) + 30
    peak = max((result.requests_per_s for result in measured), default=1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">req/s (median), p99 latency, CPU per request — '
        f"{escape(facts.started_at)}, {escape(facts.host)}</text>",
    ]
    for index, result in enumerate(measured):
        y = top + index * bar_height
        length = (width - left - 330) * result.requests_per_s / peak
        colour = "#2b7bb9" if result.name.startswith(("gerbang", "token-gerbang")) else "#9a9a9a"
        parts += [
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(result.name)}</text>',
            f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{bar_height - 8}" fill="{colour}"/>',
            f'<text x="{left + length + 6:.1f}" y="{y + 17}">{result.requests_per_s:,.0f} req/s · '
            f"p99 {result.p99_ms:.1f} ms · {result.cpu_us:.0f} µs CPU/req</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _disturbance_warning(results: list[Result]) -> list[str]:
    worst = max((result.foreign for result in results if result.unavailable is None), default=0.0)
    if math.isnan(worst) or worst < 0.10:
        return []
    return [
        f"> **Disturbed run:** other processes used up to {worst:.0%} of the machine during the rounds, so the "
        "targets did not get their core to themselves. Compare CPU µs/req rather than req/s, and re-run on a "
        "quiet machine before quoting these numbers.",
        "",
    ]


def _ratio(value: float, baseline: float | None, style: str = "%") -> str:
    if baseline is None or baseline == 0 or math.isnan(value) or math.isnan(baseline):
        return ""
    return f"{value / baseline:.1f}x" if style == "x" else f"{100 * value / baseline:.0f} %"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _raw(results: list[Result], facts: MachineFacts, cores: Cores, plan: Plan) -> dict[str, object]:
    return {
        "machine": dataclasses.asdict(facts),
        "cores": dataclasses.asdict(cores),
        "plan": dataclasses.asdict(plan),
        "results": [dataclasses.asdict(result) for result in results],
    }


def load_raw(path: Path) -> tuple[list[Result], MachineFacts, Cores, Plan]:
    """A run's raw JSON back into values, to render its report again (``--render``)."""
    raw = json.loads(path.read_text())
    results = []
    for record in raw["results"]:
        runs = [WrkRun(**run) for run in record.pop("runs")]
        results.append(Result(**record, runs=runs))
    return results, MachineFacts(**raw["machine"]), Cores(**raw["cores"]), Plan(**raw["plan"])
