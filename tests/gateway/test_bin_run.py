"""``bin/run`` as a person runs it: "Modelgate is up" only once the server
answers, an exit (not a hang) when the server dies first, and quiet logs.

``bin/run`` runs in a copy of the project's root (its own ``.env``, SQLite
database and data folder) whose code and virtualenv are the checkout's, so
nothing of the checkout changes. The install step is skipped by the stamp
``bin/run`` itself writes after an install.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
UP = "Modelgate is up"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bin-run")
    (root / "bin").mkdir()
    shutil.copy2(ROOT / "bin" / "run", root / "bin" / "run")
    for entry in ROOT.iterdir():
        if entry.name not in {"bin", ".venv", ".env", "var", ".git"}:
            (root / entry.name).symlink_to(entry)
    # A virtualenv that is the checkout's (same interpreter and packages).
    venv = Path(sys.prefix)
    (root / ".venv" / "bin").mkdir(parents=True)
    shutil.copy2(venv / "pyvenv.cfg", root / ".venv" / "pyvenv.cfg")
    (root / ".venv" / "lib").symlink_to(venv / "lib")
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (root / ".venv" / ".modelgate-pyproject.sha256").write_text(stamp + "\n")
    return root


@dataclass
class Run:
    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)

    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)  # the reader's last lines
                return text in self.output()
            time.sleep(0.05)
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bin_run(project: Path) -> Iterator[Callable[..., Run]]:
    started: list[Run] = []

    def start(port: int, **settings: str) -> Run:
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS"}
            | {"no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"}
        }
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            DATA_DIR=str(project / "var"),
            DOTENV_PATH=str(project / ".env"),
            PYTHONUNBUFFERED="1",
            **settings,
        )
        env.pop("STATIC_ROOT", None)
        env.pop("USAGE_JOURNAL_DIR", None)
        process = subprocess.Popen(
            [str(project / "bin" / "run")],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        run = Run(process)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                run.lines.append((time.monotonic(), line))

        threading.Thread(target=read, daemon=True).start()
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)  # its trap stops the others
            try:
                run.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait(10)


def test_it_announces_the_url_once_the_server_answers_and_logs_quietly(
    bin_run: Callable[..., Run],
) -> None:
    port = _free_port()
    run = bin_run(port)
    assert run.wait_for(UP, timeout=180), run.output()[-3000:]
    # Right after the announcement the site answers (it printed too soon before).
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/accounts/login/", timeout=5).status_code == 200
    assert f"site at {base}/" in run.output()
    # Expected client errors print one line each, without a traceback.
    assert httpx.get(f"{base}/no-such-page/", timeout=5).status_code == 404
    bad_host = httpx.get(f"{base}/", headers={"Host": "evil.example"}, timeout=5)
    assert bad_host.status_code == 400
    assert run.wait_for("Not Found: /no-such-page/", timeout=10)
    assert run.wait_for("Invalid HTTP_HOST header: 'evil.example'", timeout=10)
    assert "Traceback" not in run.output(), run.output()[-3000:]


class ProxyAnswersEverything(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy from the environment, answering for any address."""

    def do_GET(self) -> None:
        self.send_response(502)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_it_exits_instead_of_hanging_when_the_server_dies_first(
    bin_run: Callable[..., Run],
) -> None:
    """Also with an http_proxy set: the probe goes straight to our port, so a
    proxy's answer is not taken for the server's (second review, finding 4)."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProxyAnswersEverything)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            run = bin_run(  # the server cannot bind the port
                taken.getsockname()[1], http_proxy=proxy_url, HTTP_PROXY=proxy_url
            )
            try:
                code = run.process.wait(120)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    "bin/run hung after its server died:\n" + run.output()[-3000:]
                )
    finally:
        proxy.shutdown()
    assert code != 0
    time.sleep(0.2)
    assert UP not in run.output()
    assert "stopped before it answered" in run.output()


def test_announces_up_with_ssl_redirect(bin_run: Callable[..., Run]) -> None:
    """With SECURE_SSL_REDIRECT the server answers 301 to https: still an answer.

    The probe used to follow it to https on the plain-HTTP port, fail, and try
    again forever, so "up" never came and a dead worker went unnoticed.
    """
    port = _free_port()
    run = bin_run(port, SECURE_SSL_REDIRECT="true")
    assert run.wait_for(UP, timeout=120), run.output()[-3000:]
    answer = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5)
    assert answer.status_code == 301
    assert answer.headers["Location"].startswith("https://127.0.0.1:")
