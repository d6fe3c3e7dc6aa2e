from __future__ import annotations

import json
import pickle

import pytest
from starlette.authentication import BaseUser

from alb_oidc import AccessTokenError, ALBUser, thaw_claims
from alb_oidc.user import Grants, freeze_claims, verified_grants, verified_user


def test_properties_from_cognito_style_claims() -> None:
    user = ALBUser(
        {"sub": "abc", "email": "a@example.com", "email_verified": "true", "username": "alice"},
        {"scope": "openid tasks/read", "cognito:groups": ["admins", "ops"], "username": "alice"},
    )
    assert isinstance(user, BaseUser)
    assert user.sub == user.identity == "abc"
    assert user.email == "a@example.com"
    assert user.email_verified is True
    assert user.username == "alice"
    assert user.name is None
    assert user.display_name == "alice"
    assert user.is_authenticated is True
    assert user.scopes == frozenset({"openid", "tasks/read"})
    assert user.groups == frozenset({"admins", "ops"})
    assert user.access_token_verified is True


def test_display_name_falls_back_in_order() -> None:
    assert ALBUser({"sub": "s", "name": "N", "email": "e"}).display_name == "N"
    assert ALBUser({"sub": "s", "email": "e"}).display_name == "e"
    assert ALBUser({"sub": "s"}).display_name == "s"


@pytest.mark.parametrize("value", ["false", False, None, "True", 1])
def test_email_verified_only_for_true_or_the_string_true(value: object) -> None:
    assert ALBUser({"sub": "s", "email_verified": value}).email_verified is False


def test_username_from_other_claims() -> None:
    assert ALBUser({"sub": "s", "preferred_username": "p"}).username == "p"
    assert ALBUser({"sub": "s"}, {"cognito:username": "c"}).username == "c"


def test_claims_are_read_only() -> None:
    user = ALBUser({"sub": "s"}, {"scope": "a"})
    with pytest.raises(TypeError):
        user.claims["sub"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        user.access_claims["scope"] = "admin"  # type: ignore[index]


def test_scope_and_group_claims_are_read_as_the_authenticator_reads_them() -> None:
    # A user built by hand (in an app's tests) gets what a verified Cognito token would give:
    # a list of scopes or a space-separated string of groups is read, not ignored...
    user = ALBUser({"sub": "s"}, {"scope": ["a"], "cognito:groups": "admins staff"})
    assert user.scopes == {"a"}
    assert user.groups == {"admins", "staff"}
    # ...and what the authenticator refuses is refused, not quietly trimmed to its strings.
    with pytest.raises(AccessTokenError, match="`cognito:groups` is not a string or a list"):
        ALBUser({"sub": "s"}, {"cognito:groups": ["ok", 5]})
    with pytest.raises(AccessTokenError, match="`scope` is not a string or a list"):
        ALBUser({"sub": "s"}, {"scope": {"a": True}})


def test_explicit_scopes_and_groups_win() -> None:
    user = ALBUser({"sub": "s"}, scopes=["x"], groups=["g"])
    assert user.has_scopes("x")
    assert user.in_groups("g")
    assert user.access_claims is None
    assert user.access_token_verified is False


def test_a_single_string_is_one_scope_or_group_not_characters() -> None:
    user = ALBUser({"sub": "s"}, scopes="admin", groups="ops")
    assert (user.scopes, user.groups) == ({"admin"}, {"ops"})
    assert not user.has_scopes("a")


def test_names_come_from_the_access_token_only_when_it_was_verified() -> None:
    access = {"sub": "s", "email": "ceo@example.com", "username": "ceo", "name": "The CEO"}
    unverified = ALBUser({"sub": "s"}, access, access_token_verified=False)
    assert (unverified.email, unverified.username, unverified.name) == (None, None, None)
    assert unverified.display_name == "s"
    verified = ALBUser({"sub": "s"}, access)
    assert (verified.email, verified.username, verified.display_name) == (
        "ceo@example.com",
        "ceo",
        "The CEO",
    )


def test_all_of_and_any_of() -> None:
    user = ALBUser({"sub": "s"}, scopes=["a", "b"], groups=["g"])
    assert user.has_scopes("a", "b")
    assert not user.has_scopes("a", "c")
    assert user.has_scopes("a", "c", any_of=True)
    assert not user.in_groups("x", "y", any_of=True)


def test_sub_is_required() -> None:
    with pytest.raises(ValueError, match="sub"):
        ALBUser({"email": "x"})


def test_equality_and_repr_without_secrets() -> None:
    a = ALBUser({"sub": "s"}, {"scope": "a"})
    assert a == ALBUser({"sub": "s"}, {"scope": "a"})
    assert a != ALBUser({"sub": "t"}, {"scope": "a"})
    assert repr(a) == "ALBUser(sub='s', email=None, scopes=['a'], groups=[])"


def test_users_differing_only_in_how_they_were_authenticated_are_not_equal() -> None:
    claims, access = {"sub": "s"}, {"sub": "s", "scope": "a"}
    verified = ALBUser(claims, access)
    assert verified != ALBUser(claims, access, access_token_verified=False)
    bearer = verified_user(freeze_claims(access), Grants.of(access, bearer=True))
    login = verified_user(freeze_claims(access), Grants.of(access))
    assert bearer != login
    assert login == verified_user(freeze_claims(access), Grants.of(access))


@pytest.mark.parametrize("bearer", [False, True])
@pytest.mark.parametrize("verified", [False, True])
def test_a_user_survives_pickling_and_stays_read_only(verified: bool, bearer: bool) -> None:
    grants = Grants.of(ACCESS, groups=["extra"], verified=verified, bearer=bearer)
    user = verified_user(freeze_claims(NESTED), grants)
    copied = pickle.loads(pickle.dumps(user))  # noqa: S301 - our own bytes
    assert copied == user
    assert (copied.access_token_verified, copied.is_bearer) == (verified, bearer)
    assert (copied.scopes, copied.groups, copied.sorted_scopes) == (
        {"openid"},
        {"extra"},
        ("openid",),
    )
    assert copied.claims["address"]["lines"] == ("a",)
    with pytest.raises(TypeError):
        copied.claims["address"]["country"] = "XX"  # type: ignore[index]
    plain = ALBUser({"sub": "s"})
    assert pickle.loads(pickle.dumps(plain)).access_claims is None  # noqa: S301


def test_thaw_claims_gives_a_plain_json_ready_copy() -> None:
    user = ALBUser(NESTED, ACCESS)
    plain = thaw_claims(user.claims)
    assert plain == NESTED
    assert json.loads(json.dumps(plain)) == NESTED  # the read-only claims do not encode
    with pytest.raises(TypeError):
        json.dumps(dict(user.claims))
    plain["address"]["lines"].append("b")  # a copy: the user does not change
    assert user.claims["address"]["lines"] == ("a",)
    assert thaw_claims(user.access_claims or {}) == ACCESS
    assert thaw_claims({"s": frozenset({"x"})}) == {"s": ["x"]}


@pytest.mark.parametrize("method", ["has_scopes", "in_groups"])
def test_names_passed_as_one_list_are_a_clear_type_error(method: str) -> None:
    user = ALBUser({"sub": "s"}, scopes=["a"], groups=["a"])
    check = getattr(user, method)
    assert check("a")
    for wrong in (["a"], ("a",), {"a"}, None):
        with pytest.raises(TypeError, match=f"ALBUser.{method} takes names as separate str"):
            check(wrong)


NESTED = {
    "sub": "s",
    "roles": ["reader"],
    "address": {"country": "NL", "lines": ["a"]},
    "tenants": [{"id": "t1", "tags": ["x"]}],
}
ACCESS = {"sub": "s", "scope": "openid", "cognito:groups": ["users"], "extra": {"k": ["v"]}}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda u: u.claims["roles"].append("admin"), id="list-append"),
        pytest.param(lambda u: u.claims["address"].update(country="XX"), id="nested-dict-update"),
        pytest.param(lambda u: u.claims["address"]["lines"].append("b"), id="list-in-dict"),
        pytest.param(lambda u: u.claims["tenants"][0]["tags"].append("y"), id="list-in-list"),
        pytest.param(
            lambda u: u.access_claims["cognito:groups"].append("admins"), id="access-groups"
        ),
        pytest.param(lambda u: u.access_claims["extra"]["k"].append("w"), id="access-nested"),
        pytest.param(lambda u: u.claims.__setitem__("sub", "other"), id="top-level-item"),
        pytest.param(lambda u: setattr(u, "tenant", "t2"), id="new-attribute"),
        pytest.param(lambda u: setattr(u, "_scopes", frozenset({"admin"})), id="private-slot"),
        pytest.param(lambda u: delattr(u, "_claims"), id="delete-attribute"),
    ],
)
def test_the_user_is_deeply_read_only(mutate: object) -> None:
    user = ALBUser(NESTED, ACCESS)
    before = repr((dict(user.claims), dict(user.access_claims or {}), user.scopes, user.groups))
    with pytest.raises((AttributeError, TypeError)):
        mutate(user)  # type: ignore[operator]
    after = repr((dict(user.claims), dict(user.access_claims or {}), user.scopes, user.groups))
    assert after == before
    assert not hasattr(user, "tenant")


