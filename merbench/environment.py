"""What a run records about the software and machine it ran on."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import merbench


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The git commit of merbench's source tree when it is a checkout, else ``None``."""
    source = Path(merbench.__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None
    try:
        result = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def describe_environment(device: str) -> dict[str, str | None]:
    """Versions of merbench and its main dependencies, Python, platform and device."""
    import cv2
    import torch

    return {
        "merbench": merbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "timm": package_version("timm"),
        "numpy": package_version("numpy"),
        "scikit-learn": package_version("scikit-learn"),
        "opencv": cv2.__version__,
        "platform": platform.platform(),
        "torch_threads": str(torch.get_num_threads()),
        "git_commit": git_commit(),
    }
