"""Request targets for the emulator: the one path that routing, public paths and the target see.

An ASGI server hands over the request target as the client sent it, and servers differ: uvicorn's
h11 parser passes `@host:port/x` and `http://host/x` through unchanged. So the emulator accepts
only origin-form targets (a path starting with `/`), resolves dot segments (including
percent-encoded ones, `%2e%2e`), percent-encodes anything outside RFC 3986's path characters,
and forwards exactly that path. The public-path gate then matches what the target receives; and
since targets disagree about `%2F`, backslashes and `;` parameters (some decode before resolving
`..`), a path is public only if every one of those readings matches a pattern.

Public path patterns mean what `ALBConfig.public_paths` makes of them (checked by the same
`config.public_paths_of`), so the emulator and the app behind it agree on which paths need no
login: an exact path (`/health`), or a prefix ending in `*` (`/static/*`), and nothing else.

`with_query` adds parameters to an endpoint URL that may have a query of its own (used by both
the emulator and the dev IdP).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

import httpx2
from starlette.types import Scope

__all__ = ["RequestTarget", "parse_target", "with_query"]

# RFC 3986 section 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = _SUB_DELIMS + ":@/%"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_DOT = re.compile("%2e", re.IGNORECASE)


def _encode(raw: bytes, safe: str) -> str:
    return _LONE_PERCENT.sub("%25", quote(raw, safe=safe))


def _remove_dot_segments(path: str, *, strip_params: bool = False) -> str:
    """RFC 3986 section 5.2.4 on a path starting with `/`; `%2e` counts as a dot."""
    segments = path.split("/")[1:]
    output: list[str] = []
    for index, segment in enumerate(segments):
        dots = _ENCODED_DOT.sub(".", segment.split(";")[0] if strip_params else segment)
        if dots in (".", ".."):
            if dots == ".." and output:
                output.pop()
            if index == len(segments) - 1:
                output.append("")
            continue
        output.append(segment)
    return "/" + "/".join(output)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(
        path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern
        for pattern in patterns
    )


@dataclass(frozen=True)
class RequestTarget:
    """A checked origin-form target: `path` normalised and percent-encoded, `query` encoded."""

    path: str
    query: str

    @property
    def decoded_path(self) -> str:
        """The path as an ASGI app behind the emulator sees it (`scope["path"]`)."""
        return unquote(self.path)

    def is_public(self, patterns: Sequence[str]) -> bool:
        """Whether every way a target might read the path matches one of `patterns` (checked
        ones: exact paths, or prefixes ending in `*`)."""
        if not patterns:
            return False
        decoded = self.decoded_path
        # Targets that decode %2F, treat a backslash as a slash (Windows servers) or drop `;`
        # parameters before resolving `..` (Tomcat: `/public/..;/admin`) see this path instead.
        lenient = _remove_dot_segments(decoded.replace("\\", "/"), strip_params=True)
        return all(_matches(reading, patterns) for reading in (decoded, lenient))

    def same_origin(self) -> str:
        """The path and query to return to after login; never a network-path reference."""
        # `//host/x` (and, in browsers, `/\host/x`, which encoding has ruled out) leave the origin.
        path = "/" + self.path.lstrip("/")
        return f"{path}?{self.query}" if self.query else path

    def upstream_url(self, upstream: httpx2.URL) -> httpx2.URL:
        """This target at `upstream`: its scheme, host and port (and path prefix, if any)."""
        prefix = upstream.raw_path.partition(b"?")[0].rstrip(b"/")
        query = b"?" + self.query.encode("ascii") if self.query else b""
        return upstream.copy_with(raw_path=prefix + self.path.encode("ascii") + query)


def parse_target(scope: Scope) -> RequestTarget | None:
    """The scope's request target, or None if it is not a path (`@host/x`, `http://host/x`, `*`)."""
    raw_path = scope.get("raw_path")
    raw = raw_path if isinstance(raw_path, bytes) else quote(scope["path"]).encode("ascii")
    if not raw.startswith(b"/"):
        return None
    query = scope.get("query_string", b"")
    return RequestTarget(
        _remove_dot_segments(_encode(raw, _PATH_SAFE)), _encode(query, _QUERY_SAFE)
    )


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query.

    An endpoint may have a query of its own (Azure AD B2C: `.../authorize?p=B2C_1_signin`),
    which must be kept when parameters are added (RFC 6749, sections 3.1 and 3.1.2).
    """
    query = urlencode(params)
    if "?" not in url:
        return f"{url}?{query}"
    return f"{url}{'' if url.endswith(('?', '&')) else '&'}{query}"
