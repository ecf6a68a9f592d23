"""Settings are parsed explicitly from the environment and fail fast with the setting's name."""

from __future__ import annotations

import pytest

from config import Settings, SettingsError


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///") and "instance" in settings.database_url
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.intake_rate_limit == (60, 60)
    assert settings.trusted_proxy_count == 0
    assert settings.smtp_starttls is False


@pytest.mark.parametrize("raw, expected", [("true", True), ("1", True), ("yes", True),
                                           ("false", False), ("0", False), ("no", False)])
def test_smtp_starttls_reads_the_contract_words(raw, expected):
    assert Settings.from_env({"SMTP_STARTTLS": raw}).smtp_starttls is expected


def test_bad_values_name_the_setting():
    with pytest.raises(SettingsError, match="SMTP_STARTTLS"):
        Settings.from_env({"SMTP_STARTTLS": "maybe"})
    with pytest.raises(SettingsError, match="MAX_CONTENT_LENGTH"):
        Settings.from_env({"MAX_CONTENT_LENGTH": "lots"})
    with pytest.raises(SettingsError, match="INTAKE_RATE_LIMIT"):
        Settings.from_env({"INTAKE_RATE_LIMIT": "fast"})


def test_plain_postgresql_urls_get_the_psycopg_driver():
    for url in ("postgresql://u@h/db", "postgresql:///db",
                "postgresql://u@/db?host=/var/run/postgresql"):
        assert Settings.from_env({"DATABASE_URL": url}).database_url.startswith(
            "postgresql+psycopg://")


def test_rate_limit_and_lists():
    settings = Settings.from_env({"INTAKE_RATE_LIMIT": "600/hour",
                                  "FAX_GATEWAY_SENDERS": "Fax@Gw.example.com, @efax.example",
                                  "MAX_CONTENT_LENGTH": "2048", "TRUSTED_PROXY_COUNT": "1"})
    assert settings.intake_rate_limit == (600, 3600)
    assert settings.fax_gateway_senders == ("fax@gw.example.com", "@efax.example")
    assert settings.max_content_length == 2048
    assert settings.trusted_proxy_count == 1


def test_every_setting_is_documented_in_the_readme():
    """The README is the operator's reference: a setting it does not name is a hidden one."""
    from dataclasses import fields
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [f.name.upper() for f in fields(Settings)
               if f.name not in ("testing", "extra") and f.name.upper() not in readme]
    assert missing == []
