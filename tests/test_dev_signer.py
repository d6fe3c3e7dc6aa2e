from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from alb_oidc import ALBConfig, ConfigurationError
from alb_oidc.dev.signer import DEV_SIGNER_ARN, DevKeys, DevSigner
from alb_oidc.keys import load_alb_public_key
from alb_oidc.tokens import check_data_token, parse_data_token, verify_data_signature

from .conftest import START


def test_data_tokens_are_in_the_alb_wire_format_and_verify() -> None:
    signer = DevSigner()
    token = signer.data_token(
        {"sub": "s", "email": "e@example.com"}, issuer="http://idp", client_id="c", exp=int(START)
    )
    header, payload, signature = token.split(".")
    assert all(len(segment) % 4 == 0 for segment in (header, payload, signature))
    parsed = parse_data_token(token)
    assert list(parsed.header) == ["typ", "kid", "alg", "iss", "client", "signer", "exp"]
    assert parsed.header["signer"] == DEV_SIGNER_ARN
    assert dict(parsed.claims) == {
        "sub": "s",
        "email": "e@example.com",
        "exp": int(START),
        "iss": "http://idp",
    }
    verify_data_signature(parsed, load_alb_public_key(signer.public_key_pem))


def test_a_config_trusting_the_dev_arn_accepts_its_tokens() -> None:
    signer = DevSigner()
    config = ALBConfig(
        alb_arns=[DEV_SIGNER_ARN],
        client_ids=["c"],
        issuers=["http://idp"],
        key_url="http://127.0.0.1:9/{kid}",
    )
    token = parse_data_token(
        signer.data_token({"sub": "s"}, issuer="http://idp", client_id="c", exp=int(START) + 60)
    )
    assert check_data_token(token, config, now=START) == f"http://127.0.0.1:9/{signer.kid}"


def test_kid_is_a_uuid_derived_from_the_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert DevSigner(key).kid == DevSigner(key).kid != DevSigner().kid
    assert DevSigner(key).kid[14] == "4"


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "alb-key.pem"
    first = DevSigner.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DevSigner.from_file(path)
    assert again.kid == first.kid
    assert again.cookie_key() == first.cookie_key() != DevSigner().cookie_key()


def test_bad_key_files_are_configuration_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("nope")
    with pytest.raises(ConfigurationError, match="cannot read"):
        DevSigner.from_file(garbage)
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigurationError, match="P-256"):
        DevSigner.from_file(p384)


def public_numbers(key: rsa.RSAPrivateKey) -> rsa.RSAPublicNumbers:
    return key.public_key().public_numbers()


def test_the_key_file_keeps_the_idps_key_too(tmp_path: Path) -> None:
    path = tmp_path / "dev-keys.pem"
    first = DevKeys.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().count(b"-----BEGIN PRIVATE KEY-----") == 2
    again = DevKeys.from_file(path)
    assert again.signer.kid == first.signer.kid == DevSigner.from_file(path).kid
    assert public_numbers(again.idp_key) == public_numbers(first.idp_key)
    assert public_numbers(DevKeys.from_file(tmp_path / "other.pem").idp_key) != (
        public_numbers(first.idp_key)
    )


def test_a_key_file_with_only_the_emulators_key_gets_the_idps_added(tmp_path: Path) -> None:
    path = tmp_path / "old.pem"
    signer = DevSigner()
    path.write_bytes(
        signer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    first = DevKeys.from_file(path)
    assert first.signer.kid == signer.kid
    again = DevKeys.from_file(path)
    assert again.signer.kid == signer.kid
    assert public_numbers(again.idp_key) == public_numbers(first.idp_key)


def test_a_key_file_without_an_ec_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigurationError, match="does not hold an EC private key"):
        DevKeys.from_file(path)
