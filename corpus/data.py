"""Where the data lives, the registry of known DocRED-family files, and verified downloads.

Location: an explicit `--data-dir`, else `DOCROBUST_DATA`, else `~/.cache/docrobust`. Files keep the
layout of the registry (`redocred/dev_revised.json`, `docred/dev.json`, `meta/rel2id.json`, ...).
A download goes to a temporary file beside its target, is checked against the registry's full checksum,
and only then renamed into place, so an interrupted download never leaves a file that looks
complete.

Corpora in other formats are registered twice: their published files (REGISTRY, verified as above) and
the DocRED JSON converted from them (CONVERTED: `cdr-train` is `cdr/train.json`, from the CDR training
set's PubTator file). Downloading a converted name fetches its sources and converts them; a bundle name
(BUNDLES: `cdr`) stands for its files. A converted file goes into the data folder, or, when that is
read-only (a shared copy of the corpora), into converted/ in the cache ($DOCROBUST_CACHE, else
~/.cache/docrobust); `resolve_path` looks in both. Beside it, `<name>.conversion.json` records the
sources' checksums, the converter's version and every dropped mention and relation; a converted file
whose record disagrees with its sources, the converter or its own bytes is converted again.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
import typing
from typing import Callable

from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, dumps_json, read_json, suggest,
                            temporary_beside)

DEFAULT_DATA_DIR = Path("~/.cache/docrobust")
MIRROR_ENV = "DOCROBUST_MIRROR"  # base URL of a mirror with the registry's layout (also used by the tests)

# Every URL is pinned to a commit, so a file can never change under its checksum.
_REDOCRED = "https://raw.githubusercontent.com/tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/"
_SSRPU = "https://raw.githubusercontent.com/www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/"
_HWE = "https://raw.githubusercontent.com/Hytn/DocRED-HWE/03d7ed9e49ecf3a7af4c5b905a1e2da2e146905a/"
_REVISIT = "https://raw.githubusercontent.com/AndrewZhe/Revisit-DocRED/6de7239707967b0ec01fbf4aa8b6afaa1da9a146/"
_CDR = "https://raw.githubusercontent.com/JHnlp/BioCreative-V-CDR-Corpus/dd0b3165a94338874979a2a8aaedf74b67466b9c/"
# the full CDR release (BioCreative V, Li et al., 2016) as SSGU-CD keeps it, byte for byte the official files
_CDR_FULL = ("https://raw.githubusercontent.com/NomitaChandra/SSGU-CD-all/a66ce32b259f8086cd467eb7d959c665e19062ad/"
             "dataset/cdr/")


@dataclass(frozen=True)
class DataFile:
    """A known file: where it goes, where it comes from, and how it is checked.

    `checksum` is "sha256:<hex>" or "git-blob:<sha1 of 'blob <size>\\0' + content>", the id git gives the
    file at the pinned commit (for the files whose sha256 is not published), always in full.
    """
    name: str
    path: str
    url: str
    checksum: str
    description: str


REGISTRY: dict[str, DataFile] = {f.name: f for f in [
    DataFile("redocred-train", "redocred/train_revised.json", _REDOCRED + "data/train_revised.json",
             "git-blob:1ba485adf8e4cb789c441de2f6fe41de95690caa", "Re-DocRED train, 3,053 documents"),
    DataFile("redocred-dev", "redocred/dev_revised.json", _REDOCRED + "data/dev_revised.json",
             "sha256:051ee1d057204a5d08ef5502beacdadf191245b5eaf0e29ec2c607cf002c016f", "Re-DocRED dev, 500 documents"),
    DataFile("redocred-test", "redocred/test_revised.json", _REDOCRED + "data/test_revised.json",
             "sha256:ea673b7ef91e16510d7eb88863d3903e47318dc5653ef361266f27ae3b84723c", "Re-DocRED test, 500 documents"),
    DataFile("docred-train", "docred/train_annotated.json", _HWE + "dataset/docred/train_annotated.json",
             "git-blob:7917c6888ccb22d684265503337717f4ca5fb2a7",
             "DocRED train_annotated, 3,053 documents (original labels)"),
    DataFile("docred-dev", "docred/dev.json", _HWE + "dataset/docred/dev.json",
             "sha256:85691c5ca1df0048bffab1c1cf53d7d35b5de40f3de0a2c563c03da28746d5cb",
             "DocRED dev, 1,000 documents (original labels; the documents of Re-DocRED dev+test)"),
    DataFile("docred-dev-ext", "docred/dev_ext.json", _SSRPU + "dataset/docred/dev_ext.json",
             "sha256:d868f207c125e59d0934c93456d57297c49c8ad89c5cb5b735cf2ae8488ffcae",
             "DocRED dev with one label per relation type per document (SSR-PU)"),
    DataFile("docred-test", "docred/test.json", _HWE + "dataset/docred/test.json",
             "sha256:09386b5cb58249d8e087863c379ebd64557169c52ee502193d2f4f215e704ae8", "DocRED test, unlabeled"),
    DataFile("docred-train-facts", "docred/train_annotated.fact", _SSRPU + "dataset/docred/ref/train_annotated.fact",
             "sha256:c89cfb33a64633d25f1dc370af4c5a897c8b5f236e5e51c3a2ad9bc39ae9a886",
             "facts of DocRED train_annotated, for Ign F1"),
    DataFile("rel-info", "meta/rel_info.json", _SSRPU + "meta/rel_info.json",
             "sha256:5ecf4e5e55c179fc83a3a3d19baa01efffecb26ba5edc0b4ac5a54ddf61fe3de", "relation id -> name"),
    DataFile("rel2id", "meta/rel2id.json", _SSRPU + "meta/rel2id.json",
             "sha256:b671eee2c3edb7bd44bede98ce6e292cbd154bbf9202c939b816c5a79063b5e3",
             "relation id -> label column, Na = 0"),
    DataFile("revisit-docred-revise", "revisit-docred/valid_revise.json", _REVISIT + "data/docred/valid_revise.json",
             "sha256:fc0ed1fa3c3330ca43f68105019a83b6f07c3314232b0a8a9c459df63b7b7754",
             "Revisit-DocRED: 96 DocRED dev documents, DocRED's recommend-revise labels (low side)"),
    DataFile("revisit-docred-scratch", "revisit-docred/valid_scratch.json", _REVISIT + "data/docred/valid_scratch.json",
             "sha256:7ad76d671d1553aa31d0f7550df0c3ec7ff249effaf7fddfad41dd84d8f09002",
             "Revisit-DocRED: the same 96 documents labelled from scratch (high side)"),
    DataFile("cdr-sample", "cdr/CDR_sample.txt", _CDR + "CDR_sample.txt",
             "sha256:db6d8d82b8f33eff489e08a5d31f7f4483fa7fa3c434a3ef6ec87031b48b4ebd",
             "BioCreative V CDR sample set: 50 PubMed abstracts, PubTator (data convert --from pubtator)"),
    DataFile("cdr-train-pubtator", "cdr/CDR_TrainingSet.PubTator.txt", _CDR_FULL + "CDR_TrainingSet.PubTator.txt",
             "sha256:5e3734bef7b33ae10c3c7648dc3d0fe0b1a6ca9703588efaeed09dd9a5ab9db8",
             "BioCreative V CDR training set: 500 abstracts, 1,038 CID relations, PubTator"),
    DataFile("cdr-dev-pubtator", "cdr/CDR_DevelopmentSet.PubTator.txt", _CDR_FULL + "CDR_DevelopmentSet.PubTator.txt",
             "sha256:9e18d8e700168887a7919e62f67ac2ce2357e3f409a48ee992906abdd80fe3e5",
             "BioCreative V CDR development set: 500 abstracts, 1,012 CID relations, PubTator"),
    DataFile("cdr-test-pubtator", "cdr/CDR_TestSet.PubTator.txt", _CDR_FULL + "CDR_TestSet.PubTator.txt",
             "sha256:a3c48d5f35bdfce20c2371778abedc9fd24d1da092207072e5181ad53c8d0e2f",
             "BioCreative V CDR test set: 500 abstracts, 1,066 CID relations, PubTator"),
]}


@dataclass(frozen=True)
class Converted:
    """A DocRED JSON file converted from registry files (`sources`, read as `format`); rel_info.json beside it."""
    name: str
    path: str
    sources: tuple[str, ...]
    format: str
    description: str


CONVERTED: dict[str, Converted] = {c.name: c for c in [
    Converted("cdr-train", "cdr/train.json", ("cdr-train-pubtator",), "pubtator", "CDR training set as DocRED JSON"),
    Converted("cdr-dev", "cdr/dev.json", ("cdr-dev-pubtator",), "pubtator", "CDR development set as DocRED JSON"),
    Converted("cdr-test", "cdr/test.json", ("cdr-test-pubtator",), "pubtator", "CDR test set as DocRED JSON"),
]}
BUNDLES: dict[str, tuple[str, ...]] = {"cdr": ("cdr-train", "cdr-dev", "cdr-test")}


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """`explicit` (the --data-dir option) > $DOCROBUST_DATA > ~/.cache/docrobust."""
    chosen = explicit or os.environ.get("DOCROBUST_DATA") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def converted_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where converted files go: the data folder, or converted/ in the cache when the data folder is read-only.

    Read-only means without write permission bits too, not only refused to us: a shared copy of the corpora
    marked read-only stays untouched even by a user (root) whom the system would let write."""
    root = resolve_data_dir(data_dir)
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if os.access(existing, os.W_OK) and existing.stat().st_mode & 0o222:
        return root
    return Path(os.environ.get("DOCROBUST_CACHE") or DEFAULT_DATA_DIR).expanduser() / "converted"


