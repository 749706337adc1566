"""Where a workshop training run starts (fine-tune the shipped model, or train from scratch).

Fine-tuning is chosen where the imagery is of the shipped model's kind, else a from-scratch recipe that
converges; both were measured with ``benchmarks/train_default.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StartPoint:
    """Where a notebook run starts: a checkpoint to fine-tune (strategy ``finetune``) or none (``global``).

    Attributes:
        strategy: ``"finetune"`` or ``"global"``.
        checkpoint: The checkpoint file to fine-tune, or None (from scratch).
        note: One sentence saying what was chosen and why.
        epochs: The measured default length (the notebook's ``epochs = None``).
        recipe: :class:`TrainConfig` fields that differ from the strategy's defaults.
    """

    strategy: str
    checkpoint: str | None
    note: str
    epochs: int = 10
    recipe: Mapping[str, Any] = field(default_factory=dict)


#: From scratch on a small clip (``benchmarks/train_default.py --region khumbu``): the paper's focal loss
#: with restarts stalled at "everything is glacier" (test IoU 0.436 vs 0.412 after 10 epochs); plain
#: cross-entropy, Adam 2e-4 with one cosine decay over 20 epochs, kept on validation pixel IoU reached 0.573.
SCRATCH_RECIPE: Mapping[str, Any] = {"focal_gamma": 0.0, "lr": 2e-4, "schedule": "cosine", "monitor": "pixel_iou"}
SCRATCH_EPOCHS = 20


def starting_point(stack: Any, init_checkpoint: str | Path | None = "auto") -> StartPoint:
    """Fine-tune or train from scratch: the notebook's ``init_checkpoint`` parameter resolved for a stack.

    ``"auto"`` fine-tunes the shipped Everest model when the imagery is of its kind (same product level
    kind, e.g. 8-bit Landsat numbers, and every band it was trained on) for 10 epochs (Adam 5e-5, kept on
    validation loss): measured on Everest (``benchmarks/train_default.py``), it keeps most of the shipped
    model's held-out skill, while 10 epochs from scratch did not beat "everything is glacier". Elsewhere
    (e.g. top-of-atmosphere reflectance clips) it trains from scratch with :data:`SCRATCH_RECIPE` for
    :data:`SCRATCH_EPOCHS` epochs. ``""``/None trains from scratch; a path fine-tunes that file.
    """
    if init_checkpoint and str(init_checkpoint) != "auto":
        return StartPoint("finetune", str(init_checkpoint), f"fine-tuning {init_checkpoint}.")
    if not init_checkpoint:
        return StartPoint(
            "global", None, "training from scratch (init_checkpoint is empty).", SCRATCH_EPOCHS, SCRATCH_RECIPE
        )
    from glacierlab.errors import GlacierLabError
    from glacierlab.inference.compat import model_inputs, product_level_problem
    from glacierlab.models import load_checkpoint
    from glacierlab.vocabulary import PRODUCT_LEVELS
    from glacierlab.weights import shipped_checkpoint_path

    path = shipped_checkpoint_path()
    shipped = load_checkpoint(path)
    level = str(stack.attrs.get("product_level") or "")
    named = PRODUCT_LEVELS.get(level, level or "imagery of unknown product level")
    why = ""
    if product_level_problem(shipped, level):
        why = f"it was trained on 8-bit Landsat numbers, this is {named}"
    else:
        try:
            model_inputs(stack, shipped.bands)  # every band it was trained on, none filled
        except GlacierLabError:
            why = f"it needs the bands {dict(shipped.bands)}"
    if why:
        note = f"training from scratch: the shipped Everest model does not fit this imagery ({why})."
        return StartPoint("global", None, note, SCRATCH_EPOCHS, SCRATCH_RECIPE)
    return StartPoint(
        "finetune", str(path), f"fine-tuning the shipped Everest model: this imagery is of its kind ({named})."
    )
