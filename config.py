"""Typed settings, parsed from the environment once (12-factor).

Each setting is parsed explicitly and a bad value fails fast with the setting's name; nothing is
guessed from a string's shape. No I/O happens at import: `Settings.from_env()` is called by the
composition root (`wsgi.py`) or by tests with an explicit mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"

DEFAULT_INTERESTS = ("eyes", "nose", "contouring", "breast", "body", "skin", "lifting", "other")


class SettingsError(ValueError):
    """A setting is present but cannot be used; the message names it."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true/false/1/0/yes/no, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")


def parse_rate(name: str, raw: str) -> tuple[int, int]:
    """`COUNT/minute` or `COUNT/hour` → (count, window seconds)."""
    match = _RATE.match(raw.lower())
    if not match:
        raise SettingsError(f"{name} must look like 60/minute or 1000/hour, got {raw!r}")
    window = {"second": 1, "minute": 60, "hour": 3600}[match.group(2)]
    return int(match.group(1)), window


def normalise_database_url(url: str) -> str:
    """A plain `postgresql://` URL works as given: pick the psycopg 3 driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    """Every setting the hub reads; the README documents each one."""

    database_url: str = f"sqlite:///{INSTANCE_DIR / 'intake.sqlite3'}"
    redis_url: str = "redis://localhost:6379/0"
    secret_key: str = "dev-secret-change-me"
    public_base_url: str = "http://localhost:5000"
    clinic_timezone: str = "Asia/Seoul"
    clinic_name: str = "서울미래성형외과"
    clinic_name_en: str = "Seoul Mirae Plastic Surgery"
    clinic_address: str = "서울특별시 강남구 테헤란로 000"
    clinic_phone: str = "02-555-0100"
    clinic_hours: str = "mon,wed,thu 10:00-19:00; tue,fri 10:00-21:00"
    clinic_closed_dates: str = ""
    clinic_interests: tuple[str, ...] = DEFAULT_INTERESTS
    privacy_officer: str = "개인정보보호책임자 privacy@clinic.example.com"
    notices_dir: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: int = 10
    mail_from: str = "Clinic <consult@clinic.example.com>"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    counsellor_line: str = ""  # E.164; calls ring it during opening hours, else voicemail
    voice_language: str = "ko"  # the language calls are greeted in: ko or en
    sms_rate_per_second: int = 1  # per sender, shared by every worker
    media_max_bytes: int = 5_000_000  # an MMS picture or a voicemail recording
    recording_retention_days: int = 90  # voicemail recordings are destroyed after this (R18)
    twilio_webhook_shared_key: str = ""  # Twilio's HMAC-SHA256 signing mode; empty = refused
    kakao_skill_secret: str = ""
    kakao_bot_id: str = ""
    kakao_flow_ttl_seconds: int = 900
    alimtalk_api_base_url: str = ""  # NHN Cloud KakaoTalk Bizmessage; empty = development sink
    alimtalk_app_key: str = ""
    alimtalk_secret_key: str = ""
    alimtalk_sender_key: str = ""
    mailgun_signing_key: str = ""
    inbound_email_secret: str = ""
    fax_gateway_senders: tuple[str, ...] = ()
    imap_url: str = ""
    imap_poll_seconds: int = 60
    attachments_dir: str = str(INSTANCE_DIR / "attachments")
    attachment_max_bytes: int = 10_000_000
    attachment_max_count: int = 10
    sla_first_response_hours: int = 2  # opening hours until a first answer is due
    session_hours: int = 12  # a workspace sign-in lasts this long
    max_content_length: int = 1_000_000
    intake_rate_limit: tuple[int, int] = (60, 60)
    trusted_proxy_count: int = 0
    thread_window_days: int = 30
    guardian_purge_days: int = 5
    relay_interval_ms: int = 200
    log_level: str = "INFO"
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}

        def get(name: str) -> str | None:
            raw = env.get(name)
            return None if raw is None or raw.strip() == "" else raw

        for f in fields(cls):
            if f.name in ("extra", "testing", "intake_rate_limit", "fax_gateway_senders",
                          "clinic_interests"):
                continue
            raw = get(f.name.upper())
            if raw is None:
                continue
            if f.type in ("int", int):
                values[f.name] = _int(f.name.upper(), raw)
            elif f.type in ("bool", bool):
                values[f.name] = _bool(f.name.upper(), raw)
            else:
                values[f.name] = raw.strip()
        if (raw := get("INTAKE_RATE_LIMIT")) is not None:
            values["intake_rate_limit"] = parse_rate("INTAKE_RATE_LIMIT", raw)
        if (raw := get("FAX_GATEWAY_SENDERS")) is not None:
            values["fax_gateway_senders"] = tuple(s.lower() for s in _csv(raw))
        if (raw := get("CLINIC_INTERESTS")) is not None:
            values["clinic_interests"] = _csv(raw)
        if "database_url" in values:
            values["database_url"] = normalise_database_url(values["database_url"])
        if "max_content_length" in values and values["max_content_length"] < 1024:
            raise SettingsError("MAX_CONTENT_LENGTH must be at least 1024 bytes")
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        if "database_url" in changes:
            changes["database_url"] = normalise_database_url(changes["database_url"])
        return replace(self, **changes)

    @property
    def sms_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)
