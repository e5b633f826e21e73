"""The one error type for bad user input, and the helpers that keep its messages to one line each."""
from __future__ import annotations

import difflib
import reprlib
from typing import Any, Iterable

__all__ = ["DocrobustError", "cap_problems", "shown", "suggest"]


class DocrobustError(Exception):
    """Bad user input: one line per problem, shown without a traceback by the CLI."""

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 8, 4, 60, 60


def shown(value: Any) -> str:
    """A value in a one-line message: its repr, shortened (a 1,000-deep list or a 1 MB string stays short)."""
    return _REPR.repr(value)


def cap_problems(problems: Iterable[str], limit: int = 20, source: str | None = None) -> list[str]:
    """The first `limit` problems, then one line saying how many more there are ('... and 3,826 more problems')."""
    shown: list[str] = []
    more = 0
    for problem in problems:
        if len(shown) < limit:
            shown.append(problem)
        else:
            more += 1
    if more:
        shown.append(f"{source + ': ' if source else ''}... and {more:,} more problem{'s' if more > 1 else ''}")
    return shown


def suggest(name: Any, known: Iterable) -> str:
    """` (did you mean 'x'?)` for the closest known name, or nothing when none is close."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
