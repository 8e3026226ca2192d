"""The extension on an existing app: the API mounts beside the app's own routes, and the app
enqueues from its own view inside its own Flask-SQLAlchemy transaction."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from sqlalchemy.engine import Engine

import queue_core
from api import ApiSettings, SettingsError, TaskrowAPI

from .conftest import CheckedClient, bearer, count_tasks


def host_app(db_url: str) -> tuple[Flask, SQLAlchemy, TaskrowAPI]:
    app = Flask("host")
    app.config["SQLALCHEMY_DATABASE_URI"] = str(
        queue_core.engine_url(db_url).render_as_string(hide_password=False)
    )
    app.config["TASKROW_DATABASE_URL"] = db_url
    db = SQLAlchemy(app)
    taskrow = TaskrowAPI()
    with app.app_context():
        taskrow.init_app(app)

    @app.post("/signup/<name>")
    def signup(name: str) -> dict[str, str]:
        db.session.execute(text("CREATE TABLE IF NOT EXISTS users (name text)"))
        db.session.execute(text("INSERT INTO users VALUES (:n)"), {"n": name})
        task = taskrow.enqueue(db.session, "send_welcome", {"name": name})
        if name == "rollback":
            db.session.rollback()
            return {"task": "none"}
        db.session.commit()
        return {"task": str(task.id)}

    @app.get("/own")
    def own() -> str:
        return "the app's own route"

    return app, db, taskrow


def test_the_app_enqueues_in_its_own_transaction_and_serves_the_api(
    db_url: str, engine: Engine, key: str
) -> None:
    app, db, _ = host_app(db_url)
    try:
        plain = app.test_client()
        task_id = plain.post("/signup/ada").get_json()["task"]
        assert plain.post("/signup/rollback").get_json() == {"task": "none"}
        assert count_tasks(engine) == 1  # the rolled-back enqueue left nothing
        app.test_client_class = CheckedClient
        client = app.test_client()
        polled = client.get(f"/v1/tasks/{task_id}", headers=bearer(key))
        assert polled.status_code == 200 and polled.get_json()["task"] == "send_welcome"
        assert client.get("/v1/nope").content_type == "application/problem+json"
        assert plain.get("/own").data == b"the app's own route"
        assert plain.get("/elsewhere").content_type.startswith("text/html")
        assert isinstance(app.extensions["taskrow"].settings, ApiSettings)
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["taskrow"].engine.dispose()


def test_settings_from_taskrow_keys_and_their_errors() -> None:
    settings = ApiSettings.from_mapping(
        {
            "DATABASE_URL": "postgresql://x/y",
            "TASKROW_AUTH": "off",
            "TASKROW_MAX_BODY_BYTES": "2048",
            "TASKROW_QUEUE_DEPTH_LIMIT": "10",
        }
    )
    assert settings.database_url == "postgresql://x/y" and not settings.auth_enabled
    assert settings.max_body_bytes == 2048 and settings.queue_depth_limit == 10
    with pytest.raises(SettingsError, match="TASKROW_AUTH"):
        ApiSettings.from_mapping({"TASKROW_AUTH": "maybe"})
    with pytest.raises(SettingsError, match="TASKROW_MAX_BATCH"):
        ApiSettings.from_mapping({"TASKROW_MAX_BATCH": "0"})
    with pytest.raises(SettingsError, match="TASKROW_DATABASE_URL"):
        TaskrowAPI(Flask("no_db"), settings=ApiSettings())


def test_an_unexpected_error_is_logged_and_answered_as_a_problem_500(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/v1/boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR):
        response = FlaskClient(app).get("/v1/boom")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "a bug" not in response.get_data(as_text=True)
    assert any(r.getMessage().startswith("api.unexpected_error") for r in caplog.records)
