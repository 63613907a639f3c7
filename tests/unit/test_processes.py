"""The local stack's process starter (ibdc_dev.localstack.processes), with real processes."""

import sys

import psutil

from ibdc_dev.localstack import processes


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_an_instance_that_does_not_answer_where_the_settings_say_is_replaced(tmp_path, monkeypatch):
    """One still serving the port it was started on, after the settings moved it (the default ports
    moved below the ephemeral range), is stopped and the service started on the new port: never left
    running beside the new one with its pid file overwritten."""
    monkeypatch.setattr(processes, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(processes, "LOG_DIR", tmp_path / "logs")
    old_port, new_port = processes.free_port(), processes.free_port()
    assert processes.start("svc", _http_server(old_port), {}, old_port, lambda: processes.port_open(old_port))
    old = processes.read_pid("svc")
    try:
        assert not processes.start("svc", _http_server(old_port), {}, old_port, lambda: processes.port_open(old_port))
        assert processes.read_pid("svc") == old  # answering where asked: kept

        assert processes.start("svc", _http_server(new_port), {}, new_port, lambda: processes.port_open(new_port))
        new = processes.read_pid("svc")
        assert new != old
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
        assert processes.port_open(new_port) and not processes.port_open(old_port)
    finally:
        processes.stop("svc")
