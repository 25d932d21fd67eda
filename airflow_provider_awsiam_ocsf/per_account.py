"""Several accounts in one task: read on a few threads, each failure kept to its own account.

A task instance that holds many accounts (list_users reads up to ``accounts_per_task``, a batch
of enrich_users holds the users of several) must not let one account's failure take the others
down, nor fail the whole task for one account: Airflow would then retry every account of it.
So each account's work runs on its own, with its own hook (its own boto3 session and client,
and botocore's retries: IAM throttles per account, so accounts in parallel do not throttle each
other), and what it raises is returned as that account's outcome.

Retries, decided here for every stage:

- botocore retries throttling and 5xx within each call (``standard`` mode, 10 attempts);
- an account that still fails with a transient error (anything but an ``AirflowFailException``:
  throttled past those retries, a connection lost) while others of the task succeeded is tried
  once more in the same task, after the others are done and a short pause (:data:`RETRY_PAUSE`);
- what is still failing then is the caller's: when *every* account of the task failed, the task
  raises and Airflow's own task retries (minutes apart) take over; when some succeeded, the task
  hands on theirs and records the failed ones, which the run's commit names (the run fails, their
  state stays, the next run catches them up). A refusal (``AirflowFailException``: AssumeRole
  denied, a corrupt state) is never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from airflow.providers.common.compat.sdk import AirflowFailException

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# Seconds between the first pass over a task's accounts and the second try of the failed ones.
RETRY_PAUSE = 5.0
DEFAULT_CONCURRENCY = 8


def is_permanent(error: BaseException) -> bool:
    """A refusal no retry fixes (the project raises those as ``AirflowFailException``)."""
    return isinstance(error, AirflowFailException)


def run_per_account(
    work: Mapping[K, Callable[[], T]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry_pause: float | None = None,
) -> dict[K, T | Exception]:
    """Run each account's ``work`` on at most ``concurrency`` threads; its result, or the
    exception it raised (after one more try for a transient one), per account, in ``work``'s
    order. The work must not call Airflow (connections, Variables, XCom): only AWS."""
    outcomes = _run(work, concurrency)
    again = {
        k: work[k] for k, v in outcomes.items() if isinstance(v, Exception) and not is_permanent(v)
    }
    succeeded = any(not isinstance(v, Exception) for v in outcomes.values())
    if again and succeeded:  # when none succeeded, the task fails and Airflow retries it
        time.sleep(RETRY_PAUSE if retry_pause is None else retry_pause)
        outcomes.update(_run(again, concurrency))
    return {k: outcomes[k] for k in work}


def _run(work: Mapping[K, Callable[[], T]], concurrency: int) -> dict[K, T | Exception]:
    def attempt(fn: Callable[[], T]) -> T | Exception:
        try:
            return fn()
        except Exception as error:  # the account's outcome; BaseException (a kill) goes up
            return error

    if len(work) == 1 or concurrency <= 1:
        return {k: attempt(fn) for k, fn in work.items()}
    with ThreadPoolExecutor(max_workers=min(concurrency, len(work))) as pool:
        futures = {k: pool.submit(attempt, fn) for k, fn in work.items()}
        return {k: f.result() for k, f in futures.items()}


def first_failure(outcomes: Mapping[K, object]) -> Exception | None:
    """What to raise when every account failed: a transient error first (so that Airflow
    retries the task), else the first refusal."""
    errors = [v for v in outcomes.values() if isinstance(v, Exception)]
    transient = [e for e in errors if not is_permanent(e)]
    return (transient or errors)[0] if errors else None
