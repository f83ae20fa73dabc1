"""Every relative link of README.md and docs/*.md resolves: the file exists, and an ``#anchor``
names a heading of the Markdown file it points to (GitHub's heading ids). So does every file of
the repository they name (``tests/http/test_limits.py``): code moves, and a document that names
where it was misleads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def _prose(markdown: str) -> str:
    """``markdown`` without fenced blocks and code spans, where a link is only text."""
    kept, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(_CODE_SPAN.sub("", line))
    return "\n".join(kept)


def links(document: Path) -> list[str]:
    """The link targets of ``document`` that stay in the repository (no scheme)."""
    found = _LINK.findall(_prose(document.read_text()))
    return [target for target in found if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def slug(heading: str) -> str:
    """GitHub's id of a heading: its text without markup, lower case, punctuation dropped (word
    characters, spaces and hyphens stay), spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    """The ids of ``document``'s headings, a repeated one numbered as GitHub does (``-1``, ``-2``)."""
    ids: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in document.read_text().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            ids.add(base if count == 0 else f"{base}-{count}")
    return ids


CASES = [(document, target) for document in DOCUMENTS for target in links(document)]

#: A path under one of the repository's own folders, in code or in prose, names that file.
_REPOSITORY_PATH = re.compile(
    r"(?<![\w/.$~-])((?:app|tests|bench|clients|deploy|docs|requirements)/[\w/.-]*\.[A-Za-z]\w*)"
)


def named_files(document: Path) -> list[str]:
    """The repository files ``document`` names outside fenced blocks (a link's target aside: the
    link test has those)."""
    text, fenced = [], False
    for line in document.read_text().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            text.append(line)
    found = set(_REPOSITORY_PATH.findall("\n".join(text)))
    return sorted(path for path in found if not re.search(r"/[A-Z_]+\.", path))  # bench/NAME.py: a pattern


NAMED = [(document, path) for document in DOCUMENTS for path in named_files(document)]


class TestLinks:
    def test_the_documents_have_links(self) -> None:
        assert len(CASES) > 30, "the link pattern found (almost) no link: is it still right?"

    @pytest.mark.parametrize(("document", "target"), CASES, ids=[f"{d.name}:{t}" for d, t in CASES])
    def test_link_resolves(self, document: Path, target: str) -> None:
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.exists(), f"{document.name} links to {target}: no {resolved}"
        assert resolved.is_relative_to(REPO), f"{document.name} links outside the repository: {target}"
        if anchor:
            assert resolved.suffix == ".md", f"{document.name}: an anchor into a non-Markdown file: {target}"
            assert anchor in anchors(resolved), (
                f"{document.name} links to {target}: {resolved.name} has no heading with that id"
            )


class TestNamedFiles:
    def test_the_documents_name_files(self) -> None:
        assert len(NAMED) > 10

    @pytest.mark.parametrize(("document", "path"), NAMED, ids=[f"{d.name}:{p}" for d, p in NAMED])
    def test_named_file_exists(self, document: Path, path: str) -> None:
        assert (REPO / path).exists(), f"{document.name} names {path}, which is not in the repository"


class TestSlug:
    """GitHub's ids of headings of these documents, as its renderer makes them."""

    @pytest.mark.parametrize(
        ("heading", "expected"),
        [
            ("Kernels without PAGEMAP_SCAN", "kernels-without-pagemap_scan"),
            ("`pmscan map`: where a process's memory is", "pmscan-map-where-a-processs-memory-is"),
            ("POST /watch — page states over time (new)", "post-watch--page-states-over-time-new"),
            ("The exporter (`GET /metrics`)", "the-exporter-get-metrics"),
        ],
    )
    def test_slug(self, heading: str, expected: str) -> None:
        assert slug(heading) == expected
