"""The small .po parser that the language checks rely on (no browser needed)."""

import subprocess

from tests.browser.catalog import CATALOG, catalog_words, parse_po, wrong_language_texts

SAMPLE = r"""
# Translator comment
msgid ""
msgstr ""
"Language: zh_Hans\n"

#: templates/a.html:1
msgid "Sign in"
msgstr "登录"

#: templates/b.html:2
msgid ""
"A long text "
"over two lines with a \"quote\"."
msgstr ""
"一段"
"很长的文字。"

#, fuzzy, python-format
msgid "Old text"
msgstr "旧文字"

msgid "One key"
msgid_plural "%(counter)s keys"
msgstr[0] "%(counter)s 个密钥"

msgid "GPU"
msgstr "GPU"

#~ msgid "Removed"
#~ msgstr "已删除"
"""


def test_parser_reads_entries_continuations_and_plurals():
    entries = {entry.msgid: entry for entry in parse_po(SAMPLE)}

    assert set(entries) == {"", "Sign in", 'A long text over two lines with a "quote".', "Old text", "One key", "GPU"}
    assert entries["Sign in"].translations == ["登录"]
    assert entries['A long text over two lines with a "quote".'].translations == ["一段很长的文字。"]
    assert entries["One key"].msgid_plural == "%(counter)s keys"
    assert entries["One key"].translations == ["%(counter)s 个密钥"]


def test_parser_counts_fuzzy_entry_as_untranslated():
    entries = {entry.msgid: entry for entry in parse_po(SAMPLE)}

    assert entries["Old text"].fuzzy
    assert entries["Old text"].translations == []


def test_parser_matches_gettext_tools(tmp_path):
    """Compile the real catalog with msgfmt, decompile it with msgunfmt, and compare the translations."""
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(CATALOG)], check=True)
    decompiled = subprocess.run(["msgunfmt", str(compiled)], check=True, capture_output=True, text=True).stdout

    def translated(text: str) -> dict[str, list[str]]:
        return {entry.msgid: entry.translations for entry in parse_po(text) if entry.msgid and entry.translations}

    ours = translated(CATALOG.read_text(encoding="utf-8"))
    assert ours == translated(decompiled)
    assert len(ours) > 100


def test_wrong_language_texts_uses_both_directions():
    english, chinese = catalog_words()
    sign_in = next(entry for entry in parse_po(CATALOG.read_text(encoding="utf-8")) if entry.msgid == "Sign in")

    assert "Sign in" in english
    assert sign_in.translations[0] in chinese
    assert wrong_language_texts(["  Sign \n in ", "alice"], "zh-hans") == ["Sign in"]
    assert wrong_language_texts([sign_in.translations[0]], "en") == [sign_in.translations[0]]
    assert wrong_language_texts(["Sign in"], "en") == []
