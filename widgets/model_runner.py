"""Model runner: checkpoint, device, window/stride, TTA and MC-dropout, run/cancel, results on the map.

Wraps :func:`glacierlab.inference.predict.predict_scene`; the result (probability, mask, confidence
[, uncertainty]) is kept in :attr:`ModelRunner.result` and drawn on the map. Choosing a checkpoint fills
the controls from the inference options stored in it (:mod:`glacierlab.inference.options`), so the
widget makes the same map as the CLI and the reports; changed controls override them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierlab.errors import GlacierLabError, InputError
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.inference.options import PredictOptions

#: Layer styles: variable -> (colormap, vmin, vmax, nodata).
LAYER_STYLES = {
    "probability": ("Blues", 0.0, 1.0, None),
    "mask": ("Blues", 0.0, 1.0, 255),
    "confidence": ("magma", 0.0, 1.0, None),
    "uncertainty": ("inferno", 0.0, 0.5, None),
}


class Cancelled(GlacierLabError, RuntimeError):
    """The user pressed Cancel while the model was running."""


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and one ``cuda:i`` per visible GPU."""
    import torch

    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


class ModelRunner(WidgetBase):
    """Run a checkpoint over the selected scene and show the result layers.

    Args:
        inputs: The scene: a stack (``xr.Dataset`` from :func:`glacierlab.data.stack.stack_region`), a
            :class:`~glacierlab_widgets.region_picker.RegionPicker` (its current selection is stacked at
            run time) or a zero-argument callable returning a stack.
        checkpoint: Initial checkpoint path.
        checkpoints: Paths offered in the checkpoint box (it also takes any typed path).
        m: Map to draw the results on (None: no map).
        out_dir: Folder for the COG outputs (then the layers are tiled from the files); None keeps the
            result in memory (layers drawn as image overlays).
        window: Window side in px; None = the checkpoint's stored window.
        stride: Step between windows in px; None = the checkpoint's stored stride.
        background: Run the Run button's job in a thread so Cancel can be clicked (interactive use);
            :meth:`run` called from code always runs in the foreground.

    Attributes:
        result: The latest prediction (``xr.Dataset``) or None.
        filled: Checkpoint bands the latest scene lacked, fed as no data (e.g. ``["nir"]`` for RGB).
        seconds: Wall time of the latest run.
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
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoint = w.Combobox(
            description="Checkpoint",
            value=str(checkpoint),
            options=[str(c) for c in checkpoints],
            ensure_option=False,
            placeholder="path/to/model.safetensors",
        )
        self.device = w.Dropdown(description="Device", options=available_devices(), value="auto")
        self._fixed = {"window": window, "stride": stride}  # explicit values win over the checkpoint's
        self.options: PredictOptions | None = None
        self.window = w.BoundedIntText(description="Window px", value=window or 384, min=8, max=4096, step=8)
        self.stride = w.BoundedIntText(description="Stride px", value=stride or 192, min=1, max=4096)
        self.tta = w.Checkbox(description="Test-time augmentation (8x slower)", value=False)
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
        self.checkpoint.observe(lambda change: self._load_options(change["new"]), names="value")
        self._load_options(self.checkpoint.value)
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(lambda _=None: self.cancel())
        self.box.children = [
            self.checkpoint,
            w.HBox([self.device, self.window, self.stride]),
            w.HBox([self.tta, self.mc_samples]),
            w.HBox([self.run_button, self.cancel_button, self.progress]),
            self.status,
        ]

    def _load_options(self, path: str) -> None:
        """Fill the controls from the checkpoint's stored options (silently keeps them for unreadable paths)."""
        from glacierlab.inference.options import options_from_header
        from glacierlab.models.model_card import header_of

        if not str(path).strip():
            return
        try:
            opts = options_from_header(header_of(str(path).strip()))
        except (GlacierLabError, OSError):
            return  # a path being typed, or not a checkpoint: run() reports it
        self.options = opts
        self.window.value = self._fixed["window"] or opts.window
        self.stride.value = self._fixed["stride"] or opts.stride
        self.tta.value, self.mc_samples.value = opts.tta, opts.mc_samples

    def _stack(self) -> xr.Dataset:
        src = self.inputs
        if hasattr(src, "selection"):
            return src.selection.stack()
        if callable(src):
            return src()
        return src

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
            InputError: No checkpoint given. Cancelled: Cancel was pressed. Any error of
            :func:`glacierlab.inference.predict.predict_scene` (bad window, missing bands...).
        """
        from glacierlab.inference.compat import check_product_level, model_inputs
        from glacierlab.inference.predict import predict_scene
        from glacierlab.models import load_checkpoint

        ckpt = self.checkpoint.value.strip()
        if not ckpt:
            raise InputError(
                "choose a checkpoint first (a .safetensors file written by glacierlab train "
                "or save_checkpoint)."
            )
        self._cancel.clear()
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.bar_style = 0.0, "info"
        self._say("stacking inputs...")
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {"callback": self._callback()}
        try:
            stack = self._stack()
            ck = load_checkpoint(ckpt)
            check_product_level(ck, stack, Path(ckpt).name)
            inputs, filled = model_inputs(stack, ck.bands, fill_missing=True)
            self.filled = [b for bands in filled.values() for b in bands]
            if self.filled:  # e.g. NIR of an RGB-only scene: no data for that band, predicted where others are
                kwargs["nodata"] = "all"
            self._say(f"running {Path(ckpt).name} on {stack.sizes['y']} x {stack.sizes['x']} px...")
            result = predict_scene(
                ck,
                inputs,
                window=self.window.value,
                stride=self.stride.value,
                device=self.device.value,
                tta=self.tta.value,
                mc_samples=self.mc_samples.value,
                out_dir=self.out_dir,
                overwrite=True,
                progress=False,
                product_level=stack.attrs.get("product_level") or None,
                **kwargs,
            )
            if self._cancel.is_set():  # predict_scene without a progress hook cannot stop early
                raise Cancelled("prediction cancelled by the user; its result was discarded.")
        except BaseException:
            self.progress.bar_style = "danger"
            raise
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True
        self.seconds = time.perf_counter() - t0
        self.result = result
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self._draw(result)
        share = float((result["mask"].values == 1).mean() * 100)
        note = (
            f"; {', '.join(self.filled)} missing in this scene, fed as no data (a robustness check, not the "
            "model's skill)"
            if self.filled
            else ""
        )
        self._say(f"done in {self.seconds:.1f} s: {share:.1f} % of the pixels mapped as glacier{note}")
        self._emit(result)
        return result

    def _draw(self, result: xr.Dataset) -> None:
        if self.m is None:
            return
        from glacierlab_widgets.maps import add_raster, remove_layer

        for layer in self.layers.values():
            remove_layer(self.m, layer)
        self.layers = {}
        files = {name: self.out_dir / f"{name}.tif" for name in result.data_vars} if self.out_dir else {}
        for name in result.data_vars:
            cmap, vmin, vmax, nodata = LAYER_STYLES.get(str(name), ("viridis", None, None, None))
            data: Any = files[name] if name in files and files[name].is_file() else result[name]
            self.layers[str(name)] = add_raster(
                self.m,
                data,
                name=f"model {name}",
                colormap=cmap,
                vmin=vmin,
                vmax=vmax,
                nodata=nodata,
                opacity=0.7,
            )
