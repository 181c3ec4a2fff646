"""Reading a user's YAML file (run config, search space, regression baseline) with one clear error per fault.

Always ``yaml.safe_load``: a YAML file never builds Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from merbench.errors import UsageError


def read_yaml(path: Path, where: str, *, kind: str, example: Path | str, when_missing: str = "") -> Any:
    """The parsed contents of ``path`` (``None`` for an empty file).

    ``where`` names the file in messages (e.g. ``"--config run.yaml"``),
    ``kind`` says what the file should be ("YAML file of options"),
    ``example`` is a file name to suggest when ``path`` is a folder, and
    ``when_missing`` tells how to get the file when it does not exist.
    Raises ``UsageError`` naming ``where`` for a folder, a missing, unreadable,
    binary or malformed file.
    """
    if path.is_dir():
        raise UsageError(f"{where}: is a folder; give a {kind} such as {example}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: file not found" + (f"; {when_missing}" if when_missing else "")) from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a text file (it is not UTF-8); give a {kind}") from None
    except OSError as exc:
        raise UsageError(f"{where}: cannot be read ({exc.strerror or exc}); check the path and its permissions") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
