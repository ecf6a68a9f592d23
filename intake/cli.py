"""Operator commands on Flask's CLI: `intake db upgrade`, `intake users create`,
`intake tokens create`. (`intake run` and `intake worker` come from `workers/`.)"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from intake.hub import current_hub
from intake.migrate import upgrade
from intake.services.staff import StaffError, create_staff, create_token
from intake.vocab import Role

db_cli = AppGroup("db", help="Database migrations.")
users_cli = AppGroup("users", help="Staff users.")
tokens_cli = AppGroup("tokens", help="API tokens.")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL."""
    hub = current_hub()
    with hub.db.engine.begin() as connection:
        upgrade(connection=connection, revision=revision)
    click.echo(f"database at {revision}")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default=None)
@click.option("--locale", default="ko", type=click.Choice(["ko", "en"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email: str, role: str, name: str | None, locale: str,
                 password_stdin: bool) -> None:
    """Create a staff user (password from a prompt or --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with current_hub().db.begin() as session:
            staff = create_staff(session, email, role, password=password, name=name,
                                 locale=locale)
            click.echo(f"created {staff.role} {staff.email} (id {staff.id})")
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None


@tokens_cli.command("create")
@click.argument("email")
def tokens_create(email: str) -> None:
    """Create an API token; the token is the last line printed (shown only once)."""
    try:
        with current_hub().db.begin() as session:
            token = create_token(session, email)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token for {email.strip().lower()} (store it now; it is not shown again):")
    click.echo(token)


def register_cli(app: Flask) -> None:
    for group in (db_cli, users_cli, tokens_cli):
        app.cli.add_command(group)
