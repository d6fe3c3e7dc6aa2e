"""Wiring for `alb-oidc demo` and `alb-oidc dev`: the emulator, the dev IdP and an app, on loopback.

`DevStack` binds every socket first (so each part knows the others' URLs), builds the parts,
then `start()` serves each with uvicorn in a thread and `stop()` shuts them down in reverse order.
"""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..config import ALBConfig, CognitoConfig, _host_address, _split_url, public_paths_of
from ..errors import ConfigurationError
from ..logout import cognito_logout_url
from .emulator import CALLBACK_PATH, ALBEmulator, EmulatorSettings
from .idp import DEV_USER_POOL_ID, DevClient, DevIdP
from .serving import BackgroundServer, bind
from .signer import DevSigner
from .users import DEMO_PASSWORDS, DevUser, demo_users

__all__ = ["DEV_CLIENT_ID", "DevStack"]

DEV_CLIENT_ID = "alb-oidc-dev-client"
"""The built-in IdP's client id, unless the settings give another."""


def _loopback_names(host: str, port: int) -> list[str]:
    """The base URLs a browser on this machine may use for the emulator on `host:port`."""
    if host in ("127.0.0.1", "0.0.0.0", "localhost"):  # noqa: S104 - a name, not a bind
        names = ["127.0.0.1", "localhost"]
    elif host == "::":
        # Listening on both IPv6 and IPv4 (`serving.bind` makes `::` dual-stack).
        names = ["[::1]", "127.0.0.1", "localhost"]
    else:
        # An IPv6 literal goes in brackets in a URL (RFC 3986, section 3.2.2).
        names = [f"[{host}]" if ":" in host else host]
    return [f"http://{name}:{port}" for name in names]


