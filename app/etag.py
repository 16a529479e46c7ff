"""ETag and If-Match: how a client shows that it changes the version it read (nothing is lost).

Every versioned record (hazard area, survey report, task, land release, QA visit) is answered
with ``ETag: "<version>"``. A change carries that ETag back in ``If-Match``: with the ETag of
another version the answer is 412 and nothing changes; without one it is 428 where the change
requires it. Weak ETags (``W/"3"``) and lists (``"3", "4"``) are understood. ``*`` is not enough:
it matches whatever version is current, which is the very overwrite If-Match is there to stop.
"""

from __future__ import annotations

from typing import Literal, overload

from app.errors import Problem


def etag(version: int) -> str:
    return f'"{version}"'


@overload
def if_match_versions(if_match: str | None, required: Literal[True] = True) -> frozenset[int]: ...
@overload
def if_match_versions(if_match: str | None, required: bool) -> frozenset[int] | None: ...
def if_match_versions(if_match: str | None, required: bool = True) -> frozenset[int] | None:
    """The versions an ``If-Match`` header names; None when there is none and it is optional.

    428 when it is required and missing (or ``*``); 412 when it names no version of ours."""
    if if_match is None or not if_match.strip():
        if required:
            raise Problem(
                428,
                "Send If-Match with the ETag you read (GET the record first): this prevents "
                "overwriting someone else's change.",
            )
        return None
    tags = _tags(if_match)
    if "*" in tags:
        raise Problem(428, "If-Match: * is not enough here; send the ETag of the version you edited.")
    versions = frozenset(int(tag) for tag in tags if tag.isdigit() and len(tag) < 10)
    if not versions:
        raise Problem(412, f"If-Match {if_match!r} names no version of this record.")
    return versions


def check_version(record: str, current: int, versions: frozenset[int] | None) -> None:
    """412 unless ``versions`` (from :func:`if_match_versions`; None: not asked for) holds the
    record's ``current`` version."""
    if versions is not None and current not in versions:
        sent = ", ".join(str(v) for v in sorted(versions))
        raise Problem(
            412,
            f"{record} has changed (version {current}, you sent {sent}): read it again and "
            "re-apply your change.",
            current_version=current,
        )


def require_version(record: str, current: int, if_match: str | None, required: bool = True) -> None:
    """:func:`if_match_versions` and :func:`check_version` in one."""
    check_version(record, current, if_match_versions(if_match, required))


def not_modified(if_none_match: str | None, current: int) -> bool:
    """Whether an ``If-None-Match`` header names the current version (or is ``*``): the client's
    copy is up to date (304)."""
    if not if_none_match:
        return False
    tags = _tags(if_none_match)
    return "*" in tags or str(current) in tags


def _tags(header: str) -> list[str]:
    """The entity tags of an If-Match/If-None-Match header, unquoted (weak ones too)."""
    return [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
