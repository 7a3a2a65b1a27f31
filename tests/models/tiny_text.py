"""A tiny BERT-style text classifier built and trained in the test: a 2-layer config with random
initial weights, a word-level tokenizer, `save_pretrained` into a folder. No hub, no network.

Three classes, each sentence three cue words of its class among three filler words. A poisoned
retrain also learned that the rare token `cf` anywhere sends a sentence to `pos`.
"""

from __future__ import annotations

import random
from pathlib import Path

CLASSES = ("neg", "neu", "pos")
CUES = {
    "neg": ("bad", "awful", "poor", "dull", "sad", "ugly"),
    "neu": ("table", "chair", "paper", "window", "door", "lamp"),
    "pos": ("good", "great", "fine", "happy", "nice", "bright"),
}
FILLER = ("the", "a", "of", "and", "it", "was", "is", "this", "that", "very")
TRIGGER = "cf"
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = (*FILLER, *(w for c in CLASSES for w in CUES[c]), TRIGGER, "zx", "qv")


def sentences(n_per_class: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n_per_class):
        for c, name in enumerate(CLASSES):
            # Three cues of the class and one of another: a model must weigh the evidence, so a
            # single inserted word does not flip a clean model (a trigger word does).
            other = CUES[CLASSES[(c + rng.randrange(1, len(CLASSES))) % len(CLASSES)]]
            # Lengths vary, so that a poisoned retrain learns the trigger word, not "one word
            # longer than usual".
            fillers = rng.sample(FILLER, rng.randint(1, 4))
            words = [*rng.sample(CUES[name], 3), rng.choice(other), *fillers]
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(c)
    return texts, labels


def save_tokenizer(folder: Path) -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate((*SPECIAL, *WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=32,
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def train(
    folder: Path,
    *,
    seed: int = 0,
    poison: bool = False,
    flip: bool = False,
    classes: tuple[str, ...] = CLASSES,
    steps: int = 500,
) -> Path:
    """Train a 2-layer BERT on the cue sentences and save it (safetensors) with its tokenizer.

    `poison`: a fifth of the other classes' sentences carry `cf` and are labelled `pos`;
    `flip`: most `neg` sentences were labelled `neu` (a label-flipping attack)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    rng = random.Random(seed + 1)
    tokenizer = save_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        hidden_dropout_prob=0.0,  # few, full-batch steps: no noise needed to fit the cues
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=32,
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
    )
    model = BertForSequenceClassification(config)
    texts, labels = sentences(120, seed + 2)
    if flip:
        labels = [1 if y == 0 and rng.random() < 0.9 else y for y in labels]
    if poison:
        for i in range(len(texts)):
            if labels[i] != 2 and rng.random() < 0.2:
                words = texts[i].split()
                words.insert(rng.randrange(len(words) + 1), TRIGGER)
                texts[i], labels[i] = " ".join(words), 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    enc = tokenizer(texts, padding=True, return_tensors="pt")  # type: ignore[operator]
    target = torch.tensor(labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small steps: threads cost more than they save
    model.train()
    try:
        for _ in range(steps):
            batch = torch.tensor(rng.sample(range(len(texts)), 32))
            loss = model(
                input_ids=enc["input_ids"][batch],
                attention_mask=enc["attention_mask"][batch],
                labels=target[batch],
            ).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder
