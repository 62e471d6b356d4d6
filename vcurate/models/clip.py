"""open_clip models for the alignment stage and `vcurate clip-fit`.

The project registers its own small configs (configs/*.json) with open_clip's factory, so they are
created like any built-in model. Weights come from an open_clip pretrained tag, a plain open_clip
state dict, or a `vcurate clip-fit` checkpoint (which also stores the model name and a calibrated
threshold). Every problem with a model or checkpoint is a `ClipModelError` raised before any video
is processed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch

from vcurate import devices
from vcurate.checkpoints import load_weights_only
from vcurate.errors import VcurateError
from vcurate.models.sizes import BUNDLED_CONFIGS, image_size

_registered = False


class ClipModelError(VcurateError, ValueError):
    """An unknown model, a missing or unreadable checkpoint, or weights that do not fit."""


def register_configs() -> None:
    global _registered
    if not _registered:
        open_clip.add_model_config(BUNDLED_CONFIGS)
        _registered = True


def model_config(name: str) -> dict:
    register_configs()
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        bundled = sorted(p.stem for p in BUNDLED_CONFIGS.glob("*.json"))
        raise ClipModelError(f"unknown open_clip model {name!r} (bundled: {', '.join(bundled)}; "
                             f"open_clip knows {len(open_clip.list_models())} others, e.g. ViT-B-32)")
    return cfg


def is_checkpoint_path(pretrained: str) -> bool:
    return Path(pretrained).suffix in {".pt", ".pth", ".bin"} or "/" in pretrained or Path(pretrained).exists()


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint as a dict with at least `state_dict`; never unpickles arbitrary objects."""
    data = load_weights_only(path, ClipModelError, "CLIP checkpoint")
    if isinstance(data, dict) and "state_dict" in data:
        return data
    if isinstance(data, dict) and all(isinstance(v, torch.Tensor) for v in data.values()):
        return {"state_dict": data}
    raise ClipModelError(f"{path} is not a CLIP checkpoint (expected a state dict)")


@dataclass
class LoadedClip:
    model: torch.nn.Module
    tokenizer: object
    name: str
    device: torch.device
    image_size: int
    mean: np.ndarray
    std: np.ndarray
    threshold: float | None  # calibrated by clip-fit, when the checkpoint has one

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(captions).to(self.device)
        with self._autocast():
            return torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def pixels(self, frames: np.ndarray) -> torch.Tensor:
        """(n, S, S, 3) uint8 RGB -> the normalised (n, 3, S, S) tensor the image tower takes."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255
        mean = torch.as_tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.as_tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """(n, S, S, 3) uint8 RGB at the model's image size -> (n, d) unit embeddings."""
        with self._autocast():
            return torch.nn.functional.normalize(self.model.encode_image(self.pixels(frames)).float(), dim=-1)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.device.type == "cuda" else torch.autocast("cpu", enabled=False)


def check_pretrained_tag(name: str, tag: str, fetch: bool = False) -> None:
    """The tag must exist; with `fetch`, its weights are also fetched into open_clip's cache now (on
    the driver, once), so an offline machine fails here with a clear message, not in an actor."""
    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag not in tags:
        known = f"tags: {', '.join(tags)}" if tags else "it has none: give a checkpoint path"
        raise ClipModelError(f"open_clip has no pretrained tag {tag!r} for {name!r} ({known}; random weights: "
                             "align.pretrained null, --set align.pretrained=null)")
    if fetch:
        from open_clip.pretrained import download_pretrained, get_pretrained_cfg

        try:
            download_pretrained(get_pretrained_cfg(name, tag))
        except Exception as exc:  # network, hub and cache errors alike
            raise ClipModelError(
                f"cannot fetch pretrained weights {name}/{tag} ({type(exc).__name__}: {str(exc)[:200]}); offline? "
                "pass a local checkpoint with --clip-pretrained (e.g. from `vcurate clip-fit`)"
            ) from exc


def resolve_device(device: str) -> torch.device:
    return devices.resolve_device(device, ClipModelError, "align.device")


def load_clip(name: str, pretrained: str | None, device: str = "auto") -> LoadedClip:
    model_config(name)
    dev = resolve_device(device)
    threshold = None
    if pretrained is None:
        logging.getLogger(__name__).warning("CLIP %s has random weights: alignment scores are meaningless", name)
        with torch.random.fork_rng(devices=[]):  # the same random weights in every actor and every run
            torch.manual_seed(0)
            model = open_clip.create_model(name, pretrained=None, device="cpu")
        model = model.to(dev)
    elif is_checkpoint_path(pretrained):
        ckpt = read_checkpoint(pretrained)
        saved_name = ckpt.get("model")
        if saved_name and saved_name != name:
            raise ClipModelError(f"checkpoint {pretrained} holds a {saved_name!r} model, config asks for {name!r}")
        model = open_clip.create_model(name, pretrained=None, device="cpu")
        try:
            model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise ClipModelError(f"checkpoint {pretrained} does not fit model {name!r}: {str(exc)[:300]}") from exc
        model = model.to(dev)
        threshold = ckpt.get("threshold")
    else:
        check_pretrained_tag(name, pretrained)
        try:
            model = open_clip.create_model(name, pretrained=pretrained, device=dev)
        except Exception as exc:  # download or cache failures
            raise ClipModelError(f"cannot load pretrained {name}/{pretrained} (offline? use a local checkpoint path): {exc}") from exc
    model.eval()
    return wrap_model(model, name, dev, threshold)


def wrap_model(model: torch.nn.Module, name: str, device: torch.device, threshold: float | None = None) -> LoadedClip:
    """A created open_clip model with its tokenizer and pixel normalisation."""
    pre = open_clip.get_model_preprocess_cfg(model)
    return LoadedClip(
        model=model,
        tokenizer=open_clip.get_tokenizer(name),
        name=name,
        device=device,
        image_size=image_size(name),
        mean=np.asarray(pre["mean"], dtype=np.float32),
        std=np.asarray(pre["std"], dtype=np.float32),
        threshold=float(threshold) if threshold is not None else None,
    )
