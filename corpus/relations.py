"""The relation inventory: which relation ids a corpus uses and the label column of each.

It always comes from the data's own metadata (`rel2id.json`, `rel_info.json`) or from the labels,
never from a built-in list, so a corpus with one or two relations works the same way as DocRED.
Column 0 is the no-relation / threshold class (ATLOP's `Na`); relation `ids[i]` is column `i + 1`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .io import CorpusError, Doc, read_json

NO_RELATION = "Na"


@dataclass(frozen=True)
class RelationInventory:
    ids: tuple[str, ...]
    names: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_column", {r: i + 1 for i, r in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, rid: object) -> bool:
        return rid in self._column

    def __iter__(self):
        return iter(self.ids)

    def column(self, rid: str) -> int:
        """Label column of relation `rid` (1-based; 0 is the no-relation class)."""
        try:
            return self._column[rid]
        except KeyError:
            raise CorpusError(f"relation {rid!r} is not in the relation inventory") from None

    def name(self, rid: str) -> str:
        return self.names.get(rid, rid)

    def to_json(self) -> dict:
        return {"ids": list(self.ids), "names": {r: self.names[r] for r in self.ids if r in self.names}}

    @classmethod
    def from_json(cls, obj: dict) -> "RelationInventory":
        return cls(tuple(obj["ids"]), dict(obj.get("names", {})))

    @classmethod
    def from_docs(cls, docs: Iterable[Doc]) -> "RelationInventory":
        """Infer the inventory from the labels: every relation used, sorted by id."""
        return cls(tuple(sorted({lab["r"] for d in docs for lab in d.get("labels", [])})))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RelationInventory":
        """From `rel2id.json` (id → column, `Na` = 0), `rel_info.json` (id → name), or a folder holding them.

        A folder is searched directly and in its `meta/` subfolder; with both files, rel2id gives the
        columns and rel_info the names.
        """
        path = Path(path)
        if path.is_dir():
            found = {n: p / n for p in (path, path / "meta") for n in ("rel2id.json", "rel_info.json") if (p / n).is_file()}
            if not found:
                raise CorpusError(f"{path}: no rel2id.json or rel_info.json here or in meta/ (pass --relations to infer the relations from the labels)")
            names = _read_mapping(found["rel_info.json"], str) if "rel_info.json" in found else {}
            if "rel2id.json" in found:
                return cls(_ids_from_rel2id(found["rel2id.json"]), names)
            return cls(tuple(names), names)
        if path.name.startswith("rel_info"):
            names = _read_mapping(path, str)
            return cls(tuple(names), names)
        return cls(_ids_from_rel2id(path))


def _read_mapping(path: Path, value_type: type) -> dict:
    obj = read_json(path)
    if not isinstance(obj, dict) or not all(isinstance(v, value_type) and not isinstance(v, bool) for v in obj.values()):
        raise CorpusError(f"{path}: expected a JSON object mapping relation ids to {value_type.__name__}s")
    return obj


def _ids_from_rel2id(path: Path) -> tuple[str, ...]:
    rel2id = _read_mapping(path, int)
    columns = {c: r for r, c in rel2id.items() if r != NO_RELATION}
    expected = set(range(1, len(columns) + 1))
    if set(columns) != expected or rel2id.get(NO_RELATION, 0) != 0:
        raise CorpusError(f"{path}: relation columns must be 1..{len(columns)} with {NO_RELATION} = 0")
    return tuple(columns[c] for c in sorted(columns))


def inventory_for(spec: str | None, data_dir: str | os.PathLike, *, infer_if_missing: bool = False) -> RelationInventory | None:
    """The CLI's --relations: "infer" gives None (take the relations from the labels); a file or folder
    (looked up in the data folder too) is loaded; nothing given means the data folder's metadata, or
    None there too when `infer_if_missing` and the data folder has none."""
    from .data import resolve_path

    if spec == "infer":
        return None
    if spec:
        return RelationInventory.load(resolve_path(spec, data_dir))
    try:
        return RelationInventory.load(data_dir)
    except CorpusError:
        if infer_if_missing:
            return None
        raise


def relation_names(data_dir: str | os.PathLike) -> dict[str, str]:
    """Relation id -> name from the data folder's metadata, for display; {} when there is none."""
    inventory = inventory_for(None, data_dir, infer_if_missing=True)
    return inventory.names if inventory else {}
