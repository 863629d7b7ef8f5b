"""Sizes as the emulator's flags read and show them, and how the caps are reported at start-up."""

import pytest

from dynamic_sessions.emulator.sandbox.caps import Caps, Enforcement, parse_size, show_size


@pytest.mark.parametrize(
    ("text", "size"), [("65536", 65536), ("512M", 512 << 20), ("1G", 1 << 30), ("1GiB", 1 << 30), ("2k", 2048)]
)
def test_sizes_are_read_in_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", [" 1T ", "1tb", "1 g"])
def test_sizes_allow_spaces_either_case_and_a_b_or_ib_suffix(text):
    assert parse_size(text) == parse_size(text.strip().replace(" ", "").upper().removesuffix("B"))


@pytest.mark.parametrize("text", ["lots", "1.5G", "-1M", "1P", "", "G"])
def test_a_bad_size_is_refused_naming_the_value_and_what_is_allowed(text):
    with pytest.raises(ValueError, match="is not a size: use bytes or a number with K, M, G or T") as refused:
        parse_size(text)
    assert repr(text) in str(refused.value) and "1G" in str(refused.value)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (1 << 30, "1 GiB"),
        (3 << 30, "3 GiB"),
        (512 << 20, "512 MiB"),
        ((1 << 30) + (1 << 20), "1025 MiB"),
        (1000, "1000 bytes"),
    ],
)
def test_sizes_are_shown_in_the_largest_whole_unit(size, shown):
    assert show_size(size) == shown


def test_a_session_is_capped_by_default_at_1_gib_256_tasks_256_mib_of_tmp_and_1_gib_of_data():
    caps = Caps()
    assert (caps.memory, caps.processes, caps.tmp, caps.data, caps.enabled) == (1 << 30, 256, 256 << 20, 1 << 30, True)


def test_enforcement_lines_name_each_held_cap_then_each_missing_one_with_why():
    enforcement = Enforcement(held={"memory": "1 GiB per session"}, missing={"cpu": "no cpu cgroup"})
    assert enforcement.lines() == ["cap memory: 1 GiB per session", "cap cpu: NOT ENFORCED: no cpu cgroup"]
