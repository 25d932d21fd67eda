"""Errors that tell the user what to fix."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class NoAwsCredentialsError(AirflowFailException):
    def __init__(self, aws_conn_id: str | None) -> None:
        super().__init__(
            f"No AWS credentials found for Airflow connection {aws_conn_id!r}. Configure it "
            "(Admin > Connections, type 'Amazon Web Services') with an access key id and secret as "
            "login/password, or a 'profile_name' or 'role_arn' in its extra, or give the "
            "workers an "
            "instance/pod role. See the README section 'Configure the aws connection'."
        )


class CorruptCheckpointError(AirflowFailException):
    def __init__(self, key: str, value: object, reason: str) -> None:
        super().__init__(
            f"Airflow Variable {key!r} holds {value!r}, which is not a checkpoint ({reason}). "
            f"Reset it with `airflow variables delete {key}` (the next incremental run then "
            f"collects every user) or `airflow variables set {key} 2026-01-01T00:00:00+00:00`."
        )


class CorruptStateError(AirflowFailException):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(
            f"Airflow Variable {key!r} is not a destination state ({reason}). Reset it with "
            f"`airflow variables delete {key}`: the next run then sends every user to that sink "
            "again (the other sinks are not affected)."
        )
