"""The regional analysis as plain steps: frozen :class:`RunParams` in, a frozen :class:`AnalysisResult` out.

:func:`run_analysis` runs the steps in order. Each step is a plain function of the parameters and the
outputs of earlier steps; a step that raises is recorded in ``result.failures`` (name and message) and
the steps that do not need its output still run, so one failing part never stops the report. The model
map resumes from its files in the run folder (``<date>_probability.tif``... with the sidecar
``<date>_map.json`` saying which checkpoint and options made them) in ``<out_dir>/analysis``; the report's
export bundle publishes copies of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from glacierlab.analysis.params import RunParams
from glacierlab.analysis.result import AnalysisResult, Areas, Failure, Glaciers, Inputs, ModelMap, OutlineSeries

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.analysis.timeline import ModelDate

T = TypeVar("T")
LAYERS = ("probability", "mask", "confidence")
RUN_FOLDER = "analysis"


def run_analysis(params: RunParams) -> AnalysisResult:
    """Run every step of the regional analysis (see the module docstring).

    Raises:
        UnknownNameError: the region is not in the catalog. The first step's error when no part of the
        analysis could be computed (no model map, no other date, no outline series): the region fails
        with that cause instead of giving an empty report.
    """
    from glacierlab.analysis.headlines import headlines

    failures: list[Failure] = []
    errors: list[Exception] = []

    def attempt(step: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - recorded in the result; the report shows it
            failures.append(Failure(step, f"{type(err).__name__}: {err}"))
            errors.append(err)
            return None

    inputs = load_inputs(params, failures, errors)
    model = attempt("model map", map_main_scene, params, inputs) if inputs.checkpoint and inputs.stack else None
    areas = attempt("area", measure_area, params, inputs, model) if model is not None else None
    glaciers = (
        attempt("per glacier", compare_with_inventory, params, inputs, model, areas) if model is not None else None
    )
    other = attempt("other dates", map_other_dates, params, inputs, model, areas, glaciers) or ()
    series = attempt("outline series", outline_series_of, params, inputs)
    sources = set(str(inputs.stack.attrs.get("sources", "")).split(",")) if inputs.stack is not None else set()
    if glaciers is not None:
        sources.add(str(glaciers.inventory.attrs.get("source", "")))
    sources |= {s for m in other if m.prediction is not None for s in m.sources}
    if series is not None:
        sources |= {e.source for e in series.extents}
    result = AnalysisResult(
        params, inputs, model, areas, glaciers, tuple(other), series, {}, tuple(sorted(s for s in sources if s))
    )
    if errors and model is None and series is None and not other:
        raise errors[0]  # nothing to report: the region fails (with its cause) instead of an empty report
    summary = attempt("headlines", headlines, result) or {}
    return AnalysisResult(**{**result.__dict__, "summary": summary, "failures": tuple(failures)})


def load_inputs(
    params: RunParams, failures: list[Failure] | None = None, errors: list[Exception] | None = None
) -> Inputs:
    """The region, its main stack (when the scene has rasters), the checkpoint that fits it, the export folder.

    A stack that cannot be built is recorded in ``failures`` (the outline series can still be reported).
    """
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.stack import stack_region
    from glacierlab.files import inside
    from glacierlab.geo import BBox
    from glacierlab.inference.compat import checkpoint_for

    reg = load_catalog().region(params.region)
    scene = reg.scene(params.date)
    stack = None
    if scene.optical or scene.dem:
        try:
            stack = stack_region(params.region, date=params.date, bbox=BBox.parse(params.bbox) if params.bbox else None)
        except Exception as err:  # noqa: BLE001 - recorded; the outline series still runs
            if failures is None:
                raise
            failures.append(Failure("inputs", f"{type(err).__name__}: {err}"))
            if errors is not None:
                errors.append(err)
    ck_path, no_model = checkpoint_for(stack, params.checkpoint)
    if stack is None:
        label = date = str(params.date or "")
    else:
        date = str(stack.attrs.get("date", ""))
        label = f"{date} {stack.attrs.get('sensor', '')}".strip()
    folder = inside(params.out_dir, RUN_FOLDER, "analysis folder") if params.out_dir else None
    return Inputs(reg, stack, ck_path, no_model, folder, label, date)


def map_main_scene(params: RunParams, inputs: Inputs) -> ModelMap:
    """Predict the main scene (or read the map back from the run folder), calibrate it and score it."""
    from glacierlab.analysis import regional
    from glacierlab.analysis.timeline import calibrated_probability

    stack, ck = inputs.stack, inputs.checkpoint
    assert stack is not None and ck is not None
    prefix = f"{inputs.main_date}_".replace("/", "-")
    scene = str(stack.attrs.get("scene", ""))
    prediction, resumed = map_or_resume(stack, ck, inputs.folder, prefix, scene, stack, **params.predict)
    valid = np.isfinite(stack["optical"].values).any(axis=0)
    p = calibrated_probability(prediction, ck, valid)
    scores = regional.score_against_reference(prediction, stack) if "reference" in stack else None
    return ModelMap(prediction, p, scores, resumed)


def map_or_resume(
    model_inputs: Any, checkpoint: Path, folder: Path | None, prefix: str, scene: str, grid: xr.Dataset, **predict: Any
) -> tuple[xr.Dataset, bool]:
    """A scene's map on the report grid and whether it was read back from the run folder.

    Read back when an earlier run of the same checkpoint, options and scene left it in ``folder``, else
    predicted (COGs, then the ``<prefix>map.json`` sidecar: a sidecar means the COGs are complete).
    """
    from glacierlab.analysis import regional
    from glacierlab.files import file_sha256, safe_name, write_json

    if folder is None:
        return regional.map_stack(model_inputs, checkpoint, **predict), False
    prefix = safe_name(prefix, "scene date")
    key = {"checkpoint": file_sha256(checkpoint), "predict": predict, "scene": scene}
    prediction = _resume(folder, prefix, key, grid)
    if prediction is not None:
        return prediction, True
    prediction = regional.map_stack(model_inputs, checkpoint, out_dir=folder, overwrite=True, prefix=prefix, **predict)
    write_json(folder / f"{prefix}map.json", {**key, "attrs": dict(prediction.attrs)}, overwrite=True)
    return prediction, False


def _resume(folder: Path, prefix: str, key: dict[str, Any], stack: xr.Dataset) -> xr.Dataset | None:
    """The map an earlier run of the same checkpoint, options and scene left in ``folder``, or None."""
    import rioxarray
    import xarray as xr

    from glacierlab.geo import georeference, rio_transform

    side = folder / f"{prefix}map.json"
    paths = {k: folder / f"{prefix}{k}.tif" for k in LAYERS}
    if not side.is_file() or not all(p.is_file() for p in paths.values()):
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(record, dict) or {k: record.get(k) for k in key} != json.loads(json.dumps(key)):
        return None
    data = {
        k: rioxarray.open_rasterio(p, parse_coordinates=False, masked=False).squeeze("band", drop=True)  # type: ignore[union-attr]
        for k, p in paths.items()
    }
    ds = xr.Dataset(data).drop_vars("spatial_ref", errors="ignore")
    if ds.sizes.get("y") != stack.sizes["y"] or ds.sizes.get("x") != stack.sizes["x"]:
        return None
    ds = ds.assign_coords(x=stack["x"].values, y=stack["y"].values)
    ds.attrs.update(record.get("attrs") or {})
    return georeference(ds, stack.rio.crs, rio_transform(stack))


def measure_area(params: RunParams, inputs: Inputs, model: ModelMap) -> Areas:
    """Area of the mapped frame with its interval at ``params.level`` and the held-out check of that interval."""
    from glacierlab.analysis.heldout_area import heldout_area_check
    from glacierlab.outlines.area_error import pixel_area_km2, region_area

    stack, ck = inputs.stack, inputs.checkpoint
    assert stack is not None and ck is not None
    pixel_km2 = pixel_area_km2(stack)
    predict = params.predict
    default_map = set(predict) <= {"batch_size", "tta"} and not predict.get("tta")
    check = heldout_area_check(
        ck, stack=stack, probability=model.prediction["probability"].values if default_map else None
    )
    ra = region_area(model.p, check.model, pixel_km2, level=params.level) if check is not None else None
    mask_km2 = float((model.prediction["mask"].values == 1).sum() * pixel_km2)
    ref_km2 = float((stack["reference"].values == 1).sum() * pixel_km2) if "reference" in stack else None
    return Areas(pixel_km2, mask_km2, ref_km2, check, ra)


def compare_with_inventory(params: RunParams, inputs: Inputs, model: ModelMap, areas: Areas | None) -> Glaciers | None:
    """Per glacier: expected area with its interval, model vs reference, reference outlines by source date."""
    from glacierlab.analysis import regional
    from glacierlab.analysis.timeline import reference_date_groups, source_dates
    from glacierlab.data.contents import scene_outlines
    from glacierlab.outlines.area_error import area_table, glacier_zones

    stack = inputs.stack
    assert stack is not None
    inventory = scene_outlines(params.region, params.date)
    if inventory is None or areas is None or areas.error_model is None:
        return None
    m = areas.error_model
    id_col = regional.glacier_id_column(inventory)
    zones, zone_ids = glacier_zones(inventory, stack["reference"], id_col)
    table = area_table(model.p, zones, zone_ids, m, areas.pixel_km2, level=params.level, index_name=id_col)
    judged, polygons = regional.compare_glaciers(model.prediction["mask"], inventory, id_col=id_col)
    dates = source_dates(inventory, id_col)
    groups = reference_date_groups(
        inventory, id_col, zones, zone_ids, model.p, stack["reference"].values, m, areas.pixel_km2
    )
    inv = inventory.assign(source_date=dates.reindex(inventory[id_col].astype(str)).to_numpy())
    inv = inv.to_crs(stack.rio.crs).clip(stack.rio.bounds())  # the part inside the report's frame
    inv = inv[~inv.geometry.is_empty]
    by_date = {str(d): g for d, g in inv.groupby("source_date", sort=True)}
    return Glaciers(inventory, id_col, zones, tuple(zone_ids), table, judged, polygons, dates, by_date, groups)


def map_other_dates(
    params: RunParams, inputs: Inputs, model: ModelMap | None, areas: Areas | None, glaciers: Glaciers | None
) -> tuple[ModelDate, ...]:
    """The model on every other date with imagery (with its change from the main map), or why not."""
    from dataclasses import replace

    from glacierlab.analysis.timeline import calibrated_probability, model_change, other_dates, unmapped_scenes
    from glacierlab.geo import rio_transform
    from glacierlab.outlines.polygons import mask_to_polygons

    stack, ck = inputs.stack, inputs.checkpoint
    if ck is None or stack is None or model is None:
        key = (params.region, str(stack.attrs.get("scene", ""))) if stack is not None else ("", "")
        checkpoint = params.checkpoint or _shipped()
        return tuple(m for m in unmapped_scenes(params.region, checkpoint) if (m.region, m.scene) != key)
    out = []

    def mapper(model_inputs: Any, prefix: str, scene: str, opts: dict[str, Any]) -> xr.Dataset:
        return map_or_resume(model_inputs, ck, inputs.folder, prefix, scene, stack, **opts)[0]

    for m in other_dates(params.region, stack, ck, mapper=mapper, **params.predict):
        if m.prediction is not None:
            p2 = calibrated_probability(m.prediction, ck, m.valid)
            polys = mask_to_polygons(np.nan_to_num(p2) > 0.5, rio_transform(stack), stack.rio.crs, min_area_m2=1e4)
            change = None
            if glaciers is not None and areas is not None and areas.error_model is not None:
                change = model_change(
                    glaciers.zones,
                    list(glaciers.zone_ids),
                    model.p,
                    p2,
                    areas.error_model,
                    areas.pixel_km2,
                    index_name=glaciers.id_col,
                )
            m = replace(m, p=p2, change=change, outlines=polys)
        out.append(m)
    return tuple(out)


def _shipped() -> str:
    from glacierlab.weights import shipped_checkpoint_path

    return str(shipped_checkpoint_path())


def outline_series_of(params: RunParams, inputs: Inputs) -> OutlineSeries | None:
    """The region's dated outlines inside the window with areas and changes at ``params.level`` (None: < 2)."""
    from glacierlab.analysis.series import outline_series, series_areas, series_changes

    bbox: Any = params.bbox
    stack = inputs.stack
    if bbox is None and stack is not None and stack.rio.crs is not None:
        from rasterio.warp import transform_bounds

        bbox = tuple(transform_bounds(stack.rio.crs, "EPSG:4326", *stack.rio.bounds()))
    extents = outline_series(params.region, bbox)
    if len(extents) < 2:
        return None
    return OutlineSeries(tuple(extents), series_areas(extents), series_changes(extents, level=params.level))


def map_files(result: AnalysisResult) -> list[Path]:
    """The COGs this run's maps are read from in the run folder (main scene and every mapped other date)."""
    from glacierlab.files import safe_name

    folder = result.inputs.folder
    if folder is None:
        return []
    prefixes = []
    if result.model_map is not None:
        prefixes.append(safe_name(f"{result.inputs.main_date}_".replace("/", "-"), "scene date"))
    prefixes += [safe_name(f"{m.scene}_".replace("/", "-"), "scene date") for m in result.other_dates if m.prediction]
    return sorted(f for pre in prefixes for f in folder.glob(f"{pre}*.tif") if f.is_file() and not f.is_symlink())
