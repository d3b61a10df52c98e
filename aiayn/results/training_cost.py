"""Table 2's training cost: the paper's FLOPs figures, and our own count for a model.

The paper does not count operations: it multiplies training time, the number of GPUs
and a sustained single-precision rate per GPU (9.5 TFLOPS for a P100, §5.2 / Table 2):

    paper FLOPs = hours x 3600 x GPUs x rate
    base: 12 h on 8 P100            -> 3.3e18
    big:  3.5 days (84 h) on 8 P100 -> 2.3e19

Our estimate counts them from the model: a forward pass costs about 2 FLOPs per weight a
token meets (a multiply and an add), and the backward pass twice that, so training costs
6 x weights x tokens. A source token meets the encoder's weights, a target token the
decoder's and the pre-softmax map (the shared embedding as a matrix, §3.4); attention
scores and their weighted sums add 4 x n_kv x h d_k per token, per attention sub-layer,
forward (n_kv: the length attended over; half of it on average for the decoder's masked
self-attention):

    FLOPs = 6 x steps x [ tokens_src x P_enc + tokens_tgt x (P_dec + vocab d_model) ]
          + 3 x steps x 4 x [ tokens_src x N n_src h d_k + tokens_tgt x N (n_tgt / 2 + n_src) h d_k ]

Both sides hold `tokens` tokens per step (the paper's batches: about 25,000 each, §5.1).
"""

from dataclasses import dataclass

from aiayn.model.config import TransformerConfig

P100_FLOPS = 9.5e12  # the sustained single-precision rate Table 2 assumes for a P100
HOURS = {"base": 12.0, "big": 3.5 * 24}  # §5.2: 12 hours; 3.5 days
GPUS = 8
STEPS = {"base": 100_000, "big": 300_000}  # §5.2
TOKENS_PER_STEP = 25_000  # per side, §5.1
PAPER_FLOPS = {"base": 3.3e18, "big": 2.3e19}  # Table 2, EN-DE training cost


def paper_flops(hours: float, gpus: int = GPUS, rate: float = P100_FLOPS) -> float:
    """Training cost as Table 2 computes it: hours x 3600 x GPUs x rate."""
    return hours * 3600 * gpus * rate


@dataclass(frozen=True)
class CostEstimate:
    """Our count of a training run's FLOPs (module docstring), in its parts."""

    weights: float  # 6 x weights x tokens
    attention: float  # 3 x 4 x n_kv x h d_k per token and attention sub-layer

    @property
    def total(self) -> float:
        return self.weights + self.attention


def weights_per_side(cfg: TransformerConfig) -> tuple[int, int]:
    """(weights a source token meets, weights a target token meets): encoder; decoder + pre-softmax map."""
    from aiayn.inspect.introspect import closed_form_parameters

    counts = closed_form_parameters(cfg)
    non_embedding = int(counts["non_embedding"])
    enc_layer = _layer(cfg, attentions=1, norms=2)
    dec_layer = _layer(cfg, attentions=2, norms=3)
    assert cfg.n_layers * (enc_layer + dec_layer) == non_embedding, "the closed form and the split disagree"
    return cfg.n_layers * enc_layer, cfg.n_layers * dec_layer + cfg.vocab_size * cfg.d_model


def _layer(cfg: TransformerConfig, attentions: int, norms: int) -> int:
    d, h, d_k, d_v = cfg.d_model, cfg.h, cfg.d_k, cfg.d_v
    attention = 2 * (d * h * d_k + h * d_k) + (d * h * d_v + h * d_v) + (h * d_v * d + d)
    feed_forward = d * cfg.d_ff + cfg.d_ff + cfg.d_ff * d + d
    return attentions * attention + feed_forward + norms * 2 * d


def estimate(cfg: TransformerConfig, steps: int, tokens: int = TOKENS_PER_STEP, n_src: int = 30,
             n_tgt: int = 30, backward: bool = True) -> CostEstimate:  # fmt: skip
    """Training FLOPs of `steps` steps of `tokens` tokens per side (sentences of n_src / n_tgt tokens).

    backward=False counts the forward pass only (2 FLOPs per weight and token): not a training cost."""
    p_enc, p_dec = weights_per_side(cfg)
    passes = 3 if backward else 1  # forward, and backward at twice the forward
    weights = passes * 2 * steps * tokens * (p_enc + p_dec)
    per_src = cfg.n_layers * n_src * cfg.h * cfg.d_k
    per_tgt = cfg.n_layers * (n_tgt / 2 + n_src) * cfg.h * cfg.d_k
    attention = passes * 4 * steps * tokens * (per_src + per_tgt)
    return CostEstimate(float(weights), float(attention))


def describe(name: str, cfg: TransformerConfig, steps: int, tokens: int = TOKENS_PER_STEP) -> str:
    """The lines `aiayn params --cost` prints: our estimate, and the paper's figure where it has one."""
    est = estimate(cfg, steps, tokens)
    lines = [f"training cost of {name}: {steps:,} steps of {tokens:,} source + {tokens:,} target tokens",
             f"  ours: 6 x weights x tokens {est.weights:.2e} + attention {est.attention:.2e} = {est.total:.2e} FLOPs"]  # fmt: skip
    if name in PAPER_FLOPS and steps == STEPS[name] and tokens == TOKENS_PER_STEP:
        paper = paper_flops(HOURS[name])
        lines.append(f"  paper (Table 2): {PAPER_FLOPS[name]:.1e} FLOPs = {HOURS[name]:g} h x {GPUS} P100 x "
                     f"{P100_FLOPS / 1e12:g} TFLOPS ({paper:.3e})")  # fmt: skip
        lines.append(f"  ours / paper = {est.total / PAPER_FLOPS[name]:.2f}: the share of the GPUs' rate the "
                     f"paper's run would have used")  # fmt: skip
    return "\n".join(lines)
