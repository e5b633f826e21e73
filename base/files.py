"""Files every layer writes and reads: atomic writes, output checks, hashes and JSON.

Every write goes through `atomic_writer`: a unique temporary file beside the target (named with the
writer's pid, so a killed writer's leftovers are recognised and removed), fsync, then a rename. Readers
see all of a file or none of it, and permissions are what the umask says.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .errors import DocrobustError

_UMASK = os.umask(0)
os.umask(_UMASK)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def temporary_beside(path: str | os.PathLike, suffix: str = ".tmp") -> tuple[int, Path]:
    """Open a new temporary file `.<name>.<pid>.<random><suffix>` beside `path`; return (fd, its path).

    The writer's pid is in the name, so the temporary files of a writer that was killed are recognised
    and removed here, the next time anyone writes `path`; a live writer's are left alone.
    """
    path = Path(path)
    _remove_dead_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give outputs the usual permissions
    return fd, Path(tmp)


def _remove_dead_temporaries(path: Path, suffix: str) -> None:
    """Remove the temporary files and folders `.<name>.<pid>.*<suffix>` beside `path` whose writer is dead."""
    stem = f".{path.name}."
    with os.scandir(path.parent) as entries:
        for entry in entries:
            pid = entry.name[len(stem):].split(".", 1)[0]
            if entry.name.startswith(stem) and entry.name.endswith(suffix) and pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True) if entry.is_dir() else Path(entry.path).unlink(missing_ok=True)


@contextlib.contextmanager
def folder_built_beside(path: str | os.PathLike, *, resumable: bool = False) -> Iterator[Path]:
    """Build the output folder `path` in a sibling and rename it into place only when the block completes, so
    that a failed or killed run leaves no half-written `path` to block its rerun.

    The sibling is `.<name>.<pid>.*.tmp`, removed on failure (or the next time after a kill); with `resumable`
    it is `.<name>.partial`, kept on failure for the next run to resume from. An earlier `path` is replaced by
    two renames (old away, new in), so a kill between them leaves no `path` rather than a mixed one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if resumable:
        work = path.parent / f".{path.name}.partial"
        work.mkdir(exist_ok=True)
    else:
        _remove_dead_temporaries(path, ".tmp")
        work = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
        work.chmod(0o777 & ~_UMASK)  # mkdtemp makes it private; outputs are for sharing
    try:
        yield work
    except BaseException:
        if not resumable:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(work, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, path)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file to write `path` through: a temporary file beside it, fsynced and renamed into place when
    the block completes, removed when it fails. Readers see all or nothing.

    An OSError (read-only folder, full disk, ...) names `path`, not the temporary file.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temporary_beside(path)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (atomic_writer)."""
    with atomic_writer(path) as f:
        f.write(data)


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (), force: bool = False,
                 folder: bool = False) -> Path:
    """Refuse, before any work, an output that would destroy something or cannot be written; return it as a Path.

    Refused whatever `force` says: the same file as an input (under any spelling: `d/../d/x.json`, a
    symlink, a hard link), something other than a regular file (a device such as /dev/full, a folder,
    a pipe) where a file goes, or a file where a folder goes, and a place that cannot be written.
    Refused without `force`: an existing output file, or a non-empty output folder.
    """
    path = Path(path)
    for given in inputs:
        if given is not None and _same_file(path, Path(given)):
            raise DocrobustError(f"{path}: is the input {given}; write the output to another path "
                              "(--force never overwrites an input)")
    if path.exists():
        if folder and not path.is_dir():
            raise DocrobustError(f"{path}: exists and is not a folder; give a new or existing folder")
        if not folder and not path.is_file():
            raise DocrobustError(f"{path}: is {_kind(path)}, not a regular file; give a new path or a regular file")
        if not force and (not folder or any(path.iterdir())):
            raise DocrobustError(f"{path} exists; pass --force to overwrite it")
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DocrobustError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DocrobustError(f"{path}: cannot write in {parent} (read-only or permission denied)")
    return path


def check_io(inputs: Iterable[str | os.PathLike | None], files: Iterable[str | os.PathLike | None] = (),
             folders: Iterable[str | os.PathLike | None] = (), *, force: bool = False) -> None:
    """The one rule every command applies before it reads or writes anything: no output touches an input or
    another output.

    `inputs`: every file or folder the command reads, those named inside specs, profiles and models
    included; `files` / `folders`: every file / folder it writes (None entries are skipped). Paths are
    compared resolved (symlinks, `..`) and by inode (hard links). Refused whatever `force` says: an output
    that is an input or something already inside an input folder, or (an output folder, replaced whole)
    holds an input;
    two outputs that are one path or one inside the other; a folder output that holds the current folder.
    Then each output passes check_output, where `force` allows replacing an earlier output.
    """
    ins = [(Path(p), _resolved(p)) for p in inputs if p is not None]
    outs = [(Path(p), _resolved(p), False) for p in files if p is not None]
    outs += [(Path(p), _resolved(p), True) for p in folders if p is not None]
    for i, (out, real, folder) in enumerate(outs):
        if folder and Path.cwd().resolve().is_relative_to(real):
            raise DocrobustError(f"{out}: holds the current folder; give a new folder for the output")
        for given, real_in in ins:
            inside_input = real_in.is_dir() and (real.is_relative_to(real_in) and os.path.lexists(real)
                                                 or _linked_into(real, real_in))
            if real == real_in or _same_file(out, given) or inside_input or (folder and real_in.is_relative_to(real)):
                where = "is" if real == real_in or _same_file(out, given) else "overlaps"
                raise DocrobustError(f"{out}: {where} the input {given}; write the output to another path "
                                  "(--force never overwrites an input)")
        for other, real_other, other_folder in outs[:i]:
            if real == real_other or (other_folder and real.is_relative_to(real_other)) or (
                    folder and real_other.is_relative_to(real)):
                raise DocrobustError(f"{out}: is the same path as the output {other} (or inside it); "
                                  "give each output its own path")
        check_output(out, force=force, folder=folder)


def _linked_into(path: Path, folder: Path) -> bool:
    """Whether an existing file is a hard link to a file inside `folder` (only files with several links are looked up)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_nlink < 2 or not stat.S_ISREG(st.st_mode):
        return False
    return any((s := p.stat()).st_ino == st.st_ino and s.st_dev == st.st_dev for p in folder.rglob("*") if p.is_file())


