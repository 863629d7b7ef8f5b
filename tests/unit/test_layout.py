"""Every test file sits in one of the three layers (docs/quickstart.md, "Where a test goes")."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LAYERS = ("unit", "contract", "e2e")


def test_every_test_file_is_in_a_layer_folder():
    strays = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("test_*.py")
        if "vendor" not in path.parts and path.relative_to(TESTS).parts[0] not in LAYERS
    ]
    assert strays == []


def test_each_layer_holds_tests():
    assert all(any((TESTS / layer).rglob("test_*.py")) for layer in LAYERS)
