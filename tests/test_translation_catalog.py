"""The Simplified Chinese catalog covers every translatable string in the code.

The test extracts the strings afresh with `makemessages` in a copy of the
source tree and compares them with the committed catalog using GNU gettext's
`msgcmp`, so a new `gettext` call without a translation fails here rather
than showing English on a Chinese page.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
SKIPPED_TOP_LEVEL = {".venv", ".git", "staticfiles", "locale", "test-artifacts", "node_modules", "var"}


def extract_fresh_catalog(tmp_path: Path) -> Path:
    source = Path(settings.BASE_DIR)
    copy = tmp_path / "tree"
    copy.mkdir()
    for entry in source.iterdir():
        if entry.name in SKIPPED_TOP_LEVEL:
            continue
        if entry.is_dir():
            shutil.copytree(entry, copy / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(entry, copy / entry.name)
    (copy / "locale").mkdir()

    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"DJANGO_SETTINGS_MODULE": "portal.test_settings", "PATH": "/usr/bin:/bin"},
    )
    return copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_catalog_translates_every_extracted_string(tmp_path):
    fresh = extract_fresh_catalog(tmp_path)

    result = subprocess.run(["msgcmp", str(CATALOG), str(fresh)], capture_output=True, text=True)

    assert result.returncode == 0, "Strings without a zh_Hans translation:\n" + result.stderr[-4000:]


def test_catalog_has_no_fuzzy_entries():
    result = subprocess.run(
        ["msgattrib", "--only-fuzzy", "--no-obsolete", str(CATALOG)], capture_output=True, text=True, check=True
    )

    assert "msgid" not in result.stdout, "Fuzzy entries need review:\n" + result.stdout[-4000:]
