from __future__ import annotations

import json
from pathlib import Path

import pytest

from alb_oidc import ConfigurationError
from alb_oidc.dev.users import DevUser, demo_users, hash_password, load_users, verify_password


def test_password_hashes_verify_and_are_salted() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret", first)
    assert verify_password("s3cret", second)
    assert not verify_password("s3cret!", first)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain",
        "bcrypt$1$2$3$00$00",
        "scrypt$x$8$1$00$00",
        "scrypt$16384$8$1$zz$00",
        "scrypt$16384$8$1$00$é0",
    ],
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_demo_users_match_the_documented_contract() -> None:
    alice, bob = demo_users()
    assert (alice.username, alice.groups, alice.scopes) == (
        "alice",
        ("admins",),
        ("openid", "tasks/read", "tasks/write"),
    )
    assert (bob.username, bob.groups, bob.scopes) == ("bob", (), ("openid", "tasks/read"))
    assert verify_password("alice", alice.password_hash)
    assert verify_password("bob", bob.password_hash)
    assert not verify_password("bob", alice.password_hash)


def test_sub_is_stable_and_userinfo_is_cognito_shaped() -> None:
    user = DevUser("carol", hash_password("c"), email="c@example.com", claims={"name": "Carol"})
    again = DevUser("carol", user.password_hash)
    assert user.sub == again.sub
    assert user.userinfo() == {
        "sub": user.sub,
        "username": "carol",
        "email": "c@example.com",
        "email_verified": "true",
        "name": "Carol",
    }


def test_users_load_from_toml_and_json(tmp_path: Path) -> None:
    encoded = hash_password("pw")
    toml = tmp_path / "users.toml"
    toml.write_text(
        f'[[users]]\nusername = "dana"\npassword_hash = "{encoded}"\ngroups = ["ops"]\n'
        'scopes = ["openid", "x"]\nclaims = { name = "Dana" }\n'
    )
    as_json = tmp_path / "users.json"
    as_json.write_text(json.dumps({"users": [{"username": "dana", "password_hash": encoded}]}))
    (dana,) = load_users(toml)
    assert (dana.groups, dana.scopes, dict(dana.claims)) == (
        ("ops",),
        ("openid", "x"),
        {"name": "Dana"},
    )
    assert load_users(as_json)[0].username == "dana"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not toml [", "cannot read users file"),
        ("users = []", "non-empty list"),
        ('users = ["x"]', "not a table"),
        ('[[users]]\nusername = "a"\npassword_hash = "plain"', "hash-password"),
        ('[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nrole = 1', "unknown fields"),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\ngroups = "admins"',
            "list of strings",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nclaims = {sub = "b"}',
            "may not set sub",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nsub = 1001',
            "sub must be a non-empty string: 1001",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nsub = ""',
            "sub must be a non-empty string",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nsub = " "',
            "sub must be a non-empty string",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nemail = 7',
            "email must be a non-empty string: 7",
        ),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\nemail = ""',
            "email must be a non-empty string",
        ),
        (
            '[[users]]\nusername = "a"\npassword = "x"',
            r"unknown fields \['password'\] \(store password_hash instead: "
            r"alb-oidc hash-password\)",
        ),
        ('[[users]]\nusername = ""\npassword_hash = "scrypt$x"', "non-empty username"),
        ('[[users]]\npassword_hash = "scrypt$x"', r"users\[0\]: .*username"),
        (
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"\n'
            '[[users]]\nusername = "a"\npassword_hash = "scrypt$x"',
            "unique",
        ),
    ],
)
def test_bad_users_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        load_users(path)


def test_a_missing_users_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_users(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (
            "born = 1990-01-01",
            r"user 'carol': claim 'born' is a date, not a JSON value; "
            r'write it as a string: "1990-01-01"',
        ),
        (
            "seen = 2024-05-01T10:00:00Z",
            r"claim 'seen' is a datetime.*\"2024-05-01T10:00:00\+00:00\"",
        ),
        ("at = 07:30:00", r"claim 'at' is a time"),
        ("address = { moved = 2020-02-02 }", r"claim 'address'\['moved'\] is a date"),
        ("history = [1, 1999-12-31]", r"claim 'history'\[1\] is a date"),
        ("score = nan", r"claim 'score' is nan, which JSON cannot hold"),
        ("score = inf", r"claim 'score' is inf"),
    ],
)
def test_claims_that_are_not_json_are_refused_naming_the_user_and_the_claim(
    tmp_path: Path, claims: str, message: str
) -> None:
    # Userinfo answers JSON: such a claim made every login of the user fail with a 500.
    path = tmp_path / "users.toml"
    path.write_text(
        f'[[users]]\nusername = "carol"\npassword_hash = "scrypt$x"\nclaims = {{ {claims} }}\n'
    )
    with pytest.raises(ConfigurationError, match=message) as refused:
        load_users(path)
    assert str(refused.value).startswith(f"{path}: user 'carol': claim ")


def test_json_claims_of_every_kind_are_kept() -> None:
    claims = {"n": 1, "f": 1.5, "ok": True, "none": None, "list": ["a", 2], "map": {"k": [{}]}}
    user = DevUser("dana", hash_password("pw"), claims=claims)
    assert json.loads(json.dumps(user.userinfo()))["map"] == {"k": [{}]}
