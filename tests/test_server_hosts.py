"""DNS rebinding: the app's server answers a websocket handshake only for the loopback names
(`server.allowedHosts` in .streamlit/config.toml), whatever Origin the page claims."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def test_the_config_allows_only_loopback_hosts():
    server = tomllib.loads((PROJECT / ".streamlit" / "config.toml").read_text())["server"]
    assert sorted(server.get("allowedHosts", [])) == ["127.0.0.1", "::1", "localhost"]


def handshake(port: int, host: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        return s.recv(200).split(b"\r\n")[0]


@pytest.fixture
def server(isolated_dirs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(PROJECT / "app.py"),
                                "--server.port", str(port)], cwd=PROJECT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    pytest.fail("the app's server did not start")
                time.sleep(0.5)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_websocket_from_another_host_name_is_refused(server):
    assert handshake(server, "evil.example") == b"HTTP/1.1 403 Forbidden"
    assert handshake(server, "localhost") == b"HTTP/1.1 101 Switching Protocols"
    assert handshake(server, "127.0.0.1") == b"HTTP/1.1 101 Switching Protocols"
