"""Scoring translations: BLEU the way the field reports it, and the paper's protocol.

Two BLEU scores for one set of translations, which must never be confused:

- `evaluate_translations`: sacreBLEU on detokenized text with its standard 13a
  tokenizer, together with sacreBLEU's signature string (which names the tokenizer,
  smoothing, casing and version), chrF, and the exact-match rate. This is the number
  to compare with other work today.
- `tokenized_compound_split_bleu`: the protocol behind the paper's 27.3 / 28.4 on WMT
  2014 English-German, as tensor2tensor's `get_ende_bleu.sh` computes it: Moses'
  `replace-unicode-punctuation.perl` and `tokenizer.perl -l de` (here their Python port,
  sacremoses), then hyphenated compounds split ("rich-text" -> "rich ##AT##-##AT##
  text"), then BLEU of the tokens as they are (Moses `multi-bleu.perl`). It runs about
  0.7 to 1.5 points above sacreBLEU on the same output, and is labelled as such in what
  it returns.

Moses and sacreBLEU's 13a tokenizer disagree in places that move this score: Moses keeps
"2014-2015" and "10-jährige" whole for the compound split to take apart (13a cuts a
hyphen after a digit off as a token), keeps known abbreviations and ordinals ("Dr.",
"z.B.", "3. Oktober") whole, splits the apostrophe in "Peter's", and escapes what it
splits ("&quot;", "&apos;", "&amp;"), as the script's output did. The script compared
hypotheses tokenized this way with a reference tokenized by Moses beforehand
(newstest2014.tok.de); here hypotheses and references go through the same steps.
"""

import functools
import re
from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF
from sacremoses import MosesPunctNormalizer, MosesTokenizer


def paper_protocol(lang: str = "de") -> str:
    """The label that goes with every score of the paper's protocol."""
    return f"Moses-tokenized (-l {lang}), compound-split (paper's protocol; not sacreBLEU)"


PAPER_PROTOCOL = paper_protocol("de")

# get_ende_bleu.sh: perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g'
_COMPOUND = re.compile(r"(\S)-(\S)")


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


@functools.lru_cache(maxsize=8)
def _moses(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer]:
    return MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)


def moses_tokenize(sentence: str, lang: str = "de") -> str:
    """`replace-unicode-punctuation.perl | tokenizer.perl -l lang` as get_ende_bleu.sh ran them:
    escaping on, hyphens left inside words (no `-a`)."""
    normalizer, tokenizer = _moses(lang)
    text = normalizer.replace_unicode_punct(sentence)
    return tokenizer.tokenize(text, return_str=True, escape=True, aggressive_dash_splits=False)


def tokenize_for_paper_bleu(sentence: str, lang: str = "de") -> str:
    """Moses tokenization, then the compound split."""
    return split_compounds(moses_tokenize(sentence, lang))


def tokenized_compound_split_bleu(
    hypotheses: Sequence[str], references: Sequence[str], lang: str = "de"
) -> dict[str, float | str]:
    """BLEU under the paper's protocol (Moses-tokenized, compound-split); not comparable with sacreBLEU.

    As `multi-bleu.perl`: corpus BLEU over the tokens as given, no smoothing (a
    corpus with no matching 4-gram scores 0), case-sensitive. `lang` is the target
    language (German for the paper's EN-DE figures).
    """
    _check_pair("tokenized_compound_split_bleu", hypotheses, references)
    hyps = [tokenize_for_paper_bleu(h, lang) for h in hypotheses]
    refs = [tokenize_for_paper_bleu(r, lang) for r in references]
    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    return {"tokenized_bleu": bleu.corpus_score(hyps, [refs]).score, "protocol": paper_protocol(lang)}
