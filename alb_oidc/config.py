"""Frozen, validated settings: what the middleware trusts and where it fetches keys.

Everything is checked once, at construction, and a bad value raises `ConfigurationError` naming
the field. Nothing here touches the network.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any
from urllib.parse import SplitResult, urlsplit

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_SESSION_COOKIE",
    "DEV_SIGNER_ARN",
    "JWT_ALGORITHMS",
    "ALBConfig",
    "CognitoConfig",
    "OIDCAccessTokenConfig",
]

logger = logging.getLogger("alb_oidc")

DEV_SIGNER_ARN = (
    "arn:aws:elasticloadbalancing:dev-local-1:000000000000:"
    "loadbalancer/app/alb-oidc-dev-not-an-alb/0000000000000000"
)
"""The ARN the `alb-oidc dev` emulator signs as: no real ALB's (account 000000000000, region
`dev-local-1`)."""

#: The ALB's default session cookie name (its shards are `AWSELBAuthSessionCookie-0`, `-1`, ...).
DEFAULT_SESSION_COOKIE = "AWSELBAuthSessionCookie"

# An ALB ARN (application load balancers only: `loadbalancer/app/`); network and gateway load
# balancers cannot run an authenticate action. The id is 16 hex digits in every ARN AWS issues.
_ALB_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):elasticloadbalancing:"
    r"(?P<region>[a-z]+(?:-[a-z]+)+-[0-9]{1,2}):[0-9]{12}:"
    r"loadbalancer/app/[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}"
)
# The region prefix of each partition that has its own (AWS's "Partitions" in the reference):
# an ARN naming a region of another partition is a typo, and its key URL would be made up.
_PARTITION_REGIONS = {"aws-us-gov": "us-gov-", "aws-cn": "cn-", "aws-iso": "us-iso-"}
# An AWS region written out in a URL (not a placeholder), e.g. `us-east-1` in a host name.
_AWS_REGION = re.compile(
    r"(?<![a-z0-9])((?:us-gov|us-iso[a-z]?|us|eu|ap|sa|ca|me|af|il|mx|cn)-[a-z]+-\d{1,2})"
    r"(?![a-z0-9-])"
)
_USER_POOL_ID = re.compile(r"(?P<region>[a-z]+(?:-[a-z]+)+-[0-9]{1,2})_[A-Za-z0-9]+")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,200}")

# Documented in the ALB user guide ("Authenticate users using an Application Load Balancer").
_KEY_URL_BY_PARTITION = {
    "aws": "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}",
    "aws-us-gov": "https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{kid}",
}
_MAX_LEEWAY = 300.0

#: The JWS algorithms an access or bearer token may be verified with (RFC 7518): asymmetric
#: only. `none` and the HMAC family are never accepted: an HMAC key would be the IdP's secret.
JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


def _host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` (a URL's host, lower-cased, a trailing dot dropped) names as the
    system's resolver reads it without DNS: an IP address, IPv4's short and numeric forms
    (`127.1`, `2130706433`, `0x7f.1`) included, an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`)
    as its IPv4 address; None for a name."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_url(name: str, url: object, quoted: object) -> SplitResult:
    """`urlsplit(url)` with its port read; `ConfigurationError` (quoting `quoted`) for anything
    but a str, an unclosed bracket or a port that is not a number from 0 to 65535."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{name} is not a URL: {quoted!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not on first use
    except ValueError:
        raise ConfigurationError(f"{name} is not a URL: {quoted!r}") from None
    return parts


# Whitespace and control characters: urlsplit drops some of them, Starlette percent-encodes the
# rest into a `Location` the browser reads as a relative URL (so the user never leaves), and
# httpx2 into another URL than the one meant (fetched, and failing, on every request).
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def _split_clean_url(name: str, url: object, quoted: object) -> SplitResult:
    """`_split_url`, after refusing whitespace and control characters (`_NOT_IN_URL`)."""
    if isinstance(url, str) and _NOT_IN_URL.search(url):
        raise ConfigurationError(
            f"{name} holds whitespace or control characters (percent-encode them): {quoted!r}"
        )
    return _split_url(name, url, quoted)


