"""Tiny tokenizers written locally, so the zoo builds without the Hub.

CLIP: a byte-level BPE vocabulary (the GPT-2/CLIP bytes-to-unicode table, each char also in
its word-final `</w>` form) plus a few deterministic merges, specials last as in real CLIP.
T5: a character-level unigram vocabulary, which transformers 5 builds without sentencepiece.
`char_vocab`: the character-level vocabulary the LLM and BERT tokenizers of the families
build on. All stay well under the tiny text encoders' vocabulary of 1000.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Any

CLIP_BOS = "<|startoftext|>"
CLIP_EOS = "<|endoftext|>"
CLIP_MAX_LENGTH = 77
T5_MAX_LENGTH = 120
TEXT_VOCAB_SIZE = 1000  # vocab_size of every tiny text encoder; token ids must stay below it

# Prompt-like English whose character pairs seed the BPE merges (and whose words are T5 and
# ChatGLM pieces): fixed forever, so the merges and token ids never change between builds.
PROMPT_WORDS = (
    "a photo of the cat dog on in with and portrait landscape painting art style high "
    "detailed realistic city night light sunset mountain forest river beautiful woman man "
    "street car house flower tree sky blue red green old young studio lighting digital "
    "cinematic fantasy castle ocean beach snow"
).split()
_N_MERGES = 120
_CHARS = string.ascii_letters + string.digits + ".,!?'-:;()\"/&%+=*#@_<>[]{}|\n"


def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2/CLIP reversible byte -> printable unicode table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def _learn_merges(n_merges: int) -> list[tuple[str, str]]:
    """Greedy BPE on the fixed corpus; ties broken by the pair itself, so deterministic."""
    words: Counter[tuple[str, ...]] = Counter()
    for w in PROMPT_WORDS:
        words[(*w[:-1], w[-1] + "</w>")] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, freq in words.items():
            for a, b in zip(word, word[1:], strict=False):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for word, freq in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    return merges


def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte chars, their `</w>` forms, merge products, then BOS/EOS as the last two ids."""
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    merges = _learn_merges(_N_MERGES)
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += [CLIP_BOS, CLIP_EOS]
    if len(tokens) > TEXT_VOCAB_SIZE:
        raise ValueError(f"CLIP vocab of {len(tokens)} exceeds {TEXT_VOCAB_SIZE}")
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_special_ids() -> dict[str, int]:
    """Ids the CLIP text config must agree on (pooled output is taken at the first EOS)."""
    vocab, _ = clip_vocab_and_merges()
    return {
        "bos_token_id": vocab[CLIP_BOS],
        "eos_token_id": vocab[CLIP_EOS],
        "pad_token_id": vocab[CLIP_EOS],
    }


def make_clip_tokenizer(*, pad_token: str = CLIP_EOS) -> Any:
    """A `CLIPTokenizer` built in memory from the local byte-level vocab and merges."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    return CLIPTokenizer(
        vocab=vocab,
        merges=list(merges),
        model_max_length=CLIP_MAX_LENGTH,
        pad_token=pad_token,
    )


def t5_vocab() -> list[tuple[str, float]]:
    """Unigram pieces: specials, the word marker, then printable characters."""
    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    chars = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".,!?'-:;()"
    words = [("▁" + w, -2.5) for w in sorted(set(PROMPT_WORDS))]
    return specials + words + [(c, -3.0) for c in chars]


def make_t5_tokenizer() -> Any:
    """A `T5Tokenizer` with no sentencepiece file (transformers 5 builds it from the list)."""
    from transformers import T5Tokenizer

    return T5Tokenizer(vocab=t5_vocab(), extra_ids=0, model_max_length=T5_MAX_LENGTH)


def char_vocab(specials: list[str], *, space: str) -> dict[str, int]:
    """Specials first, then the word marker `space` and printable characters."""
    tokens = [*specials, space, *(c for c in _CHARS if c != space)]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}
