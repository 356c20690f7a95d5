"""Which client a request comes from: an HttpOnly cookie that demo.guard sets.

Requests for files carry no Gradio session, but browsers and gradio_client send cookies with every
request (gradio_client keeps the cookies of its first ``/config`` response). The guard gives each
client a random id in a cookie signed with a per-process key, so that neither the id's kind nor an
id the server never issued can be forged:

- ``page``: set on the app's HTML page; only a page client may call the private UI events;
- ``api``: set on any other response to a request without a cookie (``/config``, uploads, calls).

Sessions and uploads are bound to the id of the client that made them (demo.files). A client
without a cookie jar (plain ``curl``) has no id; what it uploads is never served back over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "medplib_client"
KINDS = ("page", "api")
_KEY = secrets.token_bytes(32)  # per process: cookies of an earlier run are not accepted


@dataclass(frozen=True)
class Client:
    id: str  # 32 hex digits
    kind: str  # one of KINDS


def _sign(kind: str, ident: str) -> str:
    return hmac.new(_KEY, f"{kind}.{ident}".encode(), hashlib.sha256).hexdigest()[:32]


def mint(kind: str) -> Client:
    return Client(secrets.token_hex(16), kind)


def encode(client: Client) -> str:
    return f"{client.kind}.{client.id}.{_sign(client.kind, client.id)}"


def decode(value: str) -> Client | None:
    parts = value.strip().strip('"').split(".")
    if len(parts) != 3 or parts[0] not in KINDS or len(parts[1]) != 32:
        return None
    if not hmac.compare_digest(parts[2], _sign(parts[0], parts[1])):
        return None
    return Client(parts[1], parts[0])


def from_headers(headers: list[tuple[bytes, bytes]]) -> Client | None:
    """The client named by the request's ``cookie`` header(s), or None (none, or not one we issued)."""
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for item in value.decode("latin-1").split(";"):
            key, _, val = item.strip().partition("=")
            if key == COOKIE and (client := decode(val)) is not None:
                return client
    return None


def set_cookie(client: Client, https: bool) -> tuple[bytes, bytes]:
    """The ``set-cookie`` header. Over https the app may sit in another site's frame (a Space), where
    only a ``SameSite=None; Secure`` (partitioned) cookie is sent; plain http is same-site only."""
    attrs = "; SameSite=None; Secure; Partitioned" if https else "; SameSite=Strict"
    return b"set-cookie", f"{COOKIE}={encode(client)}; Path=/; HttpOnly{attrs}".encode()
