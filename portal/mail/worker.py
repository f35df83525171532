"""Delivery workers: a thread in every web process, and ``flask mail deliver`` as a process of its own.

Under ``make run`` nothing extra has to be started: the web process delivers what its requests
queued the moment they commit (a wake-up, no polling delay) and looks every MAIL_POLL_INTERVAL for
what other processes queued or what is due for a retry. Threads do not survive gunicorn's fork,
so the thread starts lazily in the process that serves requests.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from portal.contributions import collection
from portal.db import utcnow
from portal.extensions import db
from portal.mail.engine import Engine, Options, Outcome, next_due

log = logging.getLogger("portal.mail")
EXTENSION_KEY = "portal.mail.worker"
DECOY_SWEEP_SECONDS = 30.0
Tick = Callable[[Flask], None]


def _ticks(app: Flask) -> dict[str, Tick]:
    ticks: dict[str, Tick] = collection("mail-ticks", app)
    return ticks


def add_tick(app: Flask, tick: Tick) -> None:
    """Work an area wants done at the start of every delivery pass (starting a scheduled newsletter
    issue, say): no cron on a small host. Every worker of every process runs it, often at once, so
    it must claim its work atomically in the database."""
    _ticks(app)[f"{tick.__module__}.{tick.__qualname__}"] = tick


def run_ticks(app: Flask) -> None:
    """Inside an app context. One failing tick is logged and must not stop the mail."""
    for tick in list(_ticks(app).values()):
        try:
            tick(app)
        except Exception:
            log.exception("A delivery-pass task (%s) failed; delivery goes on", getattr(tick, "__name__", "?"))
        finally:
            db.session.rollback()


def deliver_due(app: Flask, options: Options | None = None) -> Outcome:
    """One pass: everything due now, then return. Safe to call from anywhere, any number at once."""
    with app.app_context():
        run_ticks(app)
        engine = Engine(app, options)
        try:
            return engine.run()
        finally:
            db.session.remove()


class Worker:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wakeup = threading.Event()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._swept = 0.0

    def ensure_started(self) -> None:
        if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
            return
        with self._lock:
            if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
                return
            self.pid = os.getpid()
            self.stop.clear()
            # A daemon: it must never keep a process alive; the atexit hook lets it finish the
            # message in flight when the process ends in an orderly way.
            self.thread = threading.Thread(target=self.loop, name="mail-delivery", daemon=True)
            self.thread.start()
            atexit.register(self.shutdown)

    def wake(self) -> None:
        self.wakeup.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wakeup.set()
        engine = self._engine
        if engine is not None:
            engine.stopping.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def loop(self) -> None:
        poll = float(self.app.config["MAIL_POLL_INTERVAL"])
        while not self.stop.is_set():
            self.wakeup.clear()
            try:
                self.run_once()
                wait = self._until_next(poll)
            except Exception:  # the database or the engine failed: log, back off, go on
                log.exception("Mail delivery pass failed; trying again shortly")
                wait = max(poll, 5.0)
            self.wakeup.wait(wait)

    def run_once(self) -> Outcome:
        with self.app.app_context():
            run_ticks(self.app)
            sweep = time.monotonic() - self._swept > DECOY_SWEEP_SECONDS
            self._engine = engine = Engine(self.app, Options(sweep_decoys=sweep))
            try:
                outcome = engine.run()
                if sweep:
                    self._swept = time.monotonic()
                return outcome
            finally:
                self._engine = None
                db.session.remove()

    def _until_next(self, poll: float) -> float:
        with self.app.app_context():
            try:
                due = next_due()
            finally:
                db.session.remove()
        if due is None:
            return poll
        return max(0.01, min(poll, (due - utcnow()) / timedelta(seconds=1)))


def worker_for(app: Flask) -> Worker:
    worker = app.extensions.get(EXTENSION_KEY)
    if worker is None:
        worker = app.extensions[EXTENSION_KEY] = Worker(app)
    return worker


def wake(app: Flask) -> None:
    """After a commit that queued mail: wake this process's delivery thread, if it runs one (web
    processes do; a command line process leaves the work to them or to its own engine)."""
    worker = app.extensions.get(EXTENSION_KEY)
    if worker is not None and worker.pid == os.getpid():
        worker.wake()
