"""OCSF 1.6.0 User Inventory Info (class 5003) events and the mapping from IAM facts.

``to_ocsf_user_inventory`` is a pure function: IamUser in, event out. Fields whose fact is
unknown are left out (``exclude_none``), never guessed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_awsiam_ocsf import __version__
from airflow_provider_awsiam_ocsf.arn import account_id_of
from airflow_provider_awsiam_ocsf.inventory import IamUser

OCSF_VERSION = "1.6.0"
PRODUCT_NAME = "AWS IAM Asset Connector"

CLASS_UID = 5003
ACTIVITY_COLLECT = 2
USER_TYPE_IDS = {"User": 1, "Admin": 2}
AWS_ACCOUNT_TYPE_ID = 10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Product(_Strict):
    name: str = PRODUCT_NAME
    version: str = __version__


class Metadata(_Strict):
    product: Product = Product()
    version: str = OCSF_VERSION


class Account(_Strict):
    name: str
    uid: str
    type: Literal["AWS Account"] = "AWS Account"
    type_id: Literal[10] = AWS_ACCOUNT_TYPE_ID


class Group(_Strict):
    name: str
    uid: str | None = None
    privileges: list[str] | None = None


class Organization(_Strict):
    name: str
    uid: str


class User(_Strict):
    name: str
    uid: str
    uid_alt: str | None = None
    type: Literal["User", "Admin"] | None = None
    type_id: Literal[1, 2] | None = None
    has_mfa: bool | None = None
    account: Account
    groups: list[Group] | None = None
    org: Organization | None = None


class UserInventoryEvent(_Strict):
    activity_id: Literal[2] = ACTIVITY_COLLECT
    activity_name: Literal["Collect"] = "Collect"
    category_uid: Literal[5] = 5
    category_name: Literal["Discovery"] = "Discovery"
    class_uid: Literal[5003] = CLASS_UID
    class_name: Literal["User Inventory Info"] = "User Inventory Info"
    type_uid: Literal[500302] = CLASS_UID * 100 + ACTIVITY_COLLECT
    type_name: Literal["User Inventory Info: Collect"] = "User Inventory Info: Collect"
    severity_id: Literal[1] = 1
    severity: Literal["Informational"] = "Informational"
    time: int
    metadata: Metadata = Metadata()
    user: User

    def as_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


def _user_type(is_admin: bool | None) -> tuple[str | None, int | None]:
    if is_admin is None:
        return None, None
    name = "Admin" if is_admin else "User"
    return name, USER_TYPE_IDS[name]


def to_ocsf_user_inventory(user: IamUser) -> UserInventoryEvent:
    """The OCSF event for one IAM user (mapping table: README, "What is sent")."""
    account_id = account_id_of(user.arn)
    type_name, type_id = _user_type(user.is_admin)
    groups = None
    if user.groups is not None:
        # Sorted: IAM returns lists in no promised order, and re-runs must write identical bytes.
        groups = [
            Group(
                name=g.name,
                uid=g.arn or None,
                privileges=None if g.policy_names is None else sorted(g.policy_names),
            )
            for g in sorted(user.groups, key=lambda g: g.name)
        ]
    return UserInventoryEvent(
        time=int(user.created.timestamp() * 1000),
        user=User(
            name=user.name,
            uid=user.arn,
            uid_alt=user.user_id or None,
            type=type_name,
            type_id=type_id,
            has_mfa=user.has_mfa,
            account=Account(name=user.name, uid=user.arn),
            groups=groups,
            org=Organization(uid=account_id, name=f"AWS Account {account_id}")
            if account_id
            else None,
        ),
    )
