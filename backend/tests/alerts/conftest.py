"""Alert fixtures: a real SMTP server (aiosmtpd) and a webhook receiver checking HMACs."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.core.config import settings
from tests.events.server import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    refuse_next: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 Requested action aborted: try again"
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(settings, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setattr(settings, "SMTP_PORT", port)
    monkeypatch.setattr(settings, "SMTP_TLS", False)
    monkeypatch.setattr(settings, "SMTP_USER", None)
    monkeypatch.setattr(settings, "EMAILS_FROM_EMAIL", "alerts@example.com")
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    """An HTTP endpoint that verifies the signature like a real receiver would."""

    secret: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    fail_next: int = 0
    max_age_seconds: int = 300

    def verify(self, headers: Any, body: bytes) -> str:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-OMC-Signature", "")):
            return "bad signature"
        payload = json.loads(body)
        stamp = headers.get("X-OMC-Timestamp", "")
        if stamp != str(payload.get("sent_at")):
            return "timestamp header differs from the signed body"
        if abs(time.time() - int(stamp)) > self.max_age_seconds:
            return "too old (replay)"
        return "ok"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(secret="whsec-" + "k" * 24)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if state.fail_next > 0:
                state.fail_next -= 1
                state.verdicts.append("503")
                self.send_response(503)
                self.end_headers()
                return
            verdict = state.verify(self.headers, body)
            state.verdicts.append(verdict)
            if verdict == "ok":
                state.received.append(json.loads(body))
            self.send_response(200 if verdict == "ok" else 401)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
