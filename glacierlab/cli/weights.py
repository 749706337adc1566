"""``glacierlab weights list | info NAME | import NAME FILE OUT | card CHECKPOINT`` and ``import-keras``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from glacierlab.errors import ConfigError
from glacierlab.vocabulary import PRODUCT_LEVELS


def _bands(items: list[str] | None) -> dict[str, list[str]] | None:
    if not items:
        return None
    bands = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"--bands expects GROUP=b1,b2,... (e.g. optical=blue,green,red), got {item!r}")
        bands[name] = value.split(",")
    return bands


def cmd_import_keras(args: argparse.Namespace) -> int:
    """Convert a Keras ``.h5``; print what was detected."""
    from glacierlab.models.model_card import card_text, model_card
    from glacierlab.models.paper_import import import_keras

    out = import_keras(
        args.h5,
        args.out,
        bands=_bands(args.bands),
        overwrite=args.overwrite,
        normalisation=None if args.no_statistics else "paper",
        calibration=args.calibration,
        product_level=args.product_level,
    )
    print(f"wrote {out}")
    print(card_text(model_card(out)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """One line per registered set of weights."""
    from glacierlab.models.weights_registry import list_weights, weights_entry

    for name in list_weights():
        e = weights_entry(name)
        print(f"{name:26s} {e.kind:9s} {e.strategy:16s} {e.title}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Everything the registry knows about one entry (``--json`` for machines)."""
    from glacierlab.models.weights_registry import info

    d = info(args.name)
    if args.json:
        print(json.dumps(d, indent=1))
        return 0
    skip = {"statistics_values", "normalisation", "figures"}
    for k, v in d.items():
        if k not in skip and v not in (None, "", {}, []):
            print(f"{k:18s} {json.dumps(v) if isinstance(v, dict | list) else v}")
    if d.get("kind") == "keras_h5":
        print(
            f"\nDownload {d['file']} from {d['download']}, then:\n"
            f"  glacierlab weights import {d['name']} {d['file']} {d['name']}.safetensors"
        )
    return 0


def published_calibrator(name: str) -> Path | None:
    """Local path of registry entry ``name``'s published calibrator, or None if it has none.

    Found in the seed folder or cache, else downloaded and sha256-checked through the data catalog.

    Raises:
        UnknownNameError: Unknown entry. DataNotFoundError: The calibrator cannot be found or downloaded.
    """
    from glacierlab.data.download import fetch
    from glacierlab.models.weights_registry import weights_entry

    source = weights_entry(name).calibrator
    return None if source in (None, "checkpoint") else fetch(str(source))


def cmd_import(args: argparse.Namespace) -> int:
    """Import a registered published file with the entry's metadata and calibrator."""
    from glacierlab.models.model_card import card_text, model_card
    from glacierlab.models.paper_import import import_weights

    cal: Any = None if args.no_calibration else (args.calibration or published_calibrator(args.name))
    out = import_weights(args.name, args.file, args.out, calibration=cal, overwrite=args.overwrite)
    print(f"wrote {out}")
    print(card_text(model_card(out)))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    """Print a checkpoint's model card; ``--json OUT`` writes it as STAC MLM JSON."""
    from glacierlab.files import write_json
    from glacierlab.models.model_card import card_text, model_card

    card = model_card(args.checkpoint)
    print(card_text(card))
    if args.json:  # strict JSON: a NaN metric is written as null
        write_json(Path(args.json), card, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def add_weights_parsers(sub: Any) -> None:
    """Register ``import-keras`` and ``weights {list,info,import,card}``."""
    p = sub.add_parser("import-keras", help="convert the authors' Keras GlaViTU .h5 weights to a checkpoint")
    p.add_argument("h5", help="Keras weights file, e.g. glavitu_global_weights.h5")
    p.add_argument("out", help="output checkpoint (.safetensors)")
    p.add_argument("--bands", nargs="*", metavar="GROUP=B1,B2", help="band names per input group")
    p.add_argument("--calibration", metavar="PICKLE", help="the authors' calibration model (.pickle)")
    p.add_argument("--product-level", default="toa", choices=sorted(PRODUCT_LEVELS), help="default toa (L1C)")
    p.add_argument("--no-statistics", action="store_true", help="do not store the paper's min/max statistics")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_import_keras)

    w = sub.add_parser("weights", help="registered weights: list, info, import, card")
    ws = w.add_subparsers(dest="weights_command", required=True)
    p = ws.add_parser("list", help="list the registered weights")
    p.set_defaults(func=cmd_list)
    p = ws.add_parser("info", help="download location, inputs, statistics, IoU, licence of one entry")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)
    p = ws.add_parser("import", help="convert a downloaded published file with its registry metadata")
    p.add_argument("name", help="registry name (glacierlab weights list)")
    p.add_argument("file", help="the downloaded .h5")
    p.add_argument("out", help="output checkpoint (.safetensors)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--calibration", metavar="PICKLE", help="calibration pickle (default: the entry's, fetched)")
    g.add_argument("--no-calibration", action="store_true", help="store no calibrator")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_import)
    p = ws.add_parser("card", help="a checkpoint's model card (STAC MLM JSON with --json)")
    p.add_argument("checkpoint")
    p.add_argument("--json", metavar="OUT", help="write the card as STAC MLM JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing JSON file")
    p.set_defaults(func=cmd_card)
