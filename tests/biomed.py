"""Hand-made biomedical abstracts in PubTator and ChemDisGene-JSON form, for the converter tests.

`make_abstracts(n, seed)` composes abstracts from sentence templates with chemical, disease and gene mentions
(MeSH-like and NCBI-Gene-like identifiers), so the offsets are known exactly; the texts carry what breaks a
naive splitter (e.g., i.v., Dr., 2.5 mg/kg) and what a PubTator reader must handle: a composite mention
linked to two identifiers, an unlinked mention ('-1'), a mention glued to a word ("cisplatin-induced").
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

CHEMICALS = [("lidocaine", "D008012"), ("methyl dopa", "D008750"), ("cisplatin", "D002945"),
             ("tamoxifen", "D013629"), ("haloperidol", "D006220"), ("N-acetylcysteine", "D000111")]
DISEASES = [("cardiac asystole", "D006323"), ("depression", "D003866"), ("hypertension", "D006973"),
            ("nephrotoxicity", "D007674"), ("seizures", "D012640"), ("hepatic failure", "D017093")]
GENES = [("CYP2D6", "1565"), ("TP53", "7157"), ("beta 2-adrenoceptor", "154")]
# {C} chemical, {D} disease, {G} gene; the relation each template states between them, if any
TEMPLATES = [
    ("Treatment with {C} (2.5 mg/kg i.v.) was associated with {D}, e.g. in elderly patients.", "CID"),
    ("{C} induced {D} in 12 of 40 patients.", "CID"),
    ("Dr. Smith reported that {C} relieved {D} within 3 days.", "therapeutic"),
    ("In vitro, {C} increased the expression of {G} by 2.1-fold.", "chem_gene:increases^expression"),
    ("No {D} was seen in the control group.", None),
    ("Patients received {C}-based regimens; {D} was rare.", None),
]


def make_abstracts(n: int, seed: int = 0, prefix: str = "9") -> list[dict]:
    """n abstracts: {"docid", "title", "abstract", "mentions": [(start, end, text, type, id field)],
    "relations": [(type, id 1, id 2)]}, offsets into title + " " + abstract."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        chem, dis = rng.choice(CHEMICALS), rng.choice(DISEASES)
        mentions: list[tuple] = []
        relations: set[tuple] = set()
        text = ""

        def put(piece: str, entity=None, kind=None) -> None:
            nonlocal text
            if entity is not None:
                mentions.append((len(text), len(text) + len(entity[0]), entity[0], kind, entity[1]))
            text += piece

        for part, entity, kind in _fill("{C}-induced {D}: a case report.", chem, dis, None):
            put(part, entity, kind)
        relations.add(("CID", chem[1], dis[1]))
        title_len = len(text)
        text += " "
        for k in range(rng.randint(3, 6)):
            template, relation = rng.choice(TEMPLATES)
            c, d, g = rng.choice(CHEMICALS), rng.choice(DISEASES), rng.choice(GENES)
            for part, entity, kind in _fill(template, c, d, g):
                put(part, entity, kind)
            if relation:
                relations.add((relation, c[1], g[1] if "{G}" in template else d[1]))
            text += " "
        if i % 3 == 0:   # a composite mention of two diseases, linked to both
            start = len(text)
            text += "renal and hepatic failure were reported."
            mentions.append((start, start + 25, "renal and hepatic failure", "Disease", "D058186|D017093"))
        if i % 4 == 1:   # typed but not linked: dropped and counted
            start = len(text)
            text += "A pseudocystic transformation followed."
            mentions.append((start + 2, start + 29, "pseudocystic transformation", "Disease", "-1"))
        out.append({"docid": f"{prefix}{i:04d}", "title": text[:title_len], "abstract": text[title_len + 1:].rstrip(),
                    "mentions": mentions, "relations": sorted(relations)})
    return out


def _fill(template: str, chem, dis, gene):
    """(text piece, entity or None, type) pieces of a template, a mention piece being exactly the entity's name."""
    slots = {"{C}": (chem, "Chemical"), "{D}": (dis, "Disease"), "{G}": (gene, "Gene")}
    rest = template
    while rest:
        at = min(((rest.find(s), s) for s in slots if s in rest), default=None)
        if at is None:
            yield rest, None, None
            return
        pos, slot = at
        if pos:
            yield rest[:pos], None, None
        entity, kind = slots[slot]
        yield entity[0], entity, kind
        rest = rest[pos + len(slot):]


def pubtator_text(abstracts: list[dict], relations: bool = True) -> str:
    """PubTator text (mention lines end with a tab, as CDR's do)."""
    blocks = []
    for a in abstracts:
        lines = [f"{a['docid']}|t|{a['title']}", f"{a['docid']}|a|{a['abstract']}"]
        lines += [f"{a['docid']}\t{s}\t{e}\t{text}\t{kind}\t{ids}\t" for s, e, text, kind, ids in a["mentions"]]
        if relations:
            lines += [f"{a['docid']}\t{r}\t{h}\t{t}" for r, h, t in a["relations"]]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def relation_lines(abstracts: list[dict]) -> str:
    """The relations alone, as ChemDisGene's relationship files give them."""
    return "".join(f"{a['docid']}\t{r}\t{h}\t{t}\n" for a in abstracts for r, h, t in a["relations"])


def chemdisgene_json(abstracts: list[dict]) -> list[dict]:
    return [{"docid": a["docid"], "title": a["title"], "abstract": a["abstract"],
             "entity": [{"start": s, "end": e, "mention": text, "type": kind, "id": ids}
                        for s, e, text, kind, ids in a["mentions"]],
             "relation": [{"type": r, "subj": h, "obj": t} for r, h, t in a["relations"]]} for a in abstracts]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, value) -> Path:
    return write(path, json.dumps(value))
