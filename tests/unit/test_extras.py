"""The one-line message for a missing extra: what needs it, the modules missing, and the install command."""

from dynamic_sessions.extras import install_command, missing_extra_message


def test_one_missing_module_is_named_in_the_singular():
    said = missing_extra_message("python -m smoke", "httpx", "client")
    assert (
        said
        == "python -m smoke needs httpx, which is not installed; install the 'client' extra: "
        + install_command("client")
    )


def test_several_missing_modules_are_named_in_the_plural():
    said = missing_extra_message("the emulator", "uvicorn, starlette", "emulator")
    assert said.startswith("the emulator needs uvicorn, starlette, which are not installed; install the 'emulator'")
