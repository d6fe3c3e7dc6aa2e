"""The `alb-oidc` command.

    alb-oidc decode TOKEN    show a data token's header and claims, WITHOUT verifying it
    alb-oidc verify TOKEN    verify a data token with the ALB_OIDC_* configuration

TOKEN may be `-` to read it from standard input (keeps it out of the shell history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .authenticator import ALBAuthenticator
from .config import ALBConfig
from .errors import ALBOIDCError, AuthError, ConfigurationError
from .tokens import parse_data_token


def _read_token(value: str) -> str:
    return (sys.stdin.read() if value == "-" else value).strip()


def _print(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))


def _decode(args: argparse.Namespace) -> int:
    token = parse_data_token(_read_token(args.token))
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
    claims = asyncio.run(_verify_async(_read_token(args.token)))
    print("VERIFIED", file=sys.stderr)
    _print(claims)
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
        "verify", help="verify a data token using the ALB_OIDC_* environment variables"
    )
    verify.add_argument("token", help="the x-amzn-oidc-data value, or - for standard input")
    verify.set_defaults(run=_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 refused token, 2 bad usage/config)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except ConfigurationError as exc:
        print(f"alb-oidc: configuration error: {exc}", file=sys.stderr)
        return 2
    except AuthError as exc:
        print(f"alb-oidc: refused ({exc.code}): {exc}", file=sys.stderr)
        return 1
    except ALBOIDCError as exc:  # pragma: no cover - every subclass is one of the above
        print(f"alb-oidc: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
