"""Settings: precedence, validation, production refusals, generated development secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import ConfigError, create_app
from portal.config import resolve_settings

ROOT = Path(__file__).resolve().parent.parent


def test_precedence_default_then_instance_file_then_environment(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text('SITE_NAME = "From file"\nBCRYPT_ROUNDS = 13\nDPO_EMAIL = "dpo@file.example"\n')
    monkeypatch.setenv("PORTAL_SITE_NAME", "From env")
    settings = resolve_settings(tmp_path)
    assert settings["SITE_NAME"] == "From env"  # env beats file
    assert settings["BCRYPT_ROUNDS"] == 13  # file beats default
    assert settings["DPO_EMAIL"] == "dpo@file.example"
    assert settings["SESSION_IDLE_TIMEOUT"] == 21600  # default


def test_environment_values_are_parsed_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_SESSION_IDLE_TIMEOUT", "60")
    monkeypatch.setenv("PORTAL_MAIL_USE_TLS", "true")
    settings = resolve_settings(tmp_path)
    assert settings["SESSION_IDLE_TIMEOUT"] == 60
    assert settings["MAIL_USE_TLS"] is True


def test_development_secret_is_generated_once_into_instance(tmp_path):
    first = resolve_settings(tmp_path)["SECRET_KEY"]
    second = resolve_settings(tmp_path)["SECRET_KEY"]
    assert first == second and len(first) >= 48
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert first not in (ROOT / "portal" / "config.py").read_text()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"ENV": "production", "BASE_URL": "https://portal.example"}, "SECRET_KEY"),
        ({"ENV": "production", "SECRET_KEY": "changeme", "BASE_URL": "https://portal.example"}, "SECRET_KEY"),
        ({"ENV": "production", "SECRET_KEY": "x" * 40}, "BASE_URL"),
        ({"ENV": "production", "SECRET_KEY": "x" * 40, "BASE_URL": "https://p.example", "WORKER_PROCESSES": 3},
         "RATELIMIT_STORAGE_URI"),
        ({"BCRYPT_ROUNDS": "twelve"}, "PORTAL_BCRYPT_ROUNDS"),
        ({"BCRYPT_ROUNDS": 99}, "PORTAL_BCRYPT_ROUNDS"),
        ({"ENV": "staging"}, "PORTAL_ENV"),
        ({"TIMEZONE": "Mars/Olympus"}, "PORTAL_TIMEZONE"),
        ({"LOGIN_RATE_LIMIT": "lots"}, "PORTAL_LOGIN_RATE_LIMIT"),
        ({"NEWSLETTER_MONTHLY_LIMIT": 3}, "PORTAL_NEWSLETTER_MONTHLY_LIMIT"),
        ({"DATABASE_URL": "nonsense"}, "PORTAL_DATABASE_URL"),
        ({"SITE_NAME": "Evil\r\nBcc: victim@example.com"}, "PORTAL_SITE_NAME"),
        ({"SITE_NAME": ""}, "PORTAL_SITE_NAME"),
        ({"DPO_EMAIL": "not an address"}, "PORTAL_DPO_EMAIL"),
        ({"MAIL_DEFAULT_SENDER": "a@b.example\nX: y"}, "PORTAL_MAIL_DEFAULT_SENDER"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(tmp_path, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resolve_settings(tmp_path, overrides)


def test_good_production_configuration_is_accepted(tmp_path):
    settings = resolve_settings(
        tmp_path,
        {
            "ENV": "production",
            "SECRET_KEY": "k" * 48,
            "BASE_URL": "https://portal.example",
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
            "WORKER_PROCESSES": 5,
        },
    )
    assert settings["PRODUCTION"] is True
    assert not (tmp_path / "secret_key").exists()  # production never generates a secret


def test_unreachable_database_stops_start_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_DATABASE_URL"):
        create_app({
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
        })


def _run_wsgi(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    environment.update({"PORTAL_INSTANCE_PATH": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PORTAL_BCRYPT_ROUNDS": "abc"}, "PORTAL_BCRYPT_ROUNDS"),
        ({"PORTAL_ENV": "nonsense"}, "PORTAL_ENV"),
        ({"PORTAL_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x?connect_timeout=2"}, "PORTAL_DATABASE_URL"),
        ({"PORTAL_ENV": "production", "PORTAL_BASE_URL": "https://p.example"}, "PORTAL_SECRET_KEY"),
    ],
)
def test_bad_settings_stop_the_process_with_one_line_not_a_traceback(tmp_path, env, fragment):
    result = _run_wsgi(tmp_path, **env)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_instance_config_file_is_named(tmp_path):
    (tmp_path / "config.py").write_text("SITE_NAME = (\n")
    result = _run_wsgi(tmp_path)
    assert result.returncode == 2 and "config.py" in result.stderr and "Traceback" not in result.stderr
