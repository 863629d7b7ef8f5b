"""The execution history as data: what the ledger keeps per session and in total, and what it weighs."""

from collections import OrderedDict

from dynamic_sessions.emulator.api.history import ENTRY_BYTES, Ledger, weight


def _resource(execution_id: str, stdout_chars: int) -> dict:
    return {"id": execution_id, "status": "Succeeded", "result": {"stdout": "o" * stdout_chars, "stderr": ""}}


def test_history_keeps_bounded_bytes_per_session_and_in_total():
    each = weight("a0", _resource("a0", 3000))  # about 3,000 bytes of output and what holds them
    ledger = Ledger(per_session=3 * each + 100, total=7 * each, count_per_session=100)
    first: OrderedDict = OrderedDict()
    second: OrderedDict = OrderedDict()
    for i in range(10):
        ledger.keep(first, f"a{i}", _resource(f"a{i}", 3000))
    assert list(first) == ["a7", "a8", "a9"]  # the newest that fit in one session's share
    for i in range(10):
        ledger.keep(second, f"b{i}", _resource(f"b{i}", 3000))
    assert ledger.held <= 7 * each
    assert list(second) == ["b7", "b8", "b9"]
    assert len(first) + len(second) == 6 and "a9" in first  # the total fits both
    ledger.keep(second, "big", _resource("big", 5 * each))  # over one session's share: kept alone
    assert list(second) == ["big"] and ledger.held <= 7 * each + weight("big", _resource("big", 5 * each))
    ledger.release(second)
    assert second == OrderedDict() and ledger.held == sum(weight(k, r) for k, r in first.items())


def test_history_drops_the_oldest_across_sessions_when_the_total_is_reached():
    each = weight("s0", _resource("s0", 3000))
    ledger = Ledger(per_session=3 * each, total=3 * each + 100, count_per_session=100)
    sessions: list[OrderedDict] = [OrderedDict() for _ in range(4)]
    for n, history in enumerate(sessions):
        ledger.keep(history, f"s{n}", _resource(f"s{n}", 3000))
    assert [len(h) for h in sessions] == [0, 1, 1, 1] and ledger.held <= 3 * each + 100


def test_history_caps_the_count_per_session():
    ledger = Ledger(count_per_session=3)
    history: OrderedDict = OrderedDict()
    for i in range(5):
        ledger.keep(history, str(i), _resource(str(i), 1))
    assert list(history) == ["2", "3", "4"]


def test_keeping_an_id_again_replaces_it_and_counts_it_once():
    ledger = Ledger()
    history: OrderedDict = OrderedDict()
    ledger.keep(history, "op", _resource("op", 10))
    ledger.keep(history, "other", _resource("other", 10))
    ledger.keep(history, "op", _resource("op", 2000))
    assert list(history) == ["other", "op"] and history["op"]["result"]["stdout"] == "o" * 2000
    assert ledger.held == weight("other", _resource("other", 10)) + weight("op", _resource("op", 2000))


def test_releasing_a_session_forgets_only_its_own_entries():
    ledger = Ledger()
    ended: OrderedDict = OrderedDict()
    living: OrderedDict = OrderedDict()
    ledger.keep(ended, "e", _resource("e", 100))
    ledger.keep(living, "l", _resource("l", 100))
    ledger.release(ended)
    assert ended == OrderedDict() and list(living) == ["l"]
    assert ledger.held == weight("l", _resource("l", 100))
    ledger.release(living)
    assert ledger.held == 0


def test_one_entry_over_the_share_of_its_session_is_still_kept():
    ledger = Ledger(per_session=10, total=10_000_000)
    history: OrderedDict = OrderedDict()
    ledger.keep(history, "huge", _resource("huge", 50_000))
    assert list(history) == ["huge"]


def test_weight_counts_the_output_it_holds_and_the_entry_around_it():
    small, large = weight("x", _resource("x", 10)), weight("x", _resource("x", 100_010))
    assert large - small >= 100_000
    assert small >= ENTRY_BYTES


def test_weight_counts_a_nested_result_and_an_error():
    flat = weight("x", {"result": {"executionResult": 1}})
    nested = weight("x", {"result": {"executionResult": [{"k": "v" * 5000}] * 3}})
    assert nested - flat >= 5000
    with_error = weight("x", {"result": {}, "error": {"message": "e" * 4000}})
    assert with_error - weight("x", {"result": {}}) >= 4000
