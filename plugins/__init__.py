"""merbench's built-in plugins, installed as ``merbench_plugins``.

Each module here that implements a hook is registered through the ``merbench``
entry-point group in ``pyproject.toml``, exactly like a third-party plugin.
"""
