"""Issue rendering: Markdown to sanitised HTML plus a plain-text part, and per-recipient messages."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.utils import make_msgid
from urllib.parse import urlsplit

import markdown
import nh3
from flask import current_app, render_template
from flask_mail import Message
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}
# A Markdown link whose target is a script URL; the text part keeps only the link text.
_SCRIPT_LINK = re.compile(r"\[([^\]]*)\]\(\s*(?:javascript|vbscript|data):(?:[^()]|\([^()]*\))*\)", re.IGNORECASE)
UNSUBSCRIBE_PLACEHOLDER = "\x00unsubscribe-url\x00"


def markdown_to_html(source: str) -> str:
    """Markdown is trusted to format, never to inject: everything goes through nh3's allow-list."""
    raw = markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def markdown_to_text(source: str) -> str:
    """Markdown reads well as plain text; drop raw HTML (scripts with their content) and script links."""
    without_links = _SCRIPT_LINK.sub(r"\1", source)
    return html.unescape(nh3.clean(without_links, tags=set())).strip()


@dataclass(frozen=True)
class RenderedIssue:
    """Both parts rendered once per send; only the unsubscribe link differs per recipient."""

    subject: str
    text: str
    html: str


def render_issue(subject: str, body_markdown: str) -> RenderedIssue:
    context = {
        "site_name": current_app.config["SITE_NAME"],
        "base_url": current_app.config["BASE_URL"],
        "subject": subject,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "preferences_url": current_app.config["BASE_URL"] + "/newsletter",
    }
    text = render_template("email/newsletter.txt", body_text=markdown_to_text(body_markdown), **context)
    body_html = render_template(
        "email/newsletter.html", body_html=Markup(markdown_to_html(body_markdown)), **context  # noqa: S704 - nh3-sanitised
    )
    return RenderedIssue(subject, text, body_html)


def list_id() -> str:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    name = current_app.config["SITE_NAME"].replace('"', "")
    return f'"{name} newsletter" <newsletter.{host}>'


def build_message(rendered: RenderedIssue, to: str, unsubscribe_url: str) -> Message:
    """The per-recipient message with the RFC 2369 / RFC 8058 headers."""
    message = Message(
        subject=rendered.subject,
        recipients=[to],
        body=rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url),
        html=rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(unsubscribe_url)),
        extra_headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": list_id(),
            # Bulk mail: tell auto-responders not to answer it.
            "Auto-Submitted": "auto-generated",
            "Precedence": "bulk",
        },
    )
    message.msgId = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname or "localhost")
    return message
