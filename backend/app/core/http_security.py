"""HTTP hardening middleware: security headers on every response, a request body limit.

Rules kept here:
- Every response gets `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
  `X-Frame-Options: DENY` and a Content-Security-Policy with `frame-ancestors 'none'`.
- The SPA's CSP allows scripts only from our own origin (no inline script, no eval);
  styles from our origin plus inline styles (PrimeVue's theme and CodeMirror inject <style>
  elements); images from our origin and data: URIs (the 2FA QR code); connections to our
  origin only. API responses get `default-src 'none'`. The API docs pages (/docs, /redoc)
  load FastAPI's documented CDN assets, so they get their own, wider policy.
- HSTS only when the request arrived over TLS (scheme https, including through a proxy that
  uvicorn trusts), never on plain HTTP where it would be ignored anyway.
- A body larger than MAX_REQUEST_BODY_BYTES answers 413, whether announced by
  Content-Length or streamed in chunks.
"""

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SPA_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"


def _csp_for(path: str, api_prefix: str) -> str:
    if path.startswith(("/docs", "/redoc")):
        return DOCS_CSP
    if path.startswith(api_prefix):
        return API_CSP
    return SPA_CSP


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that FastAPI's body parsing passes it on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (at most {limit} bytes)")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, api_prefix: str, max_body_bytes: int) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", _csp_for(scope["path"], self.api_prefix).encode()),
        ]
        if scope.get("scheme") == "https":
            headers.append((b"strict-transport-security", HSTS.encode()))

        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_body
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send, headers)
                    return

        started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in headers if n not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await self._reject(send, headers)

    async def _reject(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps(
            {"detail": f"request body too large (at most {self.max_body} bytes)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
