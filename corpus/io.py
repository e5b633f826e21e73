"""DocRED-format documents: load, validate, save, and the atomic file writes every layer uses.

Documents stay plain JSON values (lists and dicts) so that fields we do not know about, such as
Re-DocRED's `global_pos` and `index` on mentions, survive a load and save unchanged.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import reprlib
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

Doc = dict[str, Any]


INFER_HINT = "(pass --relations infer to take the relations from the labels)"


class CorpusError(Exception):
    """Bad user input: one line per problem, shown without a traceback by the CLI."""

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------- atomic writes and hashes

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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename: readers see all or nothing.

    An OSError (read-only folder, full disk, ...) names `path`, not the temporary file.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temporary_beside(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


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
            raise CorpusError(f"{path}: is the input {given}; write the output to another path "
                              "(--force never overwrites an input)")
    if path.exists():
        if folder and not path.is_dir():
            raise CorpusError(f"{path}: exists and is not a folder; give a new or existing folder")
        if not folder and not path.is_file():
            raise CorpusError(f"{path}: is {_kind(path)}, not a regular file; give a new path or a regular file")
        if not force and (not folder or any(path.iterdir())):
            raise CorpusError(f"{path} exists; pass --force to overwrite it")
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CorpusError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CorpusError(f"{path}: cannot write in {parent} (read-only or permission denied)")
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
            raise CorpusError(f"{out}: holds the current folder; give a new folder for the output")
        for given, real_in in ins:
            inside_input = real_in.is_dir() and (real.is_relative_to(real_in) and os.path.lexists(real)
                                                 or _linked_into(real, real_in))
            if real == real_in or _same_file(out, given) or inside_input or (folder and real_in.is_relative_to(real)):
                where = "is" if real == real_in or _same_file(out, given) else "overlaps"
                raise CorpusError(f"{out}: {where} the input {given}; write the output to another path "
                                  "(--force never overwrites an input)")
        for other, real_other, other_folder in outs[:i]:
            if real == real_other or (other_folder and real.is_relative_to(real_other)) or (
                    folder and real_other.is_relative_to(real)):
                raise CorpusError(f"{out}: is the same path as the output {other} (or inside it); "
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
    """The absolute path with symlinks and `..` resolved; a one-line CorpusError for an empty path or a loop."""
    if not str(path).strip():
        raise CorpusError("an empty path was given; name a file or folder")
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:  # Python 3.11 raises RuntimeError on a symlink loop
        raise CorpusError(f"{path}: cannot be resolved ({e})") from None


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


# ---------------------------------------------------------------- loading and saving

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
    """Parse a JSON file, turning a missing file or bad JSON into a one-line CorpusError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        lone = _lone_surrogate(data)
        if lone:  # Python reads it as a str no UTF-8 writer can write: every later write of it would fail
            raise CorpusError(f"{path}: {lone.group().decode()} at byte {lone.start():,} is half of a UTF-16 pair, "
                              "not a character; replace it")
        return json.loads(data)
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except ValueError as e:  # an integer of more digits than Python converts (4,300)
        raise CorpusError(f"{path}: a number too long to read ({str(e).split(';')[0]})") from None
    except RecursionError:
        raise CorpusError(f"{path}: JSON nested too deeply to read (Python's parser stops near "
                          f"{sys.getrecursionlimit()} levels); DocRED files nest 5 levels") from None


def load_docs(path: str | os.PathLike, relations: Any = None, *, max_problems: int = 20) -> list[Doc]:
    """Load and validate a DocRED-format JSON file; raise CorpusError listing the problems found.

    `relations` (a RelationInventory or any container of relation ids) also checks every label's `r`.
    """
    docs = read_json(path)
    problems = validate_docs(docs, relations, source=str(path), max_problems=max_problems)
    if problems:
        raise CorpusError(problems)
    return docs


def check_labeled(docs: list[Doc], source: str | os.PathLike, why: str) -> None:
    """Refuse documents without a single label where labels are needed (`why` says what for)."""
    if not any(isinstance(d, dict) and d.get("labels") for d in docs):
        raise CorpusError(f"{source}: no document has a label; {why}")


def save_docs(docs: list[Doc], path: str | os.PathLike) -> None:
    """Write documents as compact JSON, atomically (DocRED's own files are compact too)."""
    atomic_write_text(path, dumps_json(docs))


# ---------------------------------------------------------------- validation

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 8, 4, 60, 60


def shown(value: Any) -> str:
    """A value in a one-line message: its repr, shortened (a 1,000-deep list or a 1 MB string stays short)."""
    return _REPR.repr(value)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _doc_where(source: str, i: int, doc: Any) -> str:
    title = doc.get("title") if isinstance(doc, dict) else None
    return f"{source}: document {i}" + (f" {title!r}" if isinstance(title, str) else "")


