"""The client's opt-in retry policy: what is worth another try, how long to pause, when to give up.

tenacity runs the loop (one policy for the sync and the async client); this module only decides.
Nothing is retried unless a policy is given to the client.
"""

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from dynamic_sessions.client.errors import ConnectFailed, ServiceUnavailable, SessionsError, Throttled


@dataclass(frozen=True)
class Wait:
    """One pause before another try, as told to `RetryPolicy.on_wait`."""

    error: SessionsError
    """What the last try ended with."""
    attempt: int
    """How many tries have been made (1 after the first)."""
    delay_s: float
    left_s: float | None
    """Seconds before the policy or the client's deadline gives up; None when only attempts bound it."""


class RetryPolicy:
    """Retries 429 (after its Retry-After when given), 5xx, and connections refused by remote hosts.

    A connection refused on loopback is not retried: nothing is listening there, and waiting will not
    start it. Read timeouts are not retried either: the request reached the pool and may have run.
    Pauses double from `backoff_s` with jitter (between half and all of the doubled value) up to
    `backoff_max_s`. It gives up after `attempts` tries, or when the next pause would end more than
    `timeout_s` after the first try began, or past the client's `deadline`; the last error is raised.
    Note that a 5xx answer to an execution may come after the code ran: a retry can run it again.
    """

    def __init__(
        self,
        *,
        attempts: int | None = 5,
        timeout_s: float | None = 60.0,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        on_wait: Callable[[Wait], None] | None = None,
    ):
        if attempts is not None and attempts < 1:
            raise ValueError(f"attempts={attempts} must be at least 1 (or None for no limit)")
        for name, value in (("timeout_s", timeout_s), ("backoff_s", backoff_s), ("backoff_max_s", backoff_max_s)):
            if value is not None and not 0 <= value < math.inf:
                none = " (or None for no limit)" if name == "timeout_s" else ""
                raise ValueError(f"{name}={value} is not allowed: a number of seconds, 0 or more{none}")
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.on_wait = on_wait

    def backoff(self, attempt: int) -> float:
        """The pause after `attempt` tries: doubling from `backoff_s`, capped, with jitter so that many
        clients failing together do not retry in step."""
        doubled = min(self.backoff_max_s, self.backoff_s * 2 ** min(attempt - 1, 32))
        return doubled * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)

    def delay(self, error: SessionsError, attempt: int, remote: bool) -> float | None:
        """The pause before another try after `error`, or None when another try is not worth it."""
        if isinstance(error, Throttled):
            return error.retry_after if error.retry_after is not None else self.backoff(attempt)
        if isinstance(error, ServiceUnavailable) or (isinstance(error, ConnectFailed) and remote):
            return self.backoff(attempt)
        return None

    def controller(self, remote: bool, deadline: Callable[[], float | None], asynchronous: bool) -> Any:
        """A tenacity `Retrying` (or `AsyncRetrying`) that asks this policy before each pause.

        `deadline` gives the client's `time.monotonic()` instant no retry may pass, read at each pause.
        """
        pending = 0.0  # the pause chosen for the failure at hand

        def worth_another_try(state: tenacity.RetryCallState) -> bool:
            nonlocal pending
            error = state.outcome.exception() if state.outcome else None
            delay = self.delay(error, state.attempt_number, remote) if isinstance(error, SessionsError) else None
            if delay is None:
                return False
            pending = delay
            return True

        def time_left(state: tenacity.RetryCallState) -> float | None:
            limits = [] if self.timeout_s is None else [state.start_time + self.timeout_s]
            end = deadline()
            if end is not None:
                limits.append(end)
            return min(limits) - time.monotonic() if limits else None

        def give_up(state: tenacity.RetryCallState) -> bool:
            if self.attempts is not None and state.attempt_number >= self.attempts:
                return True
            left = time_left(state)
            return left is not None and pending >= left

        def tell(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if self.on_wait is not None and isinstance(error, SessionsError):
                self.on_wait(Wait(error, state.attempt_number, pending, time_left(state)))

        kind = tenacity.AsyncRetrying if asynchronous else tenacity.Retrying
        return kind(
            retry=worth_another_try,
            wait=lambda _: pending,
            stop=give_up,
            before_sleep=tell,
            reraise=True,
        )
