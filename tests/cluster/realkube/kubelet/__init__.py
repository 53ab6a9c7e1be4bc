"""A stand-in kubelet: a client of the real API server that runs the pods bound to its Node as
local processes (see standin.py). The real kube-scheduler binds pods to it; it writes pods/status,
honours graceful deletion and serves container logs to the API server."""

from realkube.kubelet.standin import Image, StandinKubelet

__all__ = ["Image", "StandinKubelet"]
