"""The DocRED data folder: where it is, downloads that verify and never leave a partial file, the data CLI
(download, list, stats, diff), and the registry's pinned public URLs. The data model itself: test_corpus."""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest

from docrobust.bench.cli import cli
from docrobust.base import DocrobustError
from docrobust.corpus.data import REGISTRY, checksum_of, download, resolve_data_dir, status


# ---------------------------------------------------------------- the data folder and downloads

def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCROBUST_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DOCROBUST_DATA")
    assert resolve_data_dir() == Path("~/.cache/docrobust").expanduser()


@contextlib.contextmanager
def serving(folder: Path):
    """A loopback HTTP server serving `folder` (a mirror with the registry's layout)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def mirror(data_dir):
    """The real data folder as a mirror: its files verify against the registry's checksums."""
    with serving(data_dir) as url:
        yield url


def test_download_verifies_and_renames_into_place(mirror, tmp_path, data_dir):
    path = download("redocred-test", tmp_path, mirror=mirror)
    assert path == tmp_path / "redocred/test_revised.json"
    assert path.read_bytes() == (data_dir / "redocred/test_revised.json").read_bytes()
    assert [r["state"] for r in status(tmp_path, check=True) if r["name"] == "redocred-test"] == ["ok"]
    assert not list(path.parent.glob(".*part"))


def test_download_with_a_wrong_checksum_leaves_nothing(some_data_dir, tmp_path, monkeypatch):
    entry = REGISTRY["rel2id"]
    monkeypatch.setitem(REGISTRY, "rel2id", type(entry)(**{**entry.__dict__, "checksum": "sha256:" + "0" * 64}))
    with pytest.raises(DocrobustError, match="failed verification"), serving(some_data_dir) as mirror:
        download("rel2id", tmp_path, mirror=mirror)
    assert not (tmp_path / "meta/rel2id.json").exists() and not list((tmp_path / "meta").iterdir())


def test_interrupted_download_never_looks_complete(tmp_path):
    """A server that closes the connection half-way: no target file, no leftover part file."""
    class Truncating(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"[" * 100)  # then hang up

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DocrobustError):
            download("rel2id", tmp_path, mirror=f"http://127.0.0.1:{server.server_port}", timeout=5)
    finally:
        server.shutdown()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_cli_download_list_stats_diff(mirror, tmp_path, data_dir):
    from click.testing import CliRunner

    runner = CliRunner()
    out = runner.invoke(cli, ["--data-dir", str(tmp_path), "data", "download", "--mirror", mirror, "rel2id", "rel-info"])
    assert out.exit_code == 0, out.output
    listing = runner.invoke(cli, ["--data-dir", str(tmp_path), "data", "list", "--check"]).output
    assert "rel2id" in listing and " ok " in listing and "missing" in listing
    stats = runner.invoke(cli, ["--data-dir", str(data_dir), "data", "stats", "redocred/test_revised.json", "--json"])
    assert json.loads(stats.output)["documents"] == 500
    diff = runner.invoke(cli, ["--data-dir", str(data_dir), "data", "diff", "docred/dev.json",
                               "redocred/dev_revised.json", "redocred/test_revised.json"])
    assert "aligned 895 documents" in diff.output and "67 removed" in diff.output


# ---------------------------------------------------------------- downloads on a fresh machine

