"""The pure rules of key power: parsing a presented key, scopes, and never widening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingress.key_policy import (
    ALL_SCOPES,
    KeyPower,
    Principal,
    allowed_route,
    inherit,
    key_id_of,
    max_tokens_for,
    require_manager,
    widening,
)
from schemas.errors import Forbidden

SOON = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("secret", "key_id"),
    [
        ("lx_live_0123456789ab_secret", "0123456789ab"),
        ("lx_0123456789ab_sec_ret", "0123456789ab"),
        ("lx_live_0123456789ab_", None),
        ("lx_live_0123456789ab", None),
        ("lx_live_0123456789AB_secret", None),
        ("lx_live_0123456789a_secret", None),
        ("sk-0123456789ab_secret", None),
        ("lx_live_0123456789ab_" + "x" * 200, None),
    ],
)
def test_the_key_id_is_read_from_the_presented_key(secret: str, key_id: str | None) -> None:
    assert key_id_of(secret) == key_id


def test_widening_names_what_the_child_would_gain() -> None:
    parent = KeyPower(scopes=frozenset({"inference", "manage"}), expires_at=SOON, rpm_max=10)
    assert widening(KeyPower(scopes=frozenset({"inference"}), expires_at=SOON, rpm_max=10), parent) is None
    assert "scopes" in str(widening(KeyPower(scopes=ALL_SCOPES, expires_at=SOON, rpm_max=1), parent))
    assert "expiry" in str(widening(KeyPower(scopes=frozenset({"inference"}), rpm_max=1), parent))
    later = SOON + timedelta(seconds=1)
    assert "expiry" in str(widening(KeyPower(scopes=frozenset({"inference"}), expires_at=later, rpm_max=1), parent))
    assert "rpm_max" in str(widening(KeyPower(scopes=frozenset({"inference"}), expires_at=SOON), parent))
    limited = KeyPower(scopes=ALL_SCOPES, allowed_models=frozenset({"a"}))
    assert "models" in str(widening(KeyPower(scopes=ALL_SCOPES), limited))
    assert widening(KeyPower(scopes=ALL_SCOPES, allowed_models=frozenset({"a"})), limited) is None


def test_a_child_inherits_what_it_does_not_name() -> None:
    parent = KeyPower(scopes=ALL_SCOPES, expires_at=SOON, tpm_max=500)
    child = inherit(KeyPower(scopes=frozenset({"inference"}), tpm_max=100), parent, {"tpm_max"})
    assert child == KeyPower(scopes=frozenset({"inference"}), expires_at=SOON, tpm_max=100)


def test_a_rotated_out_key_manages_nothing() -> None:
    principal = Principal("k", "ws", None, KeyPower(scopes=ALL_SCOPES), rotated=True)
    with pytest.raises(Forbidden, match="rotated out"):
        require_manager(principal)
    with pytest.raises(Forbidden, match="'manage'"):
        require_manager(Principal("k", "ws", None, KeyPower(scopes=frozenset({"inference"}))))


def test_models_and_max_tokens_of_a_key() -> None:
    principal = Principal(
        "k", "ws", None, KeyPower(scopes=ALL_SCOPES, allowed_models=frozenset({"a", "c"}), max_tokens_max=50)
    )
    assert allowed_route(principal, ["a", "b", "c"]) == ["a", "c"]
    with pytest.raises(Forbidden, match="may not use model 'b'"):
        allowed_route(principal, ["b", "a"])
    assert max_tokens_for(principal, None, 512) == 50
    assert max_tokens_for(principal, 50, 512) == 50
    with pytest.raises(Forbidden, match=r"^'max_tokens': 51 exceeds this key's limit of 50$"):
        max_tokens_for(principal, 51, 512)
    # Named as the caller sent it: OpenAI's max_completion_tokens is the same bound.
    with pytest.raises(Forbidden, match=r"^'max_completion_tokens': 51 exceeds"):
        max_tokens_for(principal, 51, 512, param="max_completion_tokens")
