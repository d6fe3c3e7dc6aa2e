"""The results of one run: the printed table, the block of docs/benchmarks.md, the chart."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLOOR = "floor: cryptography ES256 verify"
FRESH = "alb_oidc verify_data_token, fresh"
REPEATED = "alb_oidc authenticate data+access, repeated"
START, END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class Row:
    """One contender: median microseconds per request."""

    name: str
    us: float
    note: str


@dataclass
class Result:
    """Everything one run measured."""

    command: str
    rows: list[Row] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    token_bytes: dict[str, int] = field(default_factory=dict)
    http: dict[str, dict[str, float]] | None = None
    coldstart: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, us: float, note: str = "") -> None:
        """Record a contender's median."""
        self.rows.append(Row(name, us, note))

    def us(self, prefix: str) -> float | None:
        """The median of the first contender whose name starts with `prefix`."""
        return next((row.us for row in self.rows if row.name.startswith(prefix)), None)

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) for each target of the issue that this run measured."""
        checks: list[tuple[str, str, bool]] = []
        floor, fresh, repeated = self.us(FLOOR), self.us(FRESH), self.us(REPEATED)
        peer = self.us("aws-jwt-verify")
        if floor and fresh:
            ratio = fresh / floor
            checks.append(("fresh data token <= 1.15x floor", f"{ratio:.3f}x", ratio <= 1.15))
        if peer and fresh:
            ratio = fresh / peer
            checks.append(
                ("fresh data token <= 1.05x aws-jwt-verify", f"{ratio:.3f}x", ratio <= 1.05)
            )
        if repeated:
            checks.append(("repeated data + access < 5 us", f"{repeated:.2f} us", repeated < 5))
        if repeated and peer:
            ratio = peer / repeated
            checks.append(
                ("repeated >= 15x faster than aws-jwt-verify", f"{ratio:.0f}x", ratio >= 15)
            )
        if self.http:
            ratio = self.http["protected"]["rps"] / self.http["plain"]["rps"]
            checks.append(
                ("middleware >= 0.85x the app's throughput", f"{ratio:.3f}x", ratio >= 0.85)
            )
        if self.coldstart:
            fetches = self.coldstart["fetches"]
            checks.append(
                ("1,000 concurrent first requests: 1 key fetch", str(fetches), fetches == 1)
            )
        if self.memory:
            growth = self.memory["growth_mb"]
            checks.append(
                (
                    f"RSS growth after {self.memory['requests']:,} tokens < 30 MB",
                    f"{growth} MB",
                    growth < 30,
                )
            )
        return checks

    def table(self) -> str:
        """The plain-text report printed at the end of a run."""
        floor = self.us(FLOOR) or 1.0
        lines = [f"{'contender':<58} {'us/request':>10} {'x floor':>8}"]
        lines += [f"{row.name:<58} {row.us:>10.2f} {row.us / floor:>8.3f}" for row in self.rows]
        if self.http:
            lines.append("")
            for name, load in self.http.items():
                lines.append(
                    f"uvicorn {name:<12} {load['rps']:>9,.0f} req/s  p50 "
                    f"{load['p50_ms']:.2f} ms  p99 {load['p99_ms']:.2f} ms  "
                    f"non-2xx {load['non_2xx']}"
                )
        if self.coldstart:
            lines.append(f"\ncold start: {self.coldstart}")
        if self.memory:
            lines.append(f"memory: {self.memory}")
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        lines.append("")
        lines += [
            f"{'MET ' if met else 'MISSED'} {target}: {value}"
            for target, value, met in self.targets()
        ]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The generated block of docs/benchmarks.md."""
        floor = self.us(FLOOR) or 1.0
        env = ", ".join(f"{name} {value}" for name, value in self.environment.items())
        out = [
            f"Produced by `{self.command} --write` ({env}; data token "
            f"{self.token_bytes.get('data')} bytes, access token "
            f"{self.token_bytes.get('access')} bytes).",
            "",
            "| contender | µs per request (median) | x floor | what it does |",
            "|---|---:|---:|---|",
        ]
        out += [
            f"| {row.name} | {row.us:.2f} | {row.us / floor:.3f} | {row.note} |"
            for row in self.rows
        ]
        if self.http:
            out += [
                "",
                "| uvicorn, hello world | requests/s | p50 | p99 | non-2xx |",
                "|---|---:|---:|---:|---:|",
            ]
            out += [
                f"| {name} | {load['rps']:,.0f} | {load['p50_ms']:.2f} ms | "
                f"{load['p99_ms']:.2f} ms | {load['non_2xx']} |"
                for name, load in self.http.items()
            ]
        if self.coldstart:
            cold = self.coldstart
            out += [
                "",
                f"Cold start: {cold['requests']:,} concurrent first requests, "
                f"{cold['verified']:,} verified, **{cold['fetches']} key fetch(es)**, "
                f"{cold['seconds']:.2f} s in all.",
            ]
        if self.memory:
            mem = self.memory
            out += [
                "",
                f"Memory: {mem['requests']:,} distinct valid requests: RSS "
                f"{mem['rss_after_warm_up_mb']} MB after {mem['warm_up']:,}, "
                f"{mem['rss_after_all_mb']} MB after all (**growth {mem['growth_mb']} MB**); "
                f"result cache {mem['result_cache_entries']:,} of "
                f"{mem['result_cache_size']:,} entries.",
            ]
        for name, reason in self.skipped.items():
            out += ["", f"Not measured: {name} ({reason})."]
        out += ["", "| target | measured | met |", "|---|---:|:---:|"]
        out += [
            f"| {target} | {value} | {'yes' if met else '**no**'} |"
            for target, value, met in self.targets()
        ]
        return "\n".join(out)


def write_markdown(result: Result, path: Path) -> None:
    """Replace the block between the result markers of `path` with this run's figures."""
    text = path.read_text(encoding="utf-8")
    block = f"{START}\n{result.markdown()}\n{END}"
    new, count = re.subn(
        re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL
    )
    if count != 1:
        raise RuntimeError(f"{path} has no {START} ... {END} block")
    path.write_text(new, encoding="utf-8")


def write_chart(result: Result, path: Path) -> None:
    """A horizontal bar chart of the per-request cost of each contender (log scale)."""
    import matplotlib  # noqa: PLC0415 - only the --write path needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = sorted(result.rows, key=lambda row: row.us)
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2), dpi=110)
    colours = ["#d62728" if row.name.startswith("alb_oidc") else "#7f7f7f" for row in rows]
    bars = axes.barh([row.name for row in rows], [row.us for row in rows], color=colours)
    axes.set_xscale("log")
    axes.set_xlabel("microseconds per request (median, log scale)")
    axes.bar_label(bars, labels=[f"{row.us:.1f}" for row in rows], padding=3, fontsize=8)
    floor = result.us(FLOOR)
    if floor:
        axes.axvline(floor, color="#1f77b4", linestyle="--", linewidth=1)
    axes.set_title("Cost of verifying one request (alb_oidc in red; dashed: the ECDSA floor)")
    axes.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