# Where each file lives in its public repository at the commit the registry pins (from the repositories'
# trees): a fake raw.githubusercontent.com serves our copies under these paths.
PUBLISHED = {
    "tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/data/dev_revised.json": "redocred/dev_revised.json",
    "tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/data/test_revised.json": "redocred/test_revised.json",
    "Hytn/DocRED-HWE/03d7ed9e49ecf3a7af4c5b905a1e2da2e146905a/dataset/docred/dev.json": "docred/dev.json",
    "Hytn/DocRED-HWE/03d7ed9e49ecf3a7af4c5b905a1e2da2e146905a/dataset/docred/test.json": "docred/test.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/dataset/docred/dev_ext.json": "docred/dev_ext.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/dataset/docred/ref/train_annotated.fact":
        "docred/train_annotated.fact",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/meta/rel_info.json": "meta/rel_info.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/meta/rel2id.json": "meta/rel2id.json",
    "AndrewZhe/Revisit-DocRED/6de7239707967b0ec01fbf4aa8b6afaa1da9a146/data/docred/valid_revise.json":
        "revisit-docred/valid_revise.json",
    "AndrewZhe/Revisit-DocRED/6de7239707967b0ec01fbf4aa8b6afaa1da9a146/data/docred/valid_scratch.json":
        "revisit-docred/valid_scratch.json",
    **{f"NomitaChandra/SSGU-CD-all/a66ce32b259f8086cd467eb7d959c665e19062ad/dataset/cdr/CDR_{name}.PubTator.txt":
       f"cdr/CDR_{name}.PubTator.txt" for name in ("TrainingSet", "DevelopmentSet", "TestSet")},
}
# git blob ids of the files at those commits (DocRED-HWE's train_annotated.json is too large to keep here)
BLOB_IDS = {"docred/dev.json": "40da9836a911cae97cec74223a03e1b0ad770e7a",
            "docred/test.json": "be709b16335335de621c0437c2f16f1ae80d92cb",
            "docred/dev_ext.json": "47d3293b8c49852881b32fea9e382baea58697ff",
            "docred/train_annotated.fact": "feb6b529ca0291d1a754e9120d87be72da230294",
            "revisit-docred/valid_revise.json": "cfd10bb3358a76fbedcf0cd77486ec696ee2a350",
            "revisit-docred/valid_scratch.json": "f6fb7f9639bc8d2aafabf4109b685400b673265a",
            "cdr/CDR_TrainingSet.PubTator.txt": "c9a432989991dbeb701bd1b26e42a6970406393a",
            "cdr/CDR_DevelopmentSet.PubTator.txt": "c5ae6e9c8524375264fb620d91d33d8fd7b70742",
            "cdr/CDR_TestSet.PubTator.txt": "0bbdc104ba00f1e9fedd846415cf58fe07c797d8"}


def test_every_registry_url_is_pinned_and_every_checksum_is_full():
    for file in REGISTRY.values():
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/.+", file.url), file.url
        assert re.fullmatch(r"sha256:[0-9a-f]{64}|git-blob:[0-9a-f]{40}", file.checksum), file.checksum
    assert REGISTRY["docred-train"].checksum == "git-blob:7917c6888ccb22d684265503337717f4ca5fb2a7"


def test_the_public_urls_hold_the_registry_files(data_dir, tmp_path, monkeypatch):
    """Every registry URL that a copy here can stand in for is fetched from a fake GitHub with the public
    repositories' layout, and verifies; our copies have the blob ids the pinned commits give."""
    served = {path: data_dir / local for path, local in PUBLISHED.items()}

    class RawGitHub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            file = served.get(self.path.lstrip("/"))
            if file is None:
                self.send_error(404)
                return
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RawGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **kw: real_urlopen(
        url.replace("https://raw.githubusercontent.com", f"http://127.0.0.1:{server.server_port}"), **kw))
    monkeypatch.delenv("DOCROBUST_MIRROR", raising=False)
    try:
        fetched = [name for name, f in REGISTRY.items() if (data_dir / f.path).is_file()]
        assert {"rel-info", "rel2id", "docred-dev", "docred-dev-ext", "docred-train-facts"} <= set(fetched)
        for name in fetched:
            assert download(name, tmp_path).read_bytes() == (data_dir / REGISTRY[name].path).read_bytes()
    finally:
        server.shutdown()
    for local, blob in BLOB_IDS.items():
        assert checksum_of(data_dir / local, "git-blob") == f"git-blob:{blob}"
