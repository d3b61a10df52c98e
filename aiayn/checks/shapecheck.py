"""Run-time shape checking: jaxtyping annotations enforced by beartype.

Every tensor argument and return value in aiayn carries a jaxtyping annotation
such as `Float[Tensor, "batch n_q d_k"]`. Nothing is decorated in the library:
checking is switched on from outside by an import hook, before aiayn's modules are
imported, so unchecked runs pay nothing and `torch.compile` works.

- pytest: on for every run (`--jaxtyping-packages=aiayn,beartype.beartype` in
  pyproject.toml).
- the `aiayn` command: on by default; `aiayn --no-shape-checks ...` or
  `AIAYN_SHAPE_CHECKS=0` turns it off.
- your own code: call `aiayn.checks.shapecheck.enable()` before importing anything else
  from aiayn.
"""

import os
import sys

ENV_VAR = "AIAYN_SHAPE_CHECKS"
_MODEL_MODULES = ("aiayn.model.attention", "aiayn.model.multi_head", "aiayn.model.transformer", "aiayn.model.layers")


def wanted(flag: bool | None = None) -> bool:
    """Whether checking should be on: an explicit flag wins, then the environment."""
    if flag is not None:
        return flag
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def enable() -> None:
    """Install the import hook for the aiayn package. Must run before model code is imported."""
    already = [m for m in _MODEL_MODULES if m in sys.modules]
    if already and active():  # checked already (pytest's --jaxtyping-packages, or a second call)
        return
    if already:
        raise RuntimeError(
            f"aiayn.checks.shapecheck.enable() called after {', '.join(already)} was imported; "
            f"call it first, before importing models from aiayn"
        )
    from jaxtyping import install_import_hook

    install_import_hook("aiayn", "beartype.beartype")


def active() -> bool:
    """True when aiayn's attention function is wrapped by a checker (probes with a bad shape)."""
    import torch
    from jaxtyping import TypeCheckError

    from aiayn.model.attention import scaled_dot_product_attention

    q = torch.zeros(1, 2, 3)
    try:
        scaled_dot_product_attention(q, torch.zeros(1, 4, 3), torch.zeros(1, 5, 3))  # n_kv 4 != 5
    except TypeCheckError:
        return True
    except RuntimeError:
        return False
    return False
