"""Fixtures shared by every test folder: a local S3 server, and the real Kubernetes control
plane (tests/cluster/realkube/fixtures.py: `real_cluster`, `kube_api`, `kubelet`, ...)."""

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "cluster"))

from realkube.fixtures import *  # noqa: F403  the real cluster's fixtures and summary hook


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible server (moto in server mode) on 127.0.0.1 and a
    free port, for the whole session; skips where moto or s3fs is missing.
    Tests create their own buckets (distinct names)."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
