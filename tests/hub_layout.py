"""A local data set in the layout of the hub's `wmt/wmt14` (config "de-en"), of any size:
number pairs written as {"translation": {"de": ..., "en": ...}} records, with the README
front matter that tells `datasets` the split files. Not collected by pytest."""

import json
from pathlib import Path

from aiayn.data.numbers import number_pairs

README = """---
configs:
- config_name: de-en
  data_files:
  - split: train
    path: de-en/train.jsonl
  - split: validation
    path: de-en/validation.jsonl
  - split: test
    path: de-en/test.jsonl
---

Number pairs in the layout of wmt/wmt14, for tests.
"""


def write_wmt14_layout(folder: Path, n_train: int, n_validation: int, n_test: int) -> Path:
    (folder / "de-en").mkdir(parents=True)
    (folder / "README.md").write_text(README, encoding="utf-8")
    for seed, (split, n) in enumerate((("train", n_train), ("validation", n_validation), ("test", n_test))):
        pairs = number_pairs(split, n, "en-de", seed=seed, max_number=1000, max_items=2)
        lines = [json.dumps({"translation": {"de": p.tgt, "en": p.src}}, ensure_ascii=False) for p in pairs]
        (folder / "de-en" / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
