"""Which files belong to which session, and deleting exactly those.

Gradio stores uploads at ``GRADIO_TEMP_DIR/<sha256 of the content>/<name>``: two sessions uploading
the same file share one path, and the example gallery's cached copies live there too, so a
session must never delete such paths. Instead every upload is received into a private folder of
its own, ``<temp>/medplib-private/up/<random token>/`` (see :mod:`demo.guard`), and every file the
demo writes for a session goes into ``<temp>/medplib-private/s/<random token>/``. The tokens are
unguessable (128 bits).

Each upload and each session is also bound to the client that made it (the id of its cookie,
demo.clients; ``None`` for a client without cookies): a session takes only uploads of its own
client, and a file is served over HTTP only to the client of the session that owns it (uploads of a
client without cookies are never served: nobody needs them back).

An upload folder is *claimed* by the first session whose request names one of its files; another
session naming it is refused. A session ends -> its claimed uploads and its own folder are
deleted. Uploads that no request claims are deleted after :data:`UNCLAIMED_TTL_S`. On shutdown
(SIGTERM / SIGINT / normal exit) the whole private folder is deleted.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from demo.errors import InputError

UNCLAIMED_TTL_S = 50.0  # an upload no request used is deleted after this (the README promises < 1 min)
DETACHED_IDLE_S = 40.0  # a session without a heartbeat (plain HTTP calls) ends after this long idle
SWEEP_EVERY_S = 5.0
NOT_YOURS = ("That file was not uploaded in this session (or it has expired). Please upload the file again "
             "(with gradio_client: handle_file(path)).")

_lock = threading.Lock()
_owner: dict[str, str] = {}  # token folder name -> session key
_born: dict[str, float] = {}  # unclaimed upload token -> time received
_session_dir: dict[str, str] = {}  # session key -> token of its own folder
_seen: dict[str, float] = {}  # session key -> last time it used or got a file
_client: dict[str, str | None] = {}  # session key -> client id of its first request
_uploader: dict[str, str | None] = {}  # upload token -> client id that uploaded it
_attached: set[str] = set()  # sessions with a heartbeat connection (a browser tab, gradio_client)
_pending = [lambda key: False]  # whether a session has a request waiting or running (set by demo.guard)


def temp_root() -> Path:
    """Gradio's upload/cache folder (``GRADIO_TEMP_DIR`` or ``<tmp>/gradio``)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def private_root() -> Path:
    return temp_root() / "medplib-private"


def uploads_root() -> Path:
    return private_root() / "up"


def sessions_root() -> Path:
    return private_root() / "s"


def new_upload_dir(client: str | None = None) -> Path:
    """A fresh, unclaimed folder for one upload request of ``client``."""
    token = secrets.token_hex(16)
    folder = uploads_root() / token
    folder.mkdir(parents=True)
    with _lock:
        _born[token] = time.monotonic()
        _uploader[token] = client
    return folder


def bind_client(key: str, client: str | None) -> bool:
    """Bind session ``key`` to ``client`` on its first request; False when it belongs to another client."""
    with _lock:
        _seen.setdefault(key, time.monotonic())
        return _client.setdefault(key, client) == client


