"""fakekube: an in-process fake Kubernetes API server plus a fake kubelet/job controller.

This is pjob's envtest (there is no cluster on the build machine): the REAL `kubernetes`
client, the REAL kopf operator and real `pjob agent` processes talk HTTP to `FakeApiServer`,
and `FakeKubelet` runs the pods of batch/v1 Jobs as local processes. See README.md for what is
faithful to a real cluster and what is simplified. Used by tests/kube/conftest.py.
"""
from fakekube.api import FakeApiServer, RequestRecord
from fakekube.kubelet import FakeKubelet
from fakekube.processes import PodProcess

__all__ = ["FakeApiServer", "FakeKubelet", "PodProcess", "RequestRecord"]
