"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import sys

from portal import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    # One clear line naming the setting, not a traceback.
    sys.stderr.write(f"portal: configuration error: {error}\n")
    raise SystemExit(2) from None
