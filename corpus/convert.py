"""Character-offset annotations (PubTator, ChemDisGene JSON) to DocRED documents, with every loss counted.

Biomedical corpora give a title, an abstract, mentions as character offsets into `title + " " + abstract`
(PubTator's convention) with database identifiers, and relations between identifiers. DocRED wants
sentences of tokens, entities as lists of mentions ({name, sent_id, pos, type}) and labels (h, t, r)
between entity indices. The conversion:

- entities are identifiers: every mention linked to identifier X is a mention of entity X. A mention
  linked to several identifiers (`D1|D2`, a composite mention such as "renal and hepatic failure")
  becomes a mention of each of them, the convention of EoG's PubTator reader, which produces the CDR and
  GDA files ATLOP trains on ("consider each possible ID as another entity"). Entities are numbered by
  their first mention in the text;
- the identifier field is cut into identifiers at `,` (BioRED's composite mentions: `D001943,D010051`),
  then at `|` (CDR's and ChemDisGene's: `D001234|D005678`), except for a piece that is a tmVar variant
  identifier, which keeps its `|`s: an HGVS sequence type (c, g, m, n, p, r, or none), `|`, an operation
  word of two or more letters (SUB, DEL, INS, FS, Allele, and BioRED's misspellings such as DEL888), `|`,
  ... (BioRED's `c|INS|5382|C`, `p|SUB|G|12|D`, `|INS|125_126|AA`). No MeSH (one letter, then digits),
  NCBI Gene or taxonomy (digits) or Cellosaurus identifier starts that way, and tmVar ids hold no `,`.
  A relation's identifiers are cut by the same rule: a relation naming a composite field (BioRED's
  `D007859|D008569`, as its composite mention carries it) is a relation of each pair of parts (counted);
- a relation line's fifth column, when it is BioRED's novelty mark (`Novel` or `No`), is kept as the
  label's "novelty"; any other column after the two identifiers is dropped and counted;
- sentences come from pysbd (Python Sentence Boundary Disambiguation, rule-based, pure Python, nothing
  downloaded at run time), run on the title and on the abstract separately. A mention that pysbd's
  boundaries would cut merges the sentences it spans (counted);
- tokens are runs of word characters and single other characters, also cut at every mention boundary, so
  every mention covers whole tokens and its tokens joined are its text without spaces;
- a mention or relation that cannot be kept is dropped and counted with its reason (no identifier,
  offsets outside the text or not matching the mention text, an identifier no mention carries, head equal
  to tail, a duplicate), and `ConversionReport` lists every one: nothing is lost silently.

The output is plain DocRED JSON with `title` = the document id (PMIDs are unique, article titles need not
be), and relation ids are the corpus's own relation types; `write_rel_info` records them beside it.
"""
from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from docrobust.base import DocrobustError, atomic_write_json, read_json
from .io import Doc, validate_docs

NO_IDENTIFIER = ("", "-", "-1")   # PubTator's marks of a mention that was typed but not linked
ID_SEPARATORS = ",|"              # BioRED's composite mentions join identifiers with ',', CDR's with '|'
TMVAR = re.compile(r"[cgmnpr]?\|[A-Za-z]{2,}\w*\|")  # the start of a tmVar variant id: sequence type | operation |
NOVELTY = ("Novel", "No")         # BioRED's fifth relation column
WORD = re.compile(r"\w+|[^\w\s]")  # a word, or one other visible character (for tokens, not for sentences)


@dataclass(frozen=True)
class Mention:
    start: int                 # character offsets into Abstract.text, end exclusive
    end: int
    text: str
    type: str
    ids: tuple[str, ...]       # the identifiers it is linked to (several for a composite mention)


@dataclass(frozen=True)
class Relation:
    type: str
    head: str                  # identifiers
    tail: str
    novelty: str | None = None  # BioRED's novelty mark, kept as the label's "novelty"


@dataclass
class Abstract:
    """One document as character-offset formats give it; `where` names its source for messages."""
    docid: str
    title: str
    abstract: str
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    where: str = ""

    @property
    def text(self) -> str:
        """The text the offsets index: title, one space, abstract (PubTator's convention)."""
        return f"{self.title} {self.abstract}"


