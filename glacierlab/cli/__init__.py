"""Command-line interface: ``glacierlab <command> ...`` (``glacierlab --help`` lists the commands).

Every command imports what it needs when it runs, so ``glacierlab --help`` is fast. Command groups live
in sub-modules: :mod:`glacierlab.cli.predict` (``predict``), :mod:`glacierlab.cli.weights`
(``import-keras``, ``weights``), :mod:`glacierlab.cli.options` (the prediction-option flags).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from glacierlab.cli.options import add_option_args, option_overrides
from glacierlab.cli.predict import add_predict_parser
from glacierlab.cli.weights import add_weights_parsers
from glacierlab.errors import GlacierLabError

if TYPE_CHECKING:
    import pandas as pd

DEMO_REGION = "everest"


def _cmd_regions(args: argparse.Namespace) -> int:
    from glacierlab.data.catalog import load_catalog

    cat = load_catalog(args.catalog)
    for region in cat.regions.values():
        print(f"{region.id:18s} {region.name}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.download import fetch

    cat = load_catalog(args.catalog)
    region = cat.region(args.region)
    seen: set[str] = set()
    for scene in region.scenes:
        for role in ("optical", "dem", "reference", "mask", "extra"):
            for source_id in scene.ids(role):
                if source_id not in seen:
                    seen.add(source_id)
                    print(f"{scene.date} {role:9s} {source_id}: {fetch(cat.source(source_id))}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from glacierlab.reports.demo import run_demo

    table = run_demo(Path(args.out), region=args.region, overwrite=args.overwrite)
    print(table[["region", "status", "seconds", "error"]].to_string(index=False))
    print(f"open {Path(args.out) / 'index.html'} (report: {Path(args.out) / args.region / 'report.html'})")
    return 1 if (table["status"] == "failed").any() else 0


def _param(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as a YAML literal (number, string, list, null), never as code."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. bbox=[0,0,1000,1000]), got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None)  # MarkedYAMLError says what it expected
        where = f" ({problem})" if problem else ""
        raise argparse.ArgumentTypeError(
            f"the value of {key} is not a YAML literal{where}: {value!r}; quote strings, e.g. "
            f"-p {key}='\"text\"' or -p {key}=[1,2]"
        ) from None


def _add_dask_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:8786)")
    g.add_argument(
        "--workers", type=int, default=0, help="start a local Dask cluster of N processes (0: run here)"
    )


def _finish_batch(table: pd.DataFrame, what: str) -> int:
    counts = table["status"].value_counts().to_dict()
    print(f"{what}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 1 if counts.get("failed") else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from glacierlab.batch.tasks import dask_client
    from glacierlab.reports.runner import run_reports

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    with dask_client(args.scheduler, args.workers) as client:
        table = run_reports(
            regions,
            Path(args.out),
            template=args.template,
            parameters=dict(args.param),
            client=client,
            overwrite=args.overwrite,
            kernel_name=args.kernel,
        )
    print(f"index: {Path(args.out) / 'index.html'}")
    return _finish_batch(table, "reports")


def _cmd_batch_predict(args: argparse.Namespace) -> int:
    from glacierlab.batch.scenes import predict_scenes
    from glacierlab.batch.tasks import dask_client

    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    with dask_client(args.scheduler, args.workers) as client:
        table = predict_scenes(
            scenes,
            args.checkpoint,
            Path(args.out),
            client=client,
            overwrite=args.overwrite,
            device=args.device,
            **option_overrides(args),
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    table.drop(columns=["traceback"]).to_csv(Path(args.out) / "status.csv", index=False)
    for _, row in table[table["status"] == "failed"].iterrows():
        print(f"{row['scene']}: {row['error']}")
    return _finish_batch(table, "scenes")


def _add_catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", default=None, help="path to a data_catalog.yaml (default: the packaged one)")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``glacierlab report: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _debug_flag(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--debug", action="store_true", default=default, help="show the full traceback of errors")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of all commands."""
    parser = _Parser(prog="glacierlab", description=__doc__.splitlines()[0])
    _debug_flag(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("regions", help="list the catalog regions")
    _add_catalog_arg(p)
    p.set_defaults(func=_cmd_regions)

    p = sub.add_parser("fetch", help="fetch (or seed) every file of a region into the cache")
    p.add_argument("region")
    _add_catalog_arg(p)
    p.set_defaults(func=_cmd_fetch)

    add_weights_parsers(sub)
    add_predict_parser(sub)

    p = sub.add_parser("demo", help="run the main job on the built-in demo region")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--region", default=DEMO_REGION, help=f"catalog region (default {DEMO_REGION})")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("report", help="run the regional report notebook per region -> offline HTML + index")
    p.add_argument("--regions", required=True, help="comma-separated catalog region ids")
    p.add_argument("--out", default="reports", help="output folder (default reports)")
    p.add_argument(
        "--template", default=None, help="report notebook (default: notebooks/regional_report.ipynb)"
    )
    p.add_argument(
        "--param",
        "-p",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter, VALUE as a YAML literal (repeatable)",
    )
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--overwrite", action="store_true", help="redo complete reports")
    _add_dask_args(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("batch-predict", help="map glaciers in many scenes (resumable; Dask optional)")
    p.add_argument("--scenes", required=True, help="comma-separated catalog region ids")
    p.add_argument("--checkpoint", required=True, help="glacierlab checkpoint (.safetensors)")
    p.add_argument("--out", default="predictions", help="output folder (default predictions)")
    add_option_args(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:n], per worker (default auto)")
    p.add_argument("--overwrite", action="store_true", help="redo complete scenes")
    _add_dask_args(p)
    p.set_defaults(func=_cmd_batch_predict)

    for p in sub.choices.values():  # `glacierlab <command> --debug` too (SUPPRESS keeps a top-level flag)
        _debug_flag(p, argparse.SUPPRESS)
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
    """Entry point of the ``glacierlab`` script; returns the exit status.

    A :class:`~glacierlab.errors.GlacierLabError` (or an ``OSError`` such as a missing folder) prints one
    line ``glacierlab <command>: error: <message>`` on stderr and returns 2; ``--debug`` re-raises it
    with its traceback. Usage errors also print one line and exit with 2.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    debug = bool(args.debug) or "--debug" in rest
    rest = [r for r in rest if r != "--debug"]
    try:
        if getattr(args, "passthrough", False):
            return int(args.func(rest) or 0)
        return int(args.func(args) or 0)
    except (GlacierLabError, OSError) as exc:  # bad input, unwritable folder: one line, no traceback
        if debug:
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, GlacierLabError):
            text = f"{type(exc).__name__}: {text} (rerun with --debug for the traceback)"
        print(f"glacierlab {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glacierlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
