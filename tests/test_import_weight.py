"""What a worker holds in memory after its first pages (issue 18: worker RSS <= 80 MB).

Libraries that only rare paths use are imported where they are used, and Babel's locale data is
loaded only for the languages pages are rendered in. A module-level import added later would
bring the memory back without failing any other test, so a fresh interpreter checks it here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from babel import Locale

from portal.i18n import ENDONYMS
from tests.helpers import PASSWORD

ROOT = Path(__file__).resolve().parent.parent

# Each of these costs 1-14 MB of RSS and serves a rare path (second factors, password strength,
# migrations, DKIM, newsletter markdown, Redis, SES notifications, QR codes, HTML cleaning).
RARE = ("webauthn", "zxcvbn", "alembic", "flask_migrate", "dkim", "markdown", "redis", "cryptography.x509",
        "segno", "nh3")

SCRIPT = """
import json, re, sys
import babel.localedata
loaded = []
real_load = babel.localedata.load
def load(name, merge_inherited=True):
    loaded.append(name)
    return real_load(name, merge_inherited)
babel.localedata.load = load

from portal import create_app
from portal.extensions import db
from tests.factories import make_user

app = create_app({"TESTING": True, "SECRET_KEY": "k" * 40, "BCRYPT_ROUNDS": 4, "MAIL_WORKER_THREADS": 0,
                  "INSTANCE_PATH": sys.argv[1], "DATABASE_URL": "sqlite:///" + sys.argv[1] + "/p.db",
                  "LANGUAGES": ["en", "cs"], "DEFAULT_LANGUAGE": "en"})
with app.app_context():
    db.create_all()
    make_user("alice@example.com", password=sys.argv[2])
pages = [app.test_client().get("/").status_code]
client = app.test_client()
token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
pages.append(client.post("/login", data={"csrf_token": token, "email": "alice@example.com",
                                         "password": sys.argv[2]}).status_code)
pages.append(client.get("/account").status_code)
print(json.dumps({"pages": pages, "modules": sorted(sys.modules), "locales": sorted(set(loaded))}))
"""


def _first_pages(tmp_path: Path) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), PASSWORD], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_first_pages_import_no_rare_library_and_only_their_locale(tmp_path: Path) -> None:
    result = _first_pages(tmp_path)
    assert result["pages"] == [200, 302, 200]  # /account answers 200 only when signed in
    imported = set(result["modules"])
    assert sorted(name for name in RARE if name in imported) == []
    # English pages with a language switcher that offers Czech: Czech's CLDR data stays on disk.
    assert "cs" not in result["locales"]
    assert "en" in result["locales"]


def test_endonyms_are_babels_names() -> None:
    catalogues = {p.name for p in (ROOT / "portal" / "translations").iterdir() if p.is_dir()}
    assert catalogues | {"en"} <= set(ENDONYMS)
    for code, name in ENDONYMS.items():
        babel_name = Locale.parse(code).get_display_name(code) or code
        assert name == babel_name[:1].upper() + babel_name[1:]


def test_lazy_user_agent_parser_answers_like_ua_parsers_own() -> None:
    import ua_parser

    from portal.accounts.devices import browser_and_system

    agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.5 Mobile/15E148 Safari/604.1",
              "curl/8.5.0", "not a browser at all"]
    for agent in agents:
        browser, system = ua_parser.parse_user_agent(agent), ua_parser.parse_os(agent)
        expected = (browser.family if browser and browser.family != "Other" else "",
                    system.family if system and system.family != "Other" else "")
        assert browser_and_system(agent) == expected, agent
