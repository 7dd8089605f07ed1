"""Who may ask: loopback-only by default, a shared token for anything wider.

Without a token the server must be bound to a loopback address, and it answers only requests whose
``Host`` names the loopback (so a web page elsewhere cannot reach it through DNS rebinding). With a token
every API route needs it: ``Authorization: Bearer T`` or ``?token=T`` (an ``<audio>`` element cannot send
headers). Subsonic clients authenticate with their own parameters, mapped to the same token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

ENV_TOKEN = "SYNESTHETE_TOKEN"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 possibly in brackets) stays on this machine."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_from_env() -> str | None:
    return os.environ.get(ENV_TOKEN) or None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """Checks a request against the server's token (or, with none, that it comes to the loopback)."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def host_allowed(self, host_header: str | None) -> bool:
        """With no token, only requests addressed to a loopback name or address are answered."""
        if self.token is not None:
            return True
        if not host_header:
            return False
        if host_header.startswith("["):  # [::1]:8000
            host = host_header[1 : host_header.find("]")]
        else:
            host = host_header.split(":", 1)[0]
        return is_loopback(host)

    def check_http(self, request: Request) -> None:
        """Raise 401 unless the request carries the token (no-op when the server has none)."""
        if self.token is None:
            return
        given = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None:
            raise HTTPException(
                401,
                "this server needs its token: send 'Authorization: Bearer TOKEN' or '?token=TOKEN'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not _same(given, self.token):
            raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})

    def check_subsonic(self, params: dict[str, str]) -> tuple[int, str] | None:
        """None if the Subsonic parameters authenticate, else (Subsonic error code, message).

        ``p`` (plain or ``enc:``-hex) must equal the token, or ``t`` must be md5(token + ``s``), or ``apiKey``
        the token; the user name ``u`` is not checked, as the server has one user.
        """
        if self.token is None:
            return None
        api_key, user = params.get("apiKey"), params.get("u")
        password, hashed, salt = params.get("p"), params.get("t"), params.get("s")
        if api_key is not None:
            if user is not None or password is not None or hashed is not None:
                return 43, "Multiple conflicting authentication mechanisms provided"
            return None if _same(api_key, self.token) else (44, "Invalid API key")
        if password is not None:
            if password.startswith("enc:"):
                try:
                    password = bytes.fromhex(password[4:]).decode()
                except ValueError:
                    return 40, "Wrong username or password"
            return None if _same(password, self.token) else (40, "Wrong username or password")
        if hashed is not None and salt is not None:
            expected = hashlib.md5((self.token + salt).encode()).hexdigest()
            return None if _same(hashed.lower(), expected) else (40, "Wrong username or password")
        return 10, "Required parameter is missing: authentication (u and p, or u, t and s, or apiKey)"


class LoopbackOnly:
    """ASGI middleware: with no token, refuse (403) requests whose Host is not the loopback."""

    def __init__(self, app: ASGIApp, *, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.guard.token is None:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not self.guard.host_allowed(host):
                body = b'{"detail":"without a token this server answers only requests to localhost or 127.0.0.1"}'
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
