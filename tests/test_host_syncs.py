"""No host-device synchronisation in the model's forward pass, backward pass or decoding step.

Reading a value of a device tensor back to the host (`.item()`, `int(t)`, `bool(t)`,
`.tolist()`, `.numpy()`, data-dependent shapes such as `nonzero`) makes the host wait
for the device to finish everything queued so far. Where CUDA exists, the test runs
the steps under `torch.cuda.set_sync_debug_mode("error")`, which raises on any such
synchronisation. Everywhere else it uses a CPU-side proxy: the same steps on the "meta"
device, whose tensors have shapes but no values, so that every read of a value (and
every data-dependent shape) raises, while each Python-level read is also counted by
name. Both see the device path of `check_tokens`, which on accelerators (meta
included) skips the range read; on the CPU it reads, which costs no synchronisation.
"""

import contextlib
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from aiayn.checks.pytest_setup import skip_unless
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.model.inputs import CHECK_ENV, InputError, check_tokens
from aiayn.model.transformer import Transformer
from aiayn.training.loss import label_smoothed_loss

VOCAB = 53
READS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def counting_reads() -> Iterator[dict[str, int]]:
    """Count calls of the Tensor methods that read values back to the host, by name."""
    counts: dict[str, int] = {}
    originals = {name: getattr(Tensor, name) for name in READS}

    def counted(name: str):  # noqa: ANN202
        def read(self: Tensor, *args: object, **kwargs: object) -> object:
            counts[name] = counts.get(name, 0) + 1
            return originals[name](self, *args, **kwargs)

        return read

    try:
        for name in READS:
            setattr(Tensor, name, counted(name))
        yield counts
    finally:
        for name, method in originals.items():
            setattr(Tensor, name, method)


def _config() -> TransformerConfig:
    return TransformerConfig(vocab_size=VOCAB, n_layers=2, d_model=26, d_ff=37, h=2)


def _placed(device: torch.device) -> tuple[Transformer, DecoderOnlyLM, Tensor, Tensor]:
    """Both models and a batch of ids, already on the device (moving them there is a copy, not a step)."""
    torch.manual_seed(0)
    src, tgt = torch.randint(1, VOCAB, (3, 7)), torch.randint(1, VOCAB, (3, 5))
    return Transformer(_config()).to(device), DecoderOnlyLM(_config()).to(device), src.to(device), tgt.to(device)


def _steps(model: Transformer, lm: DecoderOnlyLM, src: Tensor, tgt: Tensor) -> None:
    """A training forward and backward with the loss, then an encode and two cached decoding
    steps; and a prompt plus one cached step of the decoder-only model."""
    model.train()
    label_smoothed_loss(model(src, tgt), tgt, 0.1, 0, reduction="sum").backward()
    model.eval()
    with torch.no_grad():
        memory, src_attend = model.encode(src)
        cache = model.new_cache()
        for t in range(2):
            model.decode(tgt[:, t : t + 1], memory, src_attend, cache)
        lm.eval()
        cache = lm.new_cache()
        lm(src, cache)
        lm(src[:, :1], cache)


def test_forward_backward_and_decoding_steps_read_nothing_back_from_a_device() -> None:
    """On a device (meta: no values), a training step's forward and backward and cached decoding make no host read."""
    placed = _placed(torch.device("meta"))
    with counting_reads() as reads:
        _steps(*placed)
    assert reads == {}, f"host reads in the hot path: {reads}"


def test_the_proxy_catches_a_range_check_that_reads_back() -> None:
    """The broken variant, reading tokens.min() and max() on the device as check_tokens once did, is caught."""
    tokens = torch.randint(1, VOCAB, (3, 7)).to("meta")
    with counting_reads() as reads, pytest.raises(RuntimeError, match="meta"):
        int(tokens.min())
    assert reads == {"__int__": 1}


def test_asking_for_the_range_check_on_a_device_reads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """With AIAYN_CHECK_TOKENS=1 the range is read on accelerators too (so the proxy sees a read)."""
    monkeypatch.setenv(CHECK_ENV, "1")
    with counting_reads() as reads, pytest.raises(RuntimeError, match="meta"):
        check_tokens("src", torch.ones(2, 3, dtype=torch.long).to("meta"), VOCAB)
    assert reads


def test_host_tensors_keep_the_named_range_error() -> None:
    """On the CPU, where reading costs no synchronisation, an id outside the vocabulary is still named."""
    tokens = torch.ones(2, 3, dtype=torch.long)
    tokens[1, 2] = VOCAB
    with pytest.raises(InputError, match=rf"token id {VOCAB} at position \(1, 2\) is outside the vocabulary"):
        check_tokens("src", tokens, VOCAB)


@skip_unless("needs_cuda")
def test_forward_backward_and_decoding_steps_do_not_synchronise_on_cuda() -> None:
    """On CUDA, the same steps run under torch.cuda.set_sync_debug_mode("error") without an error."""
    placed = _placed(torch.device("cuda"))
    _steps(*placed)  # first run: allocations and kernel selection, outside the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _steps(*placed)
    finally:
        torch.cuda.set_sync_debug_mode("default")
