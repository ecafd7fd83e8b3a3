"""A static proof that every adapter implements ``frameworks.base.Adapter`` (fairness rule 1's
one contract): ``make lint`` type-checks this module with mypy, so an adapter that drops or
changes a member the scenarios use fails the build. Never imported at run time (it would import
every framework into one process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twinbench.frameworks.base import Adapter
    from twinbench.frameworks.keras.adapter import KerasAdapter
    from twinbench.frameworks.lightning.adapter import LightningAdapter
    from twinbench.frameworks.pytorch.adapter import TorchAdapter

    def _torch(a: TorchAdapter) -> Adapter:
        return a

    def _lightning(a: LightningAdapter) -> Adapter:
        return a

    def _keras(a: KerasAdapter) -> Adapter:
        return a
