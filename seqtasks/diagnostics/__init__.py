"""Diagnostics of recurrent training: gradient flow through time, gradient clipping, long-range memory.

* `seqtasks.diagnostics.gradients` — norm of d(loss at the last step)/d(input or hidden state at step t) for
  cell configurations or a trained run; PNG + CSV + summary (fitted decay per step, 1e-6 horizon).
* `seqtasks.diagnostics.clipping` — an exploding network trained with and without gradient clipping.
* `seqtasks.diagnostics.sweep` — longest T each cell solves on the `memory` task (adding problem / copy task).
* `seqtasks.diagnostics.alignment` — a CTC speech model's spectrogram + per-frame alignment as a PNG.

Modules are imported on use (they pull in TensorFlow and matplotlib); run them with
`python -m seqtasks.diagnostics gradients|clipping|sweep --help`.
"""