def _addresses(host: str) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a connection to `host` may reach, as far as can be told without DNS.

    `localhost` is both loopbacks; the unspecified addresses reach this machine's loopback
    (Linux and macOS connect `0.0.0.0` to 127.0.0.1 and `::` to ::1); IPv4's short and numeric
    forms (`127.1`, `2130706433`, `0x7f.1`), which the system's resolver accepts, are read as
    it reads them. Any other name: the empty set (it cannot be told here)."""
    host = host.lower().rstrip(".")
    if host == "localhost":
        return {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    address = _host_address(host)
    if address is None:
        return set()
    if address.is_unspecified:
        return {ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")}
    return {address}


def _check_upstream(upstream: str, sockets: list[socket.socket]) -> None:
    """Refuse an upstream that is not an http(s) URL with a host and a valid port, or that is
    one of the stack's own sockets (the emulator's: a loop; the dev IdP's: the app's traffic
    would go to the IdP)."""
    parts = _split_url("--upstream", upstream, upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"--upstream must be an http(s) URL with a host: {upstream!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(parts.hostname)
    names = ("the emulator's own address (it would forward to itself)", "the dev IdP's port")
    for sock, name in zip(sockets, names, strict=False):
        bound_host, bound_port = sock.getsockname()[:2]
        bound = ipaddress.ip_address(bound_host)
        # The same address and port, or the port on every address (a wildcard) of the stack's.
        if port == bound_port and (bound in addresses or bound.is_unspecified):
            raise ConfigurationError(
                f"--upstream {upstream} is {name}: give the address your app listens on"
            )


@dataclass
class DevStack:
    """The emulator on `host:port` in front of `upstream` or of `app_factory(config)`.

    Without `settings.issuer` (pass `issuer=""`) the built-in IdP serves `users` (default: the
    demo users) on loopback port `idp_port` (0: a free one), and the emulator asks for every
    scope they have. A fixed `idp_port` keeps the issuer, and so the app's settings, the same
    across restarts.
    `app_factory`, when given, receives an `ALBConfig` trusting this emulator (with the IdP's
    JWKS as Cognito pool, a logout URL and `/bye` outside the rule) and is served on a free port.
    With `provider="okta"` the built-in IdP's access tokens are shaped like Okta's, and the
    app verifies them with `access_token=OIDCAccessTokenConfig(...)` instead (keys discovered).
    Either way the app also accepts the IdP's client-credentials tokens as bearer tokens.
    `host` may be an IPv6 literal (`::1`): the URLs built from it put it in brackets.
    `signer` and `idp_key` (both from `DevKeys.from_file`) keep the emulator's and the built-in
    IdP's keys across restarts; by default each run makes new ones.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    upstream: str | None = None
    app_factory: Callable[[ALBConfig], Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    users: Sequence[DevUser] | None = None
    signer: DevSigner | None = None
    idp_key: rsa.RSAPrivateKey | None = None
    public_paths: Sequence[str] = ("/health", "/bye")
    clock: Callable[[], float] = time.time
    idp_port: int = 0
    provider: str = "cognito"

    def __post_init__(self) -> None:
        if (self.upstream is None) == (self.app_factory is None):
            raise ValueError("give exactly one of upstream and app_factory")
        # Checked before any port is bound; a single string is one path.
        self.public_paths = public_paths_of(self.public_paths)
        if self.host.startswith("[") and self.host.endswith("]"):
            self.host = self.host[1:-1]
        try:
            sockets = [bind(self.host, self.port)]
        except ConfigurationError as exc:
            # An address that is not this machine's (or no address at all) is the host's fault;
            # anything else (taken, a privileged port) is the port's.
            cause = exc.__cause__
            wrong_host = isinstance(cause, socket.gaierror) or (
                isinstance(cause, OSError) and cause.errno == errno.EADDRNOTAVAIL
            )
            hint = "check --host" if wrong_host else "choose another with --port"
            raise ConfigurationError(f"{exc} ({hint})") from exc
        try:
            self._build(sockets)
        except BaseException:
            # Nothing serves them yet: close them, or the ports stay taken until collected.
            for sock in sockets:
                sock.close()
            raise

    def _build(self, sockets: list[socket.socket]) -> None:
        """Bind the other parts' sockets (appended to `sockets`) and build every part."""
        base_urls = _loopback_names(self.host, sockets[0].getsockname()[1])
        self.url = base_urls[0]
        self.idp: DevIdP | None = None
        #: Whether the built-in IdP serves the demo users (whose passwords the banner may print).
        self.demo_users = self.users is None
        settings = dict(self.settings)
        if not settings.get("issuer"):
            try:
                sockets.append(bind("127.0.0.1", self.idp_port))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{exc} (the dev IdP's port: see --idp-port)") from exc
            issuer = f"http://127.0.0.1:{sockets[-1].getsockname()[1]}"
            self.users = list(self.users or demo_users())
            client = DevClient(
                client_id=settings.get("client_id") or DEV_CLIENT_ID,
                client_secret=secrets.token_urlsafe(24),
                redirect_uris=[f"{base}{CALLBACK_PATH}" for base in base_urls],
                logout_uris=[f"{base}/bye" for base in base_urls],
            )
            hint = None
            if self.demo_users:
                known = ", ".join(f"{name} / {word}" for name, word in DEMO_PASSWORDS.items())
                hint = f"Demo users (username / password): {known}."
            self.idp = DevIdP(
                issuer,
                self.users,
                [client],
                clock=self.clock,
                login_hint=hint,
                provider=self.provider,
                key=self.idp_key,
            )
            scopes = {scope for user in self.users for scope in user.scopes}
            settings.update(
                issuer=issuer,
                client_id=client.client_id,
                client_secret=client.client_secret,
                scope=" ".join(["openid", *sorted(scopes - {"openid"})]),
            )
        app = None
        if self.app_factory is not None:
            sockets.append(bind("127.0.0.1", 0))
            self.upstream = f"http://127.0.0.1:{sockets[-1].getsockname()[1]}"
        else:
            _check_upstream(str(self.upstream), sockets)
        settings.setdefault("public_paths", tuple(self.public_paths))
        self.emulator = ALBEmulator(
            EmulatorSettings(upstream=str(self.upstream), **settings),
            signer=self.signer,
            clock=self.clock,
            idp_kid=self.idp.kid if self.idp is not None else None,
        )
        if self.app_factory is not None:
            app = self.app_factory(self.app_config())
        apps: list[Any] = [self.emulator, self.idp, app]
        self._servers = [
            BackgroundServer(part, sock, proxy=part is self.emulator)
            for part, sock in zip([a for a in apps if a is not None], sockets, strict=True)
        ]

    def app_config(self) -> ALBConfig:
        """An `ALBConfig` for an app behind this stack's emulator."""
        extra: dict[str, Any] = {"public_paths": list(self.public_paths)}
        if self.emulator.settings.on_unauthenticated == "allow":
            # Anonymous requests reach the app: its routes decide (optional_user, current_user).
            extra["optional"] = True
        if self.idp is not None:
            client_id = self.emulator.settings.client_id
            if self.idp.provider == "okta":
                extra["access_token"] = extra["bearer"] = self.idp.access_token_config()
            else:
                extra["cognito"] = extra["bearer"] = CognitoConfig(
                    user_pool_id=DEV_USER_POOL_ID,
                    client_ids=[client_id],
                    issuer=self.idp.issuer,
                    jwks_url=self.idp.jwks_url,
                )
            extra["logout_url"] = cognito_logout_url(self.idp.issuer, client_id, f"{self.url}/bye")
        return self.emulator.app_config(self.url, **extra)

    def start(self) -> None:
        """Serve every part (the emulator last, so it never forwards to a part not yet up)."""
        for server in reversed(self._servers):
            server.start()

    def stop(self) -> None:
        """Shut every part down, all at once."""
        for server in self._servers:
            server.request_stop()
        for server in self._servers:
            server.stop()
