"""Plugins: a user's file or module that registers losses, models and noise models with our own decorators.

    # my_losses.py
    from docrobust.models.losses import DocRELoss, register_loss

    @register_loss("margin-atl")
    class MarginATL(DocRELoss): ...

A plugin is named by a path (`my_losses.py`, relative to the bench.toml that lists it) or an importable module
(`mypkg.docre`): in bench.toml's `[plugins] modules`, with `--plugin` on any command that takes a name, or as
an entry point of the group `docrobust.plugins` in an installed package's metadata (loaded at start-up).
Loading one is importing it once per process; each registration records the plugin as its source, so a
name that collides with ours is refused naming both. Its fingerprint (a file's content hash; an installed
package's name, version and module files' hash) goes into the config hash of the cells that use its names,
so editing a plugin reruns exactly those cells.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from .errors import DocrobustError
from .registry import REGISTERING, Registry

__all__ = ["ENTRY_POINT_GROUP", "Plugin", "load_entry_points", "load_plugin", "load_plugins", "loaded_plugins",
           "plugin_names"]

ENTRY_POINT_GROUP = "docrobust.plugins"


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: `source` (an absolute file path or a module name) and its `fingerprint`."""
    source: str
    fingerprint: str


_LOADED: dict[str, Plugin] = {}  # by source: a plugin is imported once per process


def loaded_plugins() -> dict[str, Plugin]:
    """Every plugin loaded in this process, by source."""
    return dict(_LOADED)


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def _file_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _module_files(module) -> list[Path]:
    """The source files of a module: its file, or every .py file of a package's folder."""
    file = Path(getattr(module, "__file__", None) or "")
    if file.name == "__init__.py":
        return sorted(file.parent.rglob("*.py"))
    return [file] if file.is_file() else []


def _last_frame(error: BaseException, source: str) -> str:
    """`Type: message (file:line in function)` of the exception's innermost frame in the plugin's own file (the
    user's line), else its innermost frame."""
    frames = traceback.extract_tb(error.__traceback__)
    frames = [f for f in frames if f.filename == source] or frames
    where = f" ({frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}{where}"


def _module_name(path: str) -> str:
    """The module name a plugin file is imported as: one per path."""
    return f"docrobust_plugin_{hashlib.sha256(path.encode()).hexdigest()[:12]}"


def _import(spec: str, source: str) -> object:
    """The module of a plugin: a module name is imported; a file (`source`, its resolved path) is imported as a
    module of its own, named by _module_name."""
    if not _is_path(spec):
        return importlib.import_module(spec)
    path = Path(source)
    if not path.is_file():
        raise DocrobustError(f"plugin {spec}: no such file {source!r}")
    name = _module_name(source)
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # pickling by reference (loky, Dask) finds the plugin's classes here
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _registered() -> int:
    return sum(len(registry) for registry in Registry.made)


def load_plugin(spec: str, base: str | os.PathLike | None = None, *, dist: str | None = None) -> Plugin:
    """Import a plugin (a file path, relative to `base`, or a module name) once; a plugin that fails to import or
    registers nothing is a one-line DocrobustError naming it and the exception's last frame. `dist`: the installed
    package (name==version) an entry point comes from, part of the fingerprint."""
    source = str(((Path(base) if base else Path.cwd()) / Path(spec).expanduser()).resolve()) if _is_path(spec) else spec
    if source in _LOADED:
        return _LOADED[source]
    before = _registered()
    token = REGISTERING.set((source, _module_name(source) if _is_path(spec) else spec))
    try:
        module = _import(spec, source)
    except (DocrobustError, KeyboardInterrupt):
        raise
    except BaseException as error:  # a plugin's own bug, shown in one line instead of a traceback
        raise DocrobustError(f"plugin {spec}: failed to import: {_last_frame(error, source)}") from None
    finally:
        REGISTERING.reset(token)
    if _registered() == before:
        raise DocrobustError(f"plugin {spec}: registers nothing; decorate a loss, model or noise model with "
                             "register_loss, register_model or noise_model (README: Plugins)")
    files = _file_hash(_module_files(module))
    plugin = Plugin(source, f"{dist}:{files}" if dist else files)
    _LOADED[source] = plugin
    return plugin


def load_plugins(specs: list[str] | tuple[str, ...], base: str | os.PathLike | None = None) -> list[Plugin]:
    """load_plugin for each spec, in order."""
    return [load_plugin(spec, base) for spec in specs]


def plugin_names(source: str) -> list[str]:
    """`kind:name` of everything the plugin `source` registered (`loss:margin-atl`, `noise model:fn-entity`)."""
    return [f"{registry.kind}:{name}" for registry in Registry.made for name in registry.names_from(source)]


def load_entry_points() -> list[Plugin]:
    """Load every installed package's `docrobust.plugins` entry points (their modules); each fingerprinted by the
    package's name, version and module files."""
    return list(_entry_points(tuple(sys.path)))


@functools.lru_cache(maxsize=None)
def _entry_points(search_path: tuple[str, ...]) -> tuple[Plugin, ...]:
    """load_entry_points, once per module search path: reading every installed package's metadata takes
    milliseconds, which a worker would otherwise spend on every cell."""
    plugins = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{entry.dist.name}=={entry.dist.version}" if entry.dist else None
        plugins.append(load_plugin(entry.value.split(":")[0].strip(), dist=dist))
    return tuple(plugins)
