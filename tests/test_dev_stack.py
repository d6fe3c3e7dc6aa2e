"""`DevStack` (`alb_oidc/dev/stack.py`): the addresses it answers on, the upstreams it refuses,
and what a restart keeps."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from alb_oidc import ConfigurationError
from alb_oidc.dev.demo_app import create_app
from alb_oidc.dev.signer import DevKeys
from alb_oidc.dev.stack import DevStack, _loopback_names

from .servers import free_port, login

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("host", "names"),
    [
        ("::", ["[::1]", "127.0.0.1", "localhost"]),
        ("0.0.0.0", ["127.0.0.1", "localhost"]),  # noqa: S104 - a name, never listened on
        ("127.0.0.1", ["127.0.0.1", "localhost"]),
        ("::1", ["[::1]"]),
        ("127.0.0.2", ["127.0.0.2"]),
    ],
)
def test_every_name_a_browser_here_may_use_is_a_redirect_uri(host: str, names: list[str]) -> None:
    # Before, `--host ::` registered [::1] only: 127.0.0.1 and localhost got "redirect_uri is
    # not registered" from the IdP.
    assert _loopback_names(host, 8000) == [f"http://{name}:8000" for name in names]


@pytest.mark.parametrize(
    "spelling",
    [
        "0.0.0.0",  # noqa: S104 - connects to this machine
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "LOCALHOST",
        "localhost.",
    ],
)
def test_the_emulators_own_port_is_refused_however_the_address_is_written(spelling: str) -> None:
    port = free_port()
    with pytest.raises(ConfigurationError, match="the emulator's own address"):
        DevStack(port=port, upstream=f"http://{spelling}:{port}")


def test_another_loopback_address_on_the_same_port_is_still_the_apps() -> None:
    port = free_port()
    stack = DevStack(host="127.0.0.2", port=port, upstream=f"http://127.1:{port}")
    stack.stop()
    assert stack.emulator.settings.upstream == f"http://127.1:{port}"


def test_a_restart_with_the_key_file_keeps_the_session_and_another_idp_key_ends_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dev-keys.pem"
    port, idp_port = free_port(), free_port()

    def started(keys: DevKeys, *, keep_idp_key: bool = True) -> DevStack:
        stack = DevStack(
            port=port,
            idp_port=idp_port,
            app_factory=create_app,
            signer=keys.signer,
            idp_key=keys.idp_key if keep_idp_key else None,
        )
        stack.start()
        return stack

    json = {"accept": "application/json"}
    with httpx2.Client(follow_redirects=True, timeout=10) as http:
        stack = started(DevKeys.from_file(path))
        try:
            assert login(http, f"{stack.url}/me", "alice", "alice").json()["username"] == "alice"
        finally:
            stack.stop()
        stack = started(DevKeys.from_file(path))
        try:
            # The app starts afresh, yet the session's access token still verifies: same IdP key.
            again = http.get(f"{stack.url}/me", headers=json, follow_redirects=False)
            assert again.status_code == 200, again.text
            assert again.json()["username"] == "alice"
        finally:
            stack.stop()
        stack = started(DevKeys.from_file(path), keep_idp_key=False)
        try:
            # Its access token is signed with a key this IdP does not have: no session, so a
            # fresh login rather than a 401 from the app for the rest of the token's hour.
            fresh = http.get(f"{stack.url}/me", headers=json, follow_redirects=False)
            assert fresh.status_code == 302, fresh.text
            assert fresh.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize")  # type: ignore[union-attr]
        finally:
            stack.stop()
