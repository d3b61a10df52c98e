"""The shared byte-level BPE vocabulary: fixed special ids, lossless round trip, files."""

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aiayn.data.numbers import number_pairs
from aiayn.data.tokenizer import BpeTokenizer, TokenizerError, sample_indices

SENTENCES = (
    "The train leaves at eight o'clock.",
    "Der Zug fährt um acht Uhr ab.",
    "Schöne Grüße aus Köln, sagte sie: \"Bis bald!\"",
    "Die Straße ist nass; übermorgen wird es besser.",
    "Is it 3.5 km (or 4 km) to the station?",
)


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    pairs = number_pairs("train", 400, seed=11)
    texts = [p.src for p in pairs] + [p.tgt for p in pairs] + list(SENTENCES) * 3
    return BpeTokenizer.train(texts, vocab_size=400)


def test_special_tokens_have_fixed_ids(tokenizer: BpeTokenizer) -> None:
    """<pad>, <unk>, <s>, </s> are ids 0, 1, 2, 3 and the properties say so."""
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert [tokenizer.token(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]


@pytest.mark.parametrize("text", SENTENCES)
def test_ordinary_sentences_decode_to_themselves(tokenizer: BpeTokenizer, text: str) -> None:
    """decode(encode(s)) == s for sentences with punctuation, quotes and German umlauts."""
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text.encode("utf-8"))  # merges were learned: fewer tokens than bytes


ALPHABET = "abcxyzÄäöüßé ,.!?'-\"()0123456789\t\u043f\u0440\u0438\U0001f600"  # Cyrillic and an emoji too


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=40))
@example("Привет, мир 😀")
@example("Grüße 🐟 — “Anführungszeichen” ☃")
def test_any_text_round_trips_without_unknown_tokens(text: str) -> None:
    """Any NFC text not starting with whitespace round-trips, unseen characters included, never using <unk>."""
    text = unicodedata.normalize("NFC", text)
    if text[0].isspace():
        text = "x" + text
    tokenizer = _shared()
    ids = tokenizer.encode(text)
    assert tokenizer.unk_id not in ids and min(ids) >= 4
    assert tokenizer.decode(ids) == text


_CACHE: dict[str, BpeTokenizer] = {}


def _shared() -> BpeTokenizer:
    """A tokenizer for hypothesis tests (which cannot take function-scoped fixtures)."""
    if "t" not in _CACHE:
        _CACHE["t"] = BpeTokenizer.train(list(SENTENCES) * 3, vocab_size=300)
    return _CACHE["t"]


def test_encode_adds_no_specials_and_decode_drops_them(tokenizer: BpeTokenizer) -> None:
    """encode adds no <s>, </s>; decode ignores <s>, </s> and padding around the text."""
    ids = tokenizer.encode(SENTENCES[1])
    assert not set(ids) & {0, 1, 2, 3}
    framed = [tokenizer.bos_id, *ids, tokenizer.eos_id, tokenizer.pad_id, tokenizer.pad_id]
    assert tokenizer.decode(framed) == SENTENCES[1]


def test_one_vocabulary_serves_both_languages(tokenizer: BpeTokenizer) -> None:
    """English and German share the vocabulary: both encode to learned (multi-byte) tokens from one table."""
    pair = number_pairs("train", 1, seed=11)[0]
    for text in (pair.src, pair.tgt):
        tokens = [tokenizer.token(i) for i in tokenizer.encode(text)]
        assert max(len(t) for t in tokens) >= 4


def test_encode_batch_matches_encode(tokenizer: BpeTokenizer) -> None:
    """encode_batch gives, text by text, what encode gives."""
    assert tokenizer.encode_batch(list(SENTENCES)) == [tokenizer.encode(s) for s in SENTENCES]


def test_vocab_size_is_what_was_asked_for(tokenizer: BpeTokenizer) -> None:
    """Training stops at the requested vocabulary size (specials and the 256 bytes included)."""
    assert tokenizer.vocab_size == 400
    assert max(i for s in SENTENCES for i in tokenizer.encode(s)) < 400


