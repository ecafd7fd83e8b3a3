"""Failures of a documented call path that are known upstream, matched by their error text.

A path that fails is recorded as failed (never silently dropped); when the failure is a known
bug of the framework, the record names the upstream issue so a reader can check whether a newer
release fixed it. One row per issue; checked on the versions pinned in requirements.lock.
"""

from __future__ import annotations

import re

KNOWN: tuple[tuple[str, str, str], ...] = (
    # (regex over "ExceptionType: message", upstream issue, what it means)
    (r"'method' object has no attribute '__dict__'",
     "Lightning-AI/pytorch-lightning#21836, pytorch/pytorch#190171",
     "a torch.compile'd LightningModule that calls self.log() in training_step crashes in "
     "Dynamo on torch 2.12/2.13; fixed in Lightning after 2.6.6 (PR #21837)"),
    (r"Attempt to convert a value \(PerReplica",
     "keras-team/keras#20585",
     "Keras 3 fit under tf.distribute.MultiWorkerMirroredStrategy hands a PerReplica value to "
     "an op expecting a tensor (TensorFlow's own multi-worker Keras tutorial fails the same way;"
     " open since TF 2.16, tensorflow/tensorflow#72388)"),
)


def upstream(error: str) -> str | None:
    """The upstream issue of a known failure, or None."""
    return next((issue for pattern, issue, _ in KNOWN if re.search(pattern, error)), None)
