"""The checkpoint contract: what a checkpoint stores and promises, below both ``models`` and ``inference``.

Numpy only (no torch). A checkpoint's header carries, as typed fields:

* :class:`~glacierlab.contract.options.PredictOptions`: the inference settings it is run with;
* :class:`~glacierlab.contract.calibration.Calibrator`: its probability calibrators (and the confidence
  conventions of :mod:`~glacierlab.contract.confidence` they act on);
* :class:`~glacierlab.contract.split.SpatialSplit`: the spatial train/val/test split it was trained on;
* :class:`~glacierlab.contract.record.TrainingRecord`: the training run (strategy, region, window,
  scores, sources) and the inputs' product level.

``models`` writes and reads them (``models.checkpoint``); ``inference``, ``training``, ``reports`` and
``batch`` use them. Importing this package is cheap.

It exports no names: import each from its module (e.g. ``from glacierlab.contract.options import
PredictOptions``), so a name has one spelling.
"""
