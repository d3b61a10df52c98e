"""Scoring translations: sacreBLEU with signatures, and the paper's tokenized protocol (aiayn/evaluation/translation.py)."""

import math
import shutil
import subprocess
from collections import Counter

import pytest

from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from aiayn.evaluation.translation import (
    PAPER_PROTOCOL,
    evaluate_translations,
    moses_tokenize,
    split_compounds,
    tokenize_for_paper_bleu,
    tokenized_compound_split_bleu,
)

REFS = [
    "Die Katze sitzt auf der Matte.",
    "Das ist ein rich-text Format für die E-Mail-Adresse.",
    "Er kam 2014 nach Berlin.",
]


def test_identical_translations_score_100() -> None:
    scores = evaluate_translations(REFS, REFS)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert scores["exact_match"] == 1.0 and scores["n"] == 3
    assert tokenized_compound_split_bleu(REFS, REFS)["tokenized_bleu"] == pytest.approx(100.0)


def test_signatures_name_the_tokenizer_and_version() -> None:
    scores = evaluate_translations(REFS, REFS)
    assert "tok:13a" in scores["bleu_signature"] and "nrefs:1" in scores["bleu_signature"]
    assert "version:" in scores["bleu_signature"] and "nc:6" in scores["chrf_signature"]


def test_empty_or_wrong_hypotheses_score_low() -> None:
    scores = evaluate_translations(["", "", ""], REFS)
    assert scores["bleu"] == 0.0 and scores["exact_match"] == 0.0
    one_empty = evaluate_translations(["", REFS[1], REFS[2]], REFS)
    assert 0.0 < one_empty["bleu"] < 100.0 and one_empty["exact_match"] == pytest.approx(2 / 3)


def test_exact_match_ignores_surrounding_whitespace_only() -> None:
    hyps = ["  " + REFS[0] + "\n", REFS[1].replace("rich-text", "rich text"), REFS[2]]
    assert evaluate_translations(hyps, REFS)["exact_match"] == pytest.approx(2 / 3)


def test_compounds_are_split_as_get_ende_bleu_does() -> None:
    assert split_compounds("rich-text format") == "rich ##AT##-##AT## text format"
    assert split_compounds("a - b") == "a - b"  # a free-standing dash is not a compound
    assert split_compounds("a-b-c") == "a ##AT##-##AT## b-c"  # Perl's s///g does not overlap matches
    assert tokenize_for_paper_bleu("die E-Mail-Adresse.") == "die E ##AT##-##AT## Mail ##AT##-##AT## Adresse ."


# Lines with what `replace-unicode-punctuation.perl | tokenizer.perl -l de` makes of them, and
# the Moses rule at work; sacreBLEU's 13a tokenizer makes something else of each.
MOSES_DE = [
    ("Er kam 2014-2015 nach Berlin.",  # a hyphen inside a word stays (no -a); 13a cuts it after a digit
     "Er kam 2014-2015 nach Berlin ."),
    ("Die 10-jährige E-Mail-Adresse & mehr…",  # same; & escaped; … replaced by ...
     "Die 10-jährige E-Mail-Adresse &amp; mehr ..."),
    ('Er sagte: "Ja, gern."',  # quotes split off and escaped
     "Er sagte : &quot; Ja , gern . &quot;"),
    ("Peter's Buch kostet 3,5 Millionen Euro.",  # outside English and French, ' is a token of its own
     "Peter &apos; s Buch kostet 3,5 Millionen Euro ."),
    ("Dr. Müller kam am 3. Oktober.",  # German non-breaking prefixes: titles and ordinals keep their period
     "Dr. Müller kam am 3. Oktober ."),
    ("Das ist z.B. ein Test.", "Das ist z.B. ein Test ."),
    ("„Gut“, sagte sie – und ging.",  # “ becomes " (then &quot;); the low „ and the dash are left as they are
     "„ Gut &quot; , sagte sie – und ging ."),
]  # fmt: skip


@pytest.mark.parametrize(("line", "moses"), MOSES_DE)
def test_paper_protocol_tokenizes_as_moses_tokenizer_perl_de(line: str, moses: str) -> None:
    assert moses_tokenize(line) == moses
    assert Tokenizer13a()(line) != moses  # what the protocol used before: another tokenization


