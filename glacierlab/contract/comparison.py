"""The typed record of a held-out comparison a trained checkpoint carries (``extra.heldout``).

:class:`HeldOutComparison` holds a trained model's scores on the test blocks of its own spatial split next
to "everything is glacier", a random forest and the shipped model (computed by
:func:`glacierlab.training.heldout.compare_heldout`). It is plain data (numpy-free, torch-free), so
:func:`glacierlab.inference.compat.choose_checkpoint` reads it from a checkpoint header without loading
the model, and skips a trained model that does not beat the baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from glacierlab.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Glacier IoU a model must gain over "everything is glacier" on its test blocks to count as useful.
#: On Everest's test blocks (65 % glacier) "everything is glacier" scores 0.651 and the shipped model
#: 0.697: a gain of 0.025 is most of what any model gains there (issue 25).
MIN_GAIN = 0.025
#: A model further than this (glacier IoU) behind the best method is shown in orange, with that method named.
MAX_BEHIND = 0.02
#: Metadata key of the comparison in a checkpoint's ``extra``.
EXTRA_KEY = "heldout"
MODEL, ALL_GLACIER, FOREST, SHIPPED = (
    "your model",
    "everything is glacier",
    "random forest",
    "shipped Everest model",
)


@dataclass(frozen=True)
class MethodScore:
    """One method's scores on the test pixels.

    Attributes:
        method: ``"your model"``, ``"everything is glacier"``, ``"random forest"`` or ``"shipped Everest model"``.
        iou: Glacier IoU in [0, 1].
        precision: Share of the pixels mapped as glacier that are glacier, in [0, 1].
        recall: Share of the glacier pixels mapped as glacier, in [0, 1].
        mapped_glacier: Share of the test pixels mapped as glacier, in [0, 1].
        note: One plain sentence (e.g. whether the shipped model was trained on these pixels), or "".
    """

    method: str
    iou: float
    precision: float
    recall: float
    mapped_glacier: float
    note: str = ""


@dataclass(frozen=True)
class HeldOutComparison:
    """A trained model against the baselines on the test blocks of its own spatial split.

    Attributes:
        region: Region id of the stack.
        test_pixels: Test-block pixels with a reference label (and a prediction) that were scored.
        glacier_share: Share of those pixels that are glacier in the reference, in [0, 1].
        scores: The model first, then "everything is glacier", the random forest and (where it fits) the
            shipped model.
        min_gain: IoU the model must gain over "everything is glacier" (:data:`MIN_GAIN`).
    """

    region: str
    test_pixels: int
    glacier_share: float
    scores: tuple[MethodScore, ...]
    min_gain: float = MIN_GAIN

    def row_for(self, method: str) -> MethodScore | None:
        """The row of ``method``, or None when it was not scored."""
        return next((s for s in self.scores if s.method == method), None)

    @property
    def model(self) -> MethodScore:
        """The trained model's row."""
        return self.scores[0]

    @property
    def baseline(self) -> MethodScore:
        """The "everything is glacier" row."""
        row = self.row_for(ALL_GLACIER)
        if row is None:
            raise InputError(f"the comparison has no {ALL_GLACIER!r} row; it has {[s.method for s in self.scores]}.")
        return row

    @property
    def gain(self) -> float:
        """Glacier IoU of the model minus that of "everything is glacier"."""
        return self.model.iou - self.baseline.iou

    @property
    def beats_baseline(self) -> bool:
        """Whether the model beats "everything is glacier" by at least ``min_gain`` IoU."""
        return bool(self.gain >= self.min_gain)

    @property
    def best(self) -> MethodScore:
        """The method with the highest glacier IoU (the model on a tie)."""
        return max(self.scores, key=lambda s: s.iou)

    def sentence(self) -> str:
        """One plain sentence: which method is best and whether the model is worth mapping with."""
        m, b, best = self.model, self.baseline, self.best
        where = f"On {self.test_pixels:,} held-out test pixels of {self.region} ({self.glacier_share:.0%} glacier)"
        lead = f"{where}, the best is {best.method} (glacier IoU {best.iou:.3f})"
        if not self.beats_baseline:
            return (
                f"{lead}. Your model ({m.iou:.3f}) does not beat 'everything is glacier' ({b.iou:.3f}) by "
                f"{self.min_gain:.3f}: do not map with it - the later steps will not pick it by default. "
                "Train longer (epochs), on a larger area, or fine-tune a model trained on this kind of imagery."
            )
        ahead = "" if not self.outdone else f" ({best.method} maps these test blocks better by {best.iou - m.iou:.3f})"
        return (
            f"{lead}; your model ({m.iou:.3f}) beats 'everything is glacier' ({b.iou:.3f}) by {self.gain:.3f}, "
            f"so the later steps use it by default{ahead}."
        )

    @property
    def outdone(self) -> bool:
        """Whether another method beats the model by more than :data:`MAX_BEHIND` glacier IoU."""
        return bool(self.best.iou - self.model.iou > MAX_BEHIND)

    def table(self) -> pd.DataFrame:
        """One row per method: glacier IoU, gain over "everything is glacier", precision, recall, share mapped."""
        import pandas as pd

        b = self.baseline.iou
        return pd.DataFrame(
            {
                "method": [s.method for s in self.scores],
                "glacier IoU": [round(s.iou, 3) for s in self.scores],
                "vs everything is glacier": [f"{s.iou - b:+.3f}" for s in self.scores],
                "precision": [round(s.precision, 3) for s in self.scores],
                "recall": [round(s.recall, 3) for s in self.scores],
                "mapped as glacier": [f"{s.mapped_glacier:.0%}" for s in self.scores],
                "note": [s.note for s in self.scores],
            }
        )

    def html(self) -> str:
        """The table and the sentence as HTML, the sentence coloured.

        Red when the model does not beat "everything is glacier", orange when another method is more than
        :data:`MAX_BEHIND` ahead, else green.
        """
        import html

        colour = "#d00000" if not self.beats_baseline else "#b35900" if self.outdone else "#1a7f37"
        table = self.table().to_html(index=False, border=0)
        return f'{table}<p style="color:{colour};font-weight:bold">{html.escape(self.sentence())}</p>'

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored in the checkpoint's ``extra``)."""
        return asdict(self) | {"scores": [asdict(s) for s in self.scores]}

    @classmethod
    def from_dict(cls, d: Any) -> HeldOutComparison:
        """Inverse of :meth:`to_dict`; raises InputError on a malformed record."""
        try:
            scores = tuple(
                MethodScore(
                    str(s["method"]),
                    float(s["iou"]),
                    float(s["precision"]),
                    float(s["recall"]),
                    float(s["mapped_glacier"]),
                    str(s.get("note", "")),
                )
                for s in d["scores"]
            )
            out = cls(str(d["region"]), int(d["test_pixels"]), float(d["glacier_share"]), scores, float(d["min_gain"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"held-out comparison record is malformed ({err!r}); expected region, test_pixels, glacier_share, "
                "min_gain and scores (method, iou, precision, recall, mapped_glacier). Re-run compare_heldout."
            ) from err
        if not scores or scores[0].method != MODEL or out.row_for(ALL_GLACIER) is None:
            raise InputError(f"held-out comparison record must start with {MODEL!r} and hold {ALL_GLACIER!r}.")
        return out


def stored_comparison(header_or_extra: Any) -> HeldOutComparison | None:
    """The comparison a checkpoint carries (from its header or its ``extra``), or None when it has none."""
    from glacierlab.contract.record import TrainingRecord

    d = header_or_extra or {}
    extra = d.get("extra", d) if isinstance(d, dict) else {}
    record = TrainingRecord.from_extra(extra).heldout
    return None if record is None else HeldOutComparison.from_dict(record)
