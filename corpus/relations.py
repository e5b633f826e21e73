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

from docrobust.base import DocrobustError, read_json
from .io import INFER_HINT, Doc

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
            raise DocrobustError(f"relation {rid!r} is not in the relation inventory") from None

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
        """From a rel2id file (id → column, `Na` = 0), a rel_info file (id → name), or a folder holding them.

        A file is recognised by its content, whatever its name: `{"P17": 1}` is a rel2id, `{"P17": "country"}`
        a rel_info. A folder is searched for `rel2id.json` and `rel_info.json`, directly and in its `meta/`
        subfolder; with both, rel2id gives the columns and rel_info the names.
        """
        path = Path(path)
        files = [path]
        if not path.exists():
            raise DocrobustError(f"{path}: no such file or folder {INFER_HINT}")
        if path.is_dir():
            files = [p / n for p in (path, path / "meta") for n in ("rel2id.json", "rel_info.json") if (p / n).is_file()]
            if not files:
                raise DocrobustError(f"{path}: no rel2id.json or rel_info.json here or in meta/ {INFER_HINT}")
        ids, names = None, {}
        for file in files:
            mapping = read_json(file)
            if _is_mapping(mapping, int):
                ids = _ids_from_rel2id(mapping, file)
            elif _is_mapping(mapping, str):
                names = mapping
            else:
                raise DocrobustError(f"{file}: expected a JSON object mapping relation ids to label columns (rel2id, "
                                  f'{{"P17": 1}}) or to names (rel_info, {{"P17": "country"}})')
        return cls(ids if ids is not None else tuple(names), names)


def _is_mapping(obj: object, value_type: type) -> bool:
    return (isinstance(obj, dict) and bool(obj)
            and all(isinstance(v, value_type) and not isinstance(v, bool) for v in obj.values()))


def _ids_from_rel2id(rel2id: dict[str, int], path: Path) -> tuple[str, ...]:
    columns: dict[int, str] = {}
    for r, c in rel2id.items():
        if r != NO_RELATION and c in columns:
            raise DocrobustError(f"{path}: relations {columns[c]!r} and {r!r} share column {c}; each needs its own")
        if r != NO_RELATION:
            columns[c] = r
    expected = set(range(1, len(columns) + 1))
    if set(columns) != expected or rel2id.get(NO_RELATION, 0) != 0:
        raise DocrobustError(f"{path}: relation columns must be 1..{len(columns)} with {NO_RELATION} = 0")
    return tuple(columns[c] for c in sorted(columns))


def inventory_for(spec: str | None, data_dir: str | os.PathLike, *, infer_if_missing: bool = False) -> RelationInventory | None:
    """The CLI's --relations: "infer" gives None (take the relations from the labels); a file or folder
    (looked up in the data folder too) is loaded; nothing given means the data folder's metadata, or
    None there too when `infer_if_missing` and the data folder has none."""
    if spec == "infer":
        return None
    if spec:
        return RelationInventory.load(inventory_path(spec, data_dir))
    try:
        return RelationInventory.load(data_dir)
    except DocrobustError:
        if infer_if_missing:
            return None
        raise


def inventory_path(spec: str | None, data_dir: str | os.PathLike) -> Path | None:
    """The file or folder a --relations value names (looked up in the data folder too); None for infer or nothing."""
    from .data import resolve_path

    return resolve_path(spec, data_dir) if spec and spec != "infer" else None


def relation_names(data_dir: str | os.PathLike) -> dict[str, str]:
    """Relation id -> name from the data folder's metadata, for display; {} when there is none."""
    inventory = inventory_for(None, data_dir, infer_if_missing=True)
    return inventory.names if inventory else {}
