"""How much the consent layer costs per request: python bench/consent.py (from the repo root)."""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app
from portal.extensions import db


def build(**kw):
    d = tempfile.mkdtemp()
    app = create_app({"INSTANCE_PATH": d, "SECRET_KEY": "x" * 64, "DATABASE_URL": f"sqlite:///{d}/p.db", **kw})
    with app.app_context():
        db.create_all()
    return app

def per_request(client, n=300):
    client.get("/")
    start = time.perf_counter()
    for _ in range(n):
        client.get("/")
    return (time.perf_counter() - start) / n * 1000

vendors = {"GA_MEASUREMENT_ID": "G-TEST123", "GTM_CONTAINER_ID": "GTM-TEST123",
           "SMARTCHAT_KEY": "k", "SMARTCHAT_SCRIPT_URL": "https://chat.example/l.js"}
plain = build().test_client()
banner = build(**vendors)
undecided = banner.test_client()
decided = banner.test_client()
token = re.search(r'name="csrf_token" value="([^"]+)"', decided.get("/cookies").get_data(as_text=True)).group(1)
start = time.perf_counter()
for _ in range(25):
    decided.post("/consent", data={"action": "accept_all", "csrf_token": token})
post_ms = (time.perf_counter() - start) / 25 * 1000
print(f"GET /, no optional service:       {per_request(plain):.2f} ms")
print(f"GET /, banner shown (no decision): {per_request(undecided):.2f} ms")
print(f"GET /, decided, all tags:          {per_request(decided):.2f} ms")
print(f"POST /consent (record + cookie):   {post_ms:.2f} ms")