@dataclass
class ConversionReport:
    """What a conversion kept and dropped: every dropped mention or relation with its document and reason."""
    documents: int = 0
    mentions: int = 0            # mention occurrences kept (a mention of two entities counts twice)
    entities: int = 0
    relations: int = 0
    merged_sentences: int = 0    # sentence boundaries removed because a mention crossed them
    expanded: int = 0            # relations naming a composite identifier, kept once per pair of its parts
    dropped: list[dict] = field(default_factory=list)   # {"kind", "reason", "docid", "detail"}

    def drop(self, kind: str, reason: str, docid: str, detail: str) -> None:
        self.dropped.append({"kind": kind, "reason": reason, "docid": docid, "detail": detail})

    def summary(self) -> list[str]:
        """One line for what was kept, then one per (kind, reason) dropped with its count and first example."""
        lines = [f"{self.documents:,} documents, {self.entities:,} entities, {self.mentions:,} mentions, "
                 f"{self.relations:,} relations kept" + (f"; {self.merged_sentences:,} sentence boundaries removed "
                                                          f"inside mentions" if self.merged_sentences else "")
                 + (f"; {self.expanded:,} relations named a composite identifier and became one relation per "
                    f"pair of its parts" if self.expanded else "")]
        counts = Counter((d["kind"], d["reason"]) for d in self.dropped)
        for (kind, reason), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            first = next(d for d in self.dropped if (d["kind"], d["reason"]) == (kind, reason))
            lines.append(f"dropped {n:,} {kind}{'s' if n > 1 else ''}: {reason} "
                         f"(first: document {first['docid']}, {first['detail']})")
        return lines

    def to_json(self) -> dict:
        return {"documents": self.documents, "entities": self.entities, "mentions": self.mentions,
                "relations": self.relations, "merged_sentences": self.merged_sentences, "expanded": self.expanded,
                "dropped": Counter(f"{d['kind']}: {d['reason']}" for d in self.dropped), "dropped_items": self.dropped}


def split_ids(field_text: str, separators: str = ID_SEPARATORS) -> tuple[str, ...]:
    """The distinct identifiers of a mention's identifier field, in order, without PubTator's 'unlinked' marks.

    The field is cut at each character of `separators`, the others first and `|` last, except that a piece
    starting like a tmVar variant id (TMVAR: `c|INS|5382|C`) stays whole (the rule in the module docstring)."""
    pieces = [field_text]
    for sep in sorted(separators, key=lambda c: c == "|"):
        pieces = [p for piece in pieces for p in
                  ([piece] if sep == "|" and TMVAR.match(piece.strip()) else piece.split(sep))]
    return tuple(dict.fromkeys(i for i in (p.strip() for p in pieces) if i not in NO_IDENTIFIER))


# ---------------------------------------------------------------- sentences and tokens

