#!/usr/bin/env python3
"""Checks that every relative link in README.md and docs/**/*.md resolves.

A link to a file must name a file or directory that exists; a `#anchor` (alone, or after a
Markdown file) must match a heading of that file under GitHub's slug rules, or an explicit
`<a id=...>`/`<a name=...>`. External links (http, https, mailto) are not fetched. Links inside
fenced code blocks and inline code are not links. Exits 1 naming the file, line and link of each
failure.

    python3 tests/check-links.py [ROOT]     # ROOT defaults to the repository
    python3 tests/check-links.py --self-test  # proves that broken links and anchors fail
"""
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(root):
    files = []
    if os.path.isfile(os.path.join(root, "README.md")):
        files.append("README.md")
    for directory, _, names in os.walk(os.path.join(root, "docs")):
        for name in names:
            if name.endswith(".md"):
                files.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(files)


def prose_lines(text, blank_code=True):
    """(line number, line) outside fenced code blocks; inline code spans blanked unless told not to."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker
                continue
            if marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
                continue
        if fence is None:
            yield number, re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line) if blank_code else line


def slug(heading):
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "").replace("~", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # emphasis underscores, not those inside words
    kept = "".join(c for c in text.lower()
                   if c in "-_ " or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(path):
    found, seen = set(), {}
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for _, line in prose_lines(text, blank_code=False):
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text):
    for number, line in prose_lines(text):
        for target in INLINE_LINK.findall(line):
            yield number, target
        match = REFERENCE_DEF.match(line)
        if match:
            yield number, match.group(1)


def check(root):
    failures = []
    anchor_cache = {}
    for source in markdown_files(root):
        with open(os.path.join(root, source), encoding="utf-8") as f:
            text = f.read()
        for number, target in links(text):
            if EXTERNAL.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            if path_part:
                resolved = os.path.normpath(os.path.join(os.path.dirname(source), path_part))
            else:
                resolved = source
            where = f"{source}:{number}: ({target})"
            if resolved.startswith(".."):
                failures.append(f"{where} points outside the repository")
                continue
            full = os.path.join(root, resolved)
            if not os.path.exists(full):
                failures.append(f"{where} no such file: {resolved}")
                continue
            if anchor:
                if not resolved.endswith(".md") or os.path.isdir(full):
                    failures.append(f"{where} an anchor into {resolved}, which is not a Markdown file")
                    continue
                if resolved not in anchor_cache:
                    anchor_cache[resolved] = anchors(full)
                if anchor not in anchor_cache[resolved]:
                    failures.append(f"{where} no heading with anchor #{anchor} in {resolved}")
    return failures


def main(root):
    failures = check(root)
    for line in failures:
        print(f"BROKEN  {line}")
    checked = len(markdown_files(root))
    if failures:
        print(f"check-links: {len(failures)} broken link(s) in {checked} Markdown file(s)")
        return 1
    print(f"check-links: every relative link of {checked} Markdown file(s) resolves")
    return 0


def self_test():
    """Runs this script on a temporary tree: good links pass; a missing file and a wrong anchor fail, named."""
    pages = {
        "README.md": "# Title\n\nSee [usage](docs/usage.md#run-it-now) and [here](#title).\n\n"
                     "```sh\n[not a link](nowhere.md)\n```\n",
        "docs/usage.md": "# Usage\n\n## Run it, now!\n\n## `run`: twice\n\n## Run it, now!\n\n"
                         "Back to [the top](../README.md#title), [code](#run-twice), [again](#run-it-now-1).\n",
    }
    broken = {
        "docs/bad.md": "# Bad\n\nA [missing file](missing.md) and\na [wrong anchor](usage.md#no-such-heading).\n",
    }
    script = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory() as root:
        for name, text in pages.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        good = subprocess.run([sys.executable, script, root], capture_output=True, text=True)
        if good.returncode != 0:
            print("self-test: valid links were reported broken:\n" + good.stdout)
            return 1
        for name, text in broken.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        bad = subprocess.run([sys.executable, script, root], capture_output=True, text=True)
        expected = ["docs/bad.md:3: (missing.md) no such file: docs/missing.md",
                    "docs/bad.md:4: (usage.md#no-such-heading) no heading with anchor #no-such-heading in docs/usage.md"]
        missing = [e for e in expected if e not in bad.stdout]
        if bad.returncode != 1 or missing or bad.stdout.count("BROKEN") != 2:
            print(f"self-test: broken links not reported as expected (exit {bad.returncode}):\n{bad.stdout}")
            return 1
    print("check-links self-test: valid links pass; a missing file and a wrong anchor fail, named with file and line")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
