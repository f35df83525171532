"""The files under deploy/ render completely and are valid for the tools that read them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from shutil import which

import pytest

from tests.production.units import DEPLOY, VENV, need, render

pytestmark = pytest.mark.production

UNITS = ("portal-web.service", "portal-mail.service", "portal-purge.service")


def test_render_refuses_a_missing_or_unknown_placeholder():
    assert render("a @@X@@ b\n  @@Y@@\n", {"X": "1", "Y": "p\nq"}) == "a 1 b\n  p\n  q\n"
    with pytest.raises(ValueError, match="missing"):
        render("@@X@@ @@Y@@", {"X": "1"})
    with pytest.raises(ValueError, match="unused"):
        render("@@X@@", {"X": "1", "CERT": "typo"})


def test_systemd_units_verify(tmp_path: Path):
    analyze = which("systemd-analyze")
    need(analyze, "systemd-analyze is not installed")
    assert analyze
    env_file = tmp_path / "portal.env"
    env_file.write_text("PORTAL_ENV=development\n")
    root = Path(__file__).resolve().parents[2]
    for unit in UNITS:
        values = {"ROOT": str(root), "VENV": str(VENV), "ENV_FILE": str(env_file), "USER": "root"}
        if unit == "portal-web.service":
            values["BIND"] = "127.0.0.1:8000"
        (tmp_path / unit).write_text(render((DEPLOY / "systemd" / unit).read_text(), values))
    (tmp_path / "portal-purge.timer").write_text((DEPLOY / "systemd" / "portal-purge.timer").read_text())
    result = subprocess.run([analyze, "verify", *(str(tmp_path / u) for u in (*UNITS, "portal-purge.timer"))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
