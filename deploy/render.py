#!/usr/bin/env python3
"""Fill the @@…@@ placeholders of a file under deploy/ and print the result.

    python3 deploy/render.py deploy/nginx/portal.conf SERVER_NAME=portal.example.org \\
        HTTPS_LISTEN=443 HTTP_LISTEN=80 CERT=/etc/ssl/portal.pem KEY=/etc/ssl/private/portal.key \\
        "UPSTREAMS=server 10.0.0.11:8000 max_fails=1 fail_timeout=10s;
    server 10.0.0.12:8000 max_fails=1 fail_timeout=10s;" PROXY_SOURCE=10.0.0.10 \\
        ACCESS_LOG=/var/log/nginx/portal.access.log > /etc/nginx/sites-available/portal

Every placeholder must be given and every given name must be used: a typo fails instead of
shipping a literal "@@CERT@@". A value of several lines keeps the placeholder's indentation.
The production-shaped tests render the same files with the same function.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"@@([A-Z][A-Z0-9_]*)@@")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, str]) -> str:
    wanted = placeholders(text)
    missing = wanted - set(values)
    unused = set(values) - wanted
    if missing or unused:
        raise ValueError(f"placeholders missing: {sorted(missing)}; given but unused: {sorted(unused)}")
    lines = []
    for line in text.splitlines(keepends=True):
        indent = line[: len(line) - len(line.lstrip())]

        def fill(match: re.Match[str], indent: str = indent) -> str:
            return str(values[match.group(1)]).replace("\n", "\n" + indent)

        lines.append(PLACEHOLDER.sub(fill, line))
    return "".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    path, pairs = argv[0], argv[1:]
    values = dict(pair.split("=", 1) for pair in pairs)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        sys.stdout.write(render(text, values))
    except ValueError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