def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end] by pysbd, leading and trailing spaces left out."""
    import pysbd  # the splitter: rule-based, ships its rules, downloads nothing

    piece = text[start:end]
    if not piece.strip():
        return []
    parts = pysbd.Segmenter(language="en", clean=False).segment(piece)
    spans, cursor = [], 0
    for part in parts:
        # pysbd returns the text cut into consecutive pieces, but may drop or add a space ("a . . ." gives
        # "a . " and ". . "): find() of the piece without its spaces keeps us right
        stripped = part.strip()
        if not stripped:
            continue
        at = piece.find(stripped, cursor)
        if at < 0:
            raise DocrobustError(f"pysbd returned a sentence that is not in the text: {part[:60]!r}")
        cursor = at + len(stripped)
        spans.append((start + at, start + at + len(stripped)))
    return spans


def merge_crossed(spans: list[tuple[int, int]], mentions: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], int]:
    """Sentence spans with those that a mention crosses joined into one; and how many boundaries went."""
    starts = [s for s, _ in spans]
    join_after: set[int] = set()   # sentence i is joined to i + 1
    for m_start, m_end in mentions:
        first = max(0, bisect.bisect_right(starts, m_start) - 1)
        last = max(0, bisect.bisect_left(starts, m_end) - 1)
        join_after.update(range(first, last))
    merged: list[tuple[int, int]] = []
    for i, (s, e) in enumerate(spans):
        if i and (i - 1) in join_after:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged, len(join_after)


def tokens(text: str, start: int, end: int, cuts: list[int]) -> list[tuple[int, int]]:
    """Token spans of text[start:end]: words and single other characters, also cut at each offset in `cuts`."""
    spans = []
    for m in WORD.finditer(text, start, end):
        s, e = m.span()
        inside = cuts[bisect.bisect_right(cuts, s):bisect.bisect_left(cuts, e)]
        for cut in inside:
            spans.append((s, cut))
            s = cut
        spans.append((s, e))
    return spans


# ---------------------------------------------------------------- abstracts to documents

def to_docred(abstracts: list[Abstract], report: ConversionReport | None = None) -> tuple[list[Doc], ConversionReport]:
    """DocRED documents from character-offset abstracts, and what was kept and dropped (module docstring)."""
    report = report or ConversionReport()
    seen: dict[str, str] = {}
    docs = []
    for a in abstracts:
        if a.docid in seen:
            raise DocrobustError(f"{a.where}: document {a.docid} appears twice (also at {seen[a.docid]}); "
                              "give each file once")
        seen[a.docid] = a.where
        docs.append(_document(a, report))
    report.documents = len(docs)
    return docs, report


def _document(a: Abstract, report: ConversionReport) -> Doc:
    text = a.text
    kept: list[Mention] = []
    for m in sorted(a.mentions, key=lambda m: (m.start, m.end)):
        problem = _mention_problem(m, text)
        if problem:
            report.drop("mention", problem, a.docid, f"{m.start}-{m.end} {m.text!r}")
        elif not m.ids:
            report.drop("mention", "no identifier (unlinked, '-' or '-1')", a.docid, f"{m.start}-{m.end} {m.text!r}")
        else:
            kept.append(m)

    spans = sentence_spans(text, 0, len(a.title)) + sentence_spans(text, len(a.title) + 1, len(text))
    spans, merged = merge_crossed(spans, [(m.start, m.end) for m in kept])
    report.merged_sentences += merged
    cuts = sorted({x for m in kept for x in (m.start, m.end)})
    sents = [tokens(text, s, e, cuts) for s, e in spans]
    sent_starts = [s for s, _ in spans]

    entities: dict[str, list[dict]] = {}
    for m in kept:
        sid = bisect.bisect_right(sent_starts, m.start) - 1
        starts = [s for s, _ in sents[sid]]
        first, last = bisect.bisect_left(starts, m.start), bisect.bisect_left(starts, m.end)
        mention = {"name": m.text, "sent_id": sid, "pos": [first, last], "type": m.type}
        for identifier in m.ids:
            if mention in entities.setdefault(identifier, []):
                report.drop("mention", "duplicate (same span, same identifier)", a.docid,
                            f"{m.start}-{m.end} {m.text!r}")
            else:
                entities[identifier].append(mention)
                report.mentions += 1
    index = {identifier: e for e, identifier in enumerate(entities)}
    report.entities += len(index)

    labels, keys = [], set()
    for rel in a.relations:
        missing = [x for x in (rel.head, rel.tail) if x not in index]
        key = (index.get(rel.head), index.get(rel.tail), rel.type)
        detail = f"{rel.type} {rel.head} -> {rel.tail}"
        if missing:
            report.drop("relation", "identifier that no kept mention carries", a.docid, f"{detail} ({missing[0]})")
        elif rel.head == rel.tail:
            report.drop("relation", "head and tail are the same entity", a.docid, detail)
        elif key in keys:
            report.drop("relation", "duplicate", a.docid, detail)
        else:
            keys.add(key)
            labels.append({"h": key[0], "t": key[1], "r": rel.type, "evidence": [],
                           **({"novelty": rel.novelty} if rel.novelty else {})})
    report.relations += len(labels)
    return {"title": a.docid, "sents": [[text[s:e] for s, e in sent] for sent in sents],
            "vertexSet": list(entities.values()), "labels": labels}


def _mention_problem(m: Mention, text: str) -> str | None:
    if not (0 <= m.start < m.end <= len(text)):
        return f"offsets outside the document's {len(text)} characters"
    if text[m.start:m.end] != m.text:
        return "the text at its offsets differs from the mention text"
    if not text[m.start:m.end].strip():
        return "covers only spaces"
    return None


# ---------------------------------------------------------------- outputs

def relation_names_of(docs: list[Doc], names: dict[str, str] | None = None) -> dict[str, str]:
    """relation id -> name for every relation the documents use (the id itself when `names` has none)."""
    names = names or {}
    used = dict.fromkeys(lab["r"] for d in docs for lab in d.get("labels", []))
    return {r: names.get(r, r) for r in sorted(used)}


def write_rel_info(path: str | os.PathLike, relations: dict[str, str]) -> dict[str, str]:
    """Merge `relations` into the rel_info.json at `path` (created when absent) and return what it holds.

    Merged, not replaced, so that train, dev and test converted into one folder share one inventory; a
    relation id that the file already names differently is refused.
    """
    path = Path(path)
    existing = read_json(path) if path.is_file() else {}
    if not isinstance(existing, dict) or not all(isinstance(v, str) for v in existing.values()):
        raise DocrobustError(f"{path}: not a rel_info file ({{relation id: name}}); move it or write the output elsewhere")
    clash = [r for r, name in relations.items() if r in existing and existing[r] != name]
    if clash:
        raise DocrobustError(f"{path}: relation {clash[0]!r} is named {existing[clash[0]]!r} there and "
                          f"{relations[clash[0]]!r} here; write the output to another folder")
    merged = {**existing, **{r: n for r, n in relations.items() if r not in existing}}
    atomic_write_json(path, merged)
    return merged


def check_converted(docs: list[Doc], source: str) -> None:
    """The converter's own output must be valid DocRED; a failure here is a converter bug, said as such."""
    problems = validate_docs(docs, source=source)
    if problems:
        raise DocrobustError([f"{source}: the conversion produced invalid DocRED (please report this):"] + problems)
