"""Which backend the pytest fixture picks: the emulator as a process, or its container image."""

from typing import cast

import pytest

from dynamic_sessions import pytest_plugin


class Settings:
    """What `chosen_backend` reads of pytest's configuration."""

    def __init__(self, backend: str | None = None, emulator_args: tuple[str, ...] = (), image: str = ""):
        self.options = {"dynamic_sessions_backend": backend}
        self.ini = {"dynamic_sessions_emulator_args": list(emulator_args), "dynamic_sessions_image": image}

    def getoption(self, name):
        return self.options[name]

    def getini(self, name):
        return self.ini[name]


def config(backend: str | None = None, emulator_args: tuple[str, ...] = (), image: str = "") -> pytest.Config:
    return cast(pytest.Config, Settings(backend, emulator_args, image))


@pytest.fixture
def installed(monkeypatch):
    """Which programs `shutil.which` finds; none unless listed."""
    found: set[str] = set()
    monkeypatch.setattr(pytest_plugin.shutil, "which", lambda name: f"/usr/bin/{name}" if name in found else None)
    monkeypatch.setattr(
        pytest_plugin.container.shutil, "which", lambda name: f"/usr/bin/{name}" if name in found else None
    )
    for name in ("DYNAMIC_SESSIONS_BACKEND", "DYNAMIC_SESSIONS_IMAGE", "DYNAMIC_SESSIONS_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    return found


def test_with_bubblewrap_the_emulator_runs_as_a_process(installed):
    installed |= {"bwrap", "docker"}
    assert pytest_plugin.chosen_backend(config()) == ("process", "bubblewrap is installed")


def test_without_bubblewrap_the_image_runs_on_the_engine_found_and_says_which(installed):
    installed |= {"podman"}
    assert pytest_plugin.chosen_backend(config()) == ("image", "bubblewrap is not installed; podman is")
    installed |= {"docker"}
    assert pytest_plugin.chosen_backend(config())[1].endswith("docker is")


def test_without_either_the_emulator_says_what_to_install(installed):
    assert pytest_plugin.chosen_backend(config())[0] == "process"
    installed |= {"docker"}
    assert pytest_plugin.chosen_backend(config(emulator_args=("--unsandboxed",)))[0] == "process"


def test_the_option_or_the_variable_chooses(installed, monkeypatch):
    installed |= {"bwrap"}
    assert pytest_plugin.chosen_backend(config(backend="image")) == ("image", "as asked")
    monkeypatch.setenv("DYNAMIC_SESSIONS_BACKEND", "image")
    assert pytest_plugin.chosen_backend(config()) == ("image", "as asked")
    monkeypatch.setenv("DYNAMIC_SESSIONS_BACKEND", "vm")
    with pytest.raises(pytest.UsageError, match="DYNAMIC_SESSIONS_BACKEND='vm' is not a backend"):
        pytest_plugin.chosen_backend(config())


def test_the_image_is_the_variables_then_the_ini_settings_then_the_local_build(monkeypatch):
    monkeypatch.delenv("DYNAMIC_SESSIONS_IMAGE", raising=False)
    assert pytest_plugin.chosen_image(config()) == "dynamic-sessions-emulator"
    assert pytest_plugin.chosen_image(config(image="ghcr.io/o/r/emulator:1")) == "ghcr.io/o/r/emulator:1"
    monkeypatch.setenv("DYNAMIC_SESSIONS_IMAGE", "mine:dev")
    assert pytest_plugin.chosen_image(config(image="ghcr.io/o/r/emulator:1")) == "mine:dev"


def test_the_image_backend_hands_the_engine_args_setting_to_the_engine(installed, monkeypatch):
    installed |= {"podman"}
    started: list[dict] = []

    class Started:
        endpoint, mcp_endpoint, announced = "http://127.0.0.1:1", None, {}

        def __init__(self, engine, image, *flags, **options):
            started.append({"engine": engine, "image": image, **options})

    monkeypatch.setattr(pytest_plugin.container, "RunningImage", Started)
    settings = Settings("image")
    settings.ini |= {"dynamic_sessions_engine_args": ["-v", "cache:/home/emulator/.cache", "-e", "PIP_CERT=/ca"]}
    settings.ini |= {"dynamic_sessions_container_type": "NodeLTS", "dynamic_sessions_python_packages": ""}
    pytest_plugin.EmulatedPools(cast(pytest.Config, settings)).get("PythonLTS")
    assert started[0]["engine"] == "podman"
    assert started[0]["engine_options"] == ("-v", "cache:/home/emulator/.cache", "-e", "PIP_CERT=/ca")