def _validate_doc(doc: Any, relations: Any) -> Iterable[str]:
    """Yield 'field: reason' for every problem in one document."""
    if not isinstance(doc, dict):
        yield f"document: expected an object, got {type(doc).__name__}"
        return
    for key, kind in (("title", str), ("sents", list), ("vertexSet", list)):
        if key not in doc:
            yield f"{key}: missing"
        elif not isinstance(doc[key], kind):
            yield f"{key}: expected {kind.__name__}, got {type(doc[key]).__name__}"
    if any(not isinstance(doc.get(k), kind) for k, kind in (("sents", list), ("vertexSet", list))):
        return
    sents = doc["sents"]
    for s, sent in enumerate(sents):
        if not isinstance(sent, list) or not all(isinstance(w, str) for w in sent):
            yield f"sents[{s}]: expected a list of token strings"
    sent_lens = [len(s) if isinstance(s, list) else 0 for s in sents]
    entities = doc["vertexSet"]
    for e, entity in enumerate(entities):
        if not isinstance(entity, list):
            yield f"vertexSet[{e}]: expected a list of mentions, got {type(entity).__name__}"
            continue
        if not entity:
            yield f"vertexSet[{e}]: entity has no mentions"
        for m, mention in enumerate(entity):
            yield from (f"vertexSet[{e}][{m}].{p}" for p in _mention_problems(mention, sent_lens))
    labels = doc.get("labels", [])
    if not isinstance(labels, list):
        yield f"labels: expected a list, got {type(labels).__name__}"
        return
    seen: set[tuple] = set()
    for k, label in enumerate(labels):
        for p in _label_problems(label, len(entities), len(sents), relations):
            yield f"labels[{k}].{p}"
        if isinstance(label, dict):
            key = (label.get("h"), label.get("t"), label.get("r"))
            if all(isinstance(x, (int, str)) for x in key):
                if key in seen:
                    yield f"labels[{k}]: duplicate label (h={key[0]}, t={key[1]}, r={key[2]})"
                seen.add(key)


def _mention_problems(mention: Any, sent_lens: list[int]) -> Iterable[str]:
    if not isinstance(mention, dict):
        yield f"mention: expected an object, got {type(mention).__name__}"
        return
    for key in ("name", "sent_id", "pos", "type"):
        if key not in mention:
            yield f"{key}: missing"
    if "name" in mention and not isinstance(mention["name"], str):
        yield "name: expected a string"
    if "type" in mention and not isinstance(mention["type"], str):
        yield "type: expected a string"
    sid = mention.get("sent_id")
    if "sent_id" in mention and not (_is_int(sid) and 0 <= sid < len(sent_lens)):
        yield f"sent_id: {shown(sid)} outside the document's {len(sent_lens)} sentences"
        return
    pos = mention.get("pos")
    if "pos" not in mention or sid is None:
        return
    if not (isinstance(pos, list) and len(pos) == 2 and all(_is_int(x) for x in pos)):
        yield f"pos: expected [start, end] integers, got {shown(pos)}"
    elif not 0 <= pos[0] < pos[1] <= sent_lens[sid]:
        yield f"pos: {pos} outside sentence {sid} of {sent_lens[sid]} tokens"


def _label_problems(label: Any, n_entities: int, n_sents: int, relations: Any) -> Iterable[str]:
    if not isinstance(label, dict):
        yield f"label: expected an object, got {type(label).__name__}"
        return
    for key in ("h", "t", "r"):
        if key not in label:
            yield f"{key}: missing"
    for key in ("h", "t"):
        if key in label and not (_is_int(label[key]) and 0 <= label[key] < n_entities):
            yield f"{key}: {shown(label[key])} outside vertexSet of {n_entities} entities"
    if label.get("h") == label.get("t") and "h" in label:
        yield f"t: head and tail are the same entity ({label['h']})"
    if "r" in label:
        if not isinstance(label["r"], str):
            yield f"r: expected a relation id string, got {shown(label['r'])}"
        elif relations is not None and label["r"] not in relations:
            yield f"r: {shown(label['r'])} is not in the relation inventory {INFER_HINT}"
    evidence = label.get("evidence", [])
    if not (isinstance(evidence, list) and all(_is_int(s) and 0 <= s < n_sents for s in evidence)):
        yield f"evidence: expected sentence ids in 0..{n_sents - 1}, got {shown(evidence)}"


def validate_docs(docs: Any, relations: Any = None, source: str = "<documents>", max_problems: int = 20) -> list[str]:
    """Every problem in a DocRED-format value, one line each: 'file: document i 'title': field: reason'.

    Lists the first `max_problems` and then how many more there are.
    """
    if not isinstance(docs, list):
        return [f"{source}: expected a JSON list of documents, got {type(docs).__name__}"]
    return cap_problems((f"{_doc_where(source, i, doc)}: {p}" for i, doc in enumerate(docs)
                         for p in _validate_doc(doc, relations)), max_problems, source)


def cap_problems(problems: Iterable[str], limit: int = 20, source: str | None = None) -> list[str]:
    """The first `limit` problems, then one line saying how many more there are ('... and 3,826 more problems')."""
    shown: list[str] = []
    more = 0
    for problem in problems:
        if len(shown) < limit:
            shown.append(problem)
        else:
            more += 1
    if more:
        shown.append(f"{source + ': ' if source else ''}... and {more:,} more problem{'s' if more > 1 else ''}")
    return shown


# ---------------------------------------------------------------- small document helpers

def sentence_sets(doc: Doc) -> list[frozenset[int]]:
    """The sentences each entity is mentioned in."""
    return [frozenset(m["sent_id"] for m in entity) for entity in doc["vertexSet"]]


def is_intra(sents_of: list[frozenset[int]], h: int, t: int) -> bool:
    """A pair is intra-sentence when some mention of h and some mention of t share a sentence."""
    return not sents_of[h].isdisjoint(sents_of[t])


def triples(doc: Doc) -> set[tuple[int, int, str]]:
    return {(lab["h"], lab["t"], lab["r"]) for lab in doc.get("labels", [])}
