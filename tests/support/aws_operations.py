"""Which AWS operations the code makes, recorded from botocore itself: every client created while
:func:`recording_aws_operations` is active gets a ``before-send`` handler (once per HTTP attempt,
after signing), so nothing in the package is instrumented for tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple
from unittest import mock

import botocore.session

_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class Operation(NamedTuple):
    action: str  # as IAM policies name it, e.g. "iam:ListUsers"
    access_key_id: str  # of the credentials that signed it: tells principal from member role


@contextmanager
def recording_aws_operations() -> Iterator[list[Operation]]:
    """Yields the list every AWS request made (in this process) while active is appended to."""
    operations: list[Operation] = []
    create_client = botocore.session.Session.create_client

    def recording_create_client(session, *args, **kwargs):
        client = create_client(session, *args, **kwargs)
        prefix = client.meta.service_model.signing_name  # iam, sts, organizations…

        def record(request, event_name: str, **_) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            operations.append(Operation(f"{prefix}:{operation}", signer_of(request)))

        client.meta.events.register("before-send", record)
        return client

    with mock.patch.object(botocore.session.Session, "create_client", recording_create_client):
        yield operations


def signer_of(request) -> str:
    """The access key id that signed a botocore request (SigV4), or ``?``."""
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("ascii", "replace")
    signer = _SIGV4_CREDENTIAL.search(authorization)
    return signer[1] if signer else "?"


def assume_role_signers(hook) -> list[str]:
    """The access key id that signs each ``sts:AssumeRole`` an ``IamHook`` makes from now on
    (retries included): tells the connection's own keys from a member role's."""
    signers: list[str] = []
    hook.base_sts.meta.events.register(
        "before-send.sts.AssumeRole", lambda request, **_: signers.append(signer_of(request))
    )
    return signers
