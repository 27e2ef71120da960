"""The README and docs/ say what is true: every `opsbot …` example they show is run again and
its output compared (cog, over the blocks that tests/doc_examples.py writes), and every
relative link between them, and to the repository's files, leads somewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
HINT = "An example's output changed: run ./scripts/docs (cog -r over README.md and docs/*.md)."

FENCE = re.compile(r"^(```|~~~)")
COG_START = re.compile(r"\[\[\[cog\b")
COG_END = re.compile(r"\[\[\[end\]\]\]")
# [text](target) outside code; images too. Autolinks (<https://…>) have no target to check.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_the_pages_are_found() -> None:
    names = [_page_id(page) for page in PAGES]
    assert "README.md" in names
    for topic in ("typing", "policy", "fleet", "running", "architecture", "benchmarks"):
        assert f"docs/{topic}.md" in names


def cog_check(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cogapp",
            "--check",
            "--diff",
            "--check-fail-msg",
            HINT,
            "-I",
            str(ROOT),
            *map(str, paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_examples_show_what_the_commands_print(page: Path) -> None:
    done = cog_check([page])
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{HINT}"


def test_a_changed_output_fails_the_check(tmp_path: Path) -> None:
    """The check can fail: a page whose shown output is not the command's own."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- [[[cog\n"
        "from tests.doc_examples import show\n"
        "show('opsbot parse \"reboot server-01 at 14:00\" --now 2026-11-25T10:45:00Z')\n"
        "]]] -->\n"
        "```console\n"
        '$ opsbot parse "reboot server-01 at 14:00" --now 2026-11-25T10:45:00Z\n'
        '{"operations": [], "notes": []}\n'
        "```\n"
        "<!-- [[[end]]] -->\n",
        encoding="utf-8",
    )
    done = cog_check([page])
    assert done.returncode != 0
    assert HINT in done.stdout + done.stderr
    assert '"scheduled_at": "2026-11-25T14:00:00Z"' in done.stdout  # the diff shows the truth


def _prose(page: Path) -> list[tuple[int, str]]:
    """The page's lines outside fenced code and cog's own code, with their numbers."""
    lines, fenced, in_cog_code = [], False, False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if in_cog_code:
            in_cog_code = "]]]" not in line
            continue
        if COG_START.search(line):
            in_cog_code = "]]]" not in line.split("[[[cog", 1)[1]
            continue
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading.strip().lstrip("#").strip())
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for _, line in _prose(page):
        if line.startswith("#"):
            base = slug(line)
            anchor, n = base, 0
            while anchor in found:  # GitHub numbers a heading that repeats: name-1, name-2
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(page: Path) -> list[tuple[int, str]]:
    return [
        (number, match.group(1))
        for number, line in _prose(page)
        for match in LINK.finditer(CODE_SPAN.sub("", line))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", match.group(1))  # https:, mailto:
    ]


def test_every_relative_link_leads_somewhere() -> None:
    broken = []
    for page in PAGES:
        for number, target in links(page):
            path_part, _, anchor = target.partition("#")
            goal = (page.parent / path_part).resolve() if path_part else page
            where = f"{_page_id(page)}:{number}: {target}"
            if not goal.exists():
                broken.append(f"{where} (no such file)")
            elif not goal.is_relative_to(ROOT):
                broken.append(f"{where} (outside the repository)")
            elif anchor and goal.suffix == ".md" and anchor not in anchors(goal):
                broken.append(f"{where} (no heading #{anchor} in {goal.name})")
    assert not broken, "\n".join(broken)


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading, with `code`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-heading-with-code) [gone](missing.md) `[not a link](nowhere.md)`\n"
        "```\n[in code](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert [target for _, target in links(page)] == ["there.md#a-heading-with-code", "missing.md"]
    assert anchors(tmp_path / "there.md") == {"a-heading-with-code"}


def test_every_page_is_on_the_readme_map() -> None:
    readme_links = {target.partition("#")[0] for _, target in links(ROOT / "README.md")}
    missing = [
        _page_id(p) for p in PAGES if p.parent.name == "docs" and _page_id(p) not in readme_links
    ]
    assert not missing, f"pages the README's map does not name: {missing}"


def test_no_opsbot_output_is_shown_unchecked() -> None:
    """A `$ opsbot …` line in a page is cog's output, never typed by hand."""
    unchecked = []
    for page in PAGES:
        inside_cog = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if COG_START.search(line):
                inside_cog = True
            elif COG_END.search(line):
                inside_cog = False
            elif line.startswith("$ opsbot") and not inside_cog:
                unchecked.append(f"{_page_id(page)}:{number}: {line}")
    assert not unchecked, "\n".join(unchecked)


def test_the_pages_named_to_people_exist() -> None:
    """Messages and the example policy file send people to docs/ pages: those pages exist."""
    named = set()
    for source in [*(ROOT / "bot").rglob("*.py"), ROOT / "opsbot.example.toml"]:
        named |= set(re.findall(r"docs/[a-z_]+\.md", source.read_text(encoding="utf-8")))
    assert named, "no message names a docs/ page: this test checks nothing"
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing, missing
