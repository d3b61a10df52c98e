"""Fine-tuning data: the built-in questions, Alpaca and Dolly loaders, and the chat template."""

import functools
import json
import shutil
from pathlib import Path

import pytest
import torch

from aiayn.data.drills import REPEAT_KIND, REPEAT_QUESTION
from aiayn.data.chat import (
    CHAT_TOKENS,
    ChatError,
    chat_tokenizer,
    collate_chat,
    encode_chat,
    grow_vocabulary,
    prompt_ids,
)
from aiayn.data.instructions import (
    KINDS,
    QUESTIONS,
    PromptResponse,
    corpus_instructions,
    exact_match_by_kind,
    load_alpaca,
    load_dolly,
)
from aiayn.data.parallel import DataError
from aiayn.data.plays import POEMS, read_play, read_poem, split_of, titles
from aiayn.data.reading_questions import READING_KINDS
from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM

FIXTURES = Path(__file__).parent / "fixtures"


@functools.cache
def split_items(split: str) -> tuple[PromptResponse, ...]:
    return corpus_instructions(split)


def choices(item: PromptResponse) -> list[str]:
    return [line[2:] for line in item.prompt.split("\n\nChoices:\n")[1].split("\n")]


def test_each_split_asks_each_kind_of_question_from_its_own_works() -> None:
    """40 questions of each kind per held-out play; answers come from the split's works only."""
    names = titles()
    for split in ("validation", "test"):
        items = split_items(split)
        plays = [w for w in names if split_of(w) == split]
        assert len(plays) == 3 and all(w not in POEMS for w in plays)
        assert [sum(i.kind == k for i in items) for k in KINDS] == [40 * len(plays)] * len(KINDS)
        assert {i.response for i in items if i.kind == "title"} == {names[w] for w in plays}
        speakers = {s.speaker for w in plays for s in read_play(w)}
        assert {i.response for i in items if i.kind == "speaker"} <= speakers
        lines = {line for w in plays for s in read_play(w) for line in s.lines}
        assert {i.response for i in items if i.kind == "next_line"} <= lines
    train = split_items("train")
    assert not {i.prompt for i in train} & {i.prompt for i in split_items("test")}
    assert not {i.response for i in train if i.kind == "title"} & {names[w] for w in names if split_of(w) == "test"}
    assert any(i.kind == "next_line" and "Lucrece" in i.prompt for i in train)  # the poems train next_line


def test_questions_start_with_their_question_and_list_the_answer_once_among_the_choices() -> None:
    for item in split_items("test"):
        assert item.prompt.startswith(QUESTIONS[item.kind] + "\n\n")
        options = choices(item)
        assert len(options) == 3 and len(set(options)) == 3 and options.count(item.response) == 1
        assert item.choices == tuple(options)  # kept for scoring by likelihood
    open_items = corpus_instructions("test", per_work=5, n_choices=0)
    assert len(open_items) == 3 * len(KINDS) * 5 and not any("Choices:" in i.prompt for i in open_items)
    assert not any(i.choices for i in open_items)
    with pytest.raises(ValueError, match="n_choices must be 0"):
        corpus_instructions("test", n_choices=1)
    with pytest.raises(ValueError, match="split must be one of"):
        corpus_instructions("dev")


def test_a_next_line_question_is_three_lines_of_a_speech_and_the_line_after_them() -> None:
    item = next(i for i in split_items("test") if i.kind == "next_line")
    context = item.prompt.split("\n\n")[1].split("\n")
    spoken = [s.lines for w in titles() if split_of(w) == "test" for s in read_play(w)]
    assert any(
        list(lines[k : k + 4]) == [*context, item.response] for lines in spoken for k in range(len(lines) - 3)
    )


def passage(item: PromptResponse) -> list[str]:
    return item.prompt.split("\n\nChoices:\n")[0].split("\n\n", 1)[1].split("\n")


