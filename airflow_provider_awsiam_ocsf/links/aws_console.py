"""Extra link from the listing task to the account's IAM users page in the AWS console."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_awsiam_ocsf.arn import console_host

XCOM_KEY = "iam_console_partition"


class IamUsersConsoleLink(BaseOperatorLink):
    """IAM > Users in the console of the account's partition (aws, aws-us-gov, aws-cn)."""

    name = "AWS IAM users"

    @staticmethod
    def persist(context: Any, partition: str) -> None:
        context["ti"].xcom_push(key=XCOM_KEY, value=partition)

    @staticmethod
    def url_for(partition: str) -> str:
        return f"https://{console_host(partition)}/iam/home#/users"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        partition = XCom.get_value(key=XCOM_KEY, ti_key=ti_key)
        return self.url_for(partition) if partition else ""
