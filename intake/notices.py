"""The notice texts the clinic shows and sends, versioned and hashed (R2).

Texts are configuration: the defaults ship in `notices/default.json`; a clinic overrides any key
with a JSON file of the same shape in `NOTICES_DIR` (`<locale>.json` or `default.json`). A consent
notice must state purpose, items, retention and the right to refuse with its consequence; one
that leaves any of the four empty is refused when the app starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULTS = Path(__file__).with_name("notices") / "default.json"
LOCALES = ("ko", "en")
CONSENT_NOTICES = ("consent.collection", "consent.sensitive_health", "consent.marketing",
                   "consent.marketing_night", "consent.request_response")
REQUIRED_PARTS = ("purpose", "items", "retention", "refusal")


class NoticeError(ValueError):
    """A notice text cannot be published as configured."""


@dataclass(frozen=True)
class ConsentNotice:
    key: str
    locale: str
    version: str
    title: str
    purpose: str
    items: str
    retention: str
    refusal: str

    @property
    def sha256(self) -> str:
        canonical = json.dumps(
            [self.title, self.purpose, self.items, self.retention, self.refusal],
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def evidence(self) -> dict[str, str]:
        """What a consent event records about the text the person saw (R2, R5)."""
        return {"notice": self.key, "notice_version": self.version,
                "notice_sha256": self.sha256, "locale": self.locale}


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


class Notices:
    """All texts for every locale; `text()` formats, `consent()` gives a versioned notice."""

    def __init__(self, texts: Mapping[str, Mapping[str, Any]]) -> None:
        self._texts = texts
        for locale in LOCALES:
            for key in CONSENT_NOTICES:
                notice = self.consent(key, locale)
                missing = [p for p in REQUIRED_PARTS if not getattr(notice, p).strip()]
                if missing:
                    raise NoticeError(f"notice {key} ({locale}) lacks {', '.join(missing)} (R2)")

    @classmethod
    def load(cls, override_dir: str = "") -> Notices:
        texts: dict[str, Any] = json.loads(DEFAULTS.read_text(encoding="utf-8"))
        if override_dir:
            folder = Path(override_dir)
            if not folder.is_dir():
                raise NoticeError(f"NOTICES_DIR {override_dir!r} is not a folder")
            for path in sorted(folder.glob("*.json")):
                data = json.loads(path.read_text(encoding="utf-8"))
                if path.stem in LOCALES:
                    _merge(texts.setdefault(path.stem, {}), data)
                else:
                    _merge(texts, data)
        return cls(texts)

    def _locale(self, locale: str | None) -> str:
        return locale if locale in LOCALES else "ko"

    def raw(self, key: str, locale: str | None = "ko") -> Any:
        return self._texts[self._locale(locale)][key]

    def text(self, key: str, locale: str | None = "ko", **values: Any) -> str:
        return str(self.raw(key, locale)).format(**values)

    def consent(self, key: str, locale: str | None = "ko") -> ConsentNotice:
        loc = self._locale(locale)
        data = self._texts[loc][key]
        return ConsentNotice(key=key, locale=loc, version=str(data.get("version", "")),
                             title=data.get("title", ""), purpose=data.get("purpose", ""),
                             items=data.get("items", ""), retention=data.get("retention", ""),
                             refusal=data.get("refusal", ""))

    def format_datetime(self, at: datetime, locale: str | None = "ko") -> str:
        weekdays = self.raw("weekday", locale)
        return self.text("datetime", locale, month=at.month, day=at.day,
                         weekday=weekdays[at.weekday()], hour=at.hour, minute=at.minute,
                         month_name=at.strftime("%b"))
