"""Every relative link and `#anchor` in the README and docs/ resolves, as GitHub renders them: a link
to a file names a file or folder of the repository, and an anchor names a heading (GitHub's slug)
or an `id` in the page it points to. Links to other sites are not fetched."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CHANGELOG.md", *ROOT.glob("docs/**/*.md")])

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML_ID = re.compile(r"""<[a-zA-Z][^>]*\s(?:id|name)=["']([^"']+)["']""")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, ...


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: the rendered text (links, code and emphasis marks
    gone), lower case, every character but letters, digits, `_`, `-` and spaces dropped, and each
    space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = _CODE_SPAN.sub(lambda match: match.group(2).strip(), text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks (code blocks hold neither links nor headings)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def anchors(text: str) -> set[str]:
    """The anchors a page offers: a slug per heading (the second of a name gets `-1`, the third
    `-2`, ...) and every HTML `id`/`name`."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(text):
        if heading := _HEADING.match(line):
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(_HTML_ID.findall(line))
    return found


def links(text: str) -> list[str]:
    """Every link target of a page (inline, image and reference definitions), code spans aside."""
    targets: list[str] = []
    for line in _prose(text):
        prose = _CODE_SPAN.sub("", line)
        targets += _INLINE_LINK.findall(prose)
        if reference := _REFERENCE.match(prose):
            targets.append(reference.group(1))
    return targets


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The targets in `page` that lead nowhere: a missing file or folder (or one outside `root`),
    or an anchor its page does not have."""
    broken = []
    for target in links(page.read_text()):
        if not target or _EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        missing = not destination.is_relative_to(root.resolve()) or not destination.exists()
        if missing or (fragment and unquote(fragment) not in _anchors_of(destination)):
            broken.append(target)
    return broken


def _anchors_of(path: Path) -> set[str]:
    return anchors(path.read_text()) if path.suffix == ".md" else set()  # a folder or a file other than a page


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_docs_are_linked_from_the_readme_and_it_stays_a_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(readme) if not _EXTERNAL.match(target)}
    reachable = linked | {ROOT / "README.md"}
    for page in linked & set(PAGES):  # pages one step further (the design notes' index lists its notes)
        reachable |= {(page.parent / t.partition("#")[0]).resolve() for t in links(page.read_text()) if t}
    assert [page for page in PAGES if page not in reachable] == []


def test_slugs_follow_githubs_rules():
    assert slug("Against the alternatives: `make bench`") == "against-the-alternatives-make-bench"
    assert slug("Signing locally (recommended) or through Cloudflare's API") == (
        "signing-locally-recommended-or-through-cloudflares-api"
    )
    assert slug("With SigV4 (the default, `AuthMode=IAM`)") == "with-sigv4-the-default-authmodeiam"
    assert slug("Many videos at once: `POST /videos/tokens`") == "many-videos-at-once-post-videostokens"
    assert slug("`mint_http` and **bold** [a link](x.md)") == "mint_http-and-bold-a-link"
    assert slug("A — B") == "a--b"
    text = "# Notes\n## Notes\n```\n# not a heading\n```\n## Notes\n<a id='here'></a>\n"
    assert anchors(text) == {"notes", "notes-1", "notes-2", "here"}


def test_the_checker_finds_a_missing_file_a_missing_anchor_and_a_link_out_of_the_tree(tmp_path):
    repo = tmp_path / "repo"
    docs = repo / "docs"
    docs.mkdir(parents=True)
    (docs / "other.md").write_text("# Other page\n\n## A section\n")
    page = docs / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n"
        "[ok](other.md#a-section) [ok](#here) [ok](../docs/) [ok](https://example.com/nowhere.md#x)\n"
        "[no file](missing.md) [no anchor](other.md#b-section) [no local anchor](#there)\n"
        "[a file without headings](../code.py#here) ![no image](img/diagram.png) `[in code](gone.md)`\n"
        "[out of the tree](../../elsewhere.md)\n\n"
        "```md\n[in a fence](gone.md)\n```\n\n[ref]: nowhere.md#x\n"
    )
    (repo / "code.py").write_text("")
    (tmp_path / "elsewhere.md").write_text("# Elsewhere\n")
    assert broken_links(page, root=repo) == [
        "missing.md",
        "other.md#b-section",
        "#there",
        "../code.py#here",
        "img/diagram.png",
        "../../elsewhere.md",
        "nowhere.md#x",
    ]
