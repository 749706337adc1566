"""Model runner: checkpoint, device, window/stride, TTA and MC-dropout, run/cancel, results on the map.

Wraps :func:`glacierlab.inference.predict.predict_scene`; the result (probability, mask, confidence
[, uncertainty]) is kept in :attr:`ModelRunner.result` and drawn on the map through a
:class:`~glacierlab_widgets.layers.LayerPanel` (one layer visible, a switcher, a legend, values on click;
Run again replaces the layers and keeps the view). Choosing a checkpoint fills the controls from the
inference options stored in it (:mod:`glacierlab.contract.options`), so the widget makes the same map as
the CLI and the reports; changed controls override them. Before predicting, the checkpoint is checked
against the scene (:mod:`glacierlab.inference.compat`): product level, groups, bands.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierlab.errors import GlacierLabError
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.contract.options import PredictOptions

class Cancelled(GlacierLabError, RuntimeError):
    """The user pressed Cancel while the model was running."""


class ModelRunner(WidgetBase):
    """Run a checkpoint over the selected scene and show the result layers.

    Args:
        inputs: The scene: a stack (``xr.Dataset`` from :func:`glacierlab.data.stack.stack_region`), a
            :class:`~glacierlab_widgets.region_picker.RegionPicker` (its current selection is stacked at
            run time) or a zero-argument callable returning a stack.
        checkpoint: Initial checkpoint path; ``""`` = the model ``train_your_region.ipynb`` wrote, else the
            shipped one (:func:`glacierlab.inference.compat.choose_checkpoint`).
        checkpoints: Paths offered in the checkpoint box (it also takes any typed path).
        m: Map to draw the results on (None: no map).
        out_dir: Folder for the COG outputs (then the layers are tiled from the files); None keeps the
            result in memory (layers drawn as image overlays).
        window: Window side in px; None or 0 = the checkpoint's stored window.
        stride: Step between windows in px; None or 0 = the checkpoint's stored stride.
        background: Run the Run button's job in a thread so Cancel can be clicked (interactive use);
            :meth:`run` called from code always runs in the foreground.
        outlines_min_area_m2: When set, every run also turns its mask into glacier outlines of at least
            this area (m2), writes them to ``out_dir/outlines.gpkg`` and draws them ("model outlines").

    Attributes:
        result: The latest prediction (``xr.Dataset``) or None.
        filled: Checkpoint bands the latest scene lacked, fed as no data (e.g. ``["nir"]`` for RGB).
        panel: The :class:`~glacierlab_widgets.layers.LayerPanel` drawing the results (None without a map).
        seconds: Wall time of the latest run.
        outlines: The latest run's outlines (GeoDataFrame) or None.

    Everything on the map belongs to the latest run: a new Run, or a new selection in the picker, first
    takes the previous layers, legend, outlines and click read-out off the map.
    """

    def __init__(
        self,
        inputs: Any,
        *,
        checkpoint: str = "",
        checkpoints: Sequence[str] = (),
        m: Any = None,
        out_dir: str | os.PathLike[str] | None = None,
        window: int | None = None,
        stride: int | None = None,
        background: bool = True,
        outlines_min_area_m2: float | None = None,
    ) -> None:
        import ipywidgets as w

        super().__init__()
        self.inputs = inputs
        self.m = m
        self.out_dir = Path(out_dir) if out_dir else None
        self.background = background
        self.result: xr.Dataset | None = None
        self.seconds = float("nan")
        self.layers: dict[str, Any] = {}
        self.filled: list[str] = []
        self.outlines: Any = None
        self._outline_layer: Any = None
        self._min_area = outlines_min_area_m2
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        from glacierlab.accel.bfloat16 import cpu_bf16_support
        from glacierlab.inference.compat import checkpoint_choice_reason, choose_checkpoint, workshop_checkpoints

        self._default_why = ("", "")  # (path shown for "", why that model) - said while the box shows it
        try:  # the box shows the file the next Run uses: "" resolves to the trained or the shipped model
            shown = str(checkpoint) if checkpoint else str(choose_checkpoint(""))
            if not checkpoint:
                self._default_why = (shown, checkpoint_choice_reason(""))
        except GlacierLabError:
            shown = str(checkpoint)
        self.checkpoint = w.Combobox(
            description="Checkpoint",
            value=shown,
            options=list(dict.fromkeys([*(str(c) for c in checkpoints), *map(str, workshop_checkpoints())])),
            ensure_option=False,
            placeholder="path/to/model.safetensors",
        )
        from glacierlab.models.device import available_devices

        self.device = w.Dropdown(description="Device", options=available_devices(), value="auto")
        self._fixed = {"window": window or None, "stride": stride or None}  # explicit values win over stored
        self.options: PredictOptions | None = None
        self.window = w.BoundedIntText(description="Window px", value=window or 384, min=8, max=4096, step=8)
        self.stride = w.BoundedIntText(description="Stride px", value=stride or 192, min=1, max=4096)
        self.tta = w.Checkbox(
            description="Test-time augmentation (8x slower)", value=False, layout=w.Layout(width="max-content")
        )
        self.precision = w.Dropdown(
            description="Precision",
            options=[
                ("auto", "auto"),
                ("float32 (exact)", "float32"),
                ("bfloat16 (fast)" if cpu_bf16_support()[0] else "bfloat16 (GPU; slow on this CPU)", "bfloat16"),
            ],
            value="auto",
            tooltip="auto: bf16 on a GPU, float32 on CPU. bfloat16 is about 2x faster on CPUs with AMX or "
            "AVX512-BF16 (slower elsewhere); lower precision differs from float32 on a few pixels near the 0.5 "
            "decision, and each run is checked against float32 on sampled windows and says so",
        )
        self.mc_samples = w.IntSlider(
            description="MC dropout",
            value=0,
            min=0,
            max=30,
            tooltip="Monte-Carlo dropout passes (0 = off, >= 2 adds an uncertainty layer)",
        )
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Progress")
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(lambda _=None: self.cancel())
        self.checkpoint.observe(self._guarded(self._checkpoint_changed), names="value")
        self._stack_cache: tuple[Any, Any] | None = None
        self.panel = None
        if m is not None:
            from glacierlab_widgets.layers import LayerPanel

            self.panel = LayerPanel(m, title="model")
        self.box.children = [
            self.checkpoint,
            w.HBox([self.device, self.window, self.stride]),
            w.HBox([self.tta, self.mc_samples, self.precision]),
            w.HBox([self.run_button, self.cancel_button, self.progress]),
            self.status,
            *([self.panel.box] if self.panel is not None else []),
        ]
        self._ck_cache: tuple[Any, Any] = (None, None)
        self._guarded(self._checkpoint_changed)()
        if hasattr(inputs, "observe_result"):  # a picker: its new selection makes the drawn map stale
            inputs.observe_result(lambda sel: self._clear(f"{sel.label}: press Run to map it"))

    def _clear(self, note: str) -> None:
        """Take the previous run's layers, legend, outlines and read-out off the map; forget its result."""
        from glacierlab_widgets.maps import remove_layer

        self.result, self.outlines = None, None
        if self.panel is not None:
            self.panel.clear(note)
            self.layers = self.panel.layers
            remove_layer(self.m, self._outline_layer)
            self._outline_layer = None
        self._say(note)
        self._emit(None)

    def _checkpoint_changed(self) -> None:
        """Fill the controls from the chosen checkpoint's stored options and say which model it is."""
        from glacierlab.contract.options import options_for

        ck = self._checkpoint()
        opts = options_for(ck)
        self.options = opts
        self.window.value = self._fixed["window"] or opts.window
        self.stride.value = self._fixed["stride"] or opts.stride
        self.tta.value, self.mc_samples.value = opts.tta, opts.mc_samples
        win = opts.window
        score = f", validation IoU {ck.record.val_iou:.2f}" if ck.record.val_iou is not None else ""
        where = ck.record.region_id or "unknown region"
        why = self._default_why[1] if self.checkpoint.value.strip() == self._default_why[0] else ""
        self._say(
            f"checkpoint {self._checkpoint_path().name} (trained on {where}{score}, {win} px windows); press Run"
            + (f". {why}" if why else "")
        )

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint file the next Run uses (see :func:`glacierlab.inference.compat.choose_checkpoint`)."""
        return self._checkpoint_path()

    def _checkpoint_path(self) -> Path:
        from glacierlab.inference.compat import choose_checkpoint

        return choose_checkpoint(self.checkpoint.value.strip())

    def _checkpoint(self) -> Any:
        from glacierlab.models import load_checkpoint

        path = self._checkpoint_path()
        key = (str(path), path.stat().st_mtime_ns)
        if self._ck_cache[0] != key:
            self._ck_cache = (key, load_checkpoint(path))
        return self._ck_cache[1]

    def _stack(self) -> xr.Dataset:
        src = self.inputs
        if hasattr(src, "selection"):
            if self._stack_cache is None or self._stack_cache[0] != src.selection:
                self._stack_cache = (src.selection, src.selection.stack())
            return self._stack_cache[1]
        if callable(src):
            return src()
        return src

    def scene(self) -> xr.Dataset:
        """The stack the next Run predicts (the picker's current selection, stacked once and cached)."""
        return self._stack()

    def _prepare(self) -> tuple[Any, xr.Dataset, dict[str, Any], list[str]]:
        """Checkpoint, stack and model inputs, checked against each other (raises a glacierlab error)."""
        from glacierlab.inference.compat import model_inputs, require_product_level_fit

        ck = self._checkpoint()
        stack = self._stack()
        require_product_level_fit(ck, stack, self._checkpoint_path().name)
        inputs, filled = model_inputs(stack, ck.bands, fill_missing=True)
        return ck, stack, inputs, [b for bands in filled.values() for b in bands]

    def problem(self) -> str:
        """Why Run would fail on the current scene and checkpoint, in one sentence ('' when it would not)."""
        try:
            self._prepare()
        except GlacierLabError as exc:
            return str(exc)
        return ""

    def run_if_fits(self) -> xr.Dataset | None:
        """Run when the checkpoint fits the scene; otherwise say why in the status line and return None."""
        problem = self.problem()
        if problem:
            self._clear(problem)
            self._say(problem, error=True)
            return None
        return self.run()

    def _on_run(self, _: Any = None) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._say("already running; press Cancel first", error=True)
            return
        job = self._guarded(self.run)
        if self.background:
            self._thread = threading.Thread(target=job, daemon=True, name="glacierlab-model-runner")
            self._thread.start()
        else:
            job()

    def cancel(self) -> None:
        """Ask the running prediction to stop (it stops at the next batch of windows)."""
        self._cancel.set()
        self._say("cancelling...")

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background run started by the Run button has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _callback(self) -> Callable[[int, int], None]:
        def step(done: int, total: int) -> None:
            self.progress.value = done / max(total, 1)
            if self._cancel.is_set():
                raise Cancelled("prediction cancelled by the user; no result was kept.")

        return step

    def run(self) -> xr.Dataset:
        """Predict the scene with the current control values and draw the result.

        Returns:
            The prediction dataset (also in :attr:`result`).

        Raises:
            DataNotFoundError: The checkpoint does not exist. InputError: The checkpoint does not fit the
            scene (product level, groups). Cancelled: Cancel was pressed. Any error of
            :func:`glacierlab.inference.predict.predict_scene` (bad window...).
        """
        from glacierlab.inference.predict import predict_scene

        self._cancel.clear()
        self._clear("running...")  # a failed or cancelled run leaves no earlier model on the map
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.bar_style = 0.0, "info"
        self._say("stacking inputs...")
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {"callback": self._callback()}
        try:
            ck, stack, inputs, self.filled = self._prepare()
            ckpt = self._checkpoint_path()
            if self.filled:  # e.g. NIR of an RGB-only scene: no data for that band, predicted where others are
                kwargs["nodata"] = "all"
            self._say(f"running {ckpt.name} on {stack.sizes['y']} x {stack.sizes['x']} px...")
            result = predict_scene(
                ck,
                inputs,
                window=self.window.value,
                stride=self.stride.value,
                device=self.device.value,
                tta=self.tta.value,
                mc_samples=self.mc_samples.value,
                precision=self.precision.value,
                out_dir=self.out_dir,
                overwrite=True,
                progress=False,
                product_level=stack.attrs.get("product_level") or None,
                **kwargs,
            )
            if self._cancel.is_set():  # predict_scene without a progress hook cannot stop early
                raise Cancelled("prediction cancelled by the user; its result was discarded.")
            self.cancel_button.disabled = True
            return self._finish(result, stack, ckpt, t0)
        except BaseException:
            self.progress.bar_style = "danger"
            raise
        finally:  # Run is pressable again once everything is drawn and the status says "done"
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _finish(self, result: xr.Dataset, stack: xr.Dataset, ckpt: Path, t0: float) -> xr.Dataset:
        """Draw a finished prediction, hand it to the observers (split view...), then say "done" with its figures."""
        self.seconds = time.perf_counter() - t0
        self.result = result
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self._draw(result, stack)
        self._draw_outlines(result)
        mask = result["mask"].values
        valid = mask != 255
        share = float((mask[valid] == 1).mean() * 100) if valid.any() else float("nan")
        note = f"; {', '.join(self.filled)} missing in this scene, fed as no data" if self.filled else ""
        note += " (a robustness check, not the model's skill)" if self.filled else ""
        if "precision_check" in result.attrs:  # int8 / bf16: how close to float32 on sampled windows
            agreement = json.loads(result.attrs["precision_check"]).get("window_agreement", float("nan"))
            note += f"; {result.attrs['precision']}: {100 * agreement:.2f} % of sampled pixels as in float32"
        if self.outlines is not None:
            note += f"; {len(self.outlines)} outlines, {self.outlines['area_km2'].sum():.2f} km2"
        label = f"{stack.attrs.get('region', '')} {stack.attrs.get('scene', '')}"
        self._emit(result)
        self._say(
            f"{ckpt.name} on {label.strip() or 'the scene'}: done in {self.seconds:.1f} s: "
            f"{share:.1f} % of the mapped pixels are glacier "
            f"({valid.mean() * 100:.0f} % of the scene has data){note}"
        )
        return result

    def _draw(self, result: xr.Dataset, stack: xr.Dataset) -> None:
        if self.panel is None:
            return
        from glacierlab.data.stack import group
        from glacierlab.inference.writers import output_path

        files = {n: output_path(self.out_dir, str(n)) for n in result.data_vars} if self.out_dir else {}
        self.panel.extra = {k: stack[k] for k in ("reference", "thermal") if k in stack}
        if "dem" in stack:
            self.panel.extra["elevation"] = group(stack, "dem").sel(band="elevation")
        self.panel.set_layers(
            {str(n): result[n] for n in result.data_vars},
            visible=None if self.panel.chosen else "probability",  # Run again keeps the layer shown
            files={str(k): v for k, v in files.items() if v.is_file()},
        )
        self.layers = self.panel.layers

    def _draw_outlines(self, result: xr.Dataset) -> None:
        """The run's outlines (when asked for): written next to the rasters and drawn over them."""
        if self._min_area is None:
            return
        from glacierlab.outlines.polygons import mask_to_polygons, write_outlines

        self.outlines = mask_to_polygons(result["mask"], min_area_m2=self._min_area)
        if self.out_dir is not None:
            write_outlines(self.outlines, self.out_dir / "outlines.gpkg", overwrite=True)
        if self.panel is not None:
            from glacierlab_widgets.maps import add_outlines

            style = {"color": "yellow", "weight": 1, "fillOpacity": 0.0}  # lines only: layer colours stay true
            self._outline_layer = add_outlines(
                self.m, self.outlines, name="model outlines", style=style, on_click=self.panel.show_feature
            )
