"""The local run: template.yaml's API served on 127.0.0.1 against an embedded AWS emulator."""

import sys
from pathlib import Path

# The layer's package, importable as in Lambda (/opt/python), for key generation.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
