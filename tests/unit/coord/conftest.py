"""Fixtures of the Kubernetes coordinator tests: the real API server of the test session
(tests/cluster) as ``server`` (the per-test view: namespace ``default``, the audit log as request
log), and ``api``, a ``kubernetes`` ApiClient on it as the cluster admin."""

from __future__ import annotations

import pytest


@pytest.fixture
def server(kube_api):
    return kube_api


@pytest.fixture
def api(server):
    client = server.client()
    yield client
    client.close()
