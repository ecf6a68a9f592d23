"""Per-consultation reply addresses: `consult+TOKEN@<MAIL_FROM domain>`.

TOKEN is `<id>.<hmac>`: the consultation id and the first 16 hex digits of an HMAC-SHA256 of it
with SECRET_KEY, so nothing is stored and a guessed id without the key threads nowhere.
Called by `channels.email.inbound` (reading recipients) and `channels.email.smtp` (Reply-To).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from email.utils import parseaddr

_TOKEN = re.compile(r"^[^+@\s]+\+(\d{1,18})\.([0-9a-f]{16})@", re.I)


def _mac(secret_key: str, consultation_id: int) -> str:
    return hmac.new(secret_key.encode(), f"consultation:{consultation_id}".encode(),
                    hashlib.sha256).hexdigest()[:16]


def reply_address(consultation_id: int, *, secret_key: str, mail_from: str) -> str:
    local, _, domain = parseaddr(mail_from)[1].partition("@")
    local = (local or "consult").split("+", 1)[0]
    return f"{local}+{consultation_id}.{_mac(secret_key, consultation_id)}@{domain or 'localhost'}"


def consultation_from_addresses(addresses: Iterable[str], *, secret_key: str) -> int | None:
    """The consultation a reply address names, if one of `addresses` carries a valid token."""
    for address in addresses:
        match = _TOKEN.match(address.strip().lower())
        if match is None:
            continue
        consultation_id = int(match.group(1))
        if hmac.compare_digest(match.group(2), _mac(secret_key, consultation_id)):
            return consultation_id
    return None