def test_reading_questions_are_answered_by_their_passage_alone() -> None:
    """In-passage: the answer is a passage line, no other choice is; first speaker: the first heading, the
    others shown later; missing word: the answer fills the blank to give back a passage line, no other does."""
    items = split_items("test")
    for item in (i for i in items if i.kind == "in_passage"):
        lines = passage(item)
        assert [c in lines for c in item.choices].count(True) == 1 and item.response in lines
    for item in (i for i in items if i.kind == "first_speaker"):
        headings = [line[:-1] for line in passage(item) if line.endswith(".") and line[:-1] in item.choices]
        assert headings[0] == item.response and headings.count(item.response) >= 1
        assert any(c != item.response and c in headings for c in item.choices)  # a wrong name is on show
    for item in (i for i in items if i.kind == "missing_word"):
        *lines, blank, blanked = passage(item)
        assert blank == "" and blanked.count("____") == 1
        assert [blanked.replace("____", c) in lines for c in item.choices] == [c == item.response for c in item.choices]
    train_lines = {line for i in split_items("train") if i.kind == "in_passage" for line in passage(i)}
    assert not {i.response for i in items if i.kind == "in_passage"} & train_lines  # held-out works only


def test_the_set_is_deterministic_and_the_seed_changes_it() -> None:
    assert corpus_instructions("validation", per_work=7) == corpus_instructions("validation", per_work=7)
    assert corpus_instructions("validation", per_work=7) != corpus_instructions("validation", per_work=7, seed=1)


def test_exact_match_compares_normalised_answers_per_kind() -> None:
    items = [PromptResponse("q", "LADY MACBETH", "speaker"), PromptResponse("q", "Macbeth", "title"),
             PromptResponse("q", "x", "title"), PromptResponse("q", "42")]  # fmt: skip
    scores = exact_match_by_kind(items, ["  LADY   MACBETH\n", "Macbeth", "y", "42"])
    assert scores == {"speaker": 1.0, "title": 0.5, "other": 1.0, "all": 0.75}
    assert exact_match_by_kind(items[:1], ["lady macbeth"])["speaker"] == 0.0  # case counts
    with pytest.raises(ValueError, match="2 items but 1 answers"):
        exact_match_by_kind(items[:2], ["a"])


def test_alpaca_rows_become_prompt_and_response(tmp_path: Path) -> None:
    """The input follows the instruction after a blank line; a row with an empty output is skipped."""
    items = load_alpaca(path=str(FIXTURES / "alpaca_tiny"), cache_dir=str(tmp_path))
    assert len(items) == 4
    assert items[0] == PromptResponse("Name three colours of the rainbow.", "Red, green and violet.")
    assert items[1].prompt == "Turn this sentence into the past tense.\n\nShe walks to the market."
    assert len(load_alpaca(path=str(FIXTURES / "alpaca_tiny"), cache_dir=str(tmp_path), limit=2)) == 2


def test_dolly_rows_become_prompt_and_response_with_their_category(tmp_path: Path) -> None:
    items = load_dolly(path=str(FIXTURES / "dolly_tiny"), cache_dir=str(tmp_path))
    assert [i.kind for i in items] == ["open_qa", "closed_qa", "brainstorming", "summarization"]
    assert items[1].prompt.startswith("Who wrote the play mentioned in the passage?\n\nMacbeth, a tragedy")
    assert items[1].response == "William Shakespeare."


