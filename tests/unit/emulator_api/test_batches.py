"""The MCP endpoint's per-request bounds as data: a batch's size, and the answer bytes one request and all requests
in progress may hold."""

from dynamic_sessions.emulator.api.batches import (
    MAX_BATCH_MESSAGES,
    MAX_REQUEST_ANSWER_BYTES,
    AnswerBudget,
    Answers,
    batch_refusal,
)

MIB = 1024 * 1024


def test_a_batch_up_to_the_cap_is_accepted_and_one_past_it_is_refused_naming_the_cap():
    assert batch_refusal([{}] * MAX_BATCH_MESSAGES) is None
    refused = batch_refusal([{}] * (MAX_BATCH_MESSAGES + 1))
    assert refused is not None
    assert f"at most {MAX_BATCH_MESSAGES} messages" in refused and f"has {MAX_BATCH_MESSAGES + 1}" in refused


def test_an_empty_batch_is_refused():
    assert batch_refusal([]) == "An empty batch."


def test_the_first_answer_is_always_kept_however_large():
    answers = Answers(AnswerBudget(total=MIB), most=MIB)
    assert answers.refusal() is None
    answers.add(b"x" * (3 * MIB))
    assert answers.size == 3 * MIB


def test_a_request_runs_no_further_message_once_its_answers_reach_its_cap():
    answers = Answers(AnswerBudget(), most=10)
    answers.add(b"x" * 9)
    assert answers.refusal() is None
    answers.add(b"x")
    refusal = answers.refusal()
    assert refusal is not None and "a request may hold 10 bytes" in refusal


def test_no_request_runs_a_further_message_while_all_requests_hold_the_total():
    budget = AnswerBudget(total=100)
    first, second = Answers(budget), Answers(budget)
    first.add(b"x" * 100)
    second.add(b"y")
    refusal = second.refusal()
    assert refusal is not None and "the most the server holds is 100 bytes" in refusal
    first.release()
    assert second.refusal() is None
    assert budget.held == 1


def test_release_gives_every_byte_back_once():
    budget = AnswerBudget()
    answers = Answers(budget)
    answers.add(b"x" * 5)
    answers.add(b"y" * 7)
    answers.release()
    answers.release()
    assert (budget.held, answers.size, answers.parts) == (0, 0, [])


def test_the_per_request_cap_is_below_the_total():
    assert AnswerBudget().total > MAX_REQUEST_ANSWER_BYTES
