"""tests/conftest.py's guard around `compile`: an AST built while the collector frees garbage whose finalizer
formats a traceback (which parses source too) is built whole, where Python 3.11 alone fails it."""

import ast
import gc
import sys
import traceback

import pytest

SOURCE = "\n".join(
    f"def f{i}(a, b):\n    return [a + b * {i} for _ in range(3)] if a else {{'k': (a, b)}}" for i in range(300)
)


class Failing:
    """Cyclic garbage whose finalizer raises: the unraisable hook below formats the error."""

    def __del__(self) -> None:
        values = [1]
        values.append(values[0] + (values[0] * 2) // 0)


def test_an_ast_is_built_whole_while_finalizers_format_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "unraisablehook", lambda u: traceback.format_exception(u.exc_type, u.exc_value, u.exc_traceback)
    )
    thresholds = gc.get_threshold()
    gc.set_threshold(50, 1, 1)
    try:
        for _ in range(20):
            for _ in range(50):
                garbage = Failing()
                garbage.me = garbage  # type: ignore[attr-defined]
                del garbage
            assert isinstance(ast.parse(SOURCE), ast.Module)
    finally:
        gc.set_threshold(*thresholds)
        gc.collect()
