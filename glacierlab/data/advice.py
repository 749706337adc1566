"""The one sentence on what to do next with optical imagery: map it with the shipped model, or train first.

The rule is :func:`glacierlab.inference.checks.level_fit` against the shipped model's product level (what
``map_glaciers.ipynb`` refuses), stated here with :data:`~glacierlab.vocabulary.PRODUCT_LEVEL_UNITS`
since ``data`` sits below ``inference``. Catalog scenes (:meth:`glacierlab.data.contents.RegionContents.advice`),
your own files and boxes read through STAC (:func:`glacierlab.data.contents.files_advice`) all use it.
"""

from __future__ import annotations

from glacierlab.vocabulary import PRODUCT_LEVEL_UNITS, PRODUCT_LEVELS
from glacierlab.weights import SHIPPED, SHIPPED_PRODUCT_LEVEL


def shipped_model_reads(level: str) -> bool:
    """Whether the shipped model maps optical imagery of product ``level`` (else map_glaciers refuses it).

    Digital numbers and reflectance do not mix (refused); top-of-atmosphere vs surface reflectance only
    may bias. An unknown level (``""``) counts as not read.
    """
    return PRODUCT_LEVEL_UNITS.get(level) == PRODUCT_LEVEL_UNITS[SHIPPED_PRODUCT_LEVEL[SHIPPED[0]]]


def next_step(level: str, what: str, *, map_how: str, train_how: str, plural: bool = False) -> str:
    """``Map <what> with map_glaciers.ipynb (<map_how>).`` or ``Train a model <train_how>: ...`` and why.

    Args:
        level: The imagery's product level (a :data:`~glacierlab.vocabulary.PRODUCT_LEVELS` key).
        what: The imagery (``"this scene"``, ``"your files"``).
        map_how: How map_glaciers.ipynb gets it (``region = "everest", date = "2000-10-30"``).
        train_how: Where to train (``on this region first with train_your_region.ipynb (...)``).
        plural: ``what`` is plural (``are ... them``).
    """
    if shipped_model_reads(level):
        return f"Map {what} with map_glaciers.ipynb ({map_how})."
    verb, it = ("are", "them") if plural else ("is", "it")
    shipped = SHIPPED_PRODUCT_LEVEL[SHIPPED[0]]
    return (
        f"Train a model {train_how}: {what} {verb} "
        f"{PRODUCT_LEVELS.get(level, level or 'of an unknown kind').split(',')[0]} and the shipped model reads "
        f"{PRODUCT_LEVELS[shipped].split(',')[0]}, so map_glaciers.ipynb refuses {it} until a model trained on "
        f"this kind of imagery exists, then maps {it} with that model."
    )
