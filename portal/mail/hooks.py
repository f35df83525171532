"""``POST /hooks/ses``: Amazon SNS notifications of SES bounces, complaints and deliveries.

Thin: the body goes to ``portal.mail.ses.receive``, which verifies before it writes anything.
No CSRF (SNS has no session); a per-IP rate limit like every other public POST.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request

from portal import ratelimit
from portal.extensions import csrf
from portal.mail import ses

bp = Blueprint("mail_hooks", __name__, url_prefix="/hooks")

# SNS bodies are at most 256 KB; anything larger is not from SNS.
MAX_BODY = 300 * 1024


@bp.post("/ses")
@csrf.exempt
def ses_notification() -> tuple[Response, int]:
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(status="refused", message="too large for an SNS message"), 413
    answer = ses.receive(request.get_data(cache=False)[: MAX_BODY + 1])
    return jsonify(status="ok" if answer.status == 200 else "refused", message=answer.message), answer.status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    ratelimit.limit(app, "mail_hooks.ses_notification", "SES_HOOK_RATE_LIMIT",
                    "Too many notifications from this address.")
