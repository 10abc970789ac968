"""A shared base for objects that own a loaded model: ``with Detector() as d:`` closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ModelResource:
    """The context-manager protocol over ``close()``, which each model owner defines."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
