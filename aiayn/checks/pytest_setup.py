"""The pytest setup the specs run under, in a checkout and in an installed wheel.

spec/conftest.py (which travels with the wheel as aiayn/_spec/conftest.py) and the
checkout's top-level conftest.py both call `configure()`, so the spec suite runs
the same way wherever it is found:

- the Hugging Face hub offline (tests read local fixtures; nothing is downloaded),
- one torch thread (the specs use tiny tensors, where the thread pool only costs),
- the hypothesis profile "aiayn": derandomised, so a green suite stays green for
  the same code, 25 examples per property, no deadline.

Hardware markers: a claim that can only be checked on hardware this machine may
lack carries a marker from HARDWARE (`@pytest.mark.needs_cuda`). Where that hardware
is absent the claim is skipped with a reason starting with HARDWARE_SKIP, and the
spec gate lets it pass while naming it; any other skip makes the gate refuse. Tests
outside spec/ (whose conftest does not apply the markers) use `skip_unless(marker)`.

The gated device: the claims that a kernel or a lower precision can break (Eq. 1 fused
against written out, masks with fully masked rows, cached against uncached decoding,
the loss) take a `SpecTarget` (device, dtype) as a parameter, from `spec_targets()`:
always the CPU in float32, and also the device and dtype named by AIAYN_SPEC_DEVICE and
AIAYN_SPEC_DTYPE ("float32" or "bfloat16", the autocast dtype of training), which the
spec gate sets to those of the run it gates. A named device that is absent fails the
claims (it is never skipped): the gate was asked to vouch for hardware it cannot see.
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PROFILE = "aiayn"
HARDWARE = {"needs_cuda": "a CUDA device"}  # marker -> what it needs
HARDWARE_SKIP = "absent hardware: "  # the start of the skip reason for a marked claim


def configure() -> None:
    """Offline hub, one torch thread, and the hypothesis profile (HYPOTHESIS_PROFILE may name another)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch
    from hypothesis import HealthCheck, settings

    torch.set_num_threads(1)
    settings.register_profile(
        PROFILE,
        deadline=None,
        max_examples=25,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", PROFILE))


RESULTS = "results"  # the marker of checks on a recorded experiment (spec/results/), not on the code


def deselect_results_unless_asked(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the `results` checks unless the marker expression names them (`-m results`):
    they judge a recorded experiment, so neither the default run nor the spec gate runs them."""
    if RESULTS in (config.getoption("markexpr", "") or ""):
        return
    keep = [item for item in items if item.get_closest_marker(RESULTS) is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker(RESULTS) is not None])
        items[:] = keep


def hardware_present(marker: str) -> bool:
    if marker == "needs_cuda":
        import torch

        return torch.cuda.is_available()
    raise KeyError(f"unknown hardware marker {marker!r}; known: {', '.join(HARDWARE)}")


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{RESULTS}: a check on a recorded experiment (Table 3 rerun); runs only with -m {RESULTS}"
    )
    for marker, what in HARDWARE.items():
        config.addinivalue_line(
            "markers", f"{marker}: the claim needs {what}; skipped where it is absent, and named by the spec gate"
        )


def skip_without_hardware(item: pytest.Item) -> None:
    """Skip `item` (naming the marker) if it carries a hardware marker whose hardware is absent."""
    for marker, what in HARDWARE.items():
        if item.get_closest_marker(marker) is not None and not hardware_present(marker):
            pytest.skip(f"{HARDWARE_SKIP}{marker} ({what} not available here)")


def skip_unless(marker: str) -> pytest.MarkDecorator:
    """For tests outside spec/: skip where the marker's hardware is absent, with the reason the gate knows."""
    return pytest.mark.skipif(not hardware_present(marker), reason=f"{HARDWARE_SKIP}{marker} ({HARDWARE[marker]} not "
                              f"available here)")  # fmt: skip


DEVICE_ENV, DTYPE_ENV = "AIAYN_SPEC_DEVICE", "AIAYN_SPEC_DTYPE"
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class SpecTarget:
    """Where a device-sensitive claim runs: a torch device, and the compute dtype (bfloat16
    means float32 weights under autocast, as training runs on CUDA)."""

    device: str = "cpu"
    dtype: str = "float32"

    def __str__(self) -> str:
        return f"{self.device}-{self.dtype}"

    @property
    def torch_device(self):  # noqa: ANN201  (torch is imported late, see configure)
        """The device, after checking that it is present (a named device that is absent fails the claim)."""
        import torch

        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError) as err:
            pytest.fail(f"{DEVICE_ENV}={self.device!r} is not a torch device ({err})")
        if device.type == "cuda" and not torch.cuda.is_available():
            pytest.fail(f"{DEVICE_ENV}={self.device!r}, but this machine has no CUDA device")
        return device

    @property
    def torch_dtype(self):  # noqa: ANN201
        import torch

        return getattr(torch, self.dtype)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to the target dtype on its device (nothing for float32)."""
        import torch

        with torch.autocast(self.torch_device.type, dtype=self.torch_dtype, enabled=self.dtype != "float32"):
            yield


def spec_targets() -> tuple[SpecTarget, ...]:
    """The CPU in float32, and the target named by AIAYN_SPEC_DEVICE / AIAYN_SPEC_DTYPE if any."""
    device = os.environ.get(DEVICE_ENV, "").strip()
    dtype = os.environ.get(DTYPE_ENV, "").strip() or ("bfloat16" if device.startswith("cuda") else "float32")
    if dtype not in DTYPES:
        raise pytest.UsageError(f"{DTYPE_ENV}={dtype!r}: choose one of {', '.join(DTYPES)}")
    targets = [SpecTarget()]
    if device and SpecTarget(device, dtype) not in targets:
        targets.append(SpecTarget(device, dtype))
    return tuple(targets)
