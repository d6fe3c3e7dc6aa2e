"""The `alb-oidc` command.

    alb-oidc demo            the dev IdP, the ALB emulator and the example app, on loopback
    alb-oidc dev --upstream URL   the ALB emulator in front of your app (built-in IdP or --issuer)
    alb-oidc hash-password   an scrypt hash for a dev IdP users file
    alb-oidc decode TOKEN    show a data token's header and claims, WITHOUT verifying it
    alb-oidc verify TOKEN    verify a data token with the ALB_OIDC_* configuration

TOKEN may be `-` to read it from standard input (keeps it out of the shell history).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .authenticator import ALBAuthenticator
from .config import (
    _OIDC_FIELDS,
    _OIDC_PREFIXES,
    ALBConfig,
    OIDCAccessTokenConfig,
    check_public_path,
)
from .errors import (
    AccessTokenError,
    ALBOIDCError,
    AuthError,
    ConfigurationError,
    MalformedTokenError,
)
from .tokens import _jwt_header, _three_segments, jwt_bytes, parse_data_token

if TYPE_CHECKING:
    from .dev.stack import DevStack

#: Where `alb-oidc dev --issuer` also looks for the client secret (kept out of the shell history).
DEV_CLIENT_SECRET_ENV = "ALB_OIDC_DEV_CLIENT_SECRET"  # noqa: S105 - a variable name


class _UsageError(Exception):
    """The command line asks for something that cannot be done (exit status 2)."""


def _read_token(value: str) -> str:
    token = (sys.stdin.read() if value == "-" else value).strip()
    if not token:
        raise _UsageError("no token on standard input" if value == "-" else "the token is empty")
    return token


def _explain(token: str, exc: MalformedTokenError) -> MalformedTokenError:
    """`exc`, or a clearer one when `token` is a standard JWT rather than an ALB data token."""
    parts = _three_segments(jwt_bytes(token))
    if parts is None:
        return exc
    try:
        header = _jwt_header(parts[1], "token")  # the same decoding as an access token's
    except AccessTokenError:
        return exc
    if "alg" not in header:
        return exc
    if header["alg"] == "ES256" and "signer" in header:
        return exc  # shaped like a data token: the original reason is the useful one
    return MalformedTokenError(
        "this is a JWT but not an x-amzn-oidc-data token (its header has "
        f"{'no signer' if 'signer' not in header else 'an alg other than ES256'}): it looks "
        "like an access token or an ID token; give the x-amzn-oidc-data header's value"
    )


def _print(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))


def _decode(args: argparse.Namespace) -> int:
    raw = _read_token(args.token)
    try:
        token = parse_data_token(raw)
    except MalformedTokenError as exc:
        raise _explain(raw, exc) from exc
    print("UNVERIFIED: structure only; the signature and signer were not checked.", file=sys.stderr)
    _print({"header": dict(token.header), "claims": dict(token.claims)})
    return 0


async def _verify_async(token: str) -> dict[str, Any]:
    authenticator = ALBAuthenticator(ALBConfig.from_env())
    try:
        return await authenticator.verify_data_token(token)
    finally:
        await authenticator.aclose()


def _verify(args: argparse.Namespace) -> int:
    raw = _read_token(args.token)
    try:
        claims = asyncio.run(_verify_async(raw))
    except MalformedTokenError as exc:
        raise _explain(raw, exc) from exc
    print("VERIFIED", file=sys.stderr)
    _print(claims)
    return 0


_MAX_PORT = 65_535


def _port(value: str) -> int:
    """A TCP port for argparse: 0 (a free one) to 65535, else a usage error (exit 2)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= _MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free one) to {_MAX_PORT}: {value}")
    return port


