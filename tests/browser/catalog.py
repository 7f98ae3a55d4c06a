"""Read the zh_Hans message catalog and find page text in the wrong language.

The parser covers what `makemessages` writes: comments and flags, `msgctxt`,
`msgid`, `msgid_plural`, `msgstr` and `msgstr[N]`, strings continued over
several lines, and C escapes. Obsolete entries (`#~`) are skipped. A fuzzy
entry counts as untranslated, because `compilemessages` leaves it out of the
.mo file and the page shows the English text.
"""

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CATALOG = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
KEYWORD_RE = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")\s*$')
STRING_RE = re.compile(r'^(".*")\s*$')


@dataclass
class Entry:
    """One message of the catalog: English source texts and their translations."""

    msgid: str = ""
    msgid_plural: str = ""
    msgstrs: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def sources(self) -> list[str]:
        return [text for text in (self.msgid, self.msgid_plural) if text]

    @property
    def translations(self) -> list[str]:
        """The translations that the compiled catalog serves: none for a fuzzy entry."""
        if self.fuzzy:
            return []
        return [text for text in self.msgstrs if text]


def unquote(literal: str) -> str:
    """Decode one quoted .po string such as `"a\\"b\\n"`."""
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ValueError(f"not a quoted .po string: {literal!r}")
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda match: ESCAPES.get(match.group(1), match.group(1)), body)


def parse_po(text: str) -> list[Entry]:
    """Parse the entries of a .po file, the header entry (empty msgid) included."""
    entries: list[Entry] = []
    entry = Entry()
    # The field that a continuation line ("...") appends to.
    current: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, started, current
        if started:
            entries.append(entry)
        entry, started, current = Entry(), False, None

    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#"):
            # A comment after a complete entry opens the next one.
            if started and current is not None and current[0].startswith("msgstr"):
                finish()
            if line.startswith("#,"):
                flags = {flag.strip() for flag in line[2:].split(",")}
                entry.fuzzy = entry.fuzzy or "fuzzy" in flags
            continue

        keyword = KEYWORD_RE.match(line)
        if keyword:
            name, literal = keyword.groups()
            if name in ("msgctxt", "msgid") and started and current is not None and current[0].startswith("msgstr"):
                finish()
            started = True
            value = unquote(literal)
            if name == "msgctxt":
                current = ("msgctxt", 0)
            elif name == "msgid":
                entry.msgid = value
                current = ("msgid", 0)
            elif name == "msgid_plural":
                entry.msgid_plural = value
                current = ("msgid_plural", 0)
            else:
                index = int(name[7:-1]) if name != "msgstr" else 0
                while len(entry.msgstrs) <= index:
                    entry.msgstrs.append("")
                entry.msgstrs[index] = value
                current = ("msgstr", index)
            continue

        continuation = STRING_RE.match(line)
        if continuation and current is not None:
            value = unquote(continuation.group(1))
            kind, index = current
            if kind == "msgid":
                entry.msgid += value
            elif kind == "msgid_plural":
                entry.msgid_plural += value
            elif kind == "msgstr":
                entry.msgstrs[index] += value
            continue

        raise ValueError(f"{CATALOG.name} line {number}: cannot parse {raw_line!r}")

    finish()
    return entries


def normalise(text: str) -> str:
    """Collapse runs of white space, as a browser shows them."""
    return " ".join(text.split())


@cache
def catalog_words() -> tuple[frozenset[str], frozenset[str]]:
    """Return (English texts that must not show on a Chinese page, Chinese texts that must not show on an English one).

    An English source text counts only where its own translation differs from
    it or is missing. A text that is both a source and a translation in the
    catalog (msgid "GPU" with msgstr "GPU", and "GPUs" translated as "GPU")
    belongs to both languages and counts in neither.
    """
    sources: set[str] = set()
    translations: set[str] = set()
    untranslated: set[str] = set()
    for entry in parse_po(CATALOG.read_text(encoding="utf-8")):
        if not entry.msgid:
            continue
        entry_sources = {normalise(text) for text in entry.sources}
        entry_translations = {normalise(text) for text in entry.translations}
        sources |= entry_sources
        translations |= entry_translations
        untranslated |= entry_sources - entry_translations
    return frozenset(untranslated - translations), frozenset(translations - sources)


def wrong_language_texts(texts: list[str], language: str) -> list[str]:
    """Return the texts that are catalog strings of the other language, in page order."""
    english, chinese = catalog_words()
    foreign = english if language.startswith("zh") else chinese
    found = []
    for text in texts:
        text = normalise(text)
        if text in foreign and text not in found:
            found.append(text)
    return found
