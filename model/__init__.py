"""Person background removal at inference time: the shipped network and the cutout pipeline (no web code).

`from model import remove` is the Python API (model/api.py); it is imported on first use, so that the
service's modules that only need SHIPPED_MODEL do not load the pipeline through this package.
"""

from pathlib import Path

SHIPPED_MODEL = Path(__file__).resolve().parent / "person_deeplabv3plus_mnv2.keras"

_API = {"remove": "model.api", "Cutout": "model.api", "CutoutError": "model.errors"}
__all__ = ["SHIPPED_MODEL", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
