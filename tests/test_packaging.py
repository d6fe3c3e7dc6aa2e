"""What goes into the source distribution: hatchling packs every file git does not ignore."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

from .servers import require

ROOT = Path(__file__).parent.parent


def test_tool_output_is_ignored_so_it_stays_out_of_the_sdist() -> None:
    git = shutil.which("git")
    require(git is not None and (ROOT / ".git").exists(), "git and a git checkout")
    assert git is not None
    paths = [
        ".hypothesis/examples/0123/4567",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/alb_oidc/config.data.json",
        ".ruff_cache/0.8.0/123",
        ".venv/bin/python",
        "alb_oidc/__pycache__/config.cpython-311.pyc",
        ".coverage",
        "htmlcov/index.html",
        "site/index.html",
        "dist/alb_oidc-0.1.0.tar.gz",
        ".bench/node/package.json",
    ]
    result = subprocess.run(
        [git, "check-ignore", "--no-index", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert set(result.stdout.split()) == set(paths)


def test_the_license_file_is_the_one_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert project["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert "alb-oidc developers" in text.splitlines()[2]
