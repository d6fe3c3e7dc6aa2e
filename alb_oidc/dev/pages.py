"""The few HTML pages the dev tools show: the IdP's login form and plain messages."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

__all__ = ["login_page", "message_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;font-size:1rem}"
    "button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}.error{color:#b00020}"
    ".note{color:#666;font-size:.85rem}"
)


def _page(title: str, body: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>",
        status_code=status_code,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def login_page(
    action: str, *, error: str | None = None, username: str = "", hint: str | None = None
) -> HTMLResponse:
    """The sign-in form: inputs `username` and `password`, one submit button, posted to `action`.

    `hint` is a line shown under the form (the demo users, whose passwords are public).
    """
    message = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
    note = f"<p class='note' id='hint'>{escape(hint)}</p>" if hint else ""
    return _page(
        "Sign in",
        "<h1>Sign in</h1>"
        "<p class='note'>alb-oidc development identity provider: not for production.</p>"
        f"{message}<form method='post' action='{escape(action)}'>"
        "<label for='username'>Username</label>"
        f"<input id='username' name='username' autocomplete='username' value='{escape(username)}'"
        " required autofocus>"
        "<label for='password'>Password</label>"
        "<input id='password' name='password' type='password' autocomplete='current-password'"
        " required>"
        f"<button type='submit'>Sign in</button></form>{note}",
        401 if error else 200,
    )


def message_page(
    title: str, text: str, *, status_code: int = 200, link: str | None = None
) -> HTMLResponse:
    """A short page with a heading, a sentence and an optional link back."""
    anchor = f"<p><a href='{escape(link)}'>Continue</a></p>" if link else ""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>{anchor}", status_code)
