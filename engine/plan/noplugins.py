"""pydantic without its search for plugins, which costs `phasegate run` about 30 ms at start-up.

When pydantic builds its first model it imports `pydantic.plugin._loader`, which imports
`importlib.metadata` (and with it email, zipfile, csv and more) and reads the entry points of
every installed package, looking for the instrumentation plugins of the `pydantic` group. The
plan model is phasegate's own and validated once per command: a plugin has nothing to observe
there. So the loader is replaced, before pydantic first asks for it, by one that finds none.

Set PHASEGATE_PYDANTIC_PLUGINS=1 to keep pydantic's own loader (and its plugins)."""

from __future__ import annotations

import os
import sys
import types

LOADER = "pydantic.plugin._loader"
ON = ("1", "true", "yes")  # PHASEGATE_PYDANTIC_PLUGINS values that keep pydantic's own loader


def _get_plugins() -> tuple[()]:
    return ()


def install() -> None:
    """Give pydantic a plugin loader that finds no plugin (once; never over the real one)."""
    if LOADER in sys.modules or os.environ.get("PHASEGATE_PYDANTIC_PLUGINS", "") in ON:
        return
    stub = types.ModuleType(LOADER, "phasegate: pydantic plugins are not searched for")
    stub.get_plugins = _get_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER] = stub
