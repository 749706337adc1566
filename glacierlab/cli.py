"""Command-line interface: ``glacierlab <command> ...`` (``glacierlab --help`` lists the commands).

Every command imports what it needs when it runs, so ``glacierlab --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from glacierlab.errors import GlacierLabError

DEMO_REGION = "everest"


def _cmd_regions(args: argparse.Namespace) -> int:
    from glacierlab.catalog import load_catalog

    cat = load_catalog(args.catalog)
    for region in cat.regions.values():
        print(f"{region.id:18s} {region.name}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from glacierlab.catalog import load_catalog
    from glacierlab.fetch import fetch

    cat = load_catalog(args.catalog)
    for source_id in cat.region_source_ids(args.region):
        print(f"{source_id}: {fetch(cat.source(source_id))}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from glacierlab.demo import run_demo

    out = run_demo(Path(args.out), region=args.region, overwrite=args.overwrite)
    print(f"demo written to {out}")
    return 0


def _add_catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", default=None, help="path to a data_catalog.yaml (default: the packaged one)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of all commands."""
    parser = argparse.ArgumentParser(prog="glacierlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("regions", help="list the catalog regions")
    _add_catalog_arg(p)
    p.set_defaults(func=_cmd_regions)

    p = sub.add_parser("fetch", help="fetch (or seed) every file of a region into the cache")
    p.add_argument("region")
    _add_catalog_arg(p)
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("demo", help="run the main job on the built-in demo region")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--region", default=DEMO_REGION, help=f"catalog region (default {DEMO_REGION})")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_cmd_demo)

    for name, (module, func, help_text) in PASSTHROUGH.items():
        if importlib.util.find_spec(module) is None:
            continue
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(func=_passthrough(module, func), passthrough=True)
    return parser


# Commands whose argument parsing lives next to their implementation: name -> (module, function, help).
# The function takes the remaining argv and returns an exit status.
PASSTHROUGH: dict[str, tuple[str, str, str]] = {
    "train": ("glacierlab.training", "train_main", "train or fine-tune a model (glacierlab train --help)"),
}


def _passthrough(module: str, func: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        return int(getattr(importlib.import_module(module), func)(argv) or 0)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``glacierlab`` script; returns the exit status (2 on a glacierlab error)."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if getattr(args, "passthrough", False):
            return int(args.func(rest) or 0)
        return int(args.func(args) or 0)
    except GlacierLabError as exc:
        print(f"glacierlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glacierlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