def test_training_is_deterministic_and_fingerprint_tells_vocabularies_apart(tokenizer: BpeTokenizer) -> None:
    """The same texts give the same tokenizer (same fingerprint); another size gives another fingerprint."""
    pairs = number_pairs("train", 400, seed=11)
    texts = [p.src for p in pairs] + [p.tgt for p in pairs] + list(SENTENCES) * 3
    assert BpeTokenizer.train(texts, vocab_size=400).fingerprint() == tokenizer.fingerprint()
    assert BpeTokenizer.train(texts, vocab_size=380).fingerprint() != tokenizer.fingerprint()
    assert len(tokenizer.fingerprint()) == 64


def test_save_and_load_give_the_same_tokenizer(tokenizer: BpeTokenizer, tmp_path: Path) -> None:
    """A saved tokenizer.json loads back with the same ids, decoding and fingerprint (file or directory path)."""
    tokenizer.save(tmp_path / "tokenizer.json")
    for path in (tmp_path / "tokenizer.json", tmp_path):
        loaded = BpeTokenizer.load(path)
        assert loaded.fingerprint() == tokenizer.fingerprint()
        assert [loaded.encode(s) for s in SENTENCES] == [tokenizer.encode(s) for s in SENTENCES]
        assert loaded.decode(loaded.encode(SENTENCES[2])) == SENTENCES[2]


def test_missing_corrupt_or_foreign_files_raise_tokenizer_error(tokenizer: BpeTokenizer, tmp_path: Path) -> None:
    """load names the file when it is missing, is not a tokenizer, or puts the specials elsewhere."""
    with pytest.raises(TokenizerError, match="no such tokenizer file"):
        BpeTokenizer.load(tmp_path / "absent.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": "1.0", "model": ', encoding="utf-8")
    with pytest.raises(TokenizerError, match=f"{corrupt}: not a valid tokenizer.json"):
        BpeTokenizer.load(corrupt)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TokenizerError, match="not a tokenizer file"):
        BpeTokenizer.load(binary)
    data = json.loads(tokenizer.to_json())
    for entry in data["added_tokens"]:
        entry["content"] = {"<pad>": "<s>", "<s>": "<pad>"}.get(entry["content"], entry["content"])
    vocab = data["model"]["vocab"]
    vocab["<pad>"], vocab["<s>"] = vocab["<s>"], vocab["<pad>"]
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TokenizerError, match="special tokens must have ids"):
        BpeTokenizer.load(foreign)


def test_train_on_pairs_learns_from_both_sides_of_a_seeded_uniform_sample(tokenizer: BpeTokenizer) -> None:
    """train_on_pairs equals train on src, tgt of each sampled pair; the sample is drawn from the
    whole set (not its first pairs), the same for the same seed and another for another seed."""
    pairs = number_pairs("train", 400, seed=11)
    chosen = sample_indices(len(pairs), 100, seed=5)
    assert chosen == sample_indices(len(pairs), 100, seed=5) != sample_indices(len(pairs), 100, seed=6)
    assert len(set(chosen)) == 100 and chosen == sorted(chosen) and max(chosen) >= 300  # reaches the end
    texts = [t for i in chosen for t in (pairs[i].src, pairs[i].tgt)]
    first = [t for p in pairs[:100] for t in (p.src, p.tgt)]
    assert (
        BpeTokenizer.train_on_pairs(pairs, 300, sample_pairs=100, seed=5).fingerprint()
        == BpeTokenizer.train(texts, 300).fingerprint()
        != BpeTokenizer.train(first, 300).fingerprint()
    )
    assert sample_indices(10, 100, seed=0) == list(range(10))


def test_a_sample_is_uniform_over_the_whole_set() -> None:
    """Each half of the set gets about half of a sample (a first-k sample would put all in one half)."""
    counts = [sum(i < 50_000 for i in sample_indices(100_000, 2_000, seed)) for seed in range(5)]
    assert all(900 < c < 1100 for c in counts), counts


def test_bad_training_arguments_are_rejected() -> None:
    """A vocabulary smaller than the specials plus 256 bytes, or min_frequency < 1, is refused."""
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 260"):
        BpeTokenizer.train(["a b"], vocab_size=100)
    with pytest.raises(ValueError, match="min_frequency"):
        BpeTokenizer.train(["a b"], vocab_size=300, min_frequency=0)
