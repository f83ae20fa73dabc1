"""How long to wait before asking a busy server again, and when to give up."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import Busy

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a :class:`Busy` answer (429/503) up to ``attempts`` times, waiting what its
    ``Retry-After`` says (else ``backoff`` doubled each time), never longer than ``max_wait``
    seconds at once. Nothing else is retried: the other errors would not change."""

    attempts: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    def delay(self, error: Busy, attempt: int) -> float | None:
        """Seconds before retry number ``attempt + 1`` (0-based), or ``None`` to give up."""
        if attempt >= self.attempts:
            return None
        wanted = error.retry_after if error.retry_after is not None else self.backoff * 2**attempt
        return min(wanted, self.max_wait)
