"""The decrypt-retry policy (DESIGN.md section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from therabak.settings import RetrySettings


class OnFailure(StrEnum):
    RAW = "raw"  # store the still-sealed bytes, flagged raw (restorable on this account only)
    SKIP = "skip"  # leave the file out and report it
    ABORT = "abort"  # stop the backup; nothing is written


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    on_failure: OnFailure = OnFailure.RAW

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("at least one attempt")
        object.__setattr__(self, "on_failure", OnFailure(self.on_failure))

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after the failed *attempt* (1-based): doubling, capped."""
        return min(self.initial_delay_s * (2 ** (attempt - 1)), self.max_delay_s)

    @classmethod
    def from_settings(cls, s: RetrySettings) -> RetryPolicy:
        return cls(
            attempts=s.attempts,
            initial_delay_s=s.initial_delay_s,
            max_delay_s=s.max_delay_s,
            on_failure=OnFailure(s.on_failure),
        )
