"""Emulator fixtures the test modules share; a module sets its own flags by overriding `emulator_flags`
or `launch_flags`."""

from collections.abc import Callable, Iterator

import pytest

from tests.emulator_process import Emulator, serving


@pytest.fixture(scope="module")
def emulator_flags() -> tuple[str, ...]:
    return ("--max-sessions", "40")


@pytest.fixture(scope="module")
def emulator(emulator_flags: tuple[str, ...]) -> Iterator[Emulator]:
    """One emulator the whole module shares."""
    yield from serving(*emulator_flags)


@pytest.fixture
def launch_flags() -> tuple[str, ...]:
    """What every emulator `launch` starts is given before the test's own flags."""
    return ()


@pytest.fixture
def launch(launch_flags: tuple[str, ...]) -> Iterator[Callable[..., Emulator]]:
    """Starts emulators with given flags; every one is stopped after the test, whatever happened."""
    started: list[Emulator] = []

    def start(*flags: str) -> Emulator:
        started.append(Emulator(*launch_flags, *flags))
        return started[-1]

    yield start
    for running in started:
        running.stop()
