"""The chat template for supervised fine-tuning, and what it needs from tokenizer and model.

A conversation turn is laid out with three special tokens of its own:

    <|user|> prompt tokens <|end|> <|assistant|> response tokens <|end|>

The model reads the whole sequence and learns to predict only the response and the
`<|end|>` that closes it (so that it learns to stop); the prompt is context, not a
target. With ids t_0 .. t_L and the response starting at position r (the first id after
<|assistant|>), the inputs are t_0 .. t_{L-1} and the target of position i is t_{i+1}
for i + 1 >= r and the ignore id otherwise. The ignore id is the padding id, because
`aiayn.training.loss.label_smoothed_loss` skips positions whose gold token is padding.

That is also why padding must never be the `<|end|>` id: every `<|end|>` target would be
skipped as padding, and the model would never learn to end its turn (`collate_chat`
refuses it; spec/variant_sft.py shows the loss going blind).

- `chat_tokenizer(tokenizer)`: a copy with the three tokens appended to the vocabulary
  (ids V, V+1, V+2 for a vocabulary of V; the original ids are untouched), set to
  encode the text "<|end|>" inside a prompt as plain characters, never as the token.
  `tokenizers` does not save that setting, so call it again on a loaded tokenizer
  (it adds nothing when the tokens are already there).
- `chat_ids(tokenizer)`: the three ids of a tokenizer that has them, looked up (building
  a copy with `chat_tokenizer` costs milliseconds, too much once per question).
- `grow_vocabulary(model, vocab_size)`: the same model with its tied embedding grown to
  `vocab_size` rows. The old rows are copied unchanged and each new row is the mean of
  the old ones, so before fine-tuning the logits over the old vocabulary are exactly
  those of the pre-trained model, and the new tokens start with ordinary-sized logits.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from tokenizers import Tokenizer
from torch import Tensor

from aiayn.data.tokenizer import BpeTokenizer
from aiayn.model.decoder_only import DecoderOnlyLM

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
CHAT_TOKENS = (USER, ASSISTANT, END)


class ChatError(ValueError):
    """A conversation that cannot be encoded: too long, or a padding id that hides the end token."""


@dataclass(frozen=True)
class ChatTokens:
    """The ids of the template's special tokens."""

    user: int
    assistant: int
    end: int


def add_chat_tokens_to(tokenizer: Tokenizer) -> ChatTokens:
    """Append the chat tokens to a `tokenizers.Tokenizer` (in place) unless present; returns their ids."""
    present = [t for t in CHAT_TOKENS if tokenizer.token_to_id(t) is not None]
    if present and len(present) < len(CHAT_TOKENS):
        raise ChatError(f"the tokenizer has {present} but not all of the chat tokens {CHAT_TOKENS}")
    if not present:
        tokenizer.add_special_tokens(list(CHAT_TOKENS))
    tokenizer.encode_special_tokens = True  # "<|end|>" typed in a prompt is text, not the token
    return ChatTokens(*(tokenizer.token_to_id(t) for t in CHAT_TOKENS))


def chat_ids(tokenizer: BpeTokenizer) -> ChatTokens | None:
    """The chat tokens' ids in a tokenizer that already has them (a lookup, no copy), else None."""
    ids = [tokenizer.token_id(t) for t in CHAT_TOKENS]
    return None if None in ids else ChatTokens(*ids)


def chat_tokenizer(tokenizer: BpeTokenizer) -> tuple[BpeTokenizer, ChatTokens]:
    """A copy of `tokenizer` with the chat tokens (new ids after the old ones); the original is unchanged."""
    raw = Tokenizer.from_str(tokenizer.to_json())
    ids = add_chat_tokens_to(raw)
    return BpeTokenizer(raw), ids


def prompt_ids(tokenizer: BpeTokenizer, tokens: ChatTokens, prompt: str) -> list[int]:
    """<|user|> prompt <|end|> <|assistant|>: what the model reads before it answers."""
    return [tokens.user, *tokenizer.encode(prompt), tokens.end, tokens.assistant]


def chat_example(prompt: Sequence[int], response: Sequence[int], ignore_id: int) -> tuple[list[int], list[int]]:
    """(inputs, targets) of one turn from the ids of its prompt part and its response part (which
    ends with <|end|>): targets are the next ids, with the prompt's own set to `ignore_id`."""
    if not prompt or not response:
        raise ChatError(f"chat_example: empty prompt ({len(prompt)} ids) or response ({len(response)} ids)")
    ids = [*prompt, *response]
    return ids[:-1], [ignore_id] * (len(prompt) - 1) + list(response)


def encode_chat(
    tokenizer: BpeTokenizer,
    tokens: ChatTokens,
    prompt: str,
    response: str,
    ignore_id: int,
    max_len: int | None = None,
) -> tuple[list[int], list[int]]:
    """(inputs, targets) of a turn; with `max_len`, the prompt's text loses tokens from its start
    until the inputs fit (a response that cannot fit is an error, never cut)."""
    head = prompt_ids(tokenizer, tokens, prompt)
    tail = [*tokenizer.encode(response), tokens.end]
    if max_len is not None and len(head) + len(tail) - 1 > max_len:
        excess = len(head) + len(tail) - 1 - max_len
        if excess > len(head) - 3:
            raise ChatError(
                f"encode_chat: the response ({len(tail)} tokens with <|end|>) and the template do not fit "
                f"in max_len={max_len}"
            )
        head = [head[0], *head[1 + excess :]]
    return chat_example(head, tail, ignore_id)


def collate_chat(
    examples: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, end_id: int
) -> tuple[Int[Tensor, "batch n"], Int[Tensor, "batch n"]]:
    """Right-pad (inputs, targets) pairs into two (batch, longest) tensors, both padded with pad_id."""
    if pad_id == end_id:
        raise ChatError(
            f"collate_chat: pad_id={pad_id} is the <|end|> id; the loss skips padding targets, so it "
            f"would never see the end of a turn and the model would not learn to stop"
        )
    if not examples:
        raise ChatError("collate_chat: no examples")
    width = max(len(inputs) for inputs, _ in examples)
    out = torch.full((2, len(examples), width), pad_id, dtype=torch.long)
    for row, (inputs, targets) in enumerate(examples):
        if len(inputs) != len(targets):
            raise ChatError(f"collate_chat: example {row} has {len(inputs)} inputs but {len(targets)} targets")
        out[0, row, : len(inputs)] = torch.tensor(inputs, dtype=torch.long)
        out[1, row, : len(targets)] = torch.tensor(targets, dtype=torch.long)
    return out[0], out[1]


def grow_vocabulary(model: DecoderOnlyLM, vocab_size: int, **changes: object) -> DecoderOnlyLM:
    """A copy of `model` whose tied embedding has `vocab_size` rows: the old rows unchanged, each new
    row the mean of the old ones. `changes` set other config fields of the copy (e.g. the run's
    p_drop or eps_ls for fine-tuning; nothing learned depends on them)."""
    old = model.cfg.vocab_size
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < old:
        raise ValueError(f"grow_vocabulary: vocab_size must be an integer >= the model's {old}, got {vocab_size!r}")
    state = model.state_dict()
    weight = state["embed.weight"]
    state["embed.weight"] = torch.cat([weight, weight.mean(0, keepdim=True).expand(vocab_size - old, -1)])
    grown = type(model)(model.cfg.replace(vocab_size=vocab_size, **changes))
    grown.to(device=weight.device, dtype=weight.dtype).load_state_dict(state)
    return grown.train(model.training)
