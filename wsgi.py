"""Composition root: create the app, register the channels and the worker commands.

`gunicorn wsgi:app` serves it; the `intake` console script is `wsgi:main`.
"""

from __future__ import annotations

import os

from flask import Flask
from flask.cli import FlaskGroup

from config import Settings
from intake import create_app
from intake.hub import Hub


def build_app(settings: Settings | None = None, hub: Hub | None = None) -> Flask:
    import channels
    import workers.cli

    if settings is None:
        if os.environ.get("INTAKE_SKIP_DOTENV") != "1":
            try:
                from dotenv import load_dotenv

                load_dotenv()
            except ImportError:  # pragma: no cover - python-dotenv is a dependency
                pass
        settings = Settings.from_env()
    app = create_app(settings, extensions=[channels.register], hub=hub)
    workers.cli.register(app)
    return app


def main() -> None:
    cli = FlaskGroup(create_app=lambda: build_app(), add_default_commands=False,
                     load_dotenv=False, help="The consultation intake hub.")
    cli.main(prog_name="intake")


def __getattr__(name: str) -> Flask:
    # `wsgi:app` is built on first access, so importing this module opens nothing.
    if name == "app":
        application = build_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
