"""Running the spec suite under pytest and recording each claim's outcome.

pytest runs in a fresh interpreter with shape checks on, from an empty folder, with no
config file and only the spec folder's own conftest.py: every option it gets is in
`pytest_options`, so a checkout (whose pyproject.toml is not read) and an installed
wheel run the same claims the same way. Outcomes are read from its JUnit XML report.

A claim is PASSED, FAILED, SKIPPED, or ABSENT: skipped because it carries a hardware
marker (`@pytest.mark.needs_cuda`, see `aiayn.checks.pytest_setup`) and that hardware is
absent here. A parametrised claim takes the worst outcome of its cases.

`run(device=..., dtype=...)` also runs the device-sensitive claims on that device in that
dtype (AIAYN_SPEC_DEVICE / AIAYN_SPEC_DTYPE in the subprocess, see `spec_targets`); without
them only the CPU is checked, whatever the caller's environment says.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from aiayn.checks.claims import IN_CHECKOUT, REPO_ROOT, SPEC_DIR, SPEC_PATTERNS, Claim, Section
from aiayn.checks.pytest_setup import DEVICE_ENV, DTYPE_ENV, HARDWARE_SKIP, PROFILE

SHAPE_CHECKS = ("-p", "aiayn.checks.shapecheck", "--aiayn-shape-checks=full")  # the gate checks every call in full
PASSED, FAILED, SKIPPED, ABSENT, NOT_RUN = "passed", "failed", "skipped", "absent hardware", "not run"


@dataclass
class Results:
    """Outcome of every claim, by (module, test): PASSED, FAILED, SKIPPED or ABSENT (skipped for
    a hardware marker whose hardware is absent); `reasons` holds the skip reasons."""

    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def of(self, section: Section, claim: Claim) -> str:
        return self.outcomes.get((section.module, claim.test), NOT_RUN)

    def with_outcome(self, outcome: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(key for key, v in self.outcomes.items() if v == outcome))

    @property
    def green(self) -> bool:
        """Every claim passed, or was not run because the hardware it is marked for is absent."""
        return bool(self.outcomes) and all(v in (PASSED, ABSENT) for v in self.outcomes.values())


def _test_key(classname: str, name: str) -> tuple[str, str]:
    """Map a JUnit test case to (module, test): strips packages and parametrisation."""
    parts = classname.split(".")
    module, cls = parts[-1], None
    if module.startswith("Test") and len(parts) > 1:
        module, cls = parts[-2], parts[-1]
    test = name.split("[", 1)[0]
    return module, f"{cls}::{test}" if cls else test


def pytest_options(extra_args: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Everything pytest is told when it runs the specs, with no config file: the same in a
    checkout (pyproject.toml is not read) and in a wheel, and part of the gate's fingerprint."""
    return (
        "-q", "-c", os.devnull, "-p", "no:cacheprovider", "--strict-markers", *SHAPE_CHECKS,
        "-o", f"python_files={' '.join(SPEC_PATTERNS)}", *extra_args,
    )  # fmt: skip


def _outcome(case: ET.Element) -> tuple[str, str]:
    if case.find("failure") is not None or case.find("error") is not None:
        return FAILED, ""
    skipped = case.find("skipped")
    if skipped is None:
        return PASSED, ""
    reason = skipped.get("message", "")
    return (ABSENT if reason.startswith(HARDWARE_SKIP) else SKIPPED), reason


_PRECEDENCE = (PASSED, ABSENT, SKIPPED, FAILED)  # a claim is as bad as its worst case (parametrisations)


def run(
    spec_dir: Path = SPEC_DIR, extra_args: tuple[str, ...] = (), quiet: bool = True, device: str | None = None,
    dtype: str | None = None,
) -> Results:  # fmt: skip
    """Run the spec suite in a fresh interpreter (shape checks on) and record outcomes; with
    `device` (and `dtype`), the device-sensitive claims also run there.

    pytest runs in an empty temporary folder with spec_dir as its root, so that only
    spec_dir's conftest.py applies, and PYTEST_ADDOPTS cannot change what runs.
    """
    spec_dir = Path(spec_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = Path(tmp) / "specs.xml"
        cmd = [
            sys.executable, "-m", "pytest", str(spec_dir), *pytest_options(extra_args),
            f"--rootdir={spec_dir}", f"--confcutdir={spec_dir}", f"--junitxml={xml_path}",
        ]  # fmt: skip
        dropped = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", DEVICE_ENV, DTYPE_ENV)
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HYPOTHESIS_PROFILE=PROFILE)
        env.update({DEVICE_ENV: device} if device else {})
        env.update({DTYPE_ENV: dtype} if device and dtype else {})
        if IN_CHECKOUT:  # the subprocess imports this very aiayn, installed or not
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        proc = subprocess.run(
            cmd, cwd=tmp, env=env, text=True,
            stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
        )  # fmt: skip
        if not xml_path.exists():
            output = proc.stdout or ""
            raise RuntimeError(f"the spec suite did not run (pytest exit {proc.returncode}):\n{output[-3000:]}")
        results = Results()
        root = ET.parse(xml_path).getroot()
        for suite in root.iter("testsuite"):
            results.seconds += float(suite.get("time", 0.0))
        for case in root.iter("testcase"):
            key = _test_key(case.get("classname", ""), case.get("name", ""))
            outcome, reason = _outcome(case)
            previous = results.outcomes.get(key, PASSED)
            if _PRECEDENCE.index(outcome) >= _PRECEDENCE.index(previous):
                results.outcomes[key] = outcome
                if reason:
                    results.reasons[key] = reason
        return results

