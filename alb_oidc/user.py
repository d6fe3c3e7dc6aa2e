"""`ALBUser`: the verified user, as a Starlette `BaseUser`, deeply read-only.

One verified result can serve several requests (the caches in `alb_oidc.cache`), so nothing a
handler does to its user may reach another request: the claims are read-only mappings all the
way down (JSON objects become `MappingProxyType`, arrays become tuples), and assigning or
deleting an attribute raises `AttributeError`. `thaw_claims` turns such claims back into plain
dicts and lists (for a JSON response, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from starlette.authentication import BaseUser

from .errors import ALBOIDCError
from .tokens import _STR_ONLY, names_at

__all__ = [
    "MAX_CLAIM_DEPTH",
    "NO_GRANTS",
    "ALBUser",
    "ClaimsTooDeepError",
    "Grants",
    "freeze_claims",
    "thaw_claims",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: How deeply claims may nest (objects and arrays) below the top level. JSON parsers accept far
#: more (orjson: 1024), and freezing recurses, so deeper signed claims are refused, not crashed on.
MAX_CLAIM_DEPTH = 64


class ClaimsTooDeepError(ALBOIDCError, ValueError):
    """Claims nest deeper than `MAX_CLAIM_DEPTH` (the authenticator refuses the token)."""


_SCALARS = frozenset({str, int, float, bool, type(None)})


class Grants(NamedTuple):
    """What an access token grants a user: built once per verified access token and shared by
    every request that carries it (every field is immutable)."""

    claims: Mapping[str, Any] | None  # deeply read-only, or None without an access token
    scopes: frozenset[str]
    groups: frozenset[str]
    sorted_scopes: tuple[str, ...]
    verified: bool
    bearer: bool = False  # granted to a bearer token (a machine client), not the ALB's login

    @classmethod
    def of(
        cls,
        claims: Mapping[str, Any] | None,
        *,
        scopes: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        verified: bool = True,
        bearer: bool = False,
    ) -> Grants:
        """Grants from access-token claims (frozen here), with scopes and groups read from them
        (Cognito's `scope` and `cognito:groups`) unless given."""
        frozen = None if claims is None else freeze_claims(claims)
        scope_set = _name_set(scopes) if scopes is not None else scopes_of(frozen)
        return cls(
            frozen,
            scope_set,
            _name_set(groups) if groups is not None else groups_of(frozen),
            tuple(sorted(scope_set)),
            verified and frozen is not None,
            bearer,
        )


def _name_set(names: Iterable[str]) -> frozenset[str]:
    """`names` as a set; a single string is one name (not a set of its characters)."""
    return frozenset((names,)) if isinstance(names, str) else frozenset(names)


#: The grants of a user without an access token: no claims, scopes or groups, not verified.
NO_GRANTS = Grants(None, frozenset(), frozenset(), (), verified=False)


def verified_grants(
    claims: Mapping[str, Any], scopes: frozenset[str], groups: frozenset[str], *, bearer: bool
) -> Grants:
    """The authenticator's constructor of `Grants` for a verified token: `claims` is the dict
    just parsed from it, which nothing else holds (frozen in place, as `freeze_claims` does with
    `owned=True`; any other mapping is copied), and `scopes` and `groups` are frozensets
    already. Built without NamedTuple's generated `__new__`, like the tokens."""
    frozen = freeze_claims(claims, owned=True)
    return _tuple_new(Grants, (frozen, scopes, groups, tuple(sorted(scopes)), True, bearer))


def _frozen(value: Any, depth: int) -> Any:
    """`value` read-only all the way down: JSON objects become read-only mappings and arrays
    tuples; sets (which JSON cannot hold, but a caller might) become frozensets."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_CLAIM_DEPTH:
        raise ClaimsTooDeepError(f"claims nest deeper than {MAX_CLAIM_DEPTH} levels")
    if isinstance(value, list | tuple):
        if _SCALARS.issuperset(map(type, value)):  # a list of names (groups, roles): one pass
            return tuple(value)
        return tuple(_frozen(item, depth + 1) for item in value)
    if kind is dict or isinstance(value, Mapping):  # an exact type first: ABC checks are slow
        return _freeze_mapping(value, depth + 1)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def freeze_claims(claims: Mapping[str, Any], *, owned: bool = False) -> Mapping[str, Any]:
    """A deeply read-only copy of JSON claims (the input is left as it is).

    With `owned=True` the caller hands over a dict nobody else holds (a freshly parsed token):
    it is frozen in place and wrapped without a copy, its members that are not scalars replaced
    by read-only ones, so the caller must not use it afterwards. Claims nested deeper than
    `MAX_CLAIM_DEPTH` raise `ClaimsTooDeepError` (an owned dict is then left part-frozen).
    """
    # Most claims are strings and numbers: checking that in one C-level pass keeps the common case
    # (a flat userinfo document) at the cost of a dict copy, or none.
    if owned and type(claims) is dict:
        if not _SCALARS.issuperset(map(type, claims.values())):
            # Replace the few members that are not scalars (a list of groups, say) in place:
            # half the cost of building a new dict of every member.
            for name in [name for name, value in claims.items() if type(value) not in _SCALARS]:
                claims[name] = _frozen(claims[name], 1)
        return MappingProxyType(claims)
    if _SCALARS.issuperset(map(type, claims.values())):
        return MappingProxyType(dict(claims))
    return _freeze_mapping(claims, 1)


def _freeze_mapping(claims: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            name: value if type(value) in _SCALARS else _frozen(value, depth)
            for name, value in claims.items()
        }
    )


def scopes_of(access_claims: Mapping[str, Any] | None) -> frozenset[str]:
    """The scopes of access-token claims: `scope`, read as a verified Cognito token's are (a
    space-separated string or a list of strings; `AccessTokenError` for anything else)."""
    return names_at(access_claims or _EMPTY, "scope", label="access token")


def groups_of(access_claims: Mapping[str, Any] | None) -> frozenset[str]:
    """The groups of access-token claims: `cognito:groups`, read as a verified Cognito token's
    are (a list of strings or a space-separated string; `AccessTokenError` for anything else)."""
    return names_at(access_claims or _EMPTY, "cognito:groups", label="access token")


def thaw_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of (read-only) claims: objects as dicts and arrays as lists, all the way
    down, ready for `json.dumps` or a JSON response. Changing it changes nobody's user."""
    return {name: _thawed(value) for name, value in claims.items()}


