"""Request checks that run before any routing: Host header, body size, bearer tokens.

The server binds loopback only, but a web page can still reach it through DNS rebinding
(``evil.example`` re-resolving to 127.0.0.1): the browser then sends ``Host: evil.example``,
which is why only loopback names with the server's own port are accepted.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from email.message import Message

from fakeimg_assets.testbed.local_hub.protocol import HubError

MAX_BODY_BYTES = 1024 * 1024  # the Hub API's only body here is paths-info: a few KiB
_CLOSE = {"Connection": "close"}


def check_host(header: str | None, port: int) -> None:
    """Refuse a request whose ``Host`` is not a loopback name/address with our port."""
    if header is None or not header.strip():
        raise HubError(400, "missing Host header", "BadRequest", dict(_CLOSE))
    value = header.strip()
    parts = _split_host(value)
    if parts is not None:
        host, port_text = parts
        given = 80 if port_text is None else int(port_text) if _digits(port_text) else -1
        if given == port and _loopback_name(host):
            return
    raise HubError(
        421,
        f"Host header {value[:200]!r} is not this server: only 127.0.0.1:{port}, "
        f"localhost:{port} or [::1]:{port} are answered (DNS rebinding protection)",
        "MisdirectedRequest",
        dict(_CLOSE),
    )


def _split_host(value: str) -> tuple[str, str | None] | None:
    """``host[:port]`` / ``[v6][:port]`` -> (host, port text or None); None when malformed."""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        return host, (rest[1:] if rest else None)
    if value.count(":") > 1:
        return None  # an IPv6 address must be bracketed in a Host header
    host, colon, port_text = value.partition(":")
    return host, (port_text if colon else None)


def _digits(text: str | None) -> bool:
    return bool(text) and text.isascii() and text.isdigit() and len(text) <= 5


def _loopback_name(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def body_length(headers: Message, limit: int = MAX_BODY_BYTES) -> int:
    """The declared body size, refusing garbage (400) and anything over ``limit`` (413)."""
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len({v.strip() for v in values}) != 1:
        raise HubError(
            400,
            f"conflicting Content-Length headers {[v[:20] for v in values[:4]]!r}",
            "BadRequest",
            dict(_CLOSE),
        )
    text = values[0].strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HubError(400, f"invalid Content-Length {text[:40]!r}", "BadRequest", dict(_CLOSE))
    size = int(text)
    if size > limit:
        raise HubError(
            413,
            f"request body of {size} bytes is over this server's limit of {limit} bytes",
            "PayloadTooLarge",
            dict(_CLOSE),
        )
    return size


def normalize_tokens(tokens: Iterable[str] | None) -> frozenset[str]:
    """Tokens that unlock gated/private repos; a token is one printable word."""
    if tokens is None:
        return frozenset()
    if isinstance(tokens, str):
        tokens = [tokens]
    out: set[str] = set()
    for token in tokens:
        if not isinstance(token, str) or not token or not token.isprintable() or " " in token:
            shown = token[:4] + "…" if isinstance(token, str) else type(token).__name__
            raise ValueError(f"invalid hub token {shown!r}: expected a non-empty word")
        out.add(token)
    return frozenset(out)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer X`` header, or None."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip() or None


def token_allowed(token: str | None, allowed: frozenset[str]) -> bool:
    """Constant-time membership, so response timing does not leak a listed token."""
    if token is None:
        return False
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found
