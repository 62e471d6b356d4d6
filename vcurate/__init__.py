"""vcurate: raw captioned video archives -> clean webdataset shards -> a trained video diffusion model."""
__version__ = "0.1.0"
