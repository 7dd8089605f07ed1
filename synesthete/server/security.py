"""Who may ask: loopback-only by default, a shared token for anything wider.

Without a token the server must be bound to a loopback address, and it answers only requests whose
``Host`` names the loopback (so a web page elsewhere cannot reach it through DNS rebinding). With a token
every API route needs it: ``Authorization: Bearer T``, ``?token=T`` (an ``<audio>`` element cannot send
headers) or a link the server signed (``exp`` and ``sig``: for files that are shared, such as M3U8
playlists, which must not carry the token). The token is checked in ``Gate``, before a body is read.
Subsonic clients authenticate with their own parameters, mapped to the same token.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import ipaddress
import json
import math
import mmap
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_TOKEN = "SYNESTHETE_TOKEN"
SIGNED_LINK_SECONDS = 12 * 3600  # how long a signed link (an M3U8 download, its tracks) stays valid
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@lru_cache(maxsize=1024)  # every request's Host header is checked: the few seen are parsed once
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

    def check_http(self, path: str, query: str, authorization: str | None) -> str | None:
        """None if the request may pass, else why not (401): the token, or a valid signed link.

        ``query`` is the raw query string; ``authorization`` the Authorization header, if any.
        """
        if self.token is None:
            return None
        params = dict(parse_qsl(query, keep_blank_values=True))
        given = params.get("token")
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if given is None and "sig" in params:
            return (
                None if self.signed(path, query) else "this link has expired or is not signed by this server"
            )
        if given is None:
            return "this server needs its token: send 'Authorization: Bearer TOKEN' or '?token=TOKEN'"
        return None if _same(given, self.token) else "wrong token"

    def _signature(self, target: str) -> str:
        return hmac.new((self.token or "").encode(), target.encode(), hashlib.sha256).hexdigest()[:32]

    def sign(self, path: str, params: dict[str, str | list[str]], *, ttl: float = SIGNED_LINK_SECONDS) -> str:
        """``path?params`` that works without the token until ``ttl`` seconds from now (unchanged with none)."""
        params = {k: v for k, v in params.items() if k not in ("token", "sig", "exp")}
        query = urlencode(params, doseq=True)
        if self.token is None:
            return f"{path}?{query}" if query else path
        query = (query + "&" if query else "") + f"exp={int(time.time() + ttl)}"
        return f"{path}?{query}&sig={self._signature(f'{path}?{query}')}"

    def signed(self, path: str, query: str) -> bool:
        """Whether ``path?query`` ends with a valid, unexpired signature of what precedes it."""
        head, sep, sig = query.rpartition("&sig=")
        if not sep or not _same(sig, self._signature(f"{path}?{head}")):
            return False
        exp = dict(parse_qsl(head)).get("exp", "")
        return exp.isdigit() and int(exp) >= time.time()

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


class RateLimit:
    """At most ``per_minute`` requests a minute per client address (a token bucket), for the costly routes.

    Why: one upload costs a second of CPU; without a bound one client can keep the server busy. The
    address is the TCP peer, or the one a trusted reverse proxy names (uvicorn's ``--forwarded-allow-ips``).
    """

    def __init__(self, per_minute: float, shared: SharedBuckets | None = None) -> None:
        """``shared``: keep the buckets there, counted by every process forked with it (``serve --workers``)."""
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 2.0)  # a short run of uploads is fine; a stream of them waits
        self._buckets: dict[str, tuple[float, float]] = {}
        self._shared = shared

    def allow(self, client: str) -> float:
        """0.0 if ``client`` may go ahead (and counts it), else the seconds to wait."""
        now = time.monotonic()  # one clock for the whole machine: the same in every process
        if self._shared is not None:
            with self._shared.locked():
                bucket = self._shared.get(client)
                bucket, wait = self._take(bucket or (self.burst, now), now)
                self._shared.put(client, bucket)
            return wait
        if len(self._buckets) > 10_000:  # forget idle clients so the table stays small
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}
        self._buckets[client], wait = self._take(self._buckets.get(client, (self.burst, now)), now)
        return wait

    def _take(self, bucket: tuple[float, float], now: float) -> tuple[tuple[float, float], float]:
        """The bucket after one more request at ``now``, and the seconds to wait (0.0: go ahead)."""
        tokens, last = bucket
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            return (tokens, now), (1.0 - tokens) / self.rate
        return (tokens - 1.0, now), 0.0


class SharedBuckets:
    """``RateLimit``'s buckets in a file mapped by processes forked after it is made, so that with
    ``serve --workers N`` a client's uploads are counted once, whichever worker takes each.

    A fixed table: a client's row is found by a hash of its address among ``PROBES`` rows; when all of
    them hold other clients, the one idle longest is forgotten (it starts again with a full burst). A POSIX
    record lock guards it: the kernel releases it when a process dies, so a killed worker never leaves it held.
    """

    ROWS = 4096
    PROBES = 8
    ROW = struct.Struct("<Qdd")  # hash of the address (0: free), tokens, last request (monotonic s)

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (open for the server's life; gone with it)
        self._file.truncate(self.ROWS * self.ROW.size)
        self._memory = mmap.mmap(self._file.fileno(), self.ROWS * self.ROW.size)

    @contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.lockf(self._file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._file, fcntl.LOCK_UN)

    def get(self, client: str) -> tuple[float, float] | None:
        key = self._key(client)
        found, tokens, last = self.ROW.unpack_from(self._memory, self._row(key))
        return (tokens, last) if found == key else None

    def put(self, client: str, bucket: tuple[float, float]) -> None:
        key = self._key(client)
        self.ROW.pack_into(self._memory, self._row(key), key, *bucket)

    def _row(self, key: int) -> int:
        """The offset of ``key``'s row: its own, else a free one, else the longest idle of its probes."""
        oldest = None
        for i in range(self.PROBES):
            offset = (key + i) % self.ROWS * self.ROW.size
            found, _, last = self.ROW.unpack_from(self._memory, offset)
            if found in (key, 0):
                return offset
            if oldest is None or last < oldest[1]:
                oldest = (offset, last)
        return oldest[0]

    @staticmethod
    def _key(client: str) -> int:
        digest = hashlib.blake2b(client.encode("utf-8", "surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1


class Gate:
    """ASGI middleware, the first to see a request: who may ask, before anything is read.

    With no token, refuse (403) requests whose Host is not the loopback; with one, refuse (401) /api
    requests without it; refuse (429) uploads past the client's rate. Every response gets the headers
    that stop a browser from sniffing types, framing the page or leaking the address.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        guard: Guard,
        limited: tuple[str, ...] = (),
        per_minute: float = 30,
        shared: SharedBuckets | None = None,
    ) -> None:
        self.app, self.guard, self.limited = app, guard, limited
        self.rate = RateLimit(per_minute, shared)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = authorization = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        path = scope["path"]
        if self.guard.token is None and not self.guard.host_allowed(host):
            detail = "without a token this server answers only requests to localhost or 127.0.0.1"
            await send_json(send, 403, detail)
            return
        if path.startswith("/api/") or path == "/api":
            query = scope.get("query_string", b"").decode("latin-1")
            refused = self.guard.check_http(path, query, authorization)
            if refused:
                await send_json(send, 401, refused, [(b"www-authenticate", b"Bearer")])
                return
        if scope["method"] == "POST" and path in self.limited:
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.rate.allow(client)
            if wait:
                seconds = math.ceil(wait)
                detail = f"too many uploads from {client}: try again in {seconds} s"
                await send_json(send, 429, detail, [(b"retry-after", str(seconds).encode())])
                return

        extra = [*SECURITY_HEADERS, *DOCS_HEADERS] if path in ("/docs", "/redoc") else SECURITY_HEADERS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


# The API docs (Swagger UI, ReDoc) run inline code of their own, but fetch nothing from elsewhere: ReDoc's
# logo from its makers' site, for one, is not loaded.
DOCS_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        b"frame-ancestors 'none'",
    )
]


async def send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """A whole JSON error response (``{"detail": ...}``) sent straight from a middleware."""
    body = json.dumps({"detail": detail}).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
