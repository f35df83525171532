"""Home page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from portal.db import database_answers
from portal.extensions import csrf

bp = Blueprint("main", __name__)


@bp.get("/")
def home() -> str:
    return render_template("main/home.html")


@bp.get("/healthz")
@csrf.exempt
def healthz() -> ResponseReturnValue:
    if database_answers():
        return jsonify({"status": "ok"})
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503