def _seconds(value: str) -> float:
    """A positive, finite number of seconds for argparse, else a usage error (exit 2)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {value}")
    return seconds


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="emulator address (default loopback)")
    parser.add_argument("--port", type=_port, default=8000, help="emulator port (default 8000)")
    parser.add_argument("--users", help="TOML or JSON users file for the built-in IdP")
    parser.add_argument(
        "--key-file",
        help="keep the emulator's and the built-in IdP's signing keys in this PEM file "
        "(default: new keys each run)",
    )
    parser.add_argument(
        "--provider",
        choices=["cognito", "okta"],
        help="shape the built-in IdP's access tokens like Cognito's (default) or Okta's",
    )


def _warn_if_exposed(host: str, *, demo_users: bool) -> None:
    from .dev.serving import is_loopback  # noqa: PLC0415 - the dev tools load only when asked for
    from .dev.users import DEMO_PASSWORDS  # noqa: PLC0415

    if is_loopback(host):
        return
    lines = [
        f"WARNING: --host {host} is not a loopback address: other machines can reach the emulator.",
        "  It is a development tool (plain HTTP, a development signing key), and what it forwards",
        "  without a login (public paths, --on-unauthenticated allow) is open to all of them.",
    ]
    if demo_users:
        known = ", ".join(f"{name}/{password}" for name, password in DEMO_PASSWORDS.items())
        lines.append(f"  The demo users' passwords ({known}) are public; --users FILE sets yours.")
    lines.append("  Listen on 127.0.0.1 (the default) unless this network is yours alone.")
    print("\n".join(lines), file=sys.stderr, flush=True)


#: Where the dev IdP's logout sends the browser back to, on the emulator.
LOGOUT_RETURN_PATH = "/bye"


def _idp_port(args: argparse.Namespace) -> int:
    """The built-in IdP's port: `--idp-port`, else the emulator's port + 1 (0 stays 0; 65535,
    the last port, takes the one before).

    A port that is the same on every run keeps the issuer the app was configured with valid.
    """
    if args.idp_port is not None:
        return int(args.idp_port)
    port = int(args.port)
    if not port:
        return 0
    return port + 1 if port < _MAX_PORT else port - 1


def _stack(args: argparse.Namespace, **kwargs: Any) -> DevStack:
    from .dev.signer import DevKeys  # noqa: PLC0415 - the dev tools load only when asked for
    from .dev.stack import DevStack  # noqa: PLC0415
    from .dev.users import load_users  # noqa: PLC0415

    built_in_idp = not getattr(args, "issuer", None)
    _warn_if_exposed(args.host, demo_users=built_in_idp and args.users is None)
    keys = DevKeys.from_file(args.key_file) if args.key_file else None
    return DevStack(
        host=args.host,
        port=args.port,
        users=load_users(args.users) if args.users else None,
        signer=keys.signer if keys else None,
        idp_key=keys.idp_key if keys else None,
        provider=args.provider or "cognito",
        **kwargs,
    )


def _serve_until_signal(stack: DevStack, banner: Callable[[DevStack], list[str]]) -> int:
    """Start `stack`, print `banner(stack)`, and stop cleanly on Ctrl-C or SIGTERM."""
    # The handler only sets a flag the loop below polls. It must take no lock: it runs in the
    # main thread between two bytecodes, possibly while that thread holds the very lock (an
    # Event's, in `Event.wait`), which then never comes free.
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _: stopping.append(number))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        lines = banner(stack)  # before serving: a bad setting stops here, with the ports closed
        stack.start()
        print("\n".join(lines), flush=True)
        while not stopping:
            time.sleep(0.2)
        print("Stopping...", file=sys.stderr, flush=True)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Stopped.", file=sys.stderr, flush=True)
    return 0


#: Prints the `access_token` of the token endpoint's JSON answer (no jq needed).
_FROM_JSON = """python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'"""


def _banner(stack: DevStack, title: str, machine_url: str | None = None) -> list[str]:
    """The banner's lines; with `machine_url`, how to get a machine token and call it there."""
    from .dev.signer import DEV_SIGNER_ARN  # noqa: PLC0415
    from .dev.users import DEMO_PASSWORDS  # noqa: PLC0415

    lines = [
        f"alb-oidc {title}: a LOCAL DEVELOPMENT EMULATOR, not an AWS load balancer.",
        f"  Open        {stack.url}/",
    ]
    if stack.idp is not None:
        known = DEMO_PASSWORDS if stack.demo_users else {}
        for user in stack.users or ():
            password = known.get(user.username, "(from your users file)")
            lines.append(
                f"  User        {user.username} / {password}   groups: "
                f"{' '.join(user.groups) or '-'}; scopes: {' '.join(user.scopes)}"
            )
        lines.append(
            f"  Dev IdP     {stack.idp.issuer} (access tokens shaped like {stack.idp.provider}'s)"
        )
        for client in stack.idp.clients.values() if machine_url else ():
            # The emulator does not emulate a `jwt-validation` rule (it would ask a machine
            # client to log in): the token goes to the app's own address.
            lines.append(
                f"  Machine     TOKEN=$(curl -s -u {client.client_id}:{client.client_secret} -d "
                f"grant_type=client_credentials -d scope=tasks/read {stack.idp.issuer}/oauth2/token"
                f" | {_FROM_JSON})"
            )
            lines.append(f'              curl -H "Authorization: Bearer $TOKEN" {machine_url}')
    lines.append(f"  Signer ARN  {DEV_SIGNER_ARN}")
    return lines


