"""If-Match as every versioned record reads it (app/etag.py): no database needed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.errors import Problem
from app.etag import check_version, etag, if_match_versions, not_modified, require_version


def _status(call: Callable[[], object]) -> int:
    with pytest.raises(Problem) as raised:
        call()
    return raised.value.status


def test_if_match_names_versions_strong_weak_or_listed() -> None:
    assert if_match_versions(etag(3)) == {3}
    assert if_match_versions('W/"3"') == {3}
    assert if_match_versions(' "3", W/"5" ') == {3, 5}
    require_version("Task SOM-T-000001", 5, '"3", "5"')  # one of them is current: allowed


def test_missing_or_wildcard_if_match_is_428_and_foreign_tags_412() -> None:
    assert _status(lambda: if_match_versions(None)) == 428
    assert _status(lambda: if_match_versions("  ")) == 428
    assert _status(lambda: if_match_versions("*")) == 428
    assert _status(lambda: if_match_versions("*", required=False)) == 428
    assert _status(lambda: if_match_versions('"abc"')) == 412
    assert if_match_versions(None, required=False) is None


def test_a_stale_version_is_412_naming_the_current_one() -> None:
    with pytest.raises(Problem) as raised:
        check_version("Hazard area SOM-HA-000001", 4, frozenset({3}))
    assert raised.value.status == 412 and "version 4, you sent 3" in raised.value.detail
    check_version("Hazard area SOM-HA-000001", 4, None)  # not asked for: nothing to check


def test_if_none_match_is_up_to_date_for_the_current_version_or_any() -> None:
    assert not_modified('"4"', 4) and not_modified('W/"3", "4"', 4) and not_modified("*", 4)
    assert not not_modified('"3"', 4) and not not_modified(None, 4)