def test_hyphen_after_digit_is_compound_split_not_cut_off() -> None:
    """13a cuts "2014-2015" into three tokens; Moses keeps it for the compound split, as the paper's script did."""
    assert tokenize_for_paper_bleu("Er kam 2014-2015.") == "Er kam 2014 ##AT##-##AT## 2015 ."
    assert split_compounds(Tokenizer13a()("Er kam 2014-2015.")) == "Er kam 2014 - 2015 ."


def test_moses_and_13a_give_different_paper_bleu() -> None:
    hyps = ["Dr. Müller kam am 3. Oktober nach Hause.", "Das ist z.B. ein Test."]
    refs = ["Dr. Müller kam am 3. Oktober heim.", "Das ist z.B. kein Test."]

    def with_13a(lines: list[str]) -> list[str]:
        return [split_compounds(Tokenizer13a()(line)) for line in lines]

    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    old = bleu.corpus_score(with_13a(hyps), [with_13a(refs)]).score
    new = tokenized_compound_split_bleu(hyps, refs)["tokenized_bleu"]
    assert 0.0 < new < 100.0 and new != pytest.approx(old, abs=0.1)


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl not installed")
def test_compound_split_matches_the_perl_one_liner() -> None:
    lines = ["rich-text format", "a-b-c d--e -f g-", "E-Mail-Adresse x-y-z 2014-2015", "über-all ä-ö"]
    perl = subprocess.run(
        ["perl", "-CSD", "-ple", "s{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert perl.stdout.splitlines() == [split_compounds(line) for line in lines]


def test_paper_protocol_is_labelled_and_differs_from_sacrebleu() -> None:
    hyps = ["Die Katze sitzt auf einer Matte.", "Das ist ein rich-text Format für die Mail-Adresse.", "Er kam 2015."]
    paper = tokenized_compound_split_bleu(hyps, REFS)
    assert paper["protocol"] == PAPER_PROTOCOL and "not sacreBLEU" in paper["protocol"] and "Moses" in PAPER_PROTOCOL
    assert paper["tokenized_bleu"] != pytest.approx(evaluate_translations(hyps, REFS)["bleu"])
    assert set(paper) == {"tokenized_bleu", "protocol"}


def multi_bleu(hyps: list[str], refs: list[str]) -> float:
    """Moses multi-bleu.perl retyped: corpus n-gram precisions (n = 1..4), no smoothing, one reference."""
    correct, total, hyp_len, ref_len = [0] * 4, [0] * 4, 0, 0
    for h, r in zip((h.split() for h in hyps), (r.split() for r in refs), strict=True):
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, 5):
            h_grams = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            r_grams = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            total[n - 1] += sum(h_grams.values())
            correct[n - 1] += sum(min(c, r_grams[g]) for g, c in h_grams.items())
    if min(correct) == 0:
        return 0.0
    brevity = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    return 100 * brevity * math.exp(sum(math.log(c / t) for c, t in zip(correct, total, strict=True)) / 4)


def test_paper_protocol_bleu_equals_multi_bleu_on_split_tokens() -> None:
    hyps = ["Die Katze sitzt auf einer Matte.", "Das ist ein rich-text Format für die Mail-Adresse.", "Er kam 2014."]
    expected = multi_bleu([tokenize_for_paper_bleu(h) for h in hyps], [tokenize_for_paper_bleu(r) for r in REFS])
    assert 0.0 < expected < 100.0
    assert tokenized_compound_split_bleu(hyps, REFS)["tokenized_bleu"] == pytest.approx(expected, rel=1e-9)
    # no matching 4-gram at all: 0, as multi-bleu.perl says (sacreBLEU would smooth it above 0)
    hyp, ref = ["Die Katze sitzt hier oben"], ["Die Katze sitzt dort oben"]
    assert tokenized_compound_split_bleu(hyp, ref)["tokenized_bleu"] == 0.0
    assert evaluate_translations(hyp, ref)["bleu"] > 0.0


def test_mismatched_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 hypotheses but 3 references"):
        evaluate_translations(REFS[:2], REFS)
    with pytest.raises(ValueError, match="3 hypotheses but 2 references"):
        tokenized_compound_split_bleu(REFS, REFS[:2])
    with pytest.raises(ValueError, match="no sentences"):
        evaluate_translations([], [])
    with pytest.raises(TypeError, match="single string"):
        evaluate_translations("a sentence", "a sentence")