def _demo(args: argparse.Namespace) -> int:
    from .dev.demo_app import create_app  # noqa: PLC0415

    stack = _stack(args, app_factory=create_app)
    return _serve_until_signal(stack, _demo_lines)


def _demo_lines(stack: DevStack) -> list[str]:
    """`alb-oidc demo`'s banner."""
    lines = _banner(stack, "demo", machine_url=f"{stack.upstream}/me")
    lines.append(f"  Example app {stack.upstream} (behind the emulator; open the URL above)")
    lines.append("Press Ctrl-C to stop.")
    return lines


def _dev(args: argparse.Namespace) -> int:
    for pattern in args.public:
        # Before any port is bound, in the app's terms: it reads ALB_OIDC_PUBLIC_PATHS alike.
        check_public_path("--public", pattern)
    settings: dict[str, Any] = {
        "on_unauthenticated": args.on_unauthenticated,
        "session_cookie": args.session_cookie,
        "session_timeout": args.session_timeout,
        "timeout": args.timeout,
    }
    own_idp_options = [
        f"--{name.replace('_', '-')}"
        for name in (
            "client_id",
            "client_secret",
            "scope",
            *(f"{endpoint}_endpoint" for endpoint in ("authorization", "token", "userinfo")),
        )
        if getattr(args, name)
    ]
    built_in_idp_options = [
        option
        for option, given in (
            ("--users", args.users is not None),
            ("--idp-port", args.idp_port is not None),
            ("--provider", args.provider is not None),
        )
        if given
    ]
    if built_in_idp_options and args.issuer:
        raise ConfigurationError(
            f"{', '.join(built_in_idp_options)} "
            f"{'applies' if len(built_in_idp_options) == 1 else 'apply'} to the built-in dev "
            "IdP, which --issuer replaces: leave them out (your IdP has its own users)"
        )
    if own_idp_options and not args.issuer:
        raise ConfigurationError(
            f"{', '.join(own_idp_options)} {'applies' if len(own_idp_options) == 1 else 'apply'} "
            "to an IdP of your own: give its --issuer too (the built-in dev IdP sets them itself)"
        )
    if args.issuer:
        secret = args.client_secret or os.environ.get(DEV_CLIENT_SECRET_ENV)
        if not args.client_id or secret is None:
            raise ConfigurationError(
                "--issuer needs --client-id and a client secret "
                f"(--client-secret or {DEV_CLIENT_SECRET_ENV})"
            )
        settings.update(
            issuer=args.issuer,
            client_id=args.client_id,
            client_secret=secret,
            scope=args.scope or "openid",
            authorization_endpoint=args.authorization_endpoint,
            token_endpoint=args.token_endpoint,
            userinfo_endpoint=args.userinfo_endpoint,
        )
    public = list(args.public)
    if not args.issuer and LOGOUT_RETURN_PATH not in public:
        # The dev IdP's logout returns the browser here: behind the authenticate rule it would
        # land on the login form (the ALB guide: the sign-out page must not need a login).
        public.append(LOGOUT_RETURN_PATH)
    stack = _stack(
        args,
        upstream=args.upstream,
        settings=settings,
        public_paths=public,
        idp_port=_idp_port(args) if not args.issuer else 0,
    )
    return _serve_until_signal(stack, _dev_lines)


