"""The operator commands, run through Flask's CLI runner as `intake ...` would."""

from __future__ import annotations

from sqlalchemy import select

from intake.models import Staff
from intake.services.staff import staff_for_token, verify_password


def test_users_and_tokens_create(app, hub):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "Head@Clinic.Example.com", "--role",
                                 "counsellor", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    with hub.db.begin() as session:
        staff = session.scalars(select(Staff).where(Staff.email == "head@clinic.example.com")).one()
        assert staff.password_hash.startswith("$argon2id$")  # R23: one-way hash
        assert verify_password(staff, "a long enough password")
    result = runner.invoke(args=["tokens", "create", "head@clinic.example.com"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with hub.db.begin() as session:
        assert staff_for_token(session, token).email == "head@clinic.example.com"
    client = app.test_client()
    response = client.get("/api/v1/consultations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_users_create_refuses_bad_role_and_duplicates(app):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["users", "create", "x@example.com", "--role", "boss",
                              "--password-stdin"], input="password12345\n")
    assert bad.exit_code != 0
    ok = runner.invoke(args=["users", "create", "x@example.com", "--role", "admin",
                             "--password-stdin"], input="password12345\n")
    assert ok.exit_code == 0
    dup = runner.invoke(args=["users", "create", "x@example.com", "--role", "admin",
                              "--password-stdin"], input="password12345\n")
    assert dup.exit_code != 0 and "exists already" in dup.output


def test_db_upgrade_on_a_fresh_sqlite(tmp_path):
    from config import Settings
    from wsgi import build_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", testing=True)
    app = build_app(settings)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    from sqlalchemy import create_engine, inspect

    tables = inspect(create_engine(settings.database_url)).get_table_names()
    assert {"consultations", "consent_events", "outbox", "deliveries"} <= set(tables)

