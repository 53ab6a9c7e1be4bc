"""Stand-ins for ``azure.identity`` credentials, so a notebook's credential
cell runs unchanged after ``azure.identity`` becomes ``pjob.identity``:

    from pjob.identity import DefaultAzureCredential, InteractiveBrowserCredential

pjob needs no Azure sign-in (a job runs on this machine, or on the cluster of
your kubeconfig), so every credential accepts Azure's arguments, signs in to
nothing, and ``get_token(...)`` succeeds with a placeholder token. They are
passed to ``pjob.sdk.MLClient`` (which ignores them) like Azure's.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

PLACEHOLDER_TOKEN = "pjob-no-azure-sign-in"
TOKEN_SECONDS = 3600


class AccessToken(NamedTuple):
    """Azure's ``azure.core.credentials.AccessToken``: ``(token, expires_on)``."""

    token: str
    expires_on: int


class _Credential:
    def __init__(self, *args: Any, **kwargs: Any):
        self._args, self._kwargs = args, kwargs  # Azure's options (tenant, client ids, ...) are accepted and unused

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(PLACEHOLDER_TOKEN, int(time.time()) + TOKEN_SECONDS)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}() (pjob: no Azure sign-in needed)"


class DefaultAzureCredential(_Credential):
    pass


class InteractiveBrowserCredential(_Credential):
    pass


class AzureCliCredential(_Credential):
    pass


class ManagedIdentityCredential(_Credential):
    pass


class ClientSecretCredential(_Credential):
    pass


class EnvironmentCredential(_Credential):
    pass


__all__ = [
    "AccessToken",
    "AzureCliCredential",
    "ClientSecretCredential",
    "DefaultAzureCredential",
    "EnvironmentCredential",
    "InteractiveBrowserCredential",
    "ManagedIdentityCredential",
]
