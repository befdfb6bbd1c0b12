"""Conflicts on the device: listing the open ones and resolving one (SPEC §5.3).

A conflict is a record of kind `conflict` made by the server and synced like any record.
Resolving is two ordinary local edits in one transaction — the field itself, based on the
version the device holds (an informed overwrite, so no new conflict), and the conflict
record (status, resolution, who, when) — and both sync like any edit.
"""

from __future__ import annotations

from typing import Any

from fieldrm.errors import InvalidInput
from fieldrm.models import Record, kind_info, now_utc, set_delta
from fieldrm.store import Store

KEEPS = ("current", "other", "both", "value")


def joined_text(current: str, other: str) -> str:
    """Two texts kept both, as a person would join them: one-line values (a title) on one
    line, longer texts as paragraphs."""
    if "\n" in current or "\n" in other:
        return f"{current}\n\n{other}"
    return f"{current} / {other}"


def open_conflicts(store: Store) -> list[Record]:
    """Open conflicts, oldest first."""
    return store.list("conflict", where={"status": "open"}, order="rowid")


def conflict_json(conflict: Record) -> dict[str, Any]:
    """The shape `fieldrm conflicts --json` prints (SPEC §4)."""
    data = conflict.to_json()
    return {
        "id": data["id"],
        "record_id": data["record_id"],
        "record_kind": data["record_kind"],
        "field": data["field"],
        "current": data["current"],
        "other": data["other"],
    }


def resolve_conflict(store: Store, conflict_id: str, keep: str, value: Any = None) -> Record:
    """Close a conflict keeping "current", "other", "both" or a new "value"; returns it."""
    if keep not in KEEPS:
        raise InvalidInput(f"keep must be one of {', '.join(KEEPS)}, not {keep!r}")
    if keep == "value" and value is None:
        raise InvalidInput("a new value is needed to resolve with --value")
    with store.transaction():
        conflict = store.resolve(conflict_id, ["conflict"])
        data = conflict.to_json()
        if data.get("status") != "open":
            raise InvalidInput(f"conflict {conflict.id} is already resolved")
        field_name = data["field"]
        record_id = data["record_id"]
        target = store.get_raw(record_id)
        if target is None:
            raise InvalidInput(f"the record {record_id} of this conflict is not on this device")
        if field_name == "deleted":
            _resolve_delete(store, record_id, keep)
        else:
            chosen = _chosen_value(target, field_name, keep, data, value)
            _write_field(store, target, field_name, chosen)
        resolution = keep if keep != "value" else f"value: {value}"
        return store.update(
            conflict.id,
            set={
                "status": "resolved",
                "resolution": resolution,
                "resolved_by": store.user,
                "resolved_at": now_utc(),
            },
        )


def _resolve_delete(store: Store, record_id: str, keep: str) -> None:
    # current = the delete, other = the edit: "other" (or "both") restores the record,
    # whose registers already hold the edit's values.
    if keep in ("other", "both"):
        store.update(record_id, deleted=False)
    elif keep == "value":
        raise InvalidInput("a delete-versus-edit conflict takes --keep current|other")


def _chosen_value(
    target: dict[str, Any], field_name: str, keep: str, conflict: dict[str, Any], value: Any
) -> Any:
    current = conflict["current"].get("value")
    other = conflict["other"].get("value")
    if keep == "current":
        return current
    if keep == "other":
        return other
    if keep == "value":
        return value
    if isinstance(current, list) or isinstance(other, list):
        return sorted(set(current or []) | set(other or []))
    if current in (None, ""):
        return other
    if other in (None, "") or current == other:
        return current
    if isinstance(current, str) and isinstance(other, str):
        return joined_text(current, other)
    raise InvalidInput(
        f"{field_name}: {current!r} and {other!r} cannot both be kept; "
        "choose current, other or a new value"
    )


def _write_field(store: Store, target: dict[str, Any], field_name: str, chosen: Any) -> None:
    kind = target["kind"]
    info = kind_info(kind).fields.get(field_name)
    if info is not None and info.is_set:
        gained, lost = set_delta(target.get(field_name), chosen)
        store.update(
            target["id"],
            add={field_name: gained} if gained else None,
            remove={field_name: lost} if lost else None,
        )
        return
    store.update(target["id"], set={field_name: chosen})
