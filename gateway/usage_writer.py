"""The usage writer process: writes the usage records gateway processes journal.

Each gateway process starts one at start-up (``USAGE_WRITER=process``;
``config/asgi.py``) as ``python -m gateway.usage_writer --parent PID``, and
releases its journal segment to it every ``USAGE_FLUSH_INTERVAL`` seconds
(``Supervisor.keep``). The writer imports every released segment (and any a dead
process left) several times per interval, so records reach the database within
about an interval, as they did from the gateway's own thread; the rows of a
batch are built here, in a process of its own, instead of competing with the
gateway's event loop for the GIL. It ends on SIGTERM or SIGINT, or when its
gateway process is gone, after one last import; the gateway writes what is left
of its own at shutdown (``usage.flush``) and restarts a writer that died.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading

logger = logging.getLogger(__name__)


def poll_seconds(interval: float) -> float:
    """How often the writer looks for released segments: a quarter interval."""
    return max(0.05, min(interval / 4, 1.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.usage_writer")
    parser.add_argument("--parent", type=int, required=True, help="gateway pid")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import close_old_connections

    from gateway import heap, usage

    heap.settle()  # its full collections competed with the web process for a core
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    poll = poll_seconds(float(settings.USAGE_FLUSH_INTERVAL))
    while True:
        last = stop.is_set() or os.getppid() != args.parent
        try:
            usage.recover_journals()
        except Exception:
            logger.exception("usage writer failed; records stay journaled")
        finally:
            close_old_connections()
        if last:
            return 0
        stop.wait(poll)


class Supervisor:
    """The gateway process's side: starts its writer, releases its segment
    every interval, restarts the writer if it died, stops it at shutdown."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from django.conf import settings

        from gateway import usage

        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.usage_writer",
                "--parent",
                str(os.getpid()),
            ],
            cwd=settings.BASE_DIR,
        )
        usage.use_external_writer()

    async def keep(self) -> None:
        """Release this process's segment every interval; keep a writer alive."""
        from django.conf import settings

        from gateway import usage

        interval = float(settings.USAGE_FLUSH_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            usage.release()
            if self.process is None or self.process.poll() is None:
                continue
            logger.warning(
                "usage writer exited with %s; starting another",
                self.process.returncode,
            )
            try:
                self.start()
            except OSError:
                # This process's own thread writes from now on.
                logger.exception("usage writer not restarted; writing in-process")
                self.process = None
                usage.use_external_writer(False)
                return

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
