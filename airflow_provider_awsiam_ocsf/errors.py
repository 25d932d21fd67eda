"""Errors that tell the user what to fix."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowFailException


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


class S3SupportMissingError(AirflowFailException):
    def __init__(self, uri: str) -> None:
        super().__init__(
            f"output_uri {uri!r} is on S3, which needs s3fs on the workers: install "
            '"airflow-provider-awsiam-ocsf[s3]" (with the constraints file of your Airflow, see '
            "the README section 'Files on S3')."
        )


_ORGANISATION_SECTION = (
    "the README section 'Organisation-wide: every account of an AWS Organization'"
)


class MemberAccountUnreadableError(AirflowFailException):
    """``sts:AssumeRole`` into another account's role failed: that account cannot be read."""

    def __init__(self, account_id: str | None, role_arn: str, aws_code: str, message: str) -> None:
        self.account_id = account_id
        self.role_arn = role_arn
        self.aws_code = aws_code
        self.aws_message = message
        super().__init__(
            f"Cannot read AWS account {account_id}: sts:AssumeRole on {role_arn} failed "
            f"({aws_code}: {message}). Deploy the role in that account (the CloudFormation "
            "StackSet of "
            f"{_ORGANISATION_SECTION}), let its trust policy trust the principal of this "
            "connection, and let that principal call sts:AssumeRole on it; or check the "
            "`member_role_name` param if the accounts use another role name."
        )

    def __reduce__(self):
        return type(self), (self.account_id, self.role_arn, self.aws_code, self.aws_message)


class OrganizationAccountsUnreadableError(AirflowFailException):
    """``organizations:ListAccounts`` failed: the accounts of the organisation are unknown."""

    def __init__(self, aws_conn_id: str | None, aws_code: str, message: str) -> None:
        self.aws_code = aws_code
        self.aws_message = message
        super().__init__(
            f"Cannot list the accounts of the AWS Organization with connection {aws_conn_id!r} "
            f'({aws_code}: {message}). `accounts: "organization"` needs a connection to the '
            "management account or a delegated administrator account, allowed "
            f"organizations:ListAccounts (see {_ORGANISATION_SECTION}); or list the account ids "
            "in `accounts`."
        )
        self.aws_conn_id = aws_conn_id

    def __reduce__(self):
        return type(self), (self.aws_conn_id, self.aws_code, self.aws_message)


class MissingXComError(AirflowFailException):
    """A value another task handed on a reference to is not there: never read something else."""

    def __init__(self, task_id: str, key: str, map_index: int) -> None:
        where = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        super().__init__(
            f"XCom {key!r} of task instance {where} of this run is missing: it was cleared or "
            "never pushed. Clear the run's tasks from that one on (or re-run the DAG run), so "
            "that it pushes the value again."
        )


class IdentityCenterUnreadableError(AirflowFailException):
    """No IAM Identity Center instance could be read with the connection, in the region asked."""

    def __init__(self, aws_conn_id: str | None, region: str | None, reason: str) -> None:
        self.aws_conn_id, self.region, self.reason = aws_conn_id, region, reason
        super().__init__(
            f"Cannot read IAM Identity Center with connection {aws_conn_id!r} in region "
            f"{region!r}: {reason}. Identity Center is read from the account that holds the "
            "instance (the organisation's management account or its delegated administrator), in "
            "the instance's region: set the `identity_center_region` param or the connection "
            "extra `identity_center_region`, and allow sso:ListInstances and the other actions of "
            "the README section 'IAM Identity Center users'; or leave `identity_center` out of "
            "`identities`."
        )

    def __reduce__(self):
        return type(self), (self.aws_conn_id, self.region, self.reason)
