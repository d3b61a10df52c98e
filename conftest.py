"""Shared pytest setup for spec/ and tests/.

Shape checking is switched on by the `--jaxtyping-packages=aiayn,beartype.beartype`
option in pyproject.toml; tests/test_shape_checks.py fails if it ever is not.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# The specs use tiny tensors: one thread avoids torch's thread-pool overhead, which
# dominates at these sizes (and multiplies on a busy machine).
torch.set_num_threads(1)

settings.register_profile(
    "aiayn",
    deadline=None,
    max_examples=25,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "aiayn"))
