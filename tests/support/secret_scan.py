"""Finding secrets in what a run leaves behind: files, and every table of the Airflow metadata DB.

A secret is looked for as written and in the encodings it could leak in: URL-encoded (a query
string, a form body), and base64 (an HTTP Basic header, a pickled or encoded blob) at each of the
three alignments it can have inside a longer base64 text, in the standard and the URL-safe
alphabets. The scanner reports where it found each one; :func:`scan` is pure so a test can prove it
finds a planted secret.
"""

from __future__ import annotations

import base64
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, quote_plus


class Hit(NamedTuple):
    secret: str  # the secret's name, never its value
    encoding: str
    artifact: str
    context: str  # the text around the hit, the secret itself replaced by its name


def encodings(secret: str) -> dict[str, str]:
    """The forms of ``secret`` to look for, by name (forms equal to another are dropped)."""
    raw = secret.encode()
    forms = {
        "plain": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
    }
    for shift in range(3):
        # Inside a longer base64 text the secret starts at byte ``shift`` of a 3-byte group: keep
        # only the characters that encode the secret's own bits.
        start, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        for alphabet, encode in (
            ("base64", base64.b64encode),
            ("base64url", base64.urlsafe_b64encode),
        ):
            forms[f"{alphabet}+{shift}"] = encode(b"\0" * shift + raw).decode()[start:end]
    unique: dict[str, str] = {}
    for name, form in forms.items():
        if form not in unique.values():
            unique[name] = form
    return unique


def scan(artifacts: Iterable[tuple[str, str]], secrets: dict[str, str]) -> list[Hit]:
    """Every occurrence of every form of every secret in the (name, text) ``artifacts``."""
    needles = [
        (name, encoding, form)
        for name, secret in secrets.items()
        for encoding, form in encodings(secret).items()
    ]
    hits = []
    for artifact, text in artifacts:
        for name, encoding, form in needles:
            at = text.find(form)
            if at >= 0:
                context = text[max(0, at - 80) : at + len(form) + 80].replace(form, f"<{name}>")
                hits.append(Hit(name, encoding, artifact, context))
    return hits


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            data = zlib.decompress(data)  # e.g. serialized DAGs are stored compressed
        except zlib.error:
            pass
        return data.decode("utf-8", "replace")
    return "" if value is None else str(value)


def file_artifacts(root: Path, skip: Iterable[Path] = ()) -> Iterator[tuple[str, str]]:
    """Every file below ``root`` (but ``skip``) as (path, text)."""
    skipped = {p.resolve() for p in skip}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.resolve() not in skipped:
            yield str(path), path.read_bytes().decode("utf-8", "replace")


def sqlite_artifacts(db: Path, skip_tables: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """Every row of every table of a SQLite database (but ``skip_tables``) as
    ("db:<table>", text), one artifact per table."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name not in skip_tables
        ]
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"')
            yield f"db:{table}", "\n".join("\t".join(_text(value) for value in row) for row in rows)
