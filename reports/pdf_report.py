"""The report as a PDF: the HTML report printed by headless Chromium (A4 portrait, by its @media print rules).

Why Chromium's print-to-PDF rather than WeasyPrint: the PDF is then the very document the HTML tests check by
screenshot (one rendering engine for both, so what the tests see is what prints), the CSS needs no second
dialect (WeasyPrint implements its own subset), and it prints the 1,000-cell benchmark report's long tables
quickly (benchmarks/bench_report.py; its timings are in the README).
The cost is a system package (`apt install chromium`; `make test` installs it), found on PATH or named by
DOCROBUST_CHROMIUM; without it the HTML is still written and the PDF is refused with a one-line error.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from docrobust.base import DocrobustError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_S = 300


def chromium() -> str | None:
    """The headless browser to print with: $DOCROBUST_CHROMIUM, else the first of BROWSERS on PATH."""
    return os.environ.get("DOCROBUST_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)


def write_pdf(html_path: str | Path, pdf_path: str | Path) -> None:
    """Print the HTML file to `pdf_path` (written beside it under a temporary name, then renamed into place)."""
    browser = chromium()
    if browser is None:
        raise DocrobustError(f"{pdf_path}: writing the PDF needs headless Chromium (apt install chromium, or set "
                          f"DOCROBUST_CHROMIUM=/path/to/chrome); the HTML report {html_path} is written")
    pdf_path = Path(pdf_path)
    partial = pdf_path.with_name(f".{pdf_path.name}.tmp")  # a name `bench run` cleans up if a kill leaves it
    with tempfile.TemporaryDirectory(prefix="docrobust-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-pdf-header-footer",
                   f"--print-to-pdf={partial}", Path(html_path).resolve().as_uri()]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise DocrobustError(f"{pdf_path}: {browser} did not print the report within {TIMEOUT_S} s") from None
        except OSError as e:
            raise DocrobustError(f"{pdf_path}: cannot run {browser} ({e.strerror})") from None
    if not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise DocrobustError(f"{pdf_path}: {browser} wrote no PDF (exit {run.returncode}: {last})")
    os.chmod(partial, 0o644)
    os.replace(partial, pdf_path)
