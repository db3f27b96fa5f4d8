"""The operator's admin credential, kept in memory only as its SHA-256 and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr


class AdminCredential:
    def __init__(self, secret: SecretStr | None) -> None:
        self._sha256 = hashlib.sha256(secret.get_secret_value().encode()).digest() if secret is not None else None

    @property
    def configured(self) -> bool:
        return self._sha256 is not None

    def matches(self, presented: str) -> bool:
        if self._sha256 is None:
            return False
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._sha256)
