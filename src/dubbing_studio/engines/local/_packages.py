"""Finding data shipped inside installed packages, without importing them.

Model packages are located with ``importlib.util.find_spec`` so that ``info()`` stays cheap and
no site-packages path is ever hard-coded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(name: str) -> Path | None:
    """The folder of an installed top-level package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def missing_packages(*names: str) -> list[str]:
    """Which of the named packages (import names) are not installed."""
    return [name for name in names if package_dir(name) is None]
