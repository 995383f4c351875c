"""The SQLite response store: round trip, survives a reopen, bounded by age, count and size."""

from __future__ import annotations

from pathlib import Path

from toolproxy.api.responses.store import ResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(path: Path, clock: Clock, **bounds: float) -> ResponseStore:
    return ResponseStore(path, max_count=int(bounds.get("max_count", 100)),
                         max_bytes=int(bounds.get("max_bytes", 10**6)), max_age_s=bounds.get("max_age_s", 60.0),
                         clock=clock)


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    clock = Clock()
    first = store(tmp_path / "sub" / "db.sqlite3", clock)
    first.put("resp_1", {"id": "resp_1", "output": []}, [{"role": "user", "content": "héllo"}])
    again = store(tmp_path / "sub" / "db.sqlite3", clock)
    stored = again.get("resp_1")
    assert stored is not None and stored.response["id"] == "resp_1"
    assert stored.conversation == [{"role": "user", "content": "héllo"}]
    assert again.get("resp_2") is None
    assert again.delete("resp_1") and not again.delete("resp_1")
    assert first.get("resp_1") is None


def test_old_responses_expire(tmp_path: Path) -> None:
    clock = Clock()
    db = store(tmp_path / "db", clock, max_age_s=60)
    db.put("old", {}, [])
    clock.now += 61
    assert db.get("old") is None
    db.put("new", {}, [])
    assert db.count() == 1


def test_oldest_go_first_beyond_count_and_size(tmp_path: Path) -> None:
    clock = Clock()
    db = store(tmp_path / "db", clock, max_count=3, max_bytes=10**6)
    for i in range(5):
        clock.now += 1
        db.put(f"r{i}", {"i": i}, [])
    assert [db.get(f"r{i}") is not None for i in range(5)] == [False, False, True, True, True]
    small = store(tmp_path / "db2", clock, max_bytes=1500)
    for i in range(4):
        clock.now += 1
        small.put(f"r{i}", {"pad": "x" * 600}, [])
    assert small.get("r3") is not None and small.get("r2") is not None and small.get("r1") is None
    huge = store(tmp_path / "db3", clock, max_bytes=1024)
    huge.put("big", {"pad": "x" * 5000}, [])
    assert huge.get("big") is not None  # the newest stays even alone over the size bound


def test_an_unusable_path_is_a_typed_error(tmp_path: Path) -> None:
    import pytest

    from toolproxy.api.responses.store import StoreUnavailable

    (tmp_path / "file").write_text("not a folder")
    db = store(tmp_path / "file" / "db.sqlite3", Clock())
    with pytest.raises(StoreUnavailable, match="responses_db"):
        db.put("r", {}, [])


def test_items_are_kept_found_by_id_and_dropped_with_their_response(tmp_path: Path) -> None:
    clock = Clock()
    db = store(tmp_path / "db", clock, max_age_s=60)
    item = {"id": "msg_1", "type": "message", "role": "user", "content": "hi"}
    db.put("r1", {"output": [{"id": "fc_1", "type": "function_call", "arguments": "{}"}]}, [], [item])
    stored = db.get("r1")
    assert stored is not None and stored.input_items == [item]
    assert db.item("fc_1") == {"id": "fc_1", "type": "function_call", "arguments": "{}"}
    clock.now += 1
    db.put("r2", {"output": []}, [], [{**item, "content": "newer"}])  # a client echoes an id: the newest wins
    assert db.item("msg_1") == {**item, "content": "newer"}
    assert db.delete("r2") and db.item("msg_1") == item
    clock.now += 61
    assert db.item("fc_1") is None and db.item("msg_1") is None
    db.put("r3", {"output": []}, [])
    import sqlite3

    with sqlite3.connect(tmp_path / "db") as raw:  # the expired response's items are gone, not just hidden
        assert raw.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
