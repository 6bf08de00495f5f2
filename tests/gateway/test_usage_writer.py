"""The usage writer process (``USAGE_WRITER=process``), as production runs it.

A real uvicorn gateway process (``deployment``) on the strict OpenAI fake:
its usage records reach the database while it serves, written by the writer
process it started, not by itself; a writer killed with SIGKILL is replaced
and nothing is lost; a gateway killed with SIGKILL has its journal imported by
its writer, which then exits instead of lingering.
"""

from __future__ import annotations

import signal
import time

import httpx
import psutil
import pytest

from tests.gateway.deployment import Deployment, Replica
from tests.gateway.test_faults import call, uses_postgres

pytestmark = pytest.mark.serial


def writers(replica: Replica) -> list[psutil.Process]:
    """The gateway process's usage writer children."""
    children = psutil.Process(replica.process.pid).children()
    return [p for p in children if "gateway.usage_writer" in " ".join(p.cmdline())]


def wait_for(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def calls(replica: Replica, key: str, n: int) -> int:
    with httpx.Client(timeout=10) as client:
        outcomes = [call(client, replica.v1, key, stream=i % 2 == 0) for i in range(n)]
    assert all(o.status == 200 and o.complete for o in outcomes)
    return n


@pytest.fixture
def deployment(tmp_path, transactional_db):
    deployment = Deployment.create(
        tmp_path, postgres=uses_postgres(), USAGE_FLUSH_INTERVAL="0.3"
    )
    yield deployment
    deployment.stop()


def test_records_are_written_by_the_writer_process_while_the_gateway_serves(
    deployment, openai_fake
):
    key = deployment.seed(openai_fake.server.url, None)
    replica = deployment.start(key)
    (writer,) = wait_for(lambda: writers(replica))
    sent = calls(replica, key, 20)
    # Within about an interval, with the gateway still serving: no shutdown.
    assert wait_for(lambda: deployment.count()["records"] == sent)
    assert replica.process.poll() is None

    # A writer killed outright is replaced, and what was journaled meanwhile
    # is written by its successor.
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    sent += calls(replica, key, 10)
    (successor,) = wait_for(lambda: writers(replica))
    assert successor.pid != writer.pid
    assert wait_for(lambda: deployment.count()["records"] == sent)
    counted = deployment.count()
    assert counted["uuids"] == counted["records"] == sent


def test_a_killed_gateways_journal_is_written_by_its_writer_which_then_exits(
    deployment, openai_fake
):
    key = deployment.seed(openai_fake.server.url, None)
    # The gateway never releases a segment itself in this test: what it
    # journaled is in its own locked segment when it dies.
    replica = deployment.start(key, USAGE_FLUSH_INTERVAL="3600")
    (writer,) = wait_for(lambda: writers(replica))
    sent = calls(replica, key, 12)
    assert deployment.count()["records"] == 0
    replica.kill()
    # The orphaned writer notices (within a second), imports the dead
    # process's journal, and exits.
    writer.wait(15)  # raises psutil.TimeoutExpired if it lingers
    assert not writer.is_running()
    counted = deployment.count()
    assert counted["records"] == counted["uuids"] == sent


def test_a_writer_that_cannot_be_restarted_leaves_the_writing_to_the_gateway(
    monkeypatch, settings
):
    """The supervisor's fallback: no writer process can start (say, no
    processes left), so this process's own thread writes from then on."""
    import asyncio
    import subprocess

    from gateway import usage
    from gateway.usage_writer import Supervisor

    class Exited:
        returncode = -9

        def poll(self) -> int:
            return -9

    def refuse(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    settings.USAGE_FLUSH_INTERVAL = 0.01
    supervisor = Supervisor()
    supervisor.process = Exited()  # type: ignore[assignment]
    usage.use_external_writer(True)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    try:
        asyncio.run(asyncio.wait_for(supervisor.keep(), 5))
        assert supervisor.process is None
        assert not usage.writes_externally()
    finally:
        usage.use_external_writer(False)
