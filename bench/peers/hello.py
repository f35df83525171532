"""The floor every page is measured against: a bare Flask "hello" (run in the portal's own venv)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
