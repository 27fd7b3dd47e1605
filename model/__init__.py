"""Person background removal at inference time: the shipped network and the cutout pipeline (no web code)."""

from pathlib import Path

SHIPPED_MODEL = Path(__file__).resolve().parent / "person_deeplabv3plus_mnv2.keras"
