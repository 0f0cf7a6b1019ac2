"""The server helper: free port, health wait, clear errors, always stopped."""

from __future__ import annotations

import sys
import time
import uuid

import httpx
import psutil
import pytest

from mlops_course.servers import ServerError, free_port, port_is_open, serve

HTTP_SERVER = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]


def test_serves_on_loopback_and_stops(tmp_path):
    (tmp_path / "health").write_text("ok")
    with serve(HTTP_SERVER, health="/health", cwd=tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "/health").text == "ok"
        port = server.port
    time.sleep(0.2)
    assert not port_is_open(port)


def test_leaves_no_log_file_behind(tmp_path):
    (tmp_path / "health").write_text("ok")
    with serve(HTTP_SERVER, cwd=tmp_path) as server:
        log = server.log_path
        assert log.is_file()
    assert not log.exists()


def test_a_log_path_given_by_the_caller_is_kept(tmp_path):
    (tmp_path / "health").write_text("ok")
    log = tmp_path / "server.log"
    with serve(HTTP_SERVER, cwd=tmp_path, log_path=log):
        pass
    assert "GET /health" in log.read_text()


def test_stopped_even_when_the_block_fails(tmp_path):
    (tmp_path / "health").write_text("ok")
    with (
        pytest.raises(RuntimeError, match="lesson failed"),
        serve(HTTP_SERVER, cwd=tmp_path) as server,
    ):
        port = server.port
        raise RuntimeError("lesson failed")
    time.sleep(0.2)
    assert not port_is_open(port)


def test_early_exit_is_reported_with_the_log():
    crash = [
        sys.executable,
        "-c",
        "import sys; print('bad config: no model'); sys.exit(3)",
    ]
    with (
        pytest.raises(ServerError, match=r"(?s)status 3.*bad config: no model"),
        serve(crash, timeout=10),
    ):
        pass


def test_never_healthy_times_out_with_the_log(tmp_path):
    """The deadline passes with the last answer (404) in the error, whatever the speed.

    A file server, already up (waited for by its answer on /), holds the port
    and answers 404 for /health from the first poll on; the command under test
    never serves. So the error cannot depend on how fast a program starts.
    """
    token = uuid.uuid4().hex
    never = [sys.executable, "-c", f"import time; time.sleep(600)  # {token}"]
    with serve(HTTP_SERVER, health="/", cwd=tmp_path) as files:
        with (
            pytest.raises(ServerError, match=r"(?s)not healthy .* \(HTTP 404\)"),
            serve(never, port=files.port, timeout=2),
        ):
            pass
        assert httpx.get(files.url + "/").is_success  # only the command was stopped
    assert [p for p in psutil.process_iter(["cmdline"]) if token in _cmd(p)] == []


def _cmd(process: psutil.Process) -> str:
    return " ".join(process.info["cmdline"] or ())


def test_shell_strings_are_refused():
    with (
        pytest.raises(TypeError, match="list of arguments"),
        serve("python -m http.server"),
    ):
        pass


def test_server_dies_with_the_process_that_started_it(tmp_path):
    """A kernel killed mid-lesson must not leave its server behind (Linux)."""
    if sys.platform != "linux":
        pytest.skip("parent-death signal is Linux-only")
    import subprocess

    port = free_port()
    (tmp_path / "health").write_text("ok")
    script = (
        "import sys, time\n"
        "from mlops_course.servers import serve\n"
        f"cmd = {HTTP_SERVER!r}\n"
        f"with serve(cmd, cwd={str(tmp_path)!r}, port={port}):\n"
        "    print('up', flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout.readline().strip() == "up"
    assert port_is_open(port)
    parent.kill()  # no `finally` runs: only the parent-death signal can stop the server
    parent.wait()
    deadline = time.monotonic() + 10
    while port_is_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_is_open(port)