def _thawed(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return thaw_claims(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_thawed(item) for item in value]
    return value


def verified_user(claims: Mapping[str, Any], grants: Grants) -> ALBUser:
    """The authenticator's constructor of `ALBUser`: `claims` are verified and frozen, and
    `grants` is what the session's verified access token grants (shared by all its requests).

    It sets the two slots through their descriptors, which is what `object.__setattr__` does in
    `__init__` at twice the cost; this runs on every request.
    """
    user = _new_user(ALBUser)
    _set_claims(user, claims)
    _set_grants(user, grants)
    return user


class ALBUser(BaseUser):
    """A user whose identity the ALB asserted (or whose bearer token) alb-oidc verified.

    `claims` are the verified claims of `x-amzn-oidc-data` (the IdP's userinfo); `access_claims`
    those of the verified access token, or None when no access token was verified. `scopes` and
    `groups` come from the access token's configured claims (Cognito: `scope` and
    `cognito:groups`), and groups also from the userinfo's `ALBConfig.groups_claim`.

    A machine client authenticated by `Authorization: Bearer` (`ALBConfig.bearer`) is an
    `ALBUser` too, with `is_bearer` True: its `claims` and `access_claims` are both the bearer
    token's claims, and its `sub` the token's `sub`.

    The user is deeply read-only: the claims are copied into read-only mappings (nested objects
    too; arrays become tuples; other objects a caller passes in are kept as they are), and
    setting any attribute raises `AttributeError`. `alb_oidc.thaw_claims(user.claims)` gives a
    plain, JSON-ready copy. Users compare equal when their claims, access claims, scopes, groups
    and how they were authenticated (`access_token_verified`, `is_bearer`) are equal, and
    pickle.
    """

    __slots__ = ("_claims", "_grants")
    _claims: Mapping[str, Any]
    _grants: Grants

    def __init__(
        self,
        claims: Mapping[str, Any],
        access_claims: Mapping[str, Any] | None = None,
        *,
        scopes: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        access_token_verified: bool = True,
    ) -> None:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise ValueError("claims must contain a non-empty `sub` string")
        grants = Grants.of(
            access_claims, scopes=scopes, groups=groups, verified=access_token_verified
        )
        object.__setattr__(self, "_claims", freeze_claims(claims))
        object.__setattr__(self, "_grants", grants)

    # Starlette's BaseUser has no __slots__, so instances would get a __dict__: refuse writes.
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ALBUser is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ALBUser is read-only: cannot delete {name!r}")

    def __copy__(self) -> ALBUser:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> ALBUser:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mappings do not pickle: the user travels as plain claims and is frozen again.
        grants = self._grants
        access = None if grants.claims is None else thaw_claims(grants.claims)
        granted = (grants.scopes, grants.groups, grants.verified, grants.bearer)
        return _unpickled_user, (thaw_claims(self._claims), access, granted)

    @property
    def sub(self) -> str:
        """The IdP's subject identifier: the stable user id."""
        return str(self._claims["sub"])

    @property
    def claims(self) -> Mapping[str, Any]:
        """The verified userinfo claims (read-only)."""
        return self._claims

    @property
    def access_claims(self) -> Mapping[str, Any] | None:
        """The access token's claims (read-only), or None."""
        return self._grants.claims

    @property
    def access_token_verified(self) -> bool:
        """True only when `access_claims` come from a verified access or bearer token: False
        without any, and when they were decoded without verification (the insecure option)."""
        return self._grants.verified

    @property
    def is_bearer(self) -> bool:
        """True for a request authenticated by an `Authorization: Bearer` token (a machine
        client, `ALBConfig.bearer`); False for a login through the ALB."""
        return self._grants.bearer

    @property
    def scopes(self) -> frozenset[str]:
        """OAuth scopes granted by the access token."""
        return self._grants.scopes

    @property
    def sorted_scopes(self) -> tuple[str, ...]:
        """`scopes` in sorted order (what the middleware puts in `request.auth.scopes`, after
        Starlette's `"authenticated"`)."""
        return self._grants.sorted_scopes

    @property
    def groups(self) -> frozenset[str]:
        """The user's groups: the access token's configured claim (Cognito: `cognito:groups`),
        plus the userinfo's `ALBConfig.groups_claim`."""
        return self._grants.groups

    def _first(self, *names: str) -> str | None:
        # The access token's claims only when verified: the insecure mode's unverified token
        # may grant scopes and groups (as documented), never a name or an email.
        grants = self._grants
        fallback = grants.claims if grants.verified and grants.claims is not None else _EMPTY
        for source in (self._claims, fallback):
            for name in names:
                value = source.get(name)
                if isinstance(value, str) and value:
                    return value
        return None

    @property
    def email(self) -> str | None:
        """The `email` claim, if any."""
        return self._first("email")

    @property
    def email_verified(self) -> bool:
        """True if the IdP says the email is verified (Cognito sends the string "true")."""
        value = self._claims.get("email_verified")
        return value is True or value == "true"

    @property
    def username(self) -> str | None:
        """`username` (Cognito), `cognito:username` or `preferred_username`, if any."""
        return self._first("username", "cognito:username", "preferred_username")

    @property
    def name(self) -> str | None:
        """The `name` claim, if any."""
        return self._first("name")

    @property
    def is_authenticated(self) -> bool:
        """Always True: an ALBUser only exists after verification."""
        return True

    @property
    def display_name(self) -> str:
        """The best human-readable name: name, username, email, or sub."""
        return self.name or self.username or self.email or self.sub

    @property
    def identity(self) -> str:
        """Starlette's identity: the `sub`."""
        return self.sub

    def has_scopes(self, *scopes: str, any_of: bool = False) -> bool:
        """True if the user has all (or, with `any_of`, at least one) of `scopes`: names, one
        an argument (`has_scopes("a", "b")`)."""
        _names_only("has_scopes", scopes)
        check = any if any_of else all
        granted = self._grants.scopes
        return check(scope in granted for scope in scopes)

    def in_groups(self, *groups: str, any_of: bool = False) -> bool:
        """True if the user is in all (or, with `any_of`, at least one) of `groups`: names, one
        an argument (`in_groups("a", "b")`)."""
        _names_only("in_groups", groups)
        check = any if any_of else all
        granted = self._grants.groups
        return check(group in granted for group in groups)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ALBUser):
            return NotImplemented
        mine, theirs = self._grants, other._grants
        return (
            self._claims,
            mine.claims,
            mine.scopes,
            mine.groups,
            mine.verified,
            mine.bearer,
        ) == (
            other._claims,
            theirs.claims,
            theirs.scopes,
            theirs.groups,
            theirs.verified,
            theirs.bearer,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        bearer = ", is_bearer=True" if self._grants.bearer else ""
        return (
            f"ALBUser(sub={self.sub!r}, email={self.email!r}, "
            f"scopes={list(self._grants.sorted_scopes)!r}, groups={sorted(self._grants.groups)!r}"
            f"{bearer})"
        )


_new_user = object.__new__
_tuple_new = tuple.__new__
_set_claims = ALBUser.__dict__["_claims"].__set__
_set_grants = ALBUser.__dict__["_grants"].__set__


def _names_only(method: str, names: tuple[object, ...]) -> None:
    """A list passed as one argument would be unhashable (a `TypeError` from deep inside) and a
    tuple silently never held: say what is wrong instead."""
    if not _STR_ONLY.issuperset(map(type, names)):
        raise TypeError(f"ALBUser.{method} takes names as separate str arguments ('a', 'b')")


def _unpickled_user(
    claims: dict[str, Any],
    access: dict[str, Any] | None,
    granted: tuple[frozenset[str], frozenset[str], bool, bool],
) -> ALBUser:
    scopes, groups, verified, bearer = granted
    frozen = None if access is None else freeze_claims(access)
    grants = _tuple_new(Grants, (frozen, scopes, groups, tuple(sorted(scopes)), verified, bearer))
    return verified_user(freeze_claims(claims), grants)
