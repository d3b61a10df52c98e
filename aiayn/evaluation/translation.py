"""Scoring translations: BLEU the way the field reports it, and the paper's protocol.

Two BLEU scores for one set of translations, which must never be confused:

- `evaluate_translations`: sacreBLEU on detokenized text with its standard 13a
  tokenizer, together with sacreBLEU's signature string (which names the tokenizer,
  smoothing, casing and version), chrF, and the exact-match rate. This is the number
  to compare with other work today.
- `tokenized_compound_split_bleu`: the protocol behind the paper's 27.3 / 28.4 on WMT
  2014 English-German, as tensor2tensor's `get_ende_bleu.sh` computes it: tokenize,
  split hyphenated compounds ("rich-text" -> "rich ##AT##-##AT## text"), then BLEU of
  the tokens as they are (Moses `multi-bleu.perl`). It runs about 0.7 to 1.5 points
  above sacreBLEU on the same output, and is labelled as such in what it returns.

Where this differs from `get_ende_bleu.sh`: Moses' `tokenizer.perl -l de` (after
`replace-unicode-punctuation.perl`) is replaced by sacreBLEU's 13a tokenizer, so no
Perl is needed. The two split punctuation alike in the common cases; 13a also splits
a hyphen after a digit ("2014-2015" -> "2014 - 2015"), which Moses leaves for the
compound split, and does not escape characters as Moses does ("&quot;"), which
changes nothing when hypotheses and references are treated alike. Scores can
differ slightly from tensor2tensor's.
"""

import re
from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

PAPER_PROTOCOL = "tokenized, compound-split (paper's protocol; not sacreBLEU)"

# get_ende_bleu.sh: perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g'
_COMPOUND = re.compile(r"(\S)-(\S)")
_TOKENIZER = Tokenizer13a()


def _check_pair(name: str, hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError(f"{name}: expected sequences of sentences, got a single string")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{name}: {len(hypotheses)} hypotheses but {len(references)} references; "
            f"there must be one reference per hypothesis"
        )
    if len(hypotheses) == 0:
        raise ValueError(f"{name}: no sentences to score")


def evaluate_translations(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | int | str]:
    """sacreBLEU (13a) and chrF of detokenized translations, with their signatures.

    Returns {"bleu", "bleu_signature", "chrf", "chrf_signature", "exact_match", "n"};
    exact_match is the fraction of hypotheses equal to their reference after stripping
    surrounding whitespace.
    """
    _check_pair("evaluate_translations", hypotheses, references)
    hyps, refs = list(hypotheses), list(references)
    bleu, chrf = BLEU(tokenize="13a"), CHRF()
    exact = sum(h.strip() == r.strip() for h, r in zip(hyps, refs, strict=True))
    return {
        "bleu": bleu.corpus_score(hyps, [refs]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf": chrf.corpus_score(hyps, [refs]).score,
        "chrf_signature": str(chrf.get_signature()),
        "exact_match": exact / len(hyps),
        "n": len(hyps),
    }


def split_compounds(tokenized: str) -> str:
    """"rich-text" -> "rich ##AT##-##AT## text", exactly as get_ende_bleu.sh's Perl one-liner.

    Like Perl's s///g, matches do not overlap: in "a-b-c" the "b" is used by the first
    match, so the second hyphen stays ("a ##AT##-##AT## b-c").
    """
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", tokenized)


def tokenize_for_paper_bleu(sentence: str) -> str:
    """13a tokenization, then the compound split."""
    return split_compounds(_TOKENIZER(sentence))


def tokenized_compound_split_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """BLEU under the paper's protocol (tokenized, compound-split); not comparable with sacreBLEU.

    As `multi-bleu.perl`: corpus BLEU over the tokens as given, no smoothing (a
    corpus with no matching 4-gram scores 0), case-sensitive.
    """
    _check_pair("tokenized_compound_split_bleu", hypotheses, references)
    hyps = [tokenize_for_paper_bleu(h) for h in hypotheses]
    refs = [tokenize_for_paper_bleu(r) for r in references]
    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    return {"tokenized_bleu": bleu.corpus_score(hyps, [refs]).score, "protocol": PAPER_PROTOCOL}
