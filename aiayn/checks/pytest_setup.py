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
spec gate lets it pass while naming it; any other skip makes the gate refuse.
"""

import os

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


def hardware_present(marker: str) -> bool:
    if marker == "needs_cuda":
        import torch

        return torch.cuda.is_available()
    raise KeyError(f"unknown hardware marker {marker!r}; known: {', '.join(HARDWARE)}")


def register_markers(config: pytest.Config) -> None:
    for marker, what in HARDWARE.items():
        config.addinivalue_line(
            "markers", f"{marker}: the claim needs {what}; skipped where it is absent, and named by the spec gate"
        )


def skip_without_hardware(item: pytest.Item) -> None:
    """Skip `item` (naming the marker) if it carries a hardware marker whose hardware is absent."""
    for marker, what in HARDWARE.items():
        if item.get_closest_marker(marker) is not None and not hardware_present(marker):
            pytest.skip(f"{HARDWARE_SKIP}{marker} ({what} not available here)")
