"""Messages that an RFC 5321/5322-strict server accepts: pure functions, no Flask.

The caller passes every value; nothing here reads configuration, the clock (unless no ``date``
is given) or the network. In particular ``make_msgid`` always gets a domain, because without
one it looks up the host's name, which can stall on a broken resolver.

Why the top-level headers are written here rather than by ``email.policy``: on Python 3.11 the
email package folds a long non-ASCII Subject into adjacent encoded words with the separating
space *between* them, and RFC 2047 (6.2) tells every decoder to drop exactly that space, so
"kůň Příliš" arrives as "kůňPříliš". It also turns a long ASCII token such as a
List-Unsubscribe URL into an encoded word, which no client decodes in that header (RFC 2369
is structured). The MIME body is still built by the email package, which does that part well.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import idna

__all__ = ["AddressError", "Composed", "a_label_domain", "compose", "envelope_address", "needs_smtputf8"]

# RFC 5322 2.1.1: 998 is the hard limit, 78 the recommendation. 76 is what RFC 2045 allows a
# quoted-printable or base64 line and RFC 2047 a line holding encoded words, so one number
# keeps body and headers within every one of those limits.
MAX_LINE = 998
FOLD_AT = 76
CRLF = "\r\n"

# str.splitlines() breaks on all of these; the email package refuses any of them in a header,
# and a receiving MTA may treat a bare CR or LF as the end of the header line (injection).
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_QUOTED_LOCAL = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"')
_PHRASE_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
# Fold points: before a run of whitespace, so the run stays with the next word and no
# continuation line is whitespace only (RFC 5322 3.2.2 forbids that).
_FOLD_POINTS = re.compile(r"(?<![ \t])(?=[ \t])")
# compose() writes these itself; a second copy from `headers` would make the message invalid
# (RFC 5322 3.6 allows one of each) or let a caller slip in a Bcc or a different MIME layout.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "sender", "subject", "date", "message-id", "mime-version", "auto-submitted"}
)
# RFC 5321 4.5.3.1: local part 64 octets, path 256 including the angle brackets.
_MAX_LOCAL = 64
_MAX_ADDRESS = 254
_MAX_DISPLAY_NAME = 256


class AddressError(ValueError):
    """An address the portal cannot send to; the message is safe to show a person."""


@dataclass(frozen=True)
class Composed:
    raw: bytes  # the whole message, CRLF line ends, every line <= 998 octets
    message_id: str  # with angle brackets
    envelope_to: str  # envelope_address(to)
    smtputf8: bool  # only when a local part in From/To/Reply-To is non-ASCII


@dataclass(frozen=True)
class _Mailbox:
    display_name: str
    local: str  # as written, quotes included when quoted
    domain: str  # A-label

    @property
    def addr_spec(self) -> str:
        return f"{self.local}@{self.domain}"


def a_label_domain(domain: str) -> str:
    """The ASCII (A-label) form of a domain, as DNS, SMTP and a 7-bit header need it."""
    if not domain or _has_line_break(domain) or domain.endswith((".", "\u3002", "\uff0e", "\uff61")):
        raise AddressError(f"{domain!r} is not a valid domain.")
    if domain.isascii():
        ascii_domain = domain.lower()
    else:
        try:
            # uts46 maps what people type (capitals, full-width dots) before IDNA 2008 checks.
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as error:
            raise AddressError(f"The domain {domain!r} cannot be used in an email address.") from error
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"{domain!r} is not a valid domain.")
    for label in labels:
        if label.startswith("xn--"):
            try:
                # A malformed A-label passes the LDH check but is rejected by strict servers.
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as error:
                raise AddressError(f"{domain!r} is not a valid domain.") from error
    return ascii_domain


def envelope_address(address: str) -> str:
    """``local@a-label-domain`` for MAIL FROM / RCPT TO; accepts ``Name <addr>`` too."""
    return _parse_mailbox(address, "address").addr_spec


def needs_smtputf8(address: str) -> bool:
    """Whether sending to or from this address needs SMTPUTF8 (RFC 6531).

    Only a non-ASCII local part does: a domain always has an A-label and a display name can be
    RFC 2047-encoded.
    """
    return not _parse_mailbox(address, "address").local.isascii()


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    message_id_domain: str,
    auto_submitted: bool = True,
    date: datetime | None = None,
) -> Composed:
    """One message, text/plain (plus text/html when given), ready for ``sendmail`` as bytes.

    Raises AddressError for an unusable address and ValueError for a header value with a line
    break (header injection), a naive ``date``, or an extra header that compose() owns.
    """
    from_box = _parse_mailbox(sender, "From")
    to_box = _parse_mailbox(to, "To")
    reply_box = _parse_mailbox(reply_to, "Reply-To") if reply_to is not None else None
    _check_value("Subject", subject)
    extra = _check_extra_headers(headers or {})
    if date is None:
        date = datetime.now(UTC)
    elif date.tzinfo is None or date.utcoffset() is None:
        # A naive time would be written as "-0000" ("zone unknown"): say where it is instead.
        raise ValueError("date must be timezone-aware")

    boxes = [from_box, to_box] + ([reply_box] if reply_box else [])
    smtputf8 = any(not box.local.isascii() for box in boxes)
    message_id = make_msgid(domain=a_label_domain(message_id_domain))

    lines = [
        *_mailbox_header("From", from_box),
        *_mailbox_header("To", to_box),
        *(_mailbox_header("Reply-To", reply_box) if reply_box else []),
        *_unstructured_header("Subject", subject),
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
    ]
    if auto_submitted:
        # RFC 3834: tells auto-responders (vacation replies) not to answer account mail.
        lines.append("Auto-Submitted: auto-generated")
    for name, value in extra:
        lines.extend(_extra_header(name, value))

    raw = (CRLF.join(lines) + CRLF).encode("utf-8") + _body(text, html, smtputf8)
    _check_raw(raw, smtputf8)
    return Composed(raw=raw, message_id=message_id, envelope_to=to_box.addr_spec, smtputf8=smtputf8)


# -- parsing and checking -------------------------------------------------------------------


def _has_line_break(value: str) -> bool:
    return not _LINE_BREAKS.isdisjoint(value)


def _check_value(name: str, value: str, error: type[ValueError] = ValueError) -> None:
    if _has_line_break(value):
        raise error(f"The {name} header must not contain a line break.")
    if _CONTROLS.search(value):
        raise error(f"The {name} header must not contain control characters.")


def _check_extra_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    checked: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name.")
        lower = name.lower()
        if lower in _OWN_HEADERS or lower.startswith("content-"):
            raise ValueError(f"The {name} header is set by compose() itself.")
        if lower in seen:
            raise ValueError(f"The {name} header is given twice.")
        seen.add(lower)
        _check_value(name, value)
        checked.append((name, value.strip(" \t")))
    return checked


def _parse_mailbox(value: str, field: str) -> _Mailbox:
    """``addr`` or ``Name <addr>``; strict, because the result goes into SMTP commands."""
    _check_value(field, value, AddressError)
    value = value.strip()
    display_name = ""
    if value.endswith(">"):
        start = value.rfind("<")
        if start < 0:
            raise AddressError(f"{value!r} is not a valid email address.")
        display_name = _unquote(value[:start].strip())
        value = value[start + 1 : -1].strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{value!r} is not a valid email address.")
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED_LOCAL.fullmatch(local)):
        raise AddressError(f"{value!r} is not a valid email address.")
    if len(local.encode("utf-8")) > _MAX_LOCAL:
        raise AddressError(f"The part before @ in {value!r} is too long.")
    box = _Mailbox(display_name=display_name, local=local, domain=a_label_domain(domain))
    if len(box.addr_spec.encode("utf-8")) > _MAX_ADDRESS:
        raise AddressError(f"{value!r} is too long to be an email address.")
    if len(display_name) > _MAX_DISPLAY_NAME:
        raise AddressError(f"The name in {field} is too long.")
    return box


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


# -- headers --------------------------------------------------------------------------------


def _fold(name: str, value: str) -> list[str]:
    """``Name: value`` folded before whitespace at FOLD_AT; a long word stays whole."""
    lines: list[str] = []
    current = f"{name}:"
    # Trailing whitespace is meaningless and could end up alone on a continuation line.
    value = value.rstrip(" \t")
    for piece in _FOLD_POINTS.split(value if value[:1] in (" ", "\t") else " " + value):
        if piece and len(current) + len(piece) > FOLD_AT and current.strip(" \t") != f"{name}:":
            lines.append(current)
            current = piece
        else:
            current += piece
    lines.append(current)
    return lines


def _octets(line: str) -> int:
    return len(line.encode("utf-8"))


def _encoded_words(text: str, first_room: int) -> list[str]:
    """RFC 2047 B encoded words, each at most 75 characters and fitting its folded line.

    Every character, spaces included, goes inside a word: whitespace *between* encoded words
    is dropped by decoders. No UTF-8 sequence is split across two words (RFC 2047 5), and a
    split falls just after a space when there is one in the word.
    """
    words: list[str] = []
    room = first_room
    chunk = ""
    for char in text:
        candidate = chunk + char
        if chunk and _ew_length(candidate) > min(room, 75):
            cut = chunk.rfind(" ") + 1
            if cut <= 0:
                cut = len(chunk)
            words.append(_ew(chunk[:cut]))
            chunk = chunk[cut:]
            room = FOLD_AT - 1  # each further word starts a continuation line after one space
            candidate = chunk + char
        chunk = candidate
    if chunk or not words:
        words.append(_ew(chunk))
    return words


def _ew(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode('utf-8')).decode('ascii')}?="


def _ew_length(text: str) -> int:
    # "=?utf-8?b?" + base64 + "?=": 12 characters around 4 per 3 octets.
    return 12 + 4 * -(-len(text.encode("utf-8")) // 3)


def _unstructured_header(name: str, value: str) -> list[str]:
    if value.isascii():
        lines = _fold(name, value)
        if all(len(line) <= MAX_LINE for line in lines):
            return lines
    # Non-ASCII, or an ASCII word too long for any line: encoded words fold anywhere.
    words = _encoded_words(value, FOLD_AT - len(name) - 2)
    return [f"{name}: {words[0]}", *(f" {word}" for word in words[1:])]


def _phrase(display_name: str, room: int) -> list[str]:
    """A display name as header tokens (RFC 5322 3.2.5 phrase), folded between tokens."""
    if display_name.isascii():
        if _PHRASE_ATOMS.fullmatch(display_name):
            return display_name.split(" ")
        return ['"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    # Plain atoms stay plain and each run of other words becomes as few encoded words as
    # possible. Why: Python's parser (3.11, contrary to RFC 2047 6.2) reads the whitespace
    # between two encoded words of a phrase as a space, while mail clients drop it; keeping a
    # run in one word, and atoms between runs, makes both read the same name. Only a run longer
    # than one encoded word is split, at a space kept inside the earlier word, as the RFC says.
    tokens: list[str] = []
    run: list[str] = []
    for word in display_name.split():
        if _PHRASE_ATOMS.fullmatch(word):
            if run:
                tokens.extend(_encoded_words(" ".join(run), room if not tokens else FOLD_AT - 1))
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens.extend(_encoded_words(" ".join(run), room if not tokens else FOLD_AT - 1))
    return tokens


def _mailbox_header(name: str, box: _Mailbox) -> list[str]:
    address = f"<{box.addr_spec}>" if box.display_name else box.addr_spec
    tokens = [*(_phrase(box.display_name, FOLD_AT - len(name) - 2) if box.display_name else []), address]
    lines: list[str] = []
    current = f"{name}:"
    for token in tokens:
        # Octets, not characters: a UTF-8 local part (SMTPUTF8) counts by its encoded length.
        if current != f"{name}:" and _octets(current) + 1 + _octets(token) > FOLD_AT:
            lines.append(current)
            current = ""
        current += " " + token
    lines.append(current)
    return lines


def _extra_header(name: str, value: str) -> list[str]:
    if not value.isascii():
        # Free text such as a List-Id description: RFC 2047 is the only 7-bit form there is.
        return _unstructured_header(name, value)
    # ASCII values are written as given, never as encoded words: List-Unsubscribe, List-Id
    # and friends are structured, and a client would not find a URL inside =?utf-8?q?...?=.
    lines = _fold(name, value)
    if any(len(line) > MAX_LINE for line in lines):
        raise ValueError(f"The {name} header has a word longer than a mail line may be.")
    return lines


# -- body -----------------------------------------------------------------------------------

# cte_type="7bit" makes set_content choose 7bit, quoted-printable or base64 only, never 8bit,
# so the body is ASCII whatever the text; max_line_length bounds every encoded line at 76.
_BODY_POLICY = policy.SMTP.clone(cte_type="7bit", max_line_length=FOLD_AT)
_BODY_POLICY_UTF8 = policy.SMTPUTF8.clone(cte_type="7bit", max_line_length=FOLD_AT)


def _body(text: str, html: str | None, smtputf8: bool) -> bytes:
    """MIME-Version, Content-* headers, blank line and body, as the email package writes them."""
    part = EmailMessage(policy=_BODY_POLICY_UTF8 if smtputf8 else _BODY_POLICY)
    part.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        part.add_alternative(html, subtype="html", charset="utf-8")
    return part.as_bytes()


def _check_raw(raw: bytes, smtputf8: bool) -> None:
    # Last line of defence: a strict server rejects the whole message for one long line, and
    # 8-bit octets without SMTPUTF8/8BITMIME may be mangled on the way.
    if _longest(raw.split(b"\r\n")) > MAX_LINE:
        raise ValueError("The message has a line longer than 998 octets.")
    if b"\n" in raw.replace(b"\r\n", b"") or b"\r" in raw.replace(b"\r\n", b""):
        raise ValueError("The message has a bare CR or LF.")
    if not smtputf8 and not raw.isascii():
        raise ValueError("The message is not 7-bit although it is not sent with SMTPUTF8.")


def _longest(lines: Iterable[bytes]) -> int:
    return max((len(line) for line in lines), default=0)
