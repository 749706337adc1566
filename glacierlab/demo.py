"""The README's main job on the built-in demo region (``make demo`` / ``glacierlab demo``)."""

from __future__ import annotations

import json
from pathlib import Path

from glacierlab.atomic import atomic_path


def run_demo(out: Path, region: str = "everest", overwrite: bool = False) -> Path:
    """Load a catalog region (fetching or seeding its files), and write an overview figure + summary.

    Args:
        out: Output folder (created).
        region: Catalog region id.
        overwrite: Replace existing outputs.

    Returns:
        The output folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    from glacierlab.catalog import load_catalog
    from glacierlab.plot import region_overview
    from glacierlab.stack import group, stack_region

    cat = load_catalog()
    reg = cat.region(region)
    stack = stack_region(region)
    out.mkdir(parents=True, exist_ok=True)
    fig = region_overview(stack, title=f"{reg.name}: catalog inputs on one grid")
    with atomic_path(out / "overview.png", overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    ref = stack["reference"].values if "reference" in stack else None
    summary = {
        "region": region,
        "name": reg.name,
        "crs": str(stack.rio.crs),
        "shape": [int(stack.sizes["y"]), int(stack.sizes["x"])],
        "groups": {g: [str(b) for b in group(stack, g)["band"].values] for g in ("optical", "dem") if g in stack},
        "glacier_fraction": None if ref is None else float((ref == 1).sum() / max((ref != 255).sum(), 1)),
    }
    with atomic_path(out / "summary.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return out
