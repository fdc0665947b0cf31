"""Control-plane queries on a real SQLite database."""
from __future__ import annotations

from pathlib import Path

from hulian.control import repo
from hulian.control.states import TaskState
from hulian.store.db import Database


def test_parties_of_a_node_that_are_still_live(tmp_path: Path) -> None:
    """The watchdog's query: this node's parties whose task has not ended, nothing else."""
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    db.create_all()
    rows = [("t1", "guest.0", "node-a", TaskState.RUNNING), ("t1", "host.0", "node-b", TaskState.RUNNING),
            ("t2", "guest.0", "node-a", TaskState.SUCCESS), ("t3", "guest.0", "node-a", TaskState.FAILED),
            ("t4", "guest.0", "node-a", TaskState.PENDING), ("t5", "guest.0", "node-a", TaskState.READY)]
    with db.engine.begin() as c:
        for task_id, role, node, status in rows:
            repo.insert_party(c, task_id=task_id, role=role, job_id="j1", task_name=task_id, node_id=node,
                              status=status.value, message="")
        live = repo.get_parties(c, node_id="node-a", live=True)
        assert sorted(r["task_id"] for r in live) == ["t1", "t4", "t5"]
        assert len(repo.get_parties(c, job_id="j1")) == 6
    db.close()
