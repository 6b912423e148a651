"""The frameworks the harness knows and their execution modes (the first mode is each one's default).

Kept apart from `suites.py` so that the validation layer can name them without importing suites.
"""

from __future__ import annotations

FRAMEWORKS = ("torch", "tf")
# Execution modes per framework; the first is the default ("" in a RunSpec).
MODES: dict[str, tuple[str, ...]] = {"torch": ("eager", "compile"), "tf": ("function", "xla", "eager")}
DEFAULT_MODES = {fw: modes[0] for fw, modes in MODES.items()}
ALL_MODES = tuple(dict.fromkeys(m for modes in MODES.values() for m in modes))
IMPORT_NAME = {"torch": "torch", "tf": "tensorflow"}
INSTALL_HINT = {"torch": "pip install torch==2.13.0", "tf": "pip install tensorflow-cpu==2.21.0"}