def _dev_lines(stack: DevStack) -> list[str]:
    """`alb-oidc dev`'s banner, ending with the settings for the app behind the emulator."""
    environment = app_environment(stack)
    # A machine token only when the printed settings let the app verify it.
    machine = stack.upstream if "ALB_OIDC_BEARER_ISSUER" in environment else None
    lines = _banner(stack, "dev", machine_url=machine)
    lines.append(f"  Upstream    {stack.upstream}")
    if stack.idp is not None:
        lines.append(
            f"  Logout      the IdP returns to {stack.url}{LOGOUT_RETURN_PATH}, forwarded "
            "without a login: serve a signed-out page there"
        )
    # Ports chosen by the system change from run to run, and the settings with them.
    fixed = stack.port != 0 and (stack.idp is None or stack.idp_port != 0)
    lasting = "they stay the same across runs" if fixed else "they change with the ports each run"
    lines.append(f"Start the app behind it with these settings ({lasting}):")
    lines.extend(f"  export {name}='{value}'" for name, value in environment.items())
    lines.append("Press Ctrl-C to stop.")
    return lines


def app_environment(stack: DevStack) -> dict[str, str]:
    """The `ALB_OIDC_*` variables from which `ALBConfig.from_env()` builds what
    `stack.app_config()` is: the settings `alb-oidc dev` prints for the app behind it."""
    config = stack.app_config()
    environment = stack.emulator.app_environment(stack.url)
    if config.cognito is not None:
        environment.update(
            ALB_OIDC_COGNITO_USER_POOL_ID=config.cognito.user_pool_id,
            ALB_OIDC_COGNITO_ISSUER=str(config.cognito.issuer),
            ALB_OIDC_COGNITO_JWKS_URL=str(config.cognito.jwks_url),
        )
    if config.access_token is not None:
        environment.update(_oidc_environment("ACCESS_TOKEN_", config.access_token))
    if isinstance(config.bearer, OIDCAccessTokenConfig):
        # A Cognito pool as `bearer` has no variables: `_banner` then shows no machine token.
        environment.update(_oidc_environment("BEARER_", config.bearer))
    if config.logout_url:
        environment["ALB_OIDC_LOGOUT_URL"] = config.logout_url
    if config.public_paths:
        environment["ALB_OIDC_PUBLIC_PATHS"] = ",".join(config.public_paths)
    if config.optional:
        environment["ALB_OIDC_OPTIONAL"] = "true"
    return environment


def _oidc_environment(prefix: str, idp: OIDCAccessTokenConfig) -> dict[str, str]:
    """`ALB_OIDC_{prefix}*` for the fields of `idp` that differ from the defaults (a claim
    turned off is `none`, as `from_env` reads it)."""
    defaults = {item.name: item.default for item in dataclasses.fields(OIDCAccessTokenConfig)}
    environment = {}
    for name in _OIDC_PREFIXES[prefix]:
        field_name, kind = _OIDC_FIELDS[name]
        value = getattr(idp, field_name)
        if value == defaults[field_name]:  # lists are tuples once checked, like the defaults
            continue
        if kind == "list":
            text = ",".join(value)
        elif kind == "claim" and value is None:
            text = "none"
        else:
            text = str(value)
        environment[f"ALB_OIDC_{prefix}{name}"] = text
    return environment