def test_freezing_leaves_the_callers_claims_alone_and_keeps_values() -> None:
    claims = {"sub": "s", "roles": ["reader"], "address": {"lines": ["a"]}}
    user = ALBUser(claims)
    claims["roles"].append("admin")
    assert user.claims["roles"] == ("reader",)
    assert user.claims["address"]["lines"] == ("a",)
    assert claims == {"sub": "s", "roles": ["reader", "admin"], "address": {"lines": ["a"]}}


def test_groups_from_a_frozen_list_still_count() -> None:
    assert ALBUser({"sub": "s"}, {"cognito:groups": ("a", "b")}).groups == {"a", "b"}


def test_containers_json_cannot_hold_are_frozen_too() -> None:
    class Names(list):  # type: ignore[type-arg]
        pass

    user = ALBUser({"sub": "s", "tags": {"a"}, "raw": bytearray(b"x"), "names": Names(["n"])})
    assert user.claims["tags"] == frozenset({"a"})
    assert user.claims["raw"] == b"x"
    assert user.claims["names"] == ("n",)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u", "scope": "b a", "exp": 1},  # flat: wrapped as it is
        {"sub": "u", "cognito:groups": ["staff"], "ext": {"tier": [1, {"x": 2}]}},  # nested
    ],
)
def test_verified_grants_are_the_grants_of_the_same_claims(claims: dict) -> None:
    """The authenticator's constructor gives what `Grants.of` gives, deeply read-only."""
    scopes, groups = frozenset({"b", "a"}), frozenset({"staff"})
    expected = Grants.of(dict(claims), scopes=scopes, groups=groups, bearer=True)
    grants = verified_grants(claims, scopes, groups, bearer=True)
    assert grants == expected
    assert type(grants) is Grants
    assert grants.sorted_scopes == ("a", "b")
    assert grants.verified
    assert grants.bearer
    with pytest.raises(TypeError):
        grants.claims["sub"] = "mallory"  # type: ignore[index]
    if "ext" in claims:
        assert grants.claims["ext"] == {"tier": (1, {"x": 2})}
        with pytest.raises(TypeError):
            grants.claims["ext"]["tier"] = ()  # type: ignore[index]
