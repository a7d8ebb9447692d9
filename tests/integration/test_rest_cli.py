"""``pronghorn api`` as a process: serves the store the CLI writes, same documents, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import PRONGHORN
from tests.fixtures.pronghorn_cli import Cli
from tests.fixtures.rest_client import ApiClient

READY = "pronghorn api listening on "


def test_api_process_serves_what_the_cli_wrote(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'events.sqlite'}"
    cli = Cli(tmp_path, store)
    cli.ok("node", "add", "n1", "--address", "127.0.0.1", "--disk", "/data:10Gi")
    cli.manage_nodes()
    proc = subprocess.Popen([PRONGHORN, "api", "--store", store, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli.env, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(READY), (line, proc.stderr.read() if proc.poll() is not None else "")
        api = ApiClient(line[len(READY):].strip())
        api.ok("POST", "/v1/volumes", {"name": "v1", "size": "1Gi", "number_of_replicas": 1}, 201)
        api.ok("POST", "/v1/volumes/v1/expand", {"size": "2Gi"})
        assert api.ok("GET", "/v1/volumes/v1") == cli.json("volume", "get", "v1")
        assert api.ok("GET", "/v1/nodes/n1") == cli.json("node", "get", "n1")
        cli.ok("job", "create", "j1", "--cron", "0 * * * *", "--retain", "2", "--volumes", "v1")
        assert api.ok("GET", "/v1/jobs/j1") == cli.json("job", "get", "j1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_api_bad_listen_address_and_busy_port(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    assert "invalid address" in cli.fails(2, "api", "--listen", "nowhere")
    holder = subprocess.Popen([PRONGHORN, "api", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=cli.env, start_new_session=True)
    try:
        assert holder.stdout is not None
        url = holder.stdout.readline().strip().rpartition(" ")[2]
        port = url.rpartition(":")[2]
        assert "cannot listen on 127.0.0.1:" + port in cli.fails(1, "api", "--listen", "127.0.0.1:" + port)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        if holder.stdout:
            holder.stdout.close()
