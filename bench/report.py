"""The results of one run: the table printed at the end, docs/benchmarks.md and its chart.

The printed table marks each figure against its target; the page written for users gives the
results, what they mean and the method, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLOOR = "floor: cryptography ES256 verify"
RS_FLOOR = "floor: cryptography RS256 verify"
STEADY = "middleware: new data token, known access token"
NEW_HEADER = "middleware: new data token, header not seen before"
DATA_ONLY = "middleware: new data token, opaque access token"
VERIFY = "verify_data_token: new data token"
NEW_SESSION = "middleware: new session (both tokens new)"
REPEATED = "middleware: same data + access tokens again"
REPEATED_DATA_ONLY = "middleware: same data token again, opaque access token"
PYJWT = "PyJWT jwt.decode, unpadded ES256"
OIDC_STEADY = "middleware: new data token, known Okta access token"
OIDC_NEW_SESSION = "middleware: new session, Okta access token"
BEARER_KNOWN = "middleware: machine client, known bearer token"
BARE_APP = "harness: scope copy and app call, no middleware"
PROTECTED, PLAIN, TWO_WORKERS = "protected", "plain", "protected, 2 workers"
PASSTHROUGH = "passthrough"
SERVER_FLOOR = "floor"

#: Row name -> ceiling, as a multiple of the ES256 floor.
TARGETS = {STEADY: 1.20, VERIFY: 1.12}
NEW_SESSION_TARGET = 1.15  # times (ES256 floor + RS256 floor)
HTTP_TARGET = 1.3  # the server's added cost per request, times the (in-process) ES256 floor


@dataclass
class Row:
    """One contender: median microseconds per request."""

    name: str
    us: float
    note: str
    group: str


@dataclass
class Result:
    """Everything one run measured."""

    command: str
    rows: list[Row] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    method: dict[str, Any] = field(default_factory=dict)
    token_bytes: dict[str, int] = field(default_factory=dict)
    http: dict[str, dict[str, float]] | None = None
    coldstart: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, us: float, note: str = "", group: str = "peer") -> None:
        """Record a contender's median."""
        self.rows.append(Row(name, us, note, group))

    def us(self, name: str) -> float | None:
        """The median of the contender called `name`, if it was measured."""
        return next((row.us for row in self.rows if row.name == name), None)

    def added_us(self) -> float | None:
        """What the middleware adds to a request under uvicorn, in µs (one worker each)."""
        if not self.http:
            return None
        return 1e6 / self.http[PROTECTED]["rps"] - 1e6 / self.http[PLAIN]["rps"]

    def floor_in_server_us(self) -> float | None:
        """What one raw P-256 verification adds to a request under uvicorn, in µs.

        The floor app is itself a middleware layer around the plain app, so its cost is taken
        against the do-nothing middleware (`passthrough`) when that was measured: the layer
        is the same, only the verification differs."""
        if not self.http or SERVER_FLOOR not in self.http:
            return None
        base = self.http.get(PASSTHROUGH, self.http[PLAIN])
        return 1e6 / self.http[SERVER_FLOOR]["rps"] - 1e6 / base["rps"]

    def _floor_base(self) -> str:
        """What the in-server floor is taken against, in words."""
        if self.http and PASSTHROUGH in self.http:
            return "a middleware layer that does nothing"
        return "the bare app"

    def marks(self) -> dict[str, str]:
        """Figure name -> "1.17x floor (target <= 1.20x) ok" for every figure with a target."""
        floor, rs_floor = self.us(FLOOR), self.us(RS_FLOOR)
        marks: dict[str, str] = {}
        if not floor:
            return marks
        for name, ceiling in TARGETS.items():
            us = self.us(name)
            if us is not None:
                marks[name] = _mark(us / floor, ceiling, "floor")
        new_session = self.us(NEW_SESSION)
        if new_session is not None and rs_floor:
            ratio = new_session / (floor + rs_floor)
            marks[NEW_SESSION] = _mark(ratio, NEW_SESSION_TARGET, "(ES256 + RS256 floors)")
        added = self.added_us()
        if added is not None:
            marks["uvicorn: added per request"] = _mark(added / floor, HTTP_TARGET, "floor")
        return marks

    def table(self) -> str:
        """The plain-text report printed at the end of a run, targets marked."""
        floor = self.us(FLOOR) or 1.0
        marks = self.marks()
        lines = [f"{'contender':<56} {'us/request':>10} {'x floor':>8}"]
        lines += [
            f"{row.name:<56} {row.us:>10.2f} {row.us / floor:>8.3f}  {marks.get(row.name, '')}"
            for row in self.rows
        ]
        bare, steady = self.us(BARE_APP), self.us(STEADY)
        if bare is not None and steady is not None:
            lines.append(
                f"(middleware rows leave out the harness row; the steady state with it: "
                f"{steady + bare:.2f} us = {(steady + bare) / floor:.3f}x floor)"
            )
        if self.http:
            lines.append("")
            for name, load in self.http.items():
                lines.append(
                    f"uvicorn {name:<21} {load['rps']:>9,.0f} req/s  p50 "
                    f"{load['p50_ms']:.2f} ms  p99 {load['p99_ms']:.2f} ms"
                )
            added = self.added_us() or 0.0
            server_floor = self.floor_in_server_us()
            if server_floor:
                lines.append(
                    f"uvicorn: one raw P-256 verification adds {server_floor:.1f} us to a request "
                    f"({server_floor / floor:.2f}x the in-process floor)"
                )
            in_server = (
                f"; {added / server_floor:.2f}x the floor in the server" if server_floor else ""
            )
            lines.append(
                f"uvicorn: the middleware adds {added:.1f} us = "
                f"{marks.get('uvicorn: added per request', '')}{in_server}"
            )
        if self.coldstart:
            lines.append(f"\ncold start: {self.coldstart}")
        if self.memory:
            lines.append(f"memory: {self.memory}")
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The whole of docs/benchmarks.md."""
        sections = [
            self._production(),
            self._new_sessions(),
            self._machine_clients(),
            self._repeated(),
            self._peers(),
            self._load(),
            self._coldstart_and_memory(),
            self._method(),
        ]
        return "\n\n".join(section for section in sections if section) + "\n"

    def _rows(self, group: str) -> list[Row]:
        return [row for row in self.rows if row.group == group]

    def _production(self) -> str:
        floor = self.us(FLOOR)
        steady = self.us(STEADY)
        env = ", ".join(f"{name} {value}" for name, value in self.environment.items())
        out = [
            "# Benchmarks",
            "",
            "What alb-oidc costs per request on the traffic an ALB really sends, measured in one "
            f"run of `{self.command}` ({env}).",
        ]
        if not floor or steady is None:
            return "\n".join(out)
        out += [
            "",
            "## A request in production",
            "",
            "The ALB signs a new data token for every request it forwards (its `exp` is the "
            "request's time plus 120 seconds), while the access token is the IdP's and stays "
            "the same for the whole session (Cognito: an RS256 JWT valid for an hour). So a "
            "signed-in user's requests bring a data token never seen before and an access "
            "token seen on the session's earlier requests.",
            "",
            "| request | µs | x floor | per core |",
            "|---|---:|---:|---:|",
        ]
        rows = [*self._rows("production"), *(row for row in self.rows if row.name == FLOOR)]
        out += [_line(row, floor) for row in rows]
        out += [
            "",
            "*Floor*: the one ECDSA P-256 verification of the data token (OpenSSL through "
            "`cryptography`) that no verifier can skip. *Per core*: one second divided by the "
            "cost, the requests a core can authenticate each second before the server and the "
            "app do any work of their own.",
        ]
        new_header = self.us(NEW_HEADER)
        shared = self.method.get("users") or "many"
        if new_header is not None:
            out += [
                "",
                "The tokens the ALB signs in the same second share their header (it holds "
                "`exp`), and the middleware remembers the headers it verified: the first "
                "request of each second pays for the header's checks and the key lookup, the "
                "others skip them. The other rows with a new data token above have "
                f"{shared} requests share each header, as in an app that gets {shared} requests "
                "a second or more per process. In a quiet app, where each request is the first "
                "of its second, every request costs "
                f"*{NEW_HEADER.removeprefix('middleware: ')}*: {new_header:.0f} µs, "
                f"{new_header / floor:.2f} times the floor.",
            ]
        added = self.added_us()
        out += [
            "",
            f"In process, the whole middleware costs **{steady:.0f} µs of CPU** per signed-in "
            f"user's request, **{steady / floor:.2f} times the floor**: {steady - floor:.0f} µs "
            "for the ALB's checks, the session's access token, the user object and Starlette's "
            "scope entries on top of the signature itself",
        ]
        if self.http and added is not None:
            out[-1] += (
                f"; under uvicorn it adds **{added:.0f} µs** to a request "
                f"({added / floor:.2f} times the in-process floor; see below)."
            )
        else:
            out[-1] += "."
        bare = self.us(BARE_APP)
        if bare is not None:
            out[-1] += (
                f" (With the {bare:.2f} µs a server spends handing any request to its app, "
                f"which the in-process middleware rows leave out: {steady + bare:.1f} µs, "
                f"{(steady + bare) / floor:.2f} times.)"
            )
        if self.http and added is not None:
            out += [
                "",
                f"Under uvicorn, one worker serves a hello-world app at "
                f"{self.http[PLAIN]['rps']:,.0f} requests/s without the middleware and "
                f"{self.http[PROTECTED]['rps']:,.0f} with it, a new data token on every request: "
                f"the middleware adds {added:.0f} µs a request ({added / floor:.2f} times the "
                "in-process floor). Two workers, sharing both CPUs with the load generator, serve "
                f"{self.http[TWO_WORKERS]['rps']:,.0f} (details under *Load test*).",
            ]
            server_floor = self.floor_in_server_us()
            if server_floor:
                out[-1] += (
                    f" Most of that is the signature check itself, which costs more inside a "
                    f"loaded server: one raw P-256 verification adds {server_floor:.0f} µs there "
                    f"(against {self._floor_base()}), so the middleware costs "
                    f"{added / server_floor:.2f} times the floor measured where it runs."
                )
        out += ["", "![Per-request cost of each contender](benchmarks.png)"]
        return "\n".join(out)

    def _new_sessions(self) -> str:
        floor, rs_floor, new = self.us(FLOOR), self.us(RS_FLOOR), self.us(NEW_SESSION)
        if not floor or not rs_floor or new is None:
            return ""
        both = floor + rs_floor
        steady = self.us(STEADY)
        # Said only when this run shows it: known access tokens cost less than new ones.
        reuse = (
            " once; the session's later requests reuse that result"
            if steady is not None and steady < new - rs_floor / 2
            else ""
        )
        return "\n".join(
            [
                "## A new session",
                "",
                "A session's first request also brings an access token never seen before: its "
                "RS256 signature and claims (`iss`, `token_use`, `client_id`, `exp`, `sub`) are "
                f"verified{reuse}.",
                "",
                "| request | µs | x (ES256 + RS256 floors) | per core |",
                "|---|---:|---:|---:|",
                *(_line(row, both) for row in self._rows("new session")),
                f"| floors: ES256 + RS256 | {both:.1f} | 1.00 | {1e6 / both:,.0f} /s |",
                f"| {RS_FLOOR} | {rs_floor:.1f} | {rs_floor / both:.2f} | "
                f"{1e6 / rs_floor:,.0f} /s |",
            ]
        )

    def _machine_clients(self) -> str:
        floor, rows = self.us(FLOOR), self._rows("machine clients")
        if not floor or not rows:
            return ""
        return "\n".join(
            [
                "## Machine clients",
                "",
                "A listener rule's `jwt-validation` action forwards a machine client's request "
                "with its `Authorization: Bearer` token as it came and no `x-amzn-oidc-*` "
                "header: there is no data token, and the client sends the same bearer token "
                "until it expires, so the middleware answers it from its earlier verification.",
                "",
                "| request | µs | x floor | per core |",
                "|---|---:|---:|---:|",
                *(_line(row, floor) for row in rows),
            ]
        )

    def _repeated(self) -> str:
        floor, rows = self.us(FLOOR), self._rows("repeated")
        if not floor or not rows:
            return ""
        reused = all(row.us < floor / 2 for row in rows)
        how = (
            "The middleware answers these from its earlier verification of the same bytes."
            if reused
            else "The middleware verifies their data token again, like any other."
        )
        return "\n".join(
            [
                "## The same tokens again",
                "",
                "A real ALB never sends the same data token twice, but an app can still receive "
                "identical bytes: a retry made behind the ALB, tests that replay one set of "
                f"headers, a development emulator that reuses its tokens. {how}",
                "",
                "| request | µs | x floor | per core |",
                "|---|---:|---:|---:|",
                *(_line(row, floor) for row in rows),
            ]
        )

    def _peers(self) -> str:
        floor, rows = self.us(FLOOR), self._rows("peer")
        if not floor or not rows:
            return ""
        return "\n".join(
            [
                "## Other libraries",
                "",
                "The same kind of token verified by PyJWT (which rejects the ALB's padded format, "
                "so it gets the same claims as a standard JWT) and by `aws-jwt-verify` (Node.js; "
                "its row *node floor* is Node's own ES256 verification, for scale). Neither keeps "
                "results between calls.",
                "",
                "| library | µs | x floor | what it does |",
                "|---|---:|---:|---|",
                *(
                    f"| {row.name} | {row.us:.1f} | {row.us / floor:.2f} | {row.note} |"
                    for row in rows
                ),
            ]
        )

    def _load(self) -> str:
        if not self.http:
            return ""
        out = [
            "## Load test",
            "",
            "A hello-world Starlette app under uvicorn, driven by `wrk` over loopback, every "
            "request with a data token the server has never seen and its session's access "
            "token. *plain* is the bare app, *passthrough* the app behind a middleware that "
            "does nothing, *floor* the app behind a middleware that does one raw P-256 "
            "verification and nothing else, *protected* the app behind `ALBAuthMiddleware`; "
            "all receive the same headers.",
            "",
            "| uvicorn | requests/s | p50 | p99 |",
            "|---|---:|---:|---:|",
        ]
        out += [
            f"| {name} | {load['rps']:,.0f} | {load['p50_ms']:.2f} ms | {load['p99_ms']:.2f} ms |"
            for name, load in self.http.items()
        ]
        out += [
            "",
            f"wrk keeps its {self.method.get('connections') or 'few'} connections busy, each "
            "sending its next request as soon as the last is answered, so the server is always "
            "saturated and the latencies restate the rate (the median is about connections "
            "divided by requests per second): they say nothing of a request's latency under a "
            "lighter load.",
        ]
        added, floor = self.added_us(), self.us(FLOOR)
        one, two = self.http[PROTECTED]["rps"], self.http[TWO_WORKERS]["rps"]
        if added is not None and floor:
            out += [
                "",
                f"The middleware's cost per request is 1/{one:,.0f} - "
                f"1/{self.http[PLAIN]['rps']:,.0f} s = {added:.0f} µs, {added / floor:.2f} "
                f"times the in-process floor. Two workers (`uvicorn --workers 2`) serve "
                f"{two / one:.2f} times what one does, but the two rows do not compare like for "
                "like: the one worker has a CPU to itself with wrk pinned to the other, while "
                "the two workers share both CPUs of the machine "
                f"({self.environment.get('machine', '')}) with wrk, which needs a good part of "
                "one itself.",
            ]
        server_floor = self.floor_in_server_us()
        if added is not None and server_floor:
            out += [
                "",
                f"Inside the server the floor itself costs more: one raw P-256 verification adds "
                f"{server_floor:.0f} µs to a request there (*floor* against "
                f"{self._floor_base()}; {floor or 0:.0f} µs in a quiet process), so measured "
                f"where it runs the middleware costs {added / server_floor:.2f} times the floor.",
            ]
        return "\n".join(out)

    def _coldstart_and_memory(self) -> str:
        out = []
        if self.coldstart:
            cold = self.coldstart
            out.append(
                f"**Cold start.** {cold['requests']:,} concurrent first requests, all signed "
                "with one kid the process has not fetched yet, against a key server that takes "
                f"50 ms to answer: {cold['verified']:,} verified, **{cold['fetches']} key "
                f"{'fetch' if cold['fetches'] == 1 else 'fetches'}**, {cold['seconds']:.2f} s "
                "in all."
            )
        if self.memory:
            mem = self.memory
            cache = (
                f" for {mem['users']:,} sessions, more than the access-token cache holds (set to "
                f"{mem['access_token_cache_size']:,} entries: it is full from early on, and "
                "every request replaces an entry)"
                if "users" in mem
                else ""
            )
            out.append(
                f"**Memory.** {mem['requests']:,} requests{cache}, each with a new data token: "
                f"RSS {mem['rss_after_warm_up_mb']} MB after {mem['warm_up']:,} requests, "
                f"{mem['rss_after_all_mb']} MB after all of them (**growth "
                f"{mem['growth_mb']} MB**)."
            )
        if not out:
            return ""
        return "\n\n".join(["## Cold start and memory", *out])

    def _method(self) -> str:
        method = self.method
        tokens = self.token_bytes
        out = [
            "## Method",
            "",
            f"- **Tokens.** Cognito-shaped userinfo in the ALB's padded format (data tokens of "
            f"about {tokens.get('data')} bytes) and RS256 access tokens with scopes and groups "
            f"(about {tokens.get('access')} bytes), from a fake ALB with real keys. As from a "
            "real ALB, whose header holds `exp` (the request's time plus 120 s), the tokens of "
            f"one second share their header: {method.get('users')} a header, one for each "
            "user, and a user's next token is a second later, so no two tokens share both "
            "header and payload. The middleware remembers the headers it verified, so the "
            "figures with such tokens assume traffic of at least that many requests a second "
            "per process; with less, more requests are the first of their second, and the row "
            f"*{NEW_HEADER.removeprefix('middleware: ')}* (every token with a header of its "
            "own) gives the cost of each of those. An opaque access token is a 219-byte "
            "`ya29.` string of base64url characters per user, like Google's.",
            f"- **In process.** {method.get('users')} signed-in users, each with their own "
            "access token, served once before timing starts. Each contender then handles "
            f"{method.get('requests'):,} requests in batches of {method.get('batch')}, "
            f"contenders taking turns batch by batch over {method.get('rounds')} rounds, so a "
            "slow spell of the shared machine hits them all alike, in a new random order every "
            "batch, so that none always follows the same one (a batch pays for what the one "
            "before it left in the CPU's caches); a figure is the median of the per-request "
            "means of its batches. Each contender has caches of its own, and each new token "
            "comes once to a contender, so no cache of verified results can answer it; the "
            "steady state, `verify_data_token` and the floor are handed the very same tokens. "
            "Request headers are new bytes objects every time, as a server makes them.",
            "- **The whole middleware.** The middleware rows call `ALBAuthMiddleware` with an "
            "ASGI scope like uvicorn's, in front of an app that does nothing. Every key is "
            "fetched beforehand, so the coroutine never suspends and is driven without an event "
            "loop: the figures are the CPU cost of the code, not of asyncio. They are what the "
            "middleware adds to a request, as in the load test: each batch runs next to a batch "
            "of requests handed straight to the app (the new scope a server makes and the "
            f"app's coroutine, {self.us(BARE_APP) or 0:.2f} µs a request), whose time is "
            "subtracted. The app checks that each request reached it authenticated (and the "
            "bare requests carry a user for the same check), so no refused or anonymous "
            "request is timed.",
            "- **Other libraries.** `aws-jwt-verify` verifies the same padded tokens with "
            "`verifySync` and a locally cached key, with its own timing loop in Node.js.",
        ]
        if self.http:
            out.append(
                f"- **Load test.** {method.get('pool'):,} data tokens for "
                f"{method.get('users')} sessions are minted beforehand; a wrk Lua script "
                f"(`bench/wrk_pool.lua`) sends them in turn, each of its {method.get('threads')} "
                "threads its own slice, each run going on where the last one stopped, so a "
                f"token comes back only after about {method.get('pool'):,} other requests. "
                "uvicorn runs one worker (two in the last row) with uvloop and httptools and no "
                f"access log; wrk keeps {method.get('connections')} connections open. A "
                "one-worker server has a CPU to itself and wrk the other (`taskset`), as a "
                "production server has its core while the load comes from elsewhere; two "
                "workers share both CPUs with wrk. *floor* is the app behind a middleware layer, "
                "so the cost of its verification is its time per request less *passthrough*'s "
                "(the same layer doing nothing), and the middleware's is *protected*'s less "
                "*plain*'s. A run with any refused request or socket error (warm-ups included) "
                "is an error, not a figure. The "
                f"variants alternate, {method.get('runs')} runs of {method.get('seconds')} s each "
                "after a warm-up, and each figure is the median."
            )
        for name, reason in self.skipped.items():
            out.append(f"- Not measured in this run: {name} ({reason}).")
        out += [
            "",
            "## Reproduce",
            "",
            "```",
            "uv run python -m bench            # prints the table (a few minutes)",
            "uv run python -m bench --quick    # smaller and shorter",
            "uv run python -m bench --skip node,http,coldstart,memory",
            "uv run python -m bench --write    # also rewrites this page and its chart",
            "```",
            "",
            "The harness installs `aws-jwt-verify` with npm into `.bench/node/` (ignored by git) "
            "on first use, and `wrk` from Debian's archive when it is missing and it runs as "
            "root; without them, those rows are not measured. The load test pins its servers "
            "and wrk with `taskset` (util-linux) where it is installed and the machine has two "
            "CPUs or more, and pins nothing otherwise. Timings depend on the machine and "
            "on what else runs on it, so nothing here is asserted by the test suite (which does "
            "assert the counts: one key fetch for 1,000 concurrent first requests, bounded "
            "caches).",
        ]
        return "\n".join(out)


def _mark(ratio: float, ceiling: float, unit: str) -> str:
    verdict = "ok" if ratio <= ceiling else "MISSED"
    return f"{ratio:.2f}x {unit} (target <= {ceiling:.2f}x) {verdict}"


def _line(row: Row, base: float) -> str:
    return f"| {row.name} | {row.us:.1f} | {row.us / base:.2f} | {1e6 / row.us:,.0f} /s |"


def write_markdown(result: Result, path: Path) -> None:
    """Write docs/benchmarks.md from this run."""
    path.write_text(result.markdown(), encoding="utf-8")


#: The chart's order, top to bottom: each group's colour and legend.
_GROUPS = {
    "production": ("#d62728", "production: new data token"),
    "floor": ("#1f77b4", "floors: cryptography"),
    "new session": ("#ff7f0e", "new session"),
    "machine clients": ("#2ca02c", "machine clients: bearer token"),
    "repeated": ("#e377c2", "same tokens again"),
    "peer": ("#7f7f7f", "other libraries"),
}


def write_chart(result: Result, path: Path) -> None:
    """A horizontal bar chart of the per-request cost of each contender (log scale), the
    production rows at the top."""
    import matplotlib  # noqa: PLC0415 - only the --write path needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415
    from matplotlib.ticker import ScalarFormatter  # noqa: PLC0415

    rows = sorted(
        (row for row in result.rows if row.group in _GROUPS),
        key=lambda row: list(_GROUPS).index(row.group),
    )
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8), dpi=110)
    bars = axes.barh(
        [row.name for row in rows],
        [row.us for row in rows],
        color=[_GROUPS[row.group][0] for row in rows],
    )
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("microseconds per request (median, log scale)")
    axes.bar_label(bars, labels=[f"{row.us:.1f}" for row in rows], padding=3, fontsize=8)
    floor = result.us(FLOOR)
    if floor:
        axes.axvline(floor, color="#1f77b4", linestyle="--", linewidth=1)
    groups = [group for group in _GROUPS if any(row.group == group for row in rows)]
    figure.legend(
        handles=[Patch(color=_GROUPS[group][0], label=_GROUPS[group][1]) for group in groups],
        loc="lower center",
        ncol=len(groups),
        fontsize=8,
        frameon=False,
    )
    axes.set_xlim(right=max(row.us for row in rows) * 1.5)
    axes.set_title("Cost of one request (dashed: the ES256 floor)")
    axes.tick_params(axis="y", labelsize=8)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path)
    plt.close(figure)
