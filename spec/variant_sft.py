"""Supervised fine-tuning of the decoder-only model: new chat tokens, and a loss on the answer only (not in the paper)

Claims, in our words:
- Adding the chat template's special tokens grows the tied embedding (and with it the
  pre-softmax map x E^T, §3.4) by three rows. The pre-trained rows and every other
  weight are kept exactly, so before any fine-tuning the model's logits over the old
  vocabulary, on text made of old tokens, are those of the pre-trained model. Each new
  row starts as the mean of the old ones. Rebuilding the model at the new size, with
  a fresh embedding, would change them: the pre-trained model would be lost.
- The loss counts the response and the <|end|> that closes it, nothing else. Every
  prompt position's target is the ignore id (the padding id, which the loss skips), so
  whatever a prompt position would predict changes neither the loss nor any gradient;
  a response token's target, and the final <|end|>'s, do change it. Without that mask
  (next-token targets everywhere) the prompt's targets move the loss and the gradients:
  the model would spend its fine-tuning learning to write prompts.
- Padding must not use the <|end|> id. The loss skips targets equal to the padding id,
  so with <|end|> as padding every end-of-turn target would be skipped, get no gradient,
  and the model would never learn to stop.

Choices of ours: the template is <|user|> prompt <|end|> <|assistant|> response <|end|>;
the ignore id is the padding id (that is how `label_smoothed_loss` skips positions);
new rows are the mean of the old rows (zero rows would also keep the old logits, but
give every new token the logit 0 wherever the old logits are negative).
"""

import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor

from aiayn.data.chat import ChatError, chat_example, collate_chat, grow_vocabulary
from aiayn.model.config import TransformerConfig
from aiayn.model.decoder_only import DecoderOnlyLM
from aiayn.training.loss import label_smoothed_loss

CODE = "aiayn/data/chat.py, aiayn/training/loss.py"

OLD_VOCAB, PAD = 37, 0
USER, ASSISTANT, END = OLD_VOCAB, OLD_VOCAB + 1, OLD_VOCAB + 2  # appended, as chat_tokenizer does
VOCAB = OLD_VOCAB + 3


def pretrained(seed: int) -> DecoderOnlyLM:
    """A stand-in for a pre-trained language model (random weights, the old vocabulary)."""
    torch.manual_seed(seed)
    cfg = TransformerConfig.tiny(vocab_size=OLD_VOCAB, d_model=22, h=2, d_ff=13, n_layers=2, p_drop=0.0, pad_id=PAD)
    return DecoderOnlyLM(cfg).double().eval()


def text_ids(generator: torch.Generator, n: int) -> list[int]:
    """Ids of ordinary text: old tokens, never padding."""
    return torch.randint(1, OLD_VOCAB, (n,), generator=generator).tolist()


@given(seed=st.integers(0, 2**16), batch=st.sampled_from([2, 3]), n=st.sampled_from([5, 11, 13]))
def test_new_chat_tokens_keep_the_old_rows_and_the_old_logits(seed: int, batch: int, n: int) -> None:
    """Growing the embedding keeps every old row and weight, so the old vocabulary's logits on
    plain text are unchanged."""
    model = pretrained(seed)
    grown = grow_vocabulary(model, VOCAB)
    old_weight, new_weight = model.embed.weight, grown.embed.weight
    assert new_weight.shape == (VOCAB, model.d_model)
    assert torch.equal(new_weight[:OLD_VOCAB], old_weight)
    torch.testing.assert_close(new_weight[OLD_VOCAB:], old_weight.mean(0).expand(3, -1))
    grown_state = grown.state_dict()
    assert all(torch.equal(grown_state[k], v) for k, v in model.state_dict().items() if k != "embed.weight")
    x = torch.tensor([text_ids(torch.Generator().manual_seed(seed + row), n) for row in range(batch)])
    with torch.no_grad():
        before, after = model(x), grown(x)
        assert after.shape == (batch, n, VOCAB)
        torch.testing.assert_close(after[..., :OLD_VOCAB], before, rtol=0, atol=1e-12)
        # the broken variant: a model rebuilt at the new size with a fresh embedding forgets the old one
        rebuilt = DecoderOnlyLM(model.cfg.replace(vocab_size=VOCAB)).double().eval()
        state = {k: v for k, v in model.state_dict().items() if k != "embed.weight"}
        rebuilt.load_state_dict(state | {"embed.weight": rebuilt.embed.weight}, strict=True)
        assert (rebuilt(x)[..., :OLD_VOCAB] - before).abs().max() > 1e-3


