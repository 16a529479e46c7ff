"""The examples in docs/ are run, exactly as written, against a live server.

A fenced block whose info string is ``sh example`` is an example: the blocks of one document run
in order in one bash session with ``set -euo pipefail``, so later examples may use variables set
by earlier ones. They get ``$SAFEGROUND_URL`` (the live server), ``$TOKEN`` (a coordinator of
programmes SOM and LBY) and one token per other role of SOM and LBY: ``$ADMIN_TOKEN``,
``$SURVEYOR_TOKEN``, ``$QA_TOKEN`` and ``$PARTNER_TOKEN``. Use ``curl -f`` so an HTTP error fails
the example.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```sh example[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _documents_with_examples() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if FENCE.search(p.read_text()))


def test_docs_have_examples() -> None:
    assert _documents_with_examples(), "docs/ should carry runnable examples"


@pytest.mark.parametrize("document", _documents_with_examples(), ids=lambda p: p.name)
def test_doc_examples_run(
    document: Path, live_server: object, make_user: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    def token(role: str) -> str:
        return make_user(role, ("SOM", "LBY"))["Authorization"].split()[1]

    script = "set -euo pipefail\n" + "\n".join(FENCE.findall(document.read_text()))
    env = {
        **os.environ,
        "SAFEGROUND_URL": live_server.url,  # type: ignore[attr-defined]
        "TOKEN": token("coordinator"),
        "ADMIN_TOKEN": token("admin"),
        "SURVEYOR_TOKEN": token("surveyor"),
        "QA_TOKEN": token("qa_officer"),
        "PARTNER_TOKEN": token("partner"),
    }
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{document.name} examples failed:\n{result.stdout}\n{result.stderr}"
