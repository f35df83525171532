"""Screenshots of every page, at 390x844 and 1280x800, light and dark, for people to review.

    .venv/bin/python tools/screenshots.py [FOLDER]     (default: screenshots/)

Uses Debian's Chromium (/usr/bin/chromium) through Playwright and a throw-away demonstration
portal (tests/browser/ui_support.py); nothing leaves the machine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.ui_support import (  # noqa: E402
    PAGES,
    SCHEMES,
    VIEWPORTS,
    build_app,
    keep_local,
    seed_account,
    serve,
    sign_in,
)
from tests.chromium import ARGS, CHROMIUM  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    count = 0
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Path(folder))
        seed_account(app)
        with serve(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for size, viewport in VIEWPORTS.items():
                for scheme in SCHEMES:
                    context = browser.new_context(viewport=viewport, color_scheme=scheme)
                    keep_local(context)
                    page = context.new_page()
                    signed_in = False
                    for name, path, needs_login, action in PAGES:
                        if needs_login and not signed_in:
                            sign_in(page, base)
                            signed_in = True
                        page.goto(base + path)
                        if action:
                            action(page)
                        target = out / f"{name}-{size}-{scheme}.png"
                        page.screenshot(path=str(target), full_page=True)
                        count += 1
                    context.close()
            browser.close()
    print(f"{count} screenshots in {out} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
