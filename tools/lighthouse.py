"""Lighthouse scores (accessibility, best practices, SEO) of the main pages; exit 1 below 100.

    .venv/bin/python tools/lighthouse.py [--desktop] [--keep FOLDER]

Starts a throw-away demonstration portal (tests/browser/ui_support.py: every vendor configured,
an account with several sessions) on a loopback port, signs in over HTTP for the account page
(the session cookie goes to Lighthouse with --extra-headers), and runs the npm `lighthouse` CLI
on Debian's Chromium. Lighthouse is installed on first use into ~/.cache/portal-lighthouse
(outside git), the same way .ci/run installs vnu. Not part of the timed test suite.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.ui_support import EMAIL, PASSWORD, build_app, seed_account, serve  # noqa: E402
from tests.chromium import ARGS, CHROMIUM  # noqa: E402

CACHE = Path.home() / ".cache" / "portal-lighthouse"
CLI = CACHE / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("accessibility", "best-practices", "seo")
# (name, path, signed in)
PAGES = (
    ("home", "/", False),
    ("login", "/login", False),
    ("signup", "/signup", False),
    ("account", "/account", True),
    ("privacy", "/privacy", False),
    ("cookies", "/cookies", False),
)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def install() -> None:
    if CLI.exists():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is missing (apt-get install npm)")
    subprocess.run(  # noqa: S603 - fixed arguments
        [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--silent", "lighthouse"], check=True)


def session_cookie(base: str) -> str:
    """Sign in like a browser (GET the form, POST it with its token) and return the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    match = CSRF.search(page)
    if match is None:
        raise SystemExit("no CSRF token on /login")
    data = urllib.parse.urlencode({"csrf_token": match.group(1) or match.group(2), "email": EMAIL,
                                   "password": PASSWORD}).encode()
    final = opener.open(base + "/login", data=data)
    if not final.geturl().endswith("/account"):
        raise SystemExit(f"sign-in failed: ended at {final.geturl()}")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def run_lighthouse(url: str, headers: dict[str, str], keep: Path | None, name: str,
                   desktop: bool = False) -> dict[str, float]:
    own = ("--headless=new", "--no-sandbox")
    flags = " ".join([*own, *[a for a in ARGS if a not in own]])
    command = [str(CLI), url, "--quiet", "--output=json", "--output-path=stdout",
               f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={flags}",
               "--preset=desktop" if desktop else "--form-factor=mobile", "--throttling-method=provided"]
    if headers:
        command.append(f"--extra-headers={json.dumps(headers)}")
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    result = subprocess.run(  # noqa: S603 - our cached CLI, arguments built here
        command, capture_output=True, text=True, env=env, timeout=240, check=False)
    if result.returncode != 0:
        raise SystemExit(f"lighthouse failed on {url}:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    if keep is not None:
        (keep / f"{name}.json").write_text(result.stdout, encoding="utf-8")
    failing = [f"    {cat}: {audit_id} ({report['audits'][audit_id]['title']})"
               for cat in CATEGORIES for ref in report["categories"][cat]["auditRefs"]
               if ref["weight"] > 0 and (audit_id := ref["id"]) in report["audits"]
               and report["audits"][audit_id]["score"] not in (None, 1)]
    if failing:
        print(f"  {name}: below 100 because of\n" + "\n".join(failing), file=sys.stderr)
    return {cat: round(100 * (report["categories"][cat]["score"] or 0)) for cat in CATEGORIES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktop", action="store_true", help="Lighthouse's desktop preset (default: mobile)")
    parser.add_argument("--keep", type=Path, help="write each page's JSON report into this folder")
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    install()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    scores: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Path(folder))
        seed_account(app)
        with serve(app) as base:
            cookie = session_cookie(base)
            for name, path, signed_in in PAGES:
                headers = {"Cookie": cookie} if signed_in else {}
                scores.append((name, run_lighthouse(base + path, headers, args.keep, name, args.desktop)))
    width = max(len(name) for name, _ in scores)
    print(f"{'page':<{width}}  " + "  ".join(f"{c:>14}" for c in CATEGORIES))
    for name, score in scores:
        print(f"{name:<{width}}  " + "  ".join(f"{score[c]:>14}" for c in CATEGORIES))
    form = "desktop" if args.desktop else "mobile"
    print(f"({form}, {time.monotonic() - started:.0f} s, Lighthouse {version()}, {CHROMIUM})")
    return 0 if all(v == 100 for _, s in scores for v in s.values()) else 1


def version() -> str:
    result = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
