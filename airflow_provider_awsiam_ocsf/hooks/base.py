"""What this provider's AWS hooks add to the amazon provider's ``AwsBaseHook``.

Connection handling (keys, profile, assume-role, ``endpoint_url``, region, ``config_kwargs``) is
inherited. Added: a count of the calls made by API action (for the run summary and the
benchmark), a default retry policy for throttling, and a clear error when there are no
credentials.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from typing import Any

import boto3
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook, SessionFactory
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from airflow.providers.common.compat.sdk import mask_secret
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from botocore.loaders import Loader, create_loader

from airflow_provider_awsiam_ocsf.errors import NoAwsCredentialsError

# IAM and Organizations throttle without publishing a rate; "standard" retries Throttling (and
# TooManyRequestsException) with jittered exponential backoff. A connection's own
# ``config_kwargs.retries`` wins over this default.
DEFAULT_RETRIES = {"mode": "standard", "max_attempts": 10}


# What a later try may not meet again: throttling, the service failing or busy. botocore's
# retries have already been spent on these when they reach our code, so they fail the task and
# Airflow's task retries take over; they never degrade a fact or conclude anything.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ServiceFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "IDPCommunicationError",
    }
)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def is_transient(error: ClientError) -> bool:
    """A throttling or server-side error (by code, or HTTP 429/5xx), not a refusal."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return error_code(error) in TRANSIENT_CODES or status == 429 or status >= 500


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message") or str(error)


# The temporary keys in an STS answer (AssumeRole and its SAML and web-identity kinds), as XML
# (STS's query protocol) or JSON.
_STS_SECRETS = re.compile(
    rb"<(?:AccessKeyId|SecretAccessKey|SessionToken)>([^<]+)<"
    rb'|"(?:AccessKeyId|SecretAccessKey|SessionToken)"\s*:\s*"([^"]+)"'
)


def secrets_in_sts_answer(body: bytes | str) -> list[str]:
    """The access key id, secret key and session token an STS answer's body carries."""
    if isinstance(body, str):
        body = body.encode()
    return [(m.group(1) or m.group(2)).decode() for m in _STS_SECRETS.finditer(body)]


def botocore_prints_keys() -> bool:
    """Whether botocore logs at DEBUG, the only level at which it prints keys: each STS answer's
    body, and the key id and session token in every request's headers.

    Temporary keys are masked only then. Each secret new to Airflow's masker recompiles one regex
    of every secret it holds, so masking the keys of each role assumed costs time quadratic in
    the roles a process assumes: 100 member accounts ~15 s, 250 ~90 s (measured on 3.3.2), and
    ``airflow dags test`` runs every task in one process. At INFO nothing prints them.
    """
    return logging.getLogger("botocore").isEnabledFor(logging.DEBUG)


# Accounts are read on threads of one task (list_users, enrich_users); masking a secret may send
# a message to the task's supervisor, one at a time.
_MASKING = threading.Lock()


def mask_temporary_keys(keys: Iterable[str]) -> None:
    """Register temporary keys with Airflow's secrets masker when botocore could print them."""
    if botocore_prints_keys():
        with _MASKING:
            for secret in keys:
                mask_secret(secret)


def mask_sts_credentials(response_dict: dict[str, Any], **_: Any) -> None:
    """``before-parse.sts.*``: register the temporary keys of an STS answer with the masker
    before botocore's parser logs the body (at DEBUG, with the keys in clear)."""
    mask_temporary_keys(secrets_in_sts_answer(response_dict.get("body") or b""))


@cache
def shared_data_loader() -> Loader:
    """One botocore data loader for every session the provider makes in a process.

    Each botocore session otherwise parses the service models and endpoint data it needs itself
    (IAM's and STS's models, the endpoint rules: ~330 ms of CPU per member account's hook on this
    machine), and organisation mode makes a session for every account it reads. The loader only
    reads botocore's own data files and caches what it read, so sessions can share it.
    """
    return create_loader()