def resolve_path(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A file as given if it exists, else the same relative path inside the data folder, else inside the
    folder of converted files (`converted_root`), else as given."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    for root in (resolve_data_dir(data_dir), converted_root(data_dir)):
        if (root / path).exists():
            return root / path
    return path


def lookup(name: str) -> DataFile:
    if name not in REGISTRY:
        raise DocrobustError(f"unknown data file {name!r}; known: {', '.join(known_names())}")
    return REGISTRY[name]


def known_names() -> list[str]:
    """Every name `download` takes: bundles, converted files, registry files."""
    return [*BUNDLES, *CONVERTED, *REGISTRY]


def expand(names: typing.Iterable[str]) -> list[str]:
    """Names with each bundle replaced by its files, in order, each once; DocrobustError naming an unknown one."""
    out: list[str] = []
    for name in names:
        if name not in BUNDLES and name not in CONVERTED and name not in REGISTRY:
            raise DocrobustError(f"unknown data file {name!r}{suggest(name, known_names())}; "
                              f"known: {', '.join(known_names())}")
        out += [n for n in BUNDLES.get(name, (name,)) if n not in out]
    return out


def checksum_of(path: Path, kind: str) -> str:
    """The checksum "<kind>:<hex>" of a file: kind "sha256", or "git-blob" (sha1 of 'blob <size>\\0' + content, git's id)."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size) if kind == "git-blob" else hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{kind}:{digest.hexdigest()}"


def verify(file: DataFile, path: Path) -> str | None:
    """None when `path` matches the registry entry's full checksum, else why not."""
    actual = checksum_of(path, file.checksum.split(":", 1)[0])
    return None if actual == file.checksum else f"checksum {actual} differs from {file.checksum}"


def download(name: str, data_dir: str | os.PathLike | None = None, *, mirror: str | None = None, force: bool = False,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 60.0) -> Path:
    """Fetch a registry file into the data folder, verified; return its path.

    `mirror` (or $DOCROBUST_MIRROR) replaces the public URL with `<mirror>/<path>`. An existing file
    that verifies is kept unless `force`.
    """
    if name in CONVERTED:
        return convert_registered(name, data_dir, mirror=mirror, force=force, progress=progress, timeout=timeout)
    file = lookup(name)
    target = resolve_data_dir(data_dir) / file.path
    if target.exists() and not force and verify(file, target) is None:
        return target
    mirror = mirror or os.environ.get(MIRROR_ENV)
    url = f"{mirror.rstrip('/')}/{file.path}" if mirror else file.url
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(target, ".part")
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
            raise DocrobustError(f"{name}: download from {url} failed verification ({problem}); nothing was written")
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError) as e:
        raise DocrobustError(f"{name}: cannot download {url} ({getattr(e, 'reason', e)}); "
                          f"put the file at {target} by hand or set {MIRROR_ENV}") from None
    finally:
        tmp.unlink(missing_ok=True)


