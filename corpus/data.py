"""Where the data lives, the registry of known DocRED-family files, and verified downloads.

Location: an explicit `--data-dir`, else `DOCROBUST_DATA`, else `~/.cache/docrobust`. Files keep the
layout of the registry (`redocred/dev_revised.json`, `docred/dev.json`, `meta/rel2id.json`, ...).
A download goes to a temporary file beside its target, is checked against the registry's checksum and
size, and only then renamed into place, so an interrupted download never leaves a file that looks
complete.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .io import CorpusError

DEFAULT_DATA_DIR = Path("~/.cache/docrobust")
MIRROR_ENV = "DOCROBUST_MIRROR"  # base URL of a mirror with the registry's layout (also used by the tests)

_REDOCRED = "https://raw.githubusercontent.com/tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/data/"
_SSRPU = "https://raw.githubusercontent.com/www-Ye/SSR-PU/main/dataset/docred/"
_HWE = "https://raw.githubusercontent.com/Hytn/DocRED-HWE/main/dataset/docred/"


@dataclass(frozen=True)
class DataFile:
    """A known file: where it goes, where it comes from, and how it is checked.

    `checksum` is "sha256:<hex>" or "git-blob:<sha1 of 'blob <size>\\0' + content>" (Re-DocRED's
    files are pinned by their git blob ids); a shortened sha256 prefix is accepted only together with
    the exact size, for the official files whose full digest is not published beside them.
    """
    name: str
    path: str
    url: str
    checksum: str
    size: int | None
    description: str


REGISTRY: dict[str, DataFile] = {f.name: f for f in [
    DataFile("redocred-train", "redocred/train_revised.json", _REDOCRED + "train_revised.json",
             "git-blob:1ba485adf8e4cb789c441de2f6fe41de95690caa", None, "Re-DocRED train, 3,053 documents"),
    DataFile("redocred-dev", "redocred/dev_revised.json", _REDOCRED + "dev_revised.json",
             "sha256:051ee1d057204a5d08ef5502beacdadf191245b5eaf0e29ec2c607cf002c016f", None, "Re-DocRED dev, 500 documents"),
    DataFile("redocred-test", "redocred/test_revised.json", _REDOCRED + "test_revised.json",
             "sha256:ea673b7ef91e16510d7eb88863d3903e47318dc5653ef361266f27ae3b84723c", None, "Re-DocRED test, 500 documents"),
    DataFile("docred-train", "docred/train_annotated.json", _HWE + "train_annotated.json",
             "sha256:7e706348", 13_029_595, "DocRED train_annotated, 3,053 documents (original labels)"),
    DataFile("docred-dev", "docred/dev.json", _HWE + "dev.json",
             "sha256:85691c5ca1df0048bffab1c1cf53d7d35b5de40f3de0a2c563c03da28746d5cb", 4_299_810,
             "DocRED dev, 1,000 documents (original labels; the documents of Re-DocRED dev+test)"),
    DataFile("docred-dev-ext", "docred/dev_ext.json", _SSRPU + "dev_ext.json",
             "sha256:d868f207c125e59d0934c93456d57297c49c8ad89c5cb5b735cf2ae8488ffcae", None,
             "DocRED dev with one label per relation type per document (SSR-PU)"),
    DataFile("docred-test", "docred/test.json", _HWE + "test.json",
             "sha256:09386b5cb58249d8e087863c379ebd64557169c52ee502193d2f4f215e704ae8", None, "DocRED test, unlabeled"),
    DataFile("docred-train-facts", "docred/train_annotated.fact", _SSRPU + "ref/train_annotated.fact",
             "sha256:c89cfb33a64633d25f1dc370af4c5a897c8b5f236e5e51c3a2ad9bc39ae9a886", None,
             "facts of DocRED train_annotated, for Ign F1"),
    DataFile("rel-info", "meta/rel_info.json", _SSRPU + "rel_info.json",
             "sha256:5ecf4e5e55c179fc83a3a3d19baa01efffecb26ba5edc0b4ac5a54ddf61fe3de", None, "relation id -> name"),
    DataFile("rel2id", "meta/rel2id.json", _SSRPU + "meta/rel2id.json",
             "sha256:b671eee2c3edb7bd44bede98ce6e292cbd154bbf9202c939b816c5a79063b5e3", None,
             "relation id -> label column, Na = 0"),
]}


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """`explicit` (the --data-dir option) > $DOCROBUST_DATA > ~/.cache/docrobust."""
    chosen = explicit or os.environ.get("DOCROBUST_DATA") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def resolve_path(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A file as given if it exists, else the same relative path inside the data folder, else as given."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    in_data = resolve_data_dir(data_dir) / path
    return in_data if in_data.exists() else path


def lookup(name: str) -> DataFile:
    if name not in REGISTRY:
        raise CorpusError(f"unknown data file {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


class _Digest:
    """sha256 or git-blob sha1 over a stream, matching a DataFile's checksum."""

    def __init__(self, checksum: str):
        self.kind, self.expected = checksum.split(":", 1)
        self.hash = hashlib.sha1() if self.kind == "git-blob" else hashlib.sha256()

    def matches(self, path: Path) -> bool:
        if self.kind == "git-blob":
            self.hash.update(b"blob %d\0" % path.stat().st_size)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                self.hash.update(block)
        return self.hash.hexdigest().startswith(self.expected)


def verify(file: DataFile, path: Path) -> str | None:
    """None when `path` matches the registry entry, else why not."""
    if file.size is not None and path.stat().st_size != file.size:
        return f"size {path.stat().st_size} bytes, expected {file.size}"
    if not _Digest(file.checksum).matches(path):
        return f"checksum differs from {file.checksum}"
    return None


def download(name: str, data_dir: str | os.PathLike | None = None, *, mirror: str | None = None, force: bool = False,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 60.0) -> Path:
    """Fetch a registry file into the data folder, verified; return its path.

    `mirror` (or $DOCROBUST_MIRROR) replaces the public URL with `<mirror>/<path>`. An existing file
    that verifies is kept unless `force`.
    """
    file = lookup(name)
    target = resolve_data_dir(data_dir) / file.path
    if target.exists() and not force and verify(file, target) is None:
        return target
    mirror = mirror or os.environ.get(MIRROR_ENV)
    url = f"{mirror.rstrip('/')}/{file.path}" if mirror else file.url
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        problem = verify(file, tmp)
        if problem:
            raise CorpusError(f"{name}: download from {url} failed verification ({problem}); nothing was written")
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError) as e:
        raise CorpusError(f"{name}: cannot download {url} ({getattr(e, 'reason', e)}); "
                          f"put the file at {target} by hand or set {MIRROR_ENV}") from None
    finally:
        tmp.unlink(missing_ok=True)


def status(data_dir: str | os.PathLike | None = None, check: bool = False) -> list[dict]:
    """Every registry file with whether it is present (and, with `check`, whether it verifies)."""
    root = resolve_data_dir(data_dir)
    rows = []
    for file in REGISTRY.values():
        path = root / file.path
        state = "missing"
        if path.is_file():
            state = "present" if not check else ("ok" if verify(file, path) is None else "corrupt")
        rows.append({"name": file.name, "path": file.path, "state": state, "description": file.description})
    return rows