def _hash_password(args: argparse.Namespace) -> int:
    from .dev.users import hash_password  # noqa: PLC0415

    try:
        # A line ends with "\n", or "\r\n" when it comes from a Windows file or terminal.
        password = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass()
    except EOFError:
        # getpass reads standard input when there is no terminal, and raises at its end.
        raise ConfigurationError(
            "no password: standard input ended before one was typed "
            "(pipe one in with: alb-oidc hash-password --stdin)"
        ) from None
    if not password:
        raise ConfigurationError("the password must not be empty")
    print(hash_password(password))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `alb-oidc` command."""
    parser = argparse.ArgumentParser(
        prog="alb-oidc", description="Inspect and verify AWS ALB x-amzn-oidc-data tokens."
    )
    parser.add_argument("--version", action="version", version=f"alb-oidc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser("decode", help="show a data token's header and claims, unverified")
    decode.add_argument("token", help="the x-amzn-oidc-data value, or - for standard input")
    decode.set_defaults(run=_decode)
    verify = commands.add_parser(
        "verify",
        help="verify a data token using the ALB_OIDC_* environment variables",
        description="Verify a data token in full with the settings ALBConfig.from_env() reads "
        "(at least ALB_OIDC_ALB_ARNS). Exit status: 0 verified, 1 refused, 2 bad usage or "
        "configuration, 3 unavailable (the key could not be fetched: try again later).",
    )
    verify.add_argument("token", help="the x-amzn-oidc-data value, or - for standard input")
    verify.set_defaults(run=_verify)

    demo = commands.add_parser(
        "demo", help="run the dev IdP, the ALB emulator and the example app on loopback"
    )
    _stack_options(demo)
    demo.set_defaults(run=_demo)

    dev = commands.add_parser("dev", help="run the ALB emulator in front of your app")
    _stack_options(dev)
    dev.add_argument("--upstream", required=True, help="your app's base URL (the ALB's target)")
    dev.add_argument(
        "--idp-port",
        type=_port,
        help="the built-in IdP's loopback port (default: --port + 1, the same on every run)",
    )
    dev.add_argument("--issuer", help="an OIDC issuer to use instead of the built-in IdP")
    dev.add_argument("--client-id", help="OAuth client id at --issuer")
    dev.add_argument("--client-secret", help="or ALB_OIDC_DEV_CLIENT_SECRET")
    dev.add_argument("--scope", help="scopes to request from --issuer (default openid)")
    for endpoint in ("authorization", "token", "userinfo"):
        dev.add_argument(f"--{endpoint}-endpoint", help="instead of discovery (all three)")
    dev.add_argument(
        "--on-unauthenticated",
        choices=["authenticate", "allow", "deny"],
        default="authenticate",
        help="the rule's OnUnauthenticatedRequest: log in, forward without headers, or 401",
    )
    dev.add_argument(
        "--session-cookie",
        default="AWSELBAuthSessionCookie",
        help="the rule's SessionCookieName (shards are NAME-0, NAME-1, ...)",
    )
    dev.add_argument("--session-timeout", type=int, default=604_800, help="seconds (max 7 days)")
    dev.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for your app (to connect, and for each read of its answer) and "
        "for the IdP; then 504, or the response is cut short (default 60, an ALB's idle timeout)",
    )
    dev.add_argument(
        "--public",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a path forwarded without authentication (repeatable): exact, e.g. /health, or a "
        "prefix ending in *, e.g. /static/*",
    )
    dev.set_defaults(run=_dev)

    hashing = commands.add_parser("hash-password", help="an scrypt hash for a users file")
    hashing.add_argument("--stdin", action="store_true", help="read the password from stdin")
    hashing.set_defaults(run=_hash_password)
    return parser


#: The optional dependencies each command needs, by the extra that installs them.
_EXTRA_MODULES = {"fastapi": "demo", "uvicorn": "demo", "h11": "demo"}
#: Exit status after the reader of standard output went away (as a shell reports SIGPIPE).
EXIT_BROKEN_PIPE = 141
#: Exit status when a token could not be verified for now (its key could not be fetched): not a
#: verdict on the token, so a script can retry rather than reject it.
EXIT_UNAVAILABLE = 3


def _missing_extra(command: str, exc: ModuleNotFoundError) -> int:
    """Say which extra to install instead of a traceback; re-raise any other missing module."""
    extra = _EXTRA_MODULES.get((exc.name or "").partition(".")[0])
    if extra is None:
        raise exc
    print(
        f"alb-oidc: '{command}' needs the {extra!r} extra (no module named {exc.name!r}): "
        f'pip install "alb-oidc[{extra}]"',
        file=sys.stderr,
    )
    return 2


def _quiet_broken_pipe() -> int:
    """`alb-oidc decode - | head`: the reader left; exit without a traceback."""
    # Python would report the failed flush of stdout again at exit: point it at devnull.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 refused token, 2 bad usage/config,
    3 key unavailable (retry later), 141 when the reader of standard output went away, 130 on
    Ctrl-C at a prompt)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except ModuleNotFoundError as exc:
        return _missing_extra(args.command, exc)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except ConfigurationError as exc:
        print(f"alb-oidc: configuration error: {exc}", file=sys.stderr)
        return 2
    except _UsageError as exc:
        print(f"alb-oidc: {exc}", file=sys.stderr)
        return 2
    except AuthError as exc:
        if exc.status_code == 503:
            print(f"alb-oidc: unavailable, try again ({exc.code}): {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        print(f"alb-oidc: refused ({exc.code}): {exc}", file=sys.stderr)
        return 1
    except ALBOIDCError as exc:  # pragma: no cover - every subclass is one of the above
        print(f"alb-oidc: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