def session_folder(key: str) -> Path:
    """The session's own folder (created on first use; its name is a random token, not the key)."""
    with _lock:
        token = _session_dir.setdefault(key, secrets.token_hex(16))
        _seen[key] = time.monotonic()
    folder = sessions_root() / token
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _token_of(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def claim(key: str, path: str | os.PathLike) -> Path:
    """``path`` as a file this session may use; raises InputError for another session's or foreign file.

    Allowed: an upload of this session's client nobody claimed yet (it becomes this session's),
    this session's uploads and its own folder's files. Everything else in the temp folder (Gradio's
    shared cache, other sessions' or clients' files) is refused. Paths outside the temp folder cannot come over HTTP (Gradio only
    accepts uploads there); they are the Python caller's own files and are never deleted."""
    p = Path(os.path.abspath(str(path)))
    if not p.is_relative_to(temp_root()):
        return p
    token = _token_of(p, uploads_root())
    with _lock:
        _seen[key] = time.monotonic()
        if token is not None:
            owner, uploader = _owner.get(token), _uploader.get(token)
            if owner is None and token in _born and uploader in (None, _client.get(key)):
                _owner[token] = key
                _born.pop(token, None)
                return p
            if owner == key:
                return p
        elif _token_of(p, sessions_root()) is not None and _token_of(p, sessions_root()) == _session_dir.get(key):
            return p
    raise InputError(NOT_YOURS)


def may_use(key: str | None, path: str) -> bool:
    """Whether a request of session ``key`` may name ``path`` (claims an unclaimed upload)."""
    if not key:
        return False
    try:
        claim(key, path)
    except InputError:
        return False
    return True


def end_session(key: str | None) -> None:
    """Delete everything the session owns: its claimed uploads and its own folder."""
    if not key:
        return
    with _lock:
        tokens = [t for t, k in _owner.items() if k == key]
        for t in tokens:
            _owner.pop(t, None)
            _uploader.pop(t, None)
        own = _session_dir.pop(key, None)
        _seen.pop(key, None)
        _client.pop(key, None)
        _attached.discard(key)
    for t in tokens:
        shutil.rmtree(uploads_root() / t, ignore_errors=True)
    if own:
        shutil.rmtree(sessions_root() / own, ignore_errors=True)


def sweep(now: float | None = None) -> None:
    """Delete uploads that no request claimed within :data:`UNCLAIMED_TTL_S`, and end sessions
    without a heartbeat that were idle for :data:`DETACHED_IDLE_S`."""
    now = time.monotonic() if now is None else now
    with _lock:
        old = [t for t, born in _born.items() if now - born > UNCLAIMED_TTL_S]
        for t in old:
            _born.pop(t, None)
            _uploader.pop(t, None)
        for k in _seen:  # idle time counts from the session's last request in the queue
            if _pending[0](k):
                _seen[k] = now
        idle = [k for k, seen in _seen.items() if k not in _attached and now - seen > DETACHED_IDLE_S]
    for t in old:
        shutil.rmtree(uploads_root() / t, ignore_errors=True)
    for k in idle:
        end_session(k)


def set_pending_check(check) -> None:
    """``check(key) -> bool``: the session has a request in the queue (it is not idle)."""
    _pending[0] = check


def attach(key: str) -> None:
    """The session has a heartbeat connection: it ends with ``demo.unload``, not by idling."""
    with _lock:
        _attached.add(key)


def delete_all() -> None:
    """Shutdown: every session's files go."""
    with _lock:
        _owner.clear()
        _born.clear()
        _session_dir.clear()
        _seen.clear()
        _attached.clear()
        _client.clear()
        _uploader.clear()
    shutil.rmtree(private_root(), ignore_errors=True)


_sweeper: threading.Thread | None = None


def start_sweeper() -> None:
    """One background thread per process that runs :func:`sweep` every few seconds."""
    global _sweeper
    if _sweeper is not None and _sweeper.is_alive():
        return

    def loop() -> None:
        while True:
            time.sleep(SWEEP_EVERY_S)
            sweep()

    _sweeper = threading.Thread(target=loop, name="medplib-upload-sweeper", daemon=True)
    _sweeper.start()


def sweep_now(folder: Path) -> None:
    """Delete one upload folder at once (a failed upload)."""
    with _lock:
        _born.pop(folder.name, None)
        _owner.pop(folder.name, None)
        _uploader.pop(folder.name, None)
    shutil.rmtree(folder, ignore_errors=True)


def may_read(path: str | os.PathLike, client: str | None) -> bool:
    """Whether ``client`` may fetch ``path`` (inside the private folder) over HTTP: a live upload it
    made itself, or a file of a live session of this client."""
    p = Path(os.path.abspath(str(path)))
    up, own = _token_of(p, uploads_root()), _token_of(p, sessions_root())
    with _lock:
        if up is not None:
            live = up in _born or up in _owner
            return live and _uploader.get(up) is not None and _uploader.get(up) == client
        key = next((k for k, t in _session_dir.items() if t == own), None) if own is not None else None
        return key is not None and _client.get(key) == client


_shutdown_hooked = False


def delete_on_shutdown() -> None:
    """Delete every session's files at exit and on SIGTERM / SIGINT (then the signal's usual effect)."""
    import atexit
    import signal

    global _shutdown_hooked
    if _shutdown_hooked:
        return
    _shutdown_hooked = True
    atexit.register(delete_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            delete_all()
            if callable(previous):
                return previous(signum, frame)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)

        signal.signal(sig, handler)
