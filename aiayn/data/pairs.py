"""The sentence pair: the record every translation data set yields."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """One sentence pair: source text and its reference translation."""

    src: str
    tgt: str
