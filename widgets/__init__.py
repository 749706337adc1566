"""glacierlab_widgets: ipywidgets + leafmap components that wrap glacierlab library functions.

Importing this package is cheap: the widget classes (and ipywidgets/leafmap) load on first use.

| name | module | wraps |
|---|---|---|
| ``RegionPicker``, ``RegionSelection`` | ``region_picker`` | ``catalog``, ``stack.stack_region`` |
| ``RegionView`` | ``region_view`` | the picker's selection on its map (``stack_layers``, ``scene_outlines``) |
| ``ModelRunner`` | ``model_runner`` | ``predict.predict_scene`` |
| ``ReliabilityExplorer`` | ``reliability_explorer`` | ``calibration``, ``plot_reliability`` |
| ``OutlineComparer`` | ``outline_comparer`` | ``vectors.load_outlines``, ``outlines`` |
| ``new_map``, ``add_raster``, ``add_outlines`` | ``maps`` | leafmap / localtileserver / ipyleaflet |
| ``LayerPanel`` | ``layers`` | one visible result layer, switcher, legend, values on click |
| ``SplitView`` | ``split_view`` | two linked maps for A/B comparisons |
| ``TrainingMonitor`` | ``training_monitor`` | ``training.train_scene`` (live epoch table, loss/IoU plot) |
| ``setup_notebook`` | ``notebook`` | one-line glacierlab errors (IPython), ``settings.workspace`` |
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RegionPicker": "region_picker",
    "RegionSelection": "region_picker",
    "RegionView": "region_view",
    "ModelRunner": "model_runner",
    "ReliabilityExplorer": "reliability_explorer",
    "OutlineComparer": "outline_comparer",
    "new_map": "maps",
    "add_raster": "maps",
    "add_outlines": "maps",
    "LayerPanel": "layers",
    "SplitView": "split_view",
    "TrainingMonitor": "training_monitor",
    "setup_notebook": "notebook",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; available: {', '.join(__all__)}")


def __dir__() -> list[str]:
    return __all__
