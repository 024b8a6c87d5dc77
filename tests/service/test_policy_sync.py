"""Each worker's once-a-second check for a policy another worker stored (admin.sync_policy)."""

from __future__ import annotations

import uuid

from service.api.deps import RouterHolder
from service.api.routes import admin
from service.store import DecisionStore


def test_sync_reads_the_stored_policy_only_when_another_worker_changed_it(sqlite_url, monkeypatch):
    """The check reads the latest policy's id; the row itself (a re-certified policy carries
    thousands of labelled outcomes) is read and applied only when that id moved on."""
    store = DecisionStore(sqlite_url, table_prefix=f"p{uuid.uuid4().hex[:8]}_")
    store.create_all()
    base = type("Routing", (), {"model_version": "m1"})()
    holder = RouterHolder(base)
    full_reads, applied = [], []
    read = store.latest_policy
    monkeypatch.setattr(store, "latest_policy", lambda mv: full_reads.append(mv) or read(mv))
    monkeypatch.setattr(admin, "apply_saved_policy",
                        lambda routing, _store, saved: applied.append(saved["id"]) or routing)

    def store_policy(version: str) -> int:
        return store.record_policy_change(
            action="set", role="admin", key_fingerprint=None, model_version="m1",
            old_policy_version=None, new_policy_version=version,
            params={"recertified_on": {"p": [0.5] * 5000}}, policy={"version": version})

    for _ in range(3):
        assert admin.sync_policy(holder, store) is False
    assert full_reads == []  # nothing stored: the id alone was read
    first = store_policy("p2")
    assert store.latest_policy_id("m1") == first and store.latest_policy_id("other") is None
    assert admin.sync_policy(holder, store) is True
    assert holder.generation == first and applied == [first] and full_reads == ["m1"]
    for _ in range(3):
        assert admin.sync_policy(holder, store) is False
    assert full_reads == ["m1"]  # unchanged: no more full reads
    second = store_policy("p3")
    assert admin.sync_policy(holder, store) is True
    assert holder.generation == second and applied == [first, second]
    store.dispose()