def _resolved(path: str | os.PathLike) -> Path:
    """The absolute path with symlinks and `..` resolved; a one-line DocrobustError for an empty path or a loop."""
    if not str(path).strip():
        raise DocrobustError("an empty path was given; name a file or folder")
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:  # Python 3.11 raises RuntimeError on a symlink loop
        raise DocrobustError(f"{path}: cannot be resolved ({e})") from None


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """Deterministic JSON text: the same value always gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    atomic_write_text(path, dumps_json(obj, indent) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON value independent of dict key order."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # a \uD800-\uDFFF escape (a literal prefix: fast)


def _lone_surrogate(data: bytes) -> re.Match | None:
    """The first \\uD800-\\uDFFF escape that is not half of a high-low pair, or None."""
    pending = None  # a high half waiting for its low half right after it
    for m in _SURROGATE.finditer(data):
        high = m.group()[3:4].lower() in b"89ab"
        if pending is not None and (high or m.start() != pending.end()):
            return pending
        if not high and pending is None:
            return m
        pending = m if high else None
    return pending


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file, turning a missing file or bad JSON into a one-line DocrobustError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        lone = _lone_surrogate(data)
        if lone:  # Python reads it as a str no UTF-8 writer can write: every later write of it would fail
            raise DocrobustError(f"{path}: {lone.group().decode()} at byte {lone.start():,} is half of a UTF-16 pair, "
                              "not a character; replace it")
        return json.loads(data)
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DocrobustError(f"{path}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError as e:
        raise DocrobustError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DocrobustError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except ValueError as e:  # an integer of more digits than Python converts (4,300)
        raise DocrobustError(f"{path}: a number too long to read ({str(e).split(';')[0]})") from None
    except RecursionError:
        raise DocrobustError(f"{path}: JSON nested too deeply to read (Python's parser stops near "
                          f"{sys.getrecursionlimit()} levels); DocRED files nest 5 levels") from None
