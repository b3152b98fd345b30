"""`pandas`, imported the first time something of it is used.

The command line's `ingest` and `status` never touch pandas (0.3 s and about 100 MB of a process
that runs for a second); the modules they import use pandas elsewhere, so they take it from here:
`from .lazy import pandas as pd` reads like the real import and costs nothing until `pd.DataFrame`
or any other attribute is first asked for."""

from __future__ import annotations

import importlib
from typing import Any


class _Lazy:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported when first used>"


pandas: Any = _Lazy("pandas")