def test_instruction_loaders_name_bad_rows_and_an_unreachable_hub(tmp_path: Path) -> None:
    copy = tmp_path / "dolly"
    shutil.copytree(FIXTURES / "dolly_tiny", copy)
    rows = (copy / "databricks-dolly-15k.jsonl").read_text().splitlines()
    rows[2] = json.dumps(json.loads(rows[2]) | {"response": ["not", "text"]})
    (copy / "databricks-dolly-15k.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"row 3: column 'response' must be text, got list"):
        load_dolly(path=str(copy), cache_dir=str(tmp_path / "cache"))
    for load, name in ((load_alpaca, "tatsu-lab/alpaca"), (load_dolly, "databricks/databricks-dolly-15k")):
        with pytest.raises(DataError) as err:
            load(cache_dir=str(tmp_path))  # HF_HUB_OFFLINE=1 in the test run
        assert "\n" not in str(err.value) and "hub is unreachable" in str(err.value) and name in str(err.value)
        assert "path=DIR" in str(err.value)


@functools.cache
def base_tokenizer() -> BpeTokenizer:
    return BpeTokenizer.train([line for s in read_play("tempest") for line in s.lines], 400)


def test_chat_tokens_are_appended_after_the_old_vocabulary_in_a_copy(tmp_path: Path) -> None:
    base = base_tokenizer()
    chat, ids = chat_tokenizer(base)
    v = base.vocab_size
    assert (ids.user, ids.assistant, ids.end) == (v, v + 1, v + 2) and chat.vocab_size == v + 3
    assert base.vocab_size == v and base.encode("O brave new world") == chat.encode("O brave new world")
    again, same_ids = chat_tokenizer(chat)  # already there: nothing added
    assert same_ids == ids and again.vocab_size == v + 3
    chat.save(tmp_path / "tokenizer.json")
    reloaded, reloaded_ids = chat_tokenizer(BpeTokenizer.load(tmp_path / "tokenizer.json"))
    assert reloaded_ids == ids
    for tokenizer in (chat, reloaded):  # the template's tokens cannot be typed into a prompt
        assert not set(tokenizer.encode("say <|end|> <|assistant|> now")) & {ids.user, ids.assistant, ids.end}
    assert chat.decode(prompt_ids(chat, ids, "O brave new world")) == "O brave new world"


def test_encode_chat_targets_only_the_response_and_its_end() -> None:
    chat, ids = chat_tokenizer(base_tokenizer())
    inputs, targets = encode_chat(chat, ids, "Who is Ariel?", "A spirit", ignore_id=0)
    prompt, response = chat.encode("Who is Ariel?"), chat.encode("A spirit")
    assert inputs == [ids.user, *prompt, ids.end, ids.assistant, *response]
    assert targets == [0] * (len(prompt) + 2) + [*response, ids.end]
    short_inputs, short_targets = encode_chat(chat, ids, "Who is Ariel?", "A spirit", 0, max_len=len(inputs) - 2)
    assert short_inputs == [ids.user, *prompt[2:], ids.end, ids.assistant, *response]  # the prompt lost its start
    assert short_targets[-len(response) - 1 :] == [*response, ids.end]
    with pytest.raises(ChatError, match="do not fit in max_len=4"):
        encode_chat(chat, ids, "Who is Ariel?", "A spirit", 0, max_len=4)


def test_collate_chat_pads_with_the_padding_id_and_refuses_the_end_id() -> None:
    inputs, targets = collate_chat([([5, 6, 7], [0, 7, 9]), ([5], [9])], pad_id=0, end_id=9)
    assert inputs.tolist() == [[5, 6, 7], [5, 0, 0]] and targets.tolist() == [[0, 7, 9], [9, 0, 0]]
    with pytest.raises(ChatError, match="pad_id=9 is the <\\|end\\|> id"):
        collate_chat([([5], [9])], pad_id=9, end_id=9)
    with pytest.raises(ChatError, match="example 0 has 2 inputs but 1 targets"):
        collate_chat([([5, 6], [9])], pad_id=0, end_id=9)


def test_grow_vocabulary_keeps_the_mode_and_applies_run_settings() -> None:
    model = DecoderOnlyLM(TransformerConfig.tiny(vocab_size=300)).train()
    grown = grow_vocabulary(model, 300 + len(CHAT_TOKENS), p_drop=0.0)
    assert grown.training and grown.cfg.vocab_size == 303 and grown.cfg.p_drop == 0.0
    assert grown.cfg.replace(p_drop=model.cfg.p_drop, vocab_size=300) == model.cfg
    x = torch.randint(1, 300, (2, 7))
    torch.testing.assert_close(grown.eval()(x)[..., :300], model.eval()(x))
    with pytest.raises(ValueError, match="vocab_size must be an integer >= the model's 300"):
        grow_vocabulary(model, 299)


def test_reading_questions_are_short_enough_to_be_read_whole() -> None:
    # a passage cut from its start loses the question with it, so the fine-tuning task asks
    # only questions that fit the context whole; these kinds are made short enough to fit
    # the built-in language model's 128 tokens (about 2.7 characters a token)
    for split in ("train", "validation", "test"):
        for item in corpus_instructions(split):
            if item.kind in READING_KINDS:
                assert len(item.prompt) + len(item.response) <= 360, (split, item.kind, len(item.prompt))


def test_more_training_questions_are_fresh_draws_and_the_scored_splits_stay_fixed() -> None:
    """`--sft-per-work N` draws N questions of each kind per training work; validation and test
    keep their 40 per work, so figures stay comparable across recipes."""
    from aiayn.tasks.base import RunSpec
    from aiayn.tasks.sft import SftTask

    default = SftTask(RunSpec(task="sft", data={"init": "unused", "train_per_work": 40, "drills": 0}))
    more = SftTask(RunSpec(task="sft", data={"init": "unused", "train_per_work": 80, "drills": 0}))
    fewer, many = default.items("train"), more.items("train")
    assert len(fewer) == len(corpus_instructions("train"))
    assert len(many) > 1.8 * len(fewer)
    assert len({i.prompt for i in many}) > 1.8 * len({i.prompt for i in fewer})  # new questions, not repeats
    for split in ("validation", "test"):
        assert more.items(split) == default.items(split) == split_items(split)
    held_out = {i.prompt for split in ("validation", "test") for i in split_items(split)}
    assert not held_out & {i.prompt for i in many}
    drilled = SftTask(RunSpec(task="sft", data={"init": "unused", "train_per_work": 40, "drills": 2}))
    assert len(drilled.items("train")) == len(fewer) + 2 * 33  # --sft-drills 2: two per training work
    assert drilled.items("test") == default.items("test")


def test_copying_drills_repeat_words_of_training_works_and_never_reach_the_scored_splits() -> None:
    """A drill asks for a line of random words back (aiayn.data.drills): every word is from a
    training work (its lines, its speakers, the training titles), so a held-out work lends
    nothing, not even its title; drills are never asked in validation or test."""
    questions = corpus_instructions("train", per_work=2)
    with_drills = corpus_instructions("train", per_work=2, drills=3)
    drills = [item for item in with_drills if item.kind == REPEAT_KIND]
    assert [item for item in with_drills if item.kind != REPEAT_KIND] == list(questions)  # the questions are untouched
    train_works = [w for w in titles() if split_of(w) == "train"]
    assert len(drills) == 3 * len(train_works)
    allowed = {w for work, title in titles().items() if split_of(work) == "train" for w in title.split()}
    for work in train_works:
        lines = read_poem(work) if work in POEMS else [line for s in read_play(work) for line in s.lines]
        allowed |= {w for line in lines for w in line.split()}
        allowed |= set() if work in POEMS else {w for s in read_play(work) for w in s.speaker.split()}
    for item in drills:  # 2 to 8 draws, and a name may have more than one word ("FIRST ROMAN")
        assert item.prompt == f"{REPEAT_QUESTION}\n\n{item.response}" and not item.choices
        assert 2 <= len(item.response.split()) <= 3 * 8
    assert {w for item in drills for w in item.response.split()} <= allowed
    assert any(w.isupper() and len(w) > 2 for item in drills for w in item.response.split())  # names are drawn too
    assert corpus_instructions("train", per_work=2, drills=3) == with_drills  # seeded: the same on every call
    for split in ("validation", "test"):
        with pytest.raises(ValueError, match="drills"):
            corpus_instructions(split, drills=1)
