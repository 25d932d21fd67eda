"""A credential report as GetCredentialReport returns it: 22 columns, one row per user.

Each row is written as its 22 values, joined with commas and no quoting, as moto does:

* ``alice.keys``: console password last used, MFA, two keys: key 1 Active and used, key 2
  Inactive and never used.
* ``bob.console``: a console password never used (``no_information``), no key.
* ``carol.ci``: no password (``N/A``), one Active key never used.
* ``erin.idle``: no password, no key, no MFA: not enabled.
* ``dave,contractor``: a name with a comma, so its row has 24 fields: unusable. ``dave`` is
  another user, whose own row follows: it keeps its own facts.
* ``frank.new`` exists (see ``iam_users``) but is newer than the report.
"""

COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)

ARN = "arn:aws:iam::123456789012:"
NO_KEY = ("false", "N/A", "N/A", "N/A", "N/A")
NO_CERTS = ("false", "N/A", "false", "N/A")

ROWS = [
    (
        "<root_account>", ARN + "root", "2019-03-01T08:00:00+00:00",
        "not_supported", "2024-11-02T10:00:00+00:00", "not_supported", "not_supported",
        "true", *NO_KEY, *NO_KEY, *NO_CERTS,
    ),
    (
        "alice.keys", ARN + "user/eng/alice.keys", "2023-01-10T09:00:00+00:00",
        "true", "2024-11-20T07:45:12+00:00", "2024-06-01T12:00:00+00:00",
        "2024-08-30T12:00:00+00:00",
        "true",
        "true", "2023-01-10T09:05:00+00:00", "2024-11-21T18:30:45+00:00", "eu-west-1", "s3",
        "false", "2023-09-14T16:20:30+00:00", "N/A", "N/A", "N/A",
        *NO_CERTS,
    ),
    (
        "bob.console", ARN + "user/bob.console", "2023-02-01T10:00:00+00:00",
        "true", "no_information", "2023-02-01T10:00:05+00:00", "N/A",
        "false", *NO_KEY, *NO_KEY, *NO_CERTS,
    ),
    (
        "carol.ci", ARN + "user/carol.ci", "2023-03-05T11:00:00+00:00",
        "false", "N/A", "N/A", "N/A",
        "false",
        "true", "2023-03-05T11:01:02+00:00", "N/A", "N/A", "N/A",
        *NO_KEY, *NO_CERTS,
    ),
    (
        "erin.idle", ARN + "user/erin.idle", "2023-04-01T00:00:00+00:00",
        "false", "N/A", "N/A", "N/A",
        "false", *NO_KEY, *NO_KEY, *NO_CERTS,
    ),
    (
        "dave,contractor", ARN + "user/dave,contractor", "2023-05-01T00:00:00+00:00",
        "true", "2024-10-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00", "N/A",
        "true",
        "true", "2023-05-01T00:00:01+00:00", "2024-10-02T00:00:00+00:00", "us-east-1", "iam",
        *NO_KEY, *NO_CERTS,
    ),
    (
        "dave", ARN + "user/dave", "2023-05-02T00:00:00+00:00",
        "false", "N/A", "N/A", "N/A",
        "false", *NO_KEY, *NO_KEY, *NO_CERTS,
    ),
]  # fmt: skip

assert all(len(row) == len(COLUMNS) for row in ROWS)

CREDENTIAL_REPORT = "".join(",".join(line) + "\n" for line in [COLUMNS, *ROWS]).encode()
