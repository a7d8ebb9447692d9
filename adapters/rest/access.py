"""Who may reach the REST API: loopback only, unless a bearer token guards it.

Anyone who reaches the API can register nodes and place replicas, so
``start_api`` refuses to listen anywhere but loopback (127.0.0.0/8, ::1,
``localhost``) without a token, and with one the server answers 401 to every
request whose ``Authorization: Bearer TOKEN`` does not match (compared with
``hmac.compare_digest``; the token is never logged). ``read_token_file`` reads
``--api-token-file F`` for ``pronghorn api`` / ``up`` / ``manager``: one line, at
least 16 characters, in a file only its owner may read.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from pathlib import Path

MIN_TOKEN = 16
MAX_TOKEN = 4096
SCHEME = "Bearer "


class AccessError(ValueError):
    """The API may not be served as asked (no token for a non-loopback address, bad token file)."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; any other name or address reaches further."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: bytes | None) -> None:
    """AccessError unless ``host`` is loopback or a token guards the API."""
    if token is None and not is_loopback(host):
        raise AccessError(f"refusing to serve the REST API on {host} without a token: anyone who reaches it "
                          "could register nodes; give --api-token-file FILE, or listen on 127.0.0.1")


def read_token_file(path: str) -> bytes:
    """The token in ``path`` (surrounding whitespace dropped); AccessError if the file is readable
    by others than its owner, or the token is shorter than 16 or not printable ASCII."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_bytes()
    except OSError as exc:
        raise AccessError(f"cannot read --api-token-file {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AccessError(f"--api-token-file {path} is readable by others (chmod 600 {path})")
    token = text.strip()
    if not MIN_TOKEN <= len(token) <= MAX_TOKEN or not all(0x21 <= b < 0x7F for b in token):
        raise AccessError(f"--api-token-file {path}: the token must be {MIN_TOKEN}..{MAX_TOKEN} printable "
                          "ASCII characters without spaces")
    return token


def authorized(header: str | None, token: bytes | None) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` (always, without a token)."""
    if token is None:
        return True
    given = (header or "").encode("latin-1", "replace")
    return hmac.compare_digest(given, SCHEME.encode() + token)
