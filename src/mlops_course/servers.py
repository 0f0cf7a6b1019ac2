"""Start a server for a lesson and always stop it (MLflow, serving, Feast chapters).

:func:`serve` is a context manager: it picks a free port on 127.0.0.1, starts
the command (an argument list; ``{port}`` and ``{host}`` in it are filled in),
polls a health URL until it answers 2xx, yields a :class:`Server`, and on exit
stops the whole process group, even when the cell inside the ``with`` fails.
If the server dies or never becomes healthy the error quotes its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The server exited early or never became healthy; the message quotes its log."""


@dataclass(frozen=True)
class Server:
    """A running server: where it listens and where its log is."""

    url: str
    port: int
    pid: int
    log_path: Path

    def log(self, last_chars: int = 4000) -> str:
        """The tail of the server's combined stdout and stderr."""
        return _tail(self.log_path, last_chars)


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, last_chars: int) -> str:
    try:
        return path.read_text(errors="replace")[-last_chars:]
    except FileNotFoundError:
        return ""


def die_with_parent() -> None:
    """A ``preexec_fn``: the child gets SIGTERM when the process that started it dies.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere it does nothing, and the
    caller's ``finally`` is the only guard.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(
            1, signal.SIGTERM
        )  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the `finally` in serve() is the only guard


def stop_process_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM ``process``'s group, SIGKILL after ``grace`` s; its children too.

    ``process`` must lead its own group (``start_new_session=True``).
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    # Children that outlived the leader (workers of a pre-fork server) share its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def serve(
    args: Sequence[str | os.PathLike],
    *,
    health: str = "/health",
    port: int | None = None,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    log_path: str | os.PathLike | None = None,
    stop_grace: float = 10,
    ready: Callable[[int], bool] | None = None,
) -> Iterator[Server]:
    """Run ``args`` as a server on 127.0.0.1 until the ``with`` block ends.

    It is waited for by a GET of ``health`` answering 2xx, or, for a server that
    does not speak HTTP (redis-server, chapter 9), until ``ready(port)`` is true.
    """
    if isinstance(args, str):
        raise TypeError("pass the command as a list of arguments, not a shell string")
    port = port or free_port()
    argv = [str(a).format(port=port, host=HOST) for a in args]
    own_log = log_path is None  # a log we create is ours to delete afterwards
    if own_log:
        handle, name = tempfile.mkstemp(prefix="server-", suffix=".log")
        os.close(handle)
        log_path = name
    log_path = Path(log_path)
    url = f"http://{HOST}:{port}"
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            # Its own process group: stopping it stops its children too.
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
    try:
        _wait_healthy(process, url + health, timeout, log_path, ready, port)
        yield Server(url=url, port=port, pid=process.pid, log_path=log_path)
    finally:
        stop_process_group(process, stop_grace)
        if own_log:
            log_path.unlink(missing_ok=True)


def _wait_healthy(
    process: subprocess.Popen,
    url: str,
    timeout: float,
    log_path: Path,
    ready: Callable[[int], bool] | None = None,
    port: int = 0,
) -> None:
    deadline = time.monotonic() + timeout
    last_problem = "no answer yet"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise ServerError(
                    f"server exited with status {code} before it was healthy\n"
                    f"--- server log ---\n{_tail(log_path, 4000)}"
                )
            if ready is not None:
                if ready(port):
                    return
                last_problem = "not ready"
                time.sleep(0.05)
                continue
            try:
                response = client.get(url)
                if response.is_success:
                    return
                last_problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last_problem = type(exc).__name__
            time.sleep(0.1)
    raise ServerError(
        f"server not healthy at {url} after {timeout:.0f} s ({last_problem})\n"
        f"--- server log ---\n{_tail(log_path, 4000)}"
    )
