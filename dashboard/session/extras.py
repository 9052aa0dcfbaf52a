"""Optional dependencies, imported only when a command needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from firmware_bridge.errors import ConfigurationError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise a one-line "install gaitcue[extra]" error."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f"{what} needs the {module} package: pip install 'gaitcue[{extra}]'"
        ) from None