CONVERTER_VERSION = 1  # bump when a conversion's output changes, so that converted files are made again


def conversion_record_path(target: Path) -> Path:
    """cdr/train.json -> cdr/train.conversion.json"""
    return target.with_suffix(".conversion.json")


def _conversion_problem(target: Path, sources: dict[str, str]) -> str | None:
    """None when `target` is the current conversion of `sources` (name -> checksum), else why not."""
    try:
        record = read_json(conversion_record_path(target))
        actual = checksum_of(target, "sha256")
    except (DocrobustError, OSError):
        return "not converted yet"
    if not isinstance(record, dict):
        return "its conversion record is not a JSON object"
    expected = {"sources": sources, "converter": CONVERTER_VERSION, "output": actual}
    stale = [k for k, v in expected.items() if record.get(k) != v]
    return f"its {', '.join(stale)} changed since the conversion" if stale else None


def convert_registered(name: str, data_dir: str | os.PathLike | None = None, *, mirror: str | None = None,
                       force: bool = False, progress: Callable[[int, int | None], None] | None = None,
                       timeout: float = 60.0) -> Path:
    """Download a converted entry's sources (verified) and convert them into DocRED JSON; return its path.

    The output and rel_info.json go into `converted_root`; the conversion record goes last, so an
    interrupted conversion is redone. A current conversion is kept unless `force`."""
    from .convert import ConversionReport, check_converted, relation_names_of, to_docred, write_rel_info
    from .pubtator import read_chemdisgene, read_pubtator

    converted = CONVERTED[name]
    paths = [download(s, data_dir, mirror=mirror, progress=progress, timeout=timeout) for s in converted.sources]
    sources = {s: REGISTRY[s].checksum for s in converted.sources}
    target = converted_root(data_dir) / converted.path
    if not force and _conversion_problem(target, sources) is None:
        return target
    report = ConversionReport()
    reader = {"pubtator": read_pubtator, "chemdisgene-json": read_chemdisgene}[converted.format]
    docs, report = to_docred(reader(paths, report=report), report)
    check_converted(docs, str(target))
    data = dumps_json(docs).encode("utf-8")
    atomic_write_bytes(target, data)
    write_rel_info(target.parent / "rel_info.json", relation_names_of(docs))
    atomic_write_json(conversion_record_path(target), {
        "sources": sources, "converter": CONVERTER_VERSION, "output": "sha256:" + hashlib.sha256(data).hexdigest(),
        "summary": report.summary(), **json.loads(dumps_json(report.to_json()))})
    return target


def status(data_dir: str | os.PathLike | None = None, check: bool = False) -> list[dict]:
    """Every registry and converted file with whether it is present (and, with `check`, whether it verifies:
    a converted file, whether it is the current conversion of its sources)."""
    root = resolve_data_dir(data_dir)
    rows = []
    for file in REGISTRY.values():
        path = root / file.path
        state = "missing"
        if path.is_file():
            state = "present" if not check else ("ok" if verify(file, path) is None else "corrupt")
        rows.append({"name": file.name, "path": file.path, "state": state, "description": file.description})
    for converted in CONVERTED.values():
        path = converted_root(data_dir) / converted.path
        state = "missing"
        if path.is_file():
            sources = {s: REGISTRY[s].checksum for s in converted.sources}
            state = "present" if not check else (
                "ok" if _conversion_problem(path, sources) is None else "stale")
        rows.append({"name": converted.name, "path": converted.path, "state": state,
                     "description": converted.description})
    return rows
