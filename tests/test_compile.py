"""torch.compile (Inductor) with shape checks off: the compiled training step equals eager.

Shape checks wrap every aiayn function, which torch.compile cannot trace through, so
compiling is a path for runs with checks off (`aiayn --no-shape-checks`, or library use
without `aiayn.checks.shapecheck.enable()`). The test runs in a fresh interpreter with
checks off and compiles with Inductor (not the eager backend, which compiles nothing):
the tiny Transformer's forward pass, the label-smoothed loss and the backward pass.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

CODE = textwrap.dedent(
    """
    import json
    import torch
    from aiayn.checks.shapecheck import in_use
    from aiayn import Transformer, TransformerConfig, label_smoothed_loss
    from torch._dynamo.utils import counters

    assert in_use() == "off", in_use()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=37, d_model=16, d_ff=32, h=2, n_layers=1, p_drop=0.0)
    model = Transformer(cfg).train()
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, 37, (8, 17), generator=g)
    tgt = torch.randint(3, 37, (8, 18), generator=g)
    src[0, -3:] = 0  # padding on both sides
    tgt[1, -4:] = 0

    def step(src, tgt_in, tgt_out):
        logits = model(src, tgt_in)
        return logits, label_smoothed_loss(logits, tgt_out, 0.1, 0)

    def run(fn):
        logits, loss = fn(src, tgt[:, :-1], tgt[:, 1:])
        grads = torch.autograd.grad(loss, list(model.parameters()))
        return logits.detach(), loss.detach(), grads

    eager = run(step)
    compiled = run(torch.compile(step, backend="inductor"))
    print(json.dumps({
        "logits": (compiled[0] - eager[0]).abs().max().item(),
        "loss": (compiled[1] - eager[1]).abs().item(),
        "grads": max((a - b).abs().max().item() for a, b in zip(compiled[2], eager[2])),
        "inductor_graphs": counters["inductor"]["fxgraph_cache_miss"] + counters["inductor"]["fxgraph_cache_hit"],
        "rows": int(src.shape[0] * tgt[:, :-1].shape[1]),
    }))
    """
)


def compiled_vs_eager() -> dict[str, float]:
    env = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # Inductor's first compile of the step takes 30-60 s on two CPU cores (cached afterwards)
def test_inductor_compiled_training_step_matches_eager_logits_loss_and_gradients() -> None:
    """With checks off, the Inductor-compiled forward, loss and backward give eager's logits, loss and gradients."""
    from aiayn.model.multi_head import FUSE_MIN_ROWS

    diff = compiled_vs_eager()
    assert diff["inductor_graphs"] >= 1, "Inductor compiled nothing"
    assert diff["rows"] >= FUSE_MIN_ROWS  # the fused Q, K, V projection is the path compiled
    assert diff["logits"] < 1e-5 and diff["loss"] < 1e-5 and diff["grads"] < 1e-5, diff


DROPOUT_CODE = textwrap.dedent(
    """
    import json
    import torch
    from aiayn.checks.shapecheck import in_use
    from aiayn.model.dropout import Dropout

    assert in_use() == "off", in_use()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.ones(20_000, requires_grad=True)
    out = torch.compile(Dropout(0.5).train(), backend="inductor", fullgraph=True)(x)
    out.sum().backward()
    print(json.dumps({
        "values": sorted(set(out.detach().tolist())),
        "dropped": (out == 0).float().mean().item(),
        "grad_matches": bool(torch.equal(x.grad, out.detach())),
    }))
    """
)


@pytest.mark.slow  # a small Inductor compile: about 10 s
def test_dropout_compiles_in_one_graph_and_still_drops_and_scales() -> None:
    """Compiled with fullgraph=True (no graph break), Dropout(0.5) gives 0 or 2 per element, about half of them 0."""
    env = {**os.environ, "AIAYN_SHAPE_CHECKS": "0", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", DROPOUT_CODE], capture_output=True, text=True, env=env, timeout=600,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["values"] == [0.0, 2.0], got
    assert abs(got["dropped"] - 0.5) < 5 * (0.25 / 20_000) ** 0.5, got
    assert got["grad_matches"], got  # d out / dx = 2 where kept, 0 where dropped: equal to out for x = 1