def check_fetch_url(name: str, url: str, shown: str | None = None) -> None:
    """Refuse any URL we would fetch keys from that is not https (loopback http is allowed).

    `shown` is what the message quotes instead of `url` (a template, as the user wrote it).
    """
    quoted = url if shown is None else shown
    parts = _split_clean_url(name, url, quoted)
    if not parts.hostname:
        raise ConfigurationError(f"{name} is not an absolute URL: {quoted!r}")
    if parts.fragment or (isinstance(url, str) and url.endswith("#")):
        raise ConfigurationError(f"{name} holds a fragment, which is never sent: {quoted!r}")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise ConfigurationError(
        f"{name} must use https (plain http is allowed only for a loopback host): {quoted!r}"
    )


def check_redirect_url(name: str, url: object, *, https: bool = True) -> None:
    """Refuse a URL a browser is to be sent to (a logout redirect) unless it is an absolute
    http(s) URL with a host and a valid port, and no whitespace or control characters. With
    `https`, plain http is allowed only for a loopback host (the IdP's own endpoints); without
    it, any http(s) URL (the app's page the IdP returns to)."""
    parts = _split_clean_url(name, url, url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL: {url!r}")
    if https and parts.scheme != "https" and not _is_loopback(parts.hostname):
        raise ConfigurationError(f"{name} must use https (http only for a loopback host): {url!r}")


def _check_issuer(name: str, issuer: str) -> None:
    """Refuse an issuer with whitespace or control characters, a query or a fragment (OpenID
    Connect Discovery 1.0, section 2: it is a URL without them), and a Cognito issuer with a
    trailing slash: neither can ever equal a token's `iss`, and keys are found under it.

    The slash only for Cognito's host: other IdPs' issuers may end with `/` (Auth0's do), and
    the ALB passes on whatever the IdP's issuer is, so a trailing slash there is compared as
    written.
    """
    if _NOT_IN_URL.search(issuer):
        raise ConfigurationError(f"{name} holds whitespace or control characters: {issuer!r}")
    if "?" in issuer or "#" in issuer:
        raise ConfigurationError(
            f"{name} must not hold a query or a fragment (OpenID Connect Discovery 1.0, "
            f"section 2): {issuer!r}"
        )
    try:
        host = urlsplit(issuer).hostname or ""
    except ValueError:
        raise ConfigurationError(f"{name} is not a URL: {issuer!r}") from None
    if issuer.endswith("/") and host.startswith("cognito-idp.") and host.endswith(".amazonaws.com"):
        raise ConfigurationError(
            f"{name} ends with '/', but Cognito's issuer never does (tokens carry "
            f"{issuer.rstrip('/')!r}): {issuer!r}"
        )


def _strings(name: str, value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise ConfigurationError(f"{name} must be a list of strings: {value!r}")
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ConfigurationError(f"{name}[{index}] must be a non-empty string: {item!r}")
        if item != item.strip():
            # Compared exactly with what the ALB sends, so a stray space would never match.
            raise ConfigurationError(
                f"{name}[{index}] has leading or trailing whitespace: {item!r}"
            )
        if "," in item:
            # The environment variables' way of writing a list, carried into Python: taken as
            # one item, it would never match (ids, issuers) or match the wrong thing (paths).
            raise ConfigurationError(
                f"{name}[{index}] holds a comma: give a list with one string per item, not a "
                f"comma-separated string: {item!r}"
            )
    return items


def check_public_path(where: str, path: object) -> None:
    """Refuse a public path pattern unless it is an exact path (`/health`) or a prefix ending in
    `*` (`/static/*`), as `ALBConfig.public_paths` reads them; `where` names it in the message
    (`public_paths[0]`, `--public`)."""
    if not isinstance(path, str) or not path or path != path.strip():
        raise ConfigurationError(f"{where} must be a path such as /health: {path!r}")
    if not path.startswith("/"):
        raise ConfigurationError(f"{where} must start with '/': {path!r}")
    if "*" in path[:-1]:
        raise ConfigurationError(
            f"{where} may use '*' only as its last character (an exact path such as /health, "
            f"or a prefix such as /static/*): {path!r}"
        )


def public_paths_of(
    value: Iterable[str] | str | None, name: str = "public_paths"
) -> tuple[str, ...]:
    """Public path patterns (a single string is one), each checked by `check_public_path`."""
    paths = _strings(name, value)
    for index, path in enumerate(paths):
        check_public_path(f"{name}[{index}]", path)
    return paths


def _number(name: str, value: object, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number from {low:g} to {high:g}: {value!r}")
    return float(value)


def _integer(name: str, value: object, *, low: int, high: int, low_note: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an integer from {low}{low_note} to {high}: {value!r}"
        )


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _jwks_timing(obj: Any, prefix: str) -> None:
    """Check and normalise a JWKS source's `jwks_ttl` and `refresh_cooldown` (messages name the
    field with `prefix`). The cooldown is at least a second: every unknown `kid` a client sends
    (before any signature is checked) may trigger a refresh, at most one per cooldown."""
    _set(obj, "jwks_ttl", _number(f"{prefix}jwks_ttl", obj.jwks_ttl, low=1, high=86400))
    cooldown = _number(f"{prefix}refresh_cooldown", obj.refresh_cooldown, low=1, high=3600)
    _set(obj, "refresh_cooldown", cooldown)


@dataclass(frozen=True, slots=True)
class CognitoConfig:
    """Where and how to verify the Cognito access token in `x-amzn-oidc-accesstoken`.

    `issuer` defaults to `https://cognito-idp.{region}.amazonaws.com/{user_pool_id}` and
    `jwks_url` to `{issuer}/.well-known/jwks.json`; tests and local emulators give their own.
    `client_ids` are the app clients whose tokens are accepted (the token's `client_id` claim).
    The JWKS is cached for `jwks_ttl` seconds and refetched on an unknown `kid` at most once per
    `refresh_cooldown` seconds.
    """

    user_pool_id: str
    client_ids: Sequence[str]
    jwks_url: str | None = None
    issuer: str | None = None
    jwks_ttl: float = 3600.0
    refresh_cooldown: float = 30.0

    def __post_init__(self) -> None:
        match = (
            _USER_POOL_ID.fullmatch(self.user_pool_id)
            if isinstance(self.user_pool_id, str)
            else None
        )
        if match is None:
            raise ConfigurationError(
                "cognito.user_pool_id is not a Cognito user pool id (REGION_ID): "
                f"{self.user_pool_id!r}"
            )
        client_ids = _strings("cognito.client_ids", self.client_ids)
        if not client_ids:
            raise ConfigurationError("cognito.client_ids must name at least one app client id")
        _set(self, "client_ids", client_ids)
        issuer = self.issuer or (
            f"https://cognito-idp.{match['region']}.amazonaws.com/{self.user_pool_id}"
        )
        if not isinstance(issuer, str):
            raise ConfigurationError(f"cognito.issuer is not a URL: {issuer!r}")
        _check_issuer("cognito.issuer", issuer)
        check_fetch_url("cognito.issuer", issuer)
        _set(self, "issuer", issuer)
        jwks_url = self.jwks_url or f"{issuer.rstrip('/')}/.well-known/jwks.json"
        check_fetch_url("cognito.jwks_url", jwks_url)
        _set(self, "jwks_url", jwks_url)
        _jwks_timing(self, "cognito.")

    @property
    def region(self) -> str:
        """The AWS region of the user pool."""
        return self.user_pool_id.split("_", 1)[0]


def _claim_path(name: str, value: object) -> None:
    """Refuse a claim name that could never match: empty, padded, or with an empty dotted part."""
    if value is None:
        return
    if not isinstance(value, str) or not value or value != value.strip():
        raise ConfigurationError(f"{name} must be a claim name (or None): {value!r}")
    if "" in value.split("."):
        raise ConfigurationError(f"{name} has an empty part between dots: {value!r}")


@dataclass(frozen=True, slots=True)
class OIDCAccessTokenConfig:
    """How to verify a JWT access token of any OpenID Connect identity provider.

    Used for the ALB's `x-amzn-oidc-accesstoken` (`ALBConfig.access_token`) and for machine
    clients' `Authorization: Bearer` tokens (`ALBConfig.bearer`); docs/idps/ has the values for
    each provider.

    - `issuer`: the token's exact `iss`.
    - `audiences`: the token's `aud` (a string or a list) must hold at least one of them.
    - `jwks_url`: where the signing keys are; None discovers it from the issuer's
      `/.well-known/openid-configuration` (whose `issuer` must equal `issuer`).
    - `algorithms`: the JWS algorithms accepted (RS*, PS*, ES*); the token's `alg` must be one,
      and the key its `kid` names must be of that algorithm's type.
    - `scopes_claim`, `groups_claim`: where the scopes and groups are (a space-separated string
      or a list of strings); a dotted name walks nested objects (`realm_access.roles`), but a
      claim whose whole name matches (`https://example.com/roles`) is taken first. None: none.
    - `subject_claim`: for `access_token`, the claim that must equal the verified data token's
      `sub` (None turns the binding off; docs/security.md says what that risks). A bearer
      token's user is its `sub`, and this field is not used.
    - `client_ids`: when given, the token's client (its `azp`, `client_id`, `cid` or `appid`
      claim, the first it has) must be one of them: only these OAuth clients' tokens are
      accepted. Empty: any client of the issuer whose token names one of the `audiences`.
    - `jwks_ttl`, `refresh_cooldown`: the JWKS is cached for `jwks_ttl` seconds and refetched on
      an unknown `kid` at most once per `refresh_cooldown` seconds.
    """

    issuer: str
    audiences: Sequence[str]
    jwks_url: str | None = None
    algorithms: Sequence[str] = ("RS256",)
    scopes_claim: str | None = "scope"
    groups_claim: str | None = None
    subject_claim: str | None = "sub"
    client_ids: Sequence[str] = ()
    jwks_ttl: float = 3600.0
    refresh_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.issuer, str)
            or not self.issuer
            or self.issuer != self.issuer.strip()
        ):
            raise ConfigurationError(f"issuer must be the IdP's issuer URL: {self.issuer!r}")
        _check_issuer("issuer", self.issuer)
        if self.jwks_url is None:
            check_fetch_url("issuer (jwks_url is discovered from it)", self.issuer)
        else:
            check_fetch_url("jwks_url", self.jwks_url)
        audiences = _strings("audiences", self.audiences)
        if not audiences:
            raise ConfigurationError(
                "audiences must name at least one audience (the token's `aud`: your API's "
                "identifier at the IdP)"
            )
        _set(self, "audiences", audiences)
        algorithms = _strings("algorithms", self.algorithms)
        if not algorithms:
            raise ConfigurationError("algorithms must name at least one algorithm, e.g. RS256")
        for index, algorithm in enumerate(algorithms):
            if algorithm not in JWT_ALGORITHMS:
                raise ConfigurationError(
                    f"algorithms[{index}] is not an asymmetric JWS algorithm alb-oidc accepts "
                    f"({', '.join(sorted(JWT_ALGORITHMS))}): {algorithm!r}"
                )
        _set(self, "algorithms", tuple(dict.fromkeys(algorithms)))
        _set(self, "client_ids", _strings("client_ids", self.client_ids))
        for name in ("scopes_claim", "groups_claim", "subject_claim"):
            _claim_path(name, getattr(self, name))
        _jwks_timing(self, "")

    @property
    def discovery_url(self) -> str:
        """The issuer's OpenID Provider configuration document (OIDC Discovery 1.0, section 4)."""
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class ALBConfig:
    """What the middleware trusts. Frozen and validated at construction.

    Only `alb_arns` is required. docs/configuration.md describes every field.
    """

    alb_arns: Sequence[str]
    client_ids: Sequence[str] = ()
    issuers: Sequence[str] = ()
    key_url: str | None = None
    leeway: float = 30.0
    cognito: CognitoConfig | None = None
    access_token: OIDCAccessTokenConfig | None = None
    groups_claim: str | None = None
    bearer: OIDCAccessTokenConfig | CognitoConfig | None = None
    public_paths: Sequence[str] = ()
    optional: bool = False
    session_cookie: str = DEFAULT_SESSION_COOKIE
    logout_url: str | None = None
    key_cache_size: int = 64
    key_fetch_timeout: float = 5.0
    key_failure_ttl: float = 30.0
    max_key_fetches_per_minute: int = 30
    access_token_cache_size: int = 4096
    access_token_cache_ttl: float = 600.0
    insecure_decode_unverified_access_token: bool = False
    #: signer ARN -> key URL template with `{region}` filled in (derived, not a parameter).
    key_urls: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _exact_public: frozenset[str] = field(init=False, repr=False, compare=False)
    _prefix_public: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.access_token is not None and not isinstance(
            self.access_token, OIDCAccessTokenConfig
        ):
            raise ConfigurationError(
                f"access_token must be an OIDCAccessTokenConfig or None: {self.access_token!r}"
            )
        if self.bearer is not None and not isinstance(
            self.bearer, OIDCAccessTokenConfig | CognitoConfig
        ):
            raise ConfigurationError(
                f"bearer must be an OIDCAccessTokenConfig, a CognitoConfig or None: {self.bearer!r}"
            )
        arns = _strings("alb_arns", self.alb_arns)
        if not arns and self.bearer is None:
            raise ConfigurationError(
                "alb_arns must name at least one ALB ARN (the token's signer), unless bearer is "
                "set for an API that only machine clients call"
            )
        _set(self, "alb_arns", arns)
        _set(self, "client_ids", _strings("client_ids", self.client_ids))
        _set(self, "issuers", _strings("issuers", self.issuers))
        for index, issuer in enumerate(self.issuers):
            _check_issuer(f"issuers[{index}]", issuer)
        _set(self, "key_urls", MappingProxyType(self._key_urls(arns)))
        _set(self, "leeway", _number("leeway", self.leeway, low=0, high=_MAX_LEEWAY))
        if self.cognito is not None and not isinstance(self.cognito, CognitoConfig):
            raise ConfigurationError(f"cognito must be a CognitoConfig or None: {self.cognito!r}")
        if self.cognito is not None and self.access_token is not None:
            raise ConfigurationError(
                "cognito and access_token are both set: the ALB forwards one access token; use "
                "cognito for a Cognito user pool and access_token for any other IdP"
            )
        _claim_path("groups_claim", self.groups_claim)
        self._split_public_paths()
        if not isinstance(self.optional, bool):
            raise ConfigurationError(f"optional must be True or False: {self.optional!r}")
        if not isinstance(self.session_cookie, str) or not _COOKIE_NAME.fullmatch(
            self.session_cookie
        ):
            raise ConfigurationError(
                f"session_cookie is not a cookie name: {self.session_cookie!r}"
            )
        if self.logout_url is not None:
            check_redirect_url("logout_url", self.logout_url)
        _integer("key_cache_size", self.key_cache_size, low=1, high=10_000)
        _set(
            self,
            "key_fetch_timeout",
            _number("key_fetch_timeout", self.key_fetch_timeout, low=0.1, high=60),
        )
        _set(
            self,
            "key_failure_ttl",
            _number("key_failure_ttl", self.key_failure_ttl, low=0, high=3600),
        )
        _integer("max_key_fetches_per_minute", self.max_key_fetches_per_minute, low=1, high=6000)
        _integer(
            "access_token_cache_size",
            self.access_token_cache_size,
            low=0,
            high=1_000_000,
            low_note=" (off)",
        )
        _set(
            self,
            "access_token_cache_ttl",
            _number("access_token_cache_ttl", self.access_token_cache_ttl, low=0, high=86400),
        )
        insecure = self.insecure_decode_unverified_access_token
        if not isinstance(insecure, bool):  # a string such as "false" would turn it on
            raise ConfigurationError(
                f"insecure_decode_unverified_access_token must be True or False: {insecure!r}"
            )
        if insecure and (self.cognito is not None or self.access_token is not None):
            raise ConfigurationError(
                "insecure_decode_unverified_access_token has no effect with cognito or "
                "access_token set (their access tokens are verified): remove it"
            )
        if insecure:
            logger.warning(
                "insecure_decode_unverified_access_token is on: scopes and groups are "
                "read from an access token whose signature is NOT verified"
            )

    def _key_urls(self, arns: tuple[str, ...]) -> dict[str, str]:
        if self.key_url is not None:
            template = self.key_url
            if not isinstance(template, str) or "{kid}" not in template:
                raise ConfigurationError(
                    f"key_url must be a template containing {{kid}}: {template!r}"
                )
            leftover = template.replace("{kid}", "").replace("{region}", "")
            if "{" in leftover or "}" in leftover:
                raise ConfigurationError(
                    f"key_url may only use the placeholders {{kid}} and {{region}}: {template!r}"
                )
            sample = template.replace("{kid}", "00000000-0000-0000-0000-000000000000")
            check_fetch_url("key_url", sample.replace("{region}", "us-east-1"), template)
        urls = {}
        for index, arn in enumerate(arns):
            match = _ALB_ARN.fullmatch(arn)
            if match is None:
                raise ConfigurationError(
                    f"alb_arns[{index}] is not an Application Load Balancer ARN (arn:aws:"
                    f"elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID): {arn!r}"
                )
            partition, region = match["partition"], match["region"]
            own = _PARTITION_REGIONS.get(partition)
            if (own is not None and not region.startswith(own)) or (
                own is None and region.startswith(tuple(_PARTITION_REGIONS.values()))
            ):
                raise ConfigurationError(
                    f"alb_arns[{index}] names region {region!r}, which is not in partition "
                    f"{partition!r}: {arn!r}"
                )
            chosen = self.key_url or _KEY_URL_BY_PARTITION.get(partition)
            if chosen is None:
                raise ConfigurationError(
                    f"alb_arns[{index}] is in partition {partition!r}, which has no documented ALB "
                    "public key endpoint: set key_url"
                )
            if self.key_url is not None and "{region}" not in chosen:
                named = _AWS_REGION.findall(chosen)
                if named and region not in named:
                    # Each region's ALBs sign with that region's keys only: this never verifies.
                    raise ConfigurationError(
                        f"alb_arns[{index}] is in {region}, but key_url names "
                        f"{' and '.join(sorted(set(named)))}; an ALB's keys are those of its own "
                        f"region (write {{region}} in key_url): {chosen!r}"
                    )
            urls[arn] = chosen.replace("{region}", region)
        return urls

    def _split_public_paths(self) -> None:
        paths = public_paths_of(self.public_paths)
        _set(self, "public_paths", paths)
        _set(self, "_exact_public", frozenset(p for p in paths if not p.endswith("*")))
        _set(self, "_prefix_public", tuple(p[:-1] for p in paths if p.endswith("*")))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled and copied field by field, `key_urls` (a read-only mapping, which pickle
        cannot take) as a dict: the copy is the config it was, not built (nor warned about)
        again."""
        state = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        state["key_urls"] = dict(self.key_urls)
        return (_restored, (type(self), state))

    def is_public(self, path: str) -> bool:
        """True if `path` is listed in `public_paths` (exactly, or under a `prefix*` entry).

        A path with a `.` or `..` segment is never public: a server, proxy or static-file
        handler that resolves it would serve another path (`/static/../admin` is `/admin`).
        """
        if not (path in self._exact_public or path.startswith(self._prefix_public)):
            return False
        return "/." not in path or not any(part in (".", "..") for part in path.split("/"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ALBConfig:
        """Build a config from `ALB_OIDC_*` environment variables (docs/configuration.md).

        List values are comma-separated. Keyword arguments override what the environment says.
        A bad value raises `ConfigurationError` naming the variable; an `ALB_OIDC_*` variable
        that nothing in alb-oidc reads (a typo) is logged as a warning with the closest name.
        """
        env = os.environ if environ is None else environ
        _warn_unknown(_unknown_variables(env))
        values = {name: _env_value(env, name, kind) for name, (_, kind) in _ENV_FIELDS.items()}
        if isinstance(values["GROUPS_CLAIM"], str) and values["GROUPS_CLAIM"].lower() == "none":
            values["GROUPS_CLAIM"] = None  # as the ACCESS_TOKEN_ and BEARER_ claims read it
        kwargs: dict[str, Any] = {_ENV_FIELDS[name][0]: value for name, value in values.items()}
        # A section given as a keyword argument replaces the environment's: not read at all.
        cognito: dict[str, Any] = {
            name: None if "cognito" in overrides else _env_value(env, name, kind)
            for name, (_, kind) in _COGNITO_FIELDS.items()
        }
        # Which variable each field came from, so a bad value's message can name it.
        sources = {
            _ENV_FIELDS[name][0]: name
            for name, value in values.items()
            if value is not None and value != ()
        }
        if cognito["COGNITO_USER_POOL_ID"] is not None:
            if not cognito["COGNITO_CLIENT_IDS"]:
                cognito["COGNITO_CLIENT_IDS"] = values["CLIENT_IDS"]
                if not values["CLIENT_IDS"]:
                    raise ConfigurationError(
                        f"{_ENV_PREFIX}COGNITO_USER_POOL_ID is set but no app client id is: set "
                        f"{_ENV_PREFIX}COGNITO_CLIENT_IDS (or {_ENV_PREFIX}CLIENT_IDS)"
                    )
                sources["cognito.client_ids"] = "CLIENT_IDS"
            sources.update(
                (f"cognito.{_COGNITO_FIELDS[name][0]}", name)
                for name, value in cognito.items()
                if value is not None
                and value != ()
                and f"cognito.{_COGNITO_FIELDS[name][0]}" not in sources
            )
            with _naming_the_variable(sources):
                kwargs["cognito"] = CognitoConfig(
                    **{_COGNITO_FIELDS[name][0]: value for name, value in cognito.items()}
                )
        else:
            stray = [_ENV_PREFIX + name for name, value in cognito.items() if value]
            if stray:
                raise ConfigurationError(
                    f"{' and '.join(stray)} {'is' if len(stray) == 1 else 'are'} set but "
                    f"{_ENV_PREFIX}COGNITO_USER_POOL_ID is not (the Cognito settings need the "
                    "user pool id)"
                )
        for prefix, field_name in (("ACCESS_TOKEN_", "access_token"), ("BEARER_", "bearer")):
            if field_name not in overrides:
                kwargs[field_name] = _oidc_from_env(env, prefix)
        if kwargs.get("cognito") is not None and kwargs.get("access_token") is not None:
            raise ConfigurationError(
                f"{_ENV_PREFIX}COGNITO_USER_POOL_ID and {_ENV_PREFIX}ACCESS_TOKEN_* are both set: "
                "the ALB forwards one access token; use the COGNITO_ variables for a Cognito "
                "user pool and the ACCESS_TOKEN_ ones for any other IdP"
            )
        kwargs = {name: value for name, value in kwargs.items() if value is not None}
        kwargs.update(overrides)
        for name in overrides:
            sources.pop(name, None)
        if not kwargs.get("alb_arns") and kwargs.get("bearer") is None:
            if "alb_arns" in overrides:
                raise ConfigurationError(
                    "alb_arns (given to from_env) names no ALB ARN, and bearer is not set"
                )
            raise ConfigurationError(f"{_ENV_PREFIX}ALB_ARNS is not set (comma-separated ALB ARNs)")
        with _naming_the_variable(sources):
            return cls(**kwargs)


def _restored(kind: type[ALBConfig], state: dict[str, Any]) -> ALBConfig:
    """An `ALBConfig` back from `__reduce__`'s state."""
    config = object.__new__(kind)
    for name, value in state.items():
        _set(config, name, MappingProxyType(value) if name == "key_urls" else value)
    return config


_ENV_PREFIX = "ALB_OIDC_"

#: `ALB_OIDC_` + name -> (ALBConfig field, how the value is read).
_ENV_FIELDS: dict[str, tuple[str, str]] = {
    "ALB_ARNS": ("alb_arns", "list"),
    "CLIENT_IDS": ("client_ids", "list"),
    "ISSUERS": ("issuers", "list"),
    "KEY_URL": ("key_url", "text"),
    "LEEWAY": ("leeway", "float"),
    "PUBLIC_PATHS": ("public_paths", "list"),
    "OPTIONAL": ("optional", "flag"),
    "SESSION_COOKIE": ("session_cookie", "text"),
    "LOGOUT_URL": ("logout_url", "text"),
    "KEY_FETCH_TIMEOUT": ("key_fetch_timeout", "float"),
    "ACCESS_TOKEN_CACHE_SIZE": ("access_token_cache_size", "int"),
    "ACCESS_TOKEN_CACHE_TTL": ("access_token_cache_ttl", "float"),
    "GROUPS_CLAIM": ("groups_claim", "claim"),
}
#: `ALB_OIDC_` + name -> (CognitoConfig field, how the value is read).
_COGNITO_FIELDS: dict[str, tuple[str, str]] = {
    "COGNITO_USER_POOL_ID": ("user_pool_id", "text"),
    "COGNITO_CLIENT_IDS": ("client_ids", "list"),
    "COGNITO_JWKS_URL": ("jwks_url", "text"),
    "COGNITO_ISSUER": ("issuer", "text"),
}
#: `ALB_OIDC_ACCESS_TOKEN_` or `ALB_OIDC_BEARER_` + name -> (OIDCAccessTokenConfig field, kind).
_OIDC_FIELDS: dict[str, tuple[str, str]] = {
    "ISSUER": ("issuer", "text"),
    "AUDIENCES": ("audiences", "list"),
    "JWKS_URL": ("jwks_url", "text"),
    "ALGORITHMS": ("algorithms", "list"),
    "SCOPES_CLAIM": ("scopes_claim", "claim"),
    "GROUPS_CLAIM": ("groups_claim", "claim"),
    "SUBJECT_CLAIM": ("subject_claim", "claim"),
    "CLIENT_IDS": ("client_ids", "list"),
}
#: The variables each prefix has. A bearer token's user is its own `sub`: `subject_claim` (an
#: access token's binding to the data token's `sub`) has no bearer variable, so setting one warns.
_OIDC_PREFIXES = {
    "ACCESS_TOKEN_": tuple(_OIDC_FIELDS),
    "BEARER_": tuple(name for name in _OIDC_FIELDS if name != "SUBJECT_CLAIM"),
}
_ENV_NAME = re.compile(r"ALB_OIDC_[A-Z0-9_]+")


def _oidc_from_env(env: Mapping[str, str], prefix: str) -> OIDCAccessTokenConfig | None:
    """The `OIDCAccessTokenConfig` that `ALB_OIDC_{prefix}*` describe, or None if none is set.

    A claim variable set to `none` turns that claim off (`subject_claim=None`, ...).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in _OIDC_PREFIXES[prefix]:
        field_name, kind = _OIDC_FIELDS[name]
        value = _env_value(env, prefix + name, kind)
        if value is None or value == ():
            continue
        if kind == "claim" and value.lower() == "none":
            value = None
        values[field_name] = value
        sources[field_name] = prefix + name
    if not values:
        return None
    for required in ("issuer", "audiences"):
        if required not in values:
            raise ConfigurationError(
                f"{', '.join(_ENV_PREFIX + name for name in sources.values())} "
                f"{'is' if len(sources) == 1 else 'are'} set but {_ENV_PREFIX}{prefix}"
                f"{required.upper()} is not"
            )
    with _naming_the_variable(sources):
        return OIDCAccessTokenConfig(**values)


def _env_value(env: Mapping[str, str], name: str, kind: str) -> Any:
    """The variable `ALB_OIDC_{name}` read as `kind`; None (or () for a list) when unset."""
    raw = env.get(_ENV_PREFIX + name)
    value = raw.strip() if raw is not None and raw.strip() else None
    if kind == "list":
        return tuple(item.strip() for item in value.split(",") if item.strip()) if value else ()
    if value is None or kind in ("text", "claim"):
        return value
    if kind == "flag":
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{_ENV_PREFIX}{name} must be true or false: {value!r}")
    try:
        return int(value) if kind == "int" else float(value)
    except ValueError:
        number = "a whole number" if kind == "int" else "a number"
        raise ConfigurationError(f"{_ENV_PREFIX}{name} is not {number}: {value!r}") from None


@contextmanager
def _naming_the_variable(sources: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a `ConfigurationError` about a field with the variable it was read from."""
    try:
        yield
    except ConfigurationError as exc:
        field_name = re.split(r"[\[ ]", str(exc), maxsplit=1)[0]
        variable = sources.get(field_name)
        if variable is None:
            raise
        raise ConfigurationError(f"{_ENV_PREFIX}{variable}: {exc}") from exc


def known_environment_variables() -> frozenset[str]:
    """Every `ALB_OIDC_*` variable something in alb-oidc reads.

    `from_env`'s own, plus those the logout service and the `alb-oidc` command read from the
    same environment (collected from their module constants, so a new one is known at once).
    """
    from . import cli, logout_service  # noqa: PLC0415 - both import this module

    names = {_ENV_PREFIX + name for name in (*_ENV_FIELDS, *_COGNITO_FIELDS)}
    names.update(
        _ENV_PREFIX + prefix + name for prefix, fields in _OIDC_PREFIXES.items() for name in fields
    )
    for module in (cli, logout_service):
        names.update(
            value
            for value in vars(module).values()
            if isinstance(value, str) and _ENV_NAME.fullmatch(value)
        )
    return frozenset(names)


def _unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The `ALB_OIDC_*` variables of `env` that nothing in alb-oidc reads, sorted, each with a
    hint for its message ("; did you mean ...?", or "" without one)."""
    names = sorted(name for name in env if name.startswith(_ENV_PREFIX))
    if not names:
        return []
    known = known_environment_variables()
    unknown = []
    for name in names:
        if name in known:
            continue
        if name == f"{_ENV_PREFIX}BEARER_SUBJECT_CLAIM":
            # The closest name (BEARER_SCOPES_CLAIM) would change how scopes are read.
            hint = "; a bearer token's user is its own `sub` (nothing to bind it to): remove it"
        else:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
        unknown.append((name, hint))
    return unknown


def _warn_unknown(unknown: Iterable[tuple[str, str]]) -> None:
    """Log each of `_unknown_variables`' findings as a warning."""
    for name, hint in unknown:
        logger.warning("%s is not a setting alb-oidc reads, so it has no effect%s", name, hint)
