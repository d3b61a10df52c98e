"""Pack a folder of Shakespeare works into aiayn's packaged copy (aiayn/data/corpora/shakespeare).

    python scripts/pack_corpus.py SOURCE_FOLDER [--out aiayn/data/corpora/shakespeare]

SOURCE_FOLDER holds one `<work>_gut.txt` per work and TITLES.tsv (the layout
`aiayn.data.shakespeare` reads). Each work is written as `<work>_gut.txt.xz`, TITLES.tsv as
it is, and MANIFEST.tsv lists every file with the SHA-256 and size of its uncompressed bytes,
which the loader checks on every read. The output is byte-for-byte reproducible.
"""

import argparse
import sys
from pathlib import Path

from aiayn.data.files import DataError
from aiayn.data.shakespeare import pack_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of <work>_gut.txt files and TITLES.tsv")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "aiayn/data/corpora/shakespeare")
    args = parser.parse_args()
    try:
        manifest = pack_corpus(args.source, args.out)
    except DataError as err:
        print(f"pack_corpus: {err}", file=sys.stderr)
        return 2
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
