"""aws-jwt-verify (the peer most teams use), run with the machine's Node.js.

The package is installed with npm into `.bench/node/` (ignored by git) on first use. It verifies
the very same padded tokens with a locally cached key, so no fetch is timed. Its rounds repeat
the same tokens: aws-jwt-verify has no result cache, so every call pays the full cost (checked by
its `repeated` figure).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .fixtures import TokenSet

PACKAGE = "aws-jwt-verify@5"
HERE = Path(__file__).resolve().parent
PREFIX = HERE.parent / ".bench" / "node"


class NodeUnavailable(RuntimeError):
    """Node.js or npm is missing, or the install failed (the reason is the message)."""


def install() -> Path:
    """Install aws-jwt-verify into `.bench/node/` once; return that folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeUnavailable("node and npm are not on PATH")
    if not (PREFIX / "node_modules" / "aws-jwt-verify").is_dir():
        PREFIX.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", PACKAGE],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise NodeUnavailable(f"npm install {PACKAGE} failed: {done.stderr.strip()[-500:]}")
    return PREFIX


def measure(tokens: TokenSet, raw: Sequence[bytes], *, rounds: int, repeats: int) -> dict[str, Any]:
    """Run bench/aws_jwt_verify.js on the data tokens `raw` of `tokens`' ALB; return its JSON
    figures."""
    prefix = install()
    document = {
        "tokens": [token.decode("ascii") for token in raw],
        "jwk": tokens.jwk(),
        "albArn": tokens.alb.alb_arn,
        "issuer": tokens.alb.issuer,
        "clientId": tokens.alb.client_id,
        "rounds": rounds,
        "batch": 50,
        "repeats": repeats,
        "packageVersion": json.loads(
            (prefix / "node_modules" / "aws-jwt-verify" / "package.json").read_text("utf-8")
        )["version"],
    }
    done = subprocess.run(
        [shutil.which("node") or "node", str(HERE / "aws_jwt_verify.js")],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "NODE_PATH": str(prefix / "node_modules")},
    )
    if done.returncode != 0:
        raise NodeUnavailable(f"aws_jwt_verify.js failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
