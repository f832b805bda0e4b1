"""The web server's guard: Host, Origin, size bounds and the token (issue 11, point 5).

The server is local and can start work, so every request passes these checks before a route
sees it:

- **Host** (DNS rebinding): a page on ``evil.example`` whose name later resolves to 127.0.0.1
  sends ``Host: evil.example``; only the names the server was started for are answered.
- **Origin**: a browser names the page that sent a request; a request from another origin is
  refused (the server sends no CORS headers either, so a foreign page cannot read answers).
- **Size**: a request body larger than ``max_body`` bytes is refused before it is read whole
  (declared ``Content-Length`` or counted while streaming).
- **Token** (like Jupyter's): the server prints a URL with a random token; the page keeps it
  and sends it as ``X-Optiscope-Token: TOKEN`` (or ``Authorization: token TOKEN``). Every
  ``/api`` route needs it; a GET may also carry it as ``?token=`` (an ``EventSource`` or a
  download link cannot set headers), a state-changing request only in a header (a header
  forces a CORS preflight, which this server never grants).

Refusals are JSON ``{"error": "..."}`` with a 4xx status, written here (the user layer).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_BODY",
    "LOOPBACK_NAMES",
    "TOKEN_HEADER",
    "Guard",
    "GuardMiddleware",
    "is_loopback",
    "new_token",
    "require_token",
]

#: The header the page sends its token in.
TOKEN_HEADER = "X-Optiscope-Token"

#: Largest request body accepted (bytes): a launch form or a playground request is far smaller.
DEFAULT_MAX_BODY = 64 * 1024

#: Host names a server bound to a loopback address answers to.
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    """A fresh random token (48 hex digits)."""
    return secrets.token_hex(24)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or name) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """``"127.0.0.1:8765"`` -> ``"127.0.0.1"``; ``"[::1]:80"`` -> ``"::1"``; lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Guard:
    """What the checks accept.

    Attributes:
        token: the server's token.
        allowed_hosts: host names (no port) the ``Host`` header may carry.
        max_body: largest request body in bytes.
    """

    token: str
    allowed_hosts: frozenset[str]
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def build(
        cls, token: str, allowed_hosts: Iterable[str], max_body: int = DEFAULT_MAX_BODY
    ) -> Guard:
        hosts = frozenset(_host_name(h) for h in allowed_hosts)
        if not token:
            raise ValueError("the server's token must not be empty")
        return cls(token=token, allowed_hosts=hosts, max_body=max_body)

    def host_problem(self, host: str | None) -> str | None:
        """Why a ``Host`` header is refused, or ``None``."""
        if not host:
            return "the request has no Host header"
        if _host_name(host) not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts))
            return (
                f"Host {host!r} is not one this server answers to ({allowed}); "
                "open the URL the server printed"
            )
        return None

    def origin_problem(self, origin: str | None, host: str | None, scheme: str) -> str | None:
        """Why an ``Origin`` header is refused (``None`` when absent or this server's own:
        same scheme, host and port)."""
        if origin is None:
            return None
        parts = urlsplit(origin)
        own = parts.scheme == scheme and host is not None
        if own and parts.netloc.lower() == (host or "").lower():
            return None
        return f"Origin {origin!r} is not this server's page; requests from other sites are refused"

    def token_ok(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())


def _refusal(status: int, message: str) -> tuple[Message, Message]:
    body = json.dumps({"error": message}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class GuardMiddleware:
    """ASGI middleware: Host, Origin and body-size checks on every HTTP request."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        problem = self.guard.host_problem(host)
        status = 400
        if problem is None:
            problem = self.guard.origin_problem(
                headers.get("origin"), host, scope.get("scheme", "http")
            )
            status = 403
        if problem is None:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.guard.max_body):
                problem = self._too_large(length)
                status = 413
        if problem is not None:
            for message in _refusal(status, problem):
                await send(message)
            return
        await self._bounded(scope, receive, send)

    def _too_large(self, length: str) -> str:
        return (
            f"the request body ({length} bytes) is larger than this server accepts "
            f"({self.guard.max_body} bytes)"
        )

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a streamed body as it arrives; past the bound the app is told the client
        went away (so it reads no more), and the client gets a 413."""
        seen = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.guard.max_body:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the 413 below answers instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except ClientDisconnect:
            if not too_large:
                raise
        if too_large and not started:
            for message in _refusal(413, self._too_large(f"more than {self.guard.max_body}")):
                await send(message)


def _given_token(request: Request) -> str | None:
    header = request.headers.get(TOKEN_HEADER)
    if header is not None:
        return header
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "token" and value:
        return value.strip()
    if request.method in _SAFE_METHODS:
        return request.query_params.get("token")
    return None


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the server's token.

    Put it on every ``/api`` router (``APIRouter(dependencies=[Depends(require_token)])``).
    A state-changing request must send the token in a header; a GET may use ``?token=``.
    """
    guard: Guard = request.app.state.guard
    given = _given_token(request)
    if guard.token_ok(given):
        return
    where = (
        f"the {TOKEN_HEADER} header or ?token="
        if request.method in _SAFE_METHODS
        else f"the {TOKEN_HEADER} header"
    )
    what = "has no token" if given is None else "has a wrong token"
    raise HTTPException(
        status_code=401,
        detail=f"this request {what}; send the token from the URL the server printed in {where}",
    )


def error_body(detail: Any) -> dict[str, Any]:
    """The JSON body of every refusal: ``{"error": text}``."""
    return {"error": detail if isinstance(detail, str) else json.dumps(detail)}