def share_data_loader(session: boto3.session.Session) -> boto3.session.Session:
    """Make ``session``'s clients load their models through :func:`shared_data_loader`.

    Called once the boto3 session exists, and before it makes a client: boto3 adds its own data
    folder (resource models, which the provider never uses) to the loader a session has when it is
    built, and would add it to the shared one again for every session.
    """
    session._session.register_component("data_loader", shared_data_loader())
    return session


def watch_sts_answers(session: boto3.session.Session) -> boto3.session.Session:
    """Mask the keys of every STS answer a client of ``session`` (made after this) receives."""
    session.events.register("before-parse.sts.*", mask_sts_credentials, unique_id=__name__)
    return session


class _MaskingSessionFactory(SessionFactory):  # type: ignore[misc, valid-type]
    """The amazon provider's session factory, its STS client's answers masked: it assumes a
    connection's ``role_arn`` itself, with an STS client of :attr:`basic_session`."""

    @cached_property
    def basic_session(self) -> boto3.session.Session:
        return watch_sts_answers(super().basic_session)


class CountingAwsHook(AwsBaseHook):
    """An ``AwsBaseHook`` whose client counts its calls by action in :attr:`calls`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()

    def _get_caller(self, target_function_name: str = "execute") -> str:
        """The operator named in the User-Agent of the hook's clients (``Caller/...``).

        The amazon provider finds it by walking the stack with ``inspect.stack()``, which reads
        the source of every frame: ~140 ms for each hook. On a thread of ``list_users`` or
        ``enrich_users`` (one hook per account) the walk finds no operator and no executor and
        answers ``Unknown``, so that is answered there without the walk.
        """
        if threading.current_thread() is not threading.main_thread():
            return "Unknown"
        return str(super()._get_caller(target_function_name))

    @property
    def config(self) -> Config:
        """The botocore config of the connection (or the hook's ``config``), with
        :data:`DEFAULT_RETRIES` when neither says how to retry."""
        config = super().config
        if config.retries is None:
            config = Config(retries=dict(DEFAULT_RETRIES)).merge(config)
        return config

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        """The connection, its keys masked in logs as soon as they are read.

        Airflow masks a connection's password and its extra's sensitive keys, so the secret key
        and ``aws_session_token`` are masked already; the access key id in ``login`` is not, and
        botocore's DEBUG log prints it in every request's ``Authorization`` header.
        """
        config = super().conn_config
        for value in (
            config.aws_access_key_id,
            config.aws_secret_access_key,
            config.aws_session_token,
        ):
            if value:
                mask_secret(value)
        return config

    def get_session(
        self, region_name: str | None = None, deferrable: bool = False
    ) -> boto3.session.Session:
        """The session ``AwsBaseHook.get_session`` makes, with the temporary keys of every STS
        answer masked: the connection's ``role_arn`` (assumed by the amazon provider, so no one
        else registers its keys, or those of each refresh) and the member roles of
        :class:`~airflow_provider_awsiam_ocsf.hooks.iam.IamHook`. botocore's DEBUG log prints
        each answer's body, and the key id and token in every request's headers."""
        session = _MaskingSessionFactory(
            conn=self.conn_config, region_name=region_name, config=self.config
        ).create_session(deferrable=deferrable)
        if isinstance(session, boto3.session.Session):
            watch_sts_answers(share_data_loader(session))
        return session

    @cached_property
    def client(self):
        """The task's client; every call through it is counted by action."""
        client = self.conn
        self._count_calls_of(client)
        return client

    def _count_calls_of(self, client) -> None:
        # Once per API call (retries are below it), and before botocore's Stubber answers.
        client.meta.events.register("before-parameter-build", self._count_call)

    def _count_call(self, model, **_: Any) -> None:
        self.calls[model.name] += 1

    @contextmanager
    def _credentials_required(self) -> Iterator[None]:
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise NoAwsCredentialsError(self.aws_conn_id) from error
