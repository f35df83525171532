"""Issue rendering: Markdown to sanitised HTML plus a plain-text part, and per-recipient messages."""

from __future__ import annotations

import base64
import html
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from urllib.parse import urlsplit

from flask import current_app, has_app_context, render_template
from markupsafe import Markup

from portal.links import external_url
from portal.mail import compose

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}
# A Markdown link whose target is a script URL; the text part keeps only the link text.
_SCRIPT_LINK = re.compile(r"\[([^\]]*)\]\(\s*(?:javascript|vbscript|data):(?:[^()]|\([^()]*\))*\)", re.IGNORECASE)
UNSUBSCRIBE_PLACEHOLDER = "\x00unsubscribe-url\x00"
_FOLD = ",\n <"


def markdown_to_html(source: str) -> str:
    """Markdown is trusted to format, never to inject: everything goes through nh3's allow-list."""
    import markdown  # only the newsletter pages and the sender render Markdown
    import nh3

    raw = markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_own_images_only,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def _own_images_only(tag: str, attribute: str, value: str) -> str | None:
    """An image from another host would be fetched by every reader's mail client and by every
    archive visitor: a third-party request (a tracking pixel, at worst) nobody consented to.
    Links stay; images must be the portal's own (relative, or on BASE_URL's host)."""
    if tag != "img" or attribute != "src":
        return value
    parts = urlsplit(value.strip())
    if not parts.netloc and not parts.scheme:
        return value
    own = urlsplit(current_app.config["BASE_URL"]).netloc if has_app_context() else ""
    return value if own and parts.netloc == own and parts.scheme in ("http", "https") else None


def markdown_to_text(source: str) -> str:
    """Markdown reads well as plain text; drop raw HTML (scripts with their content) and script links."""
    import nh3  # only the newsletter pages and the sender: not in every worker's memory

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
        "preferences_url": external_url("newsletter.preferences"),
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


def list_unsubscribe(unsubscribe_url: str, mailto: str | None = None) -> str:
    """RFC 2369: the https link first (RFC 8058 one-click needs it), then the mailto address for
    clients that unsubscribe by mail; ``flask mail inbound`` reads what arrives there."""
    value = f"<{unsubscribe_url}>"
    return value + (f", <mailto:{mailto}?subject=unsubscribe>" if mailto else "")


def list_headers(unsubscribe_url: str, mailto: str | None = None) -> dict[str, str]:
    """RFC 2369 / RFC 8058: one-click unsubscribe that mail clients show as a button."""
    return {
        "List-Unsubscribe": list_unsubscribe(unsubscribe_url, mailto),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(),
        "Precedence": "bulk",
    }


def build_message(rendered: RenderedIssue, to: str, unsubscribe_url: str,
                  mailto: str | None = None) -> compose.Composed:
    """The per-recipient message through the email package (any address, any text)."""
    return compose.compose(
        sender=str(current_app.config["MAIL_DEFAULT_SENDER"]),
        to=to,
        subject=rendered.subject,
        text=rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url),
        html=rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(unsubscribe_url)),
        headers=list_headers(unsubscribe_url, mailto),
        message_id_domain=urlsplit(current_app.config["BASE_URL"]).hostname or "localhost",
        # Bulk mail: tell auto-responders not to answer it.
        auto_submitted=True,
    )


def _header(value: str, name: str) -> str:
    """Encoded (RFC 2047) only when needed; folded either way."""
    return Header(value, "us-ascii" if value.isascii() else "utf-8", header_name=name).encode(linesep="\n")


class MessageFactory:
    """Per-recipient messages for a whole send, without re-running the email package each time.

    Serialising a message through ``email.generator`` costs milliseconds, more than the SMTP
    round trip itself; at 100 000 recipients that halves the throughput. Everything but the
    address and the unsubscribe link is the same for every recipient, so the headers are
    encoded once and each body part is base64-encoded (C code, 76-character lines) per
    recipient. Addresses that are not plain ASCII take the ordinary ``build_message`` path.
    """

    def __init__(self, rendered: RenderedIssue) -> None:
        config = current_app.config
        self.rendered = rendered
        self.sender = str(config["MAIL_DEFAULT_SENDER"])
        self.domain = urlsplit(config["BASE_URL"]).hostname or "localhost"
        name, address = parseaddr(self.sender)
        self.head = (
            f"From: {formataddr((name, address), charset='utf-8')}\n"
            f"Subject: {_header(rendered.subject, 'Subject')}\n"
            f"List-Id: {_header(list_id(), 'List-Id')}\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
            "Auto-Submitted: auto-generated\nPrecedence: bulk\nMIME-Version: 1.0\n"
        )

    def build(self, to: str, unsubscribe_url: str, mailto: str | None = None) -> compose.Composed:
        if not to.isascii() or "\n" in to or "\r" in to or not unsubscribe_url.isascii() or len(to) > 900:
            return build_message(self.rendered, to, unsubscribe_url, mailto)
        text = self.rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url)
        body_html = self.rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(unsubscribe_url))
        boundary = f"=_portal_{secrets.token_hex(12)}"
        message_id = make_msgid(domain=self.domain)
        part = f'--{boundary}\nContent-Type: text/%s; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
        raw = b"".join(
            (
                (
                    f"{self.head}To: {to}\nDate: {format_datetime(datetime.now(UTC))}\n"
                    f"Message-ID: {message_id}\n"
                    # Folded after the comma: the line stays short whatever the token's length.
                    f"List-Unsubscribe: {list_unsubscribe(unsubscribe_url, mailto).replace(', <', _FOLD)}\n"
                    f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
                    + part % "plain"
                ).encode("ascii"),
                base64.encodebytes(text.encode("utf-8")),
                (part % "html").encode("ascii"),
                base64.encodebytes(body_html.encode("utf-8")),
                f"--{boundary}--\n".encode("ascii"),
            )
        )
        # SMTP wants CRLF line ends, and smtplib does not convert them in bytes.
        return compose.Composed(raw=raw.replace(b"\n", b"\r\n"), message_id=message_id, envelope_to=to, smtputf8=False)
