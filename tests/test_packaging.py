"""What a wheel of aiayn carries: the package, the spec suite as aiayn/_spec, and the packaged
Shakespeare corpus with its manifest, so that `pip install aiayn` trains and tests from any folder."""

import zipfile
from pathlib import Path

import pytest

from aiayn.data import shakespeare

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The file list of a wheel built from this checkout by hatchling (the build backend of pyproject.toml)."""
    builders = pytest.importorskip("hatchling.builders.wheel", reason="hatchling comes with the dev extra")
    out = tmp_path_factory.mktemp("wheel")
    (wheel,) = builders.WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_every_packaged_work_its_titles_and_its_manifest(wheel_files: set[str]) -> None:
    """Each file MANIFEST.tsv lists is in the wheel (a work as its .xz), beside MANIFEST.tsv itself."""
    folder = "aiayn/data/corpora/shakespeare"
    manifest = shakespeare._manifest(shakespeare.PACKAGED_DIR)
    assert manifest is not None and len(manifest) == shakespeare.N_WORKS + 1
    expected = {f"{folder}/{name}.xz" if name.endswith(shakespeare.SUFFIX) else f"{folder}/{name}" for name in manifest}
    assert expected | {f"{folder}/MANIFEST.tsv"} <= wheel_files
    assert not {f for f in wheel_files if f.startswith(folder) and f.endswith(shakespeare.SUFFIX)}, "no plain copies"


def test_the_wheel_carries_the_spec_suite_and_no_data_from_beside_the_checkout(wheel_files: set[str]) -> None:
    """The spec suite rides along as aiayn/_spec (the gate runs it); nothing outside aiayn/ is packed."""
    assert "aiayn/_spec/conftest.py" in wheel_files
    assert any(f.startswith("aiayn/_spec/sec3_2_1") for f in wheel_files)
    assert all(f.startswith(("aiayn/", "aiayn-")) for f in wheel_files), sorted(wheel_files)[:5]