def loss_and_grads(
    model: DecoderOnlyLM, inputs: list[int], targets: list[int], eps_ls: float
) -> tuple[Float[Tensor, ""], tuple[Float[Tensor, "..."], ...]]:
    model.zero_grad()
    logits = model(torch.tensor([inputs]))
    loss = label_smoothed_loss(logits, torch.tensor([targets]), eps_ls, PAD)
    loss.backward()
    return loss.detach(), tuple(p.grad.clone() for p in model.parameters())


def same(a: tuple[Tensor, tuple[Tensor, ...]], b: tuple[Tensor, tuple[Tensor, ...]]) -> bool:
    return torch.equal(a[0], b[0]) and all(torch.equal(x, y) for x, y in zip(a[1], b[1]))


def unmasked(prompt: list[int], response: list[int]) -> list[int]:
    """The broken variant: next-token targets at every position, the prompt's included."""
    return [*prompt, *response][1:]


@given(
    seed=st.integers(0, 2**16),
    n_prompt=st.sampled_from([2, 5, 11]),
    n_response=st.sampled_from([1, 3, 7]),
    eps_ls=st.sampled_from([0.0, 0.1]),
)
def test_prompt_targets_change_neither_the_loss_nor_any_gradient(
    seed: int, n_prompt: int, n_response: int, eps_ls: float
) -> None:
    """Changing what any prompt position would predict leaves the loss and every gradient
    unchanged; without the mask they change."""
    gen = torch.Generator().manual_seed(seed)
    model = grow_vocabulary(pretrained(seed), VOCAB)
    prompt = [USER, *text_ids(gen, n_prompt), END, ASSISTANT]
    response = [*text_ids(gen, n_response), END]
    inputs, targets = chat_example(prompt, response, PAD)
    assert targets[len(prompt) - 1 :] == response  # the response and its <|end|> are the only targets
    reference = loss_and_grads(model, inputs, targets, eps_ls)
    reference_unmasked = loss_and_grads(model, inputs, unmasked(prompt, response), eps_ls)
    for j in range(1, len(prompt)):  # prompt[j] is the target of position j - 1
        changed = list(prompt)
        changed[j] = 1 + (prompt[j] % (VOCAB - 1))  # another real token
        _, changed_targets = chat_example(changed, response, PAD)  # the inputs stay those of `prompt`
        assert same(loss_and_grads(model, inputs, changed_targets, eps_ls), reference)
        assert not same(loss_and_grads(model, inputs, unmasked(changed, response), eps_ls), reference_unmasked)
    for k in range(len(response)):  # every response target counts, the closing <|end|> included
        changed = list(response)
        changed[k] = 1 + (response[k] % (VOCAB - 1))
        _, changed_targets = chat_example(prompt, changed, PAD)
        assert not torch.equal(loss_and_grads(model, inputs, changed_targets, eps_ls)[0], reference[0])


@given(seed=st.integers(0, 2**16), n_response=st.sampled_from([1, 3, 7]))
def test_padding_with_the_end_token_would_hide_the_end_of_turn_from_the_loss(seed: int, n_response: int) -> None:
    """With <|end|> as the padding id the loss skips every end-of-turn target: no gradient to learn to stop."""
    gen = torch.Generator().manual_seed(seed)
    prompt = [USER, *text_ids(gen, 5), END, ASSISTANT]
    inputs, targets = chat_example(prompt, [*text_ids(gen, n_response), END], PAD)
    gold = torch.tensor([targets])
    logits = torch.randn(1, len(inputs), VOCAB, generator=gen, dtype=torch.float64, requires_grad=True)
    last = len(targets) - 1  # the position whose target is the closing <|end|>

    def grad_at_end(gold: Int[Tensor, "1 n"], pad_id: int) -> float:
        (grad,) = torch.autograd.grad(label_smoothed_loss(logits, gold, 0.1, pad_id), logits)
        return float(grad[0, last].abs().sum())

    assert grad_at_end(gold, PAD) > 0  # a padding id of its own: the end of the turn is learned
    # <|end|> as the padding (and ignore) id: the closing <|end|> looks like padding to the loss
    assert grad_at_end(torch.where(gold == PAD, END, gold), END) == 0.0
    try:
        collate_chat([(inputs, targets)], pad_id=END, end_id=END)
    except ChatError as err:
        assert "never see the end of a turn" in str(err)
    else:
        raise AssertionError("collate_chat accepted the <|end|> id as padding")
