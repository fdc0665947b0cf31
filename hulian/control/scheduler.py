"""The scheduler's side of a job (guide §3.1-3.2): fan out create and start, walk the DAG sending task/start with
one task_id per task, sync party states by poll (or callback plus a slow safety poll), aggregate, and stop the
job everywhere when a task fails. All progress is in the database: a restarted node resumes every walk."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from hulian.component.launch import TaskState
from hulian.control import paths as P
from hulian.control import repo
from hulian.control.client import PeerError, is_duplicate
from hulian.control.envelope import task_state
from hulian.control.errors import ControlError, PeerRefused, PeerUnreachable, TaskNotFound
from hulian.control.launching import aggregate, task_timeout
from hulian.control.models import JobState
from hulian.control.public import public_text
from hulian.wire import dag as D

if TYPE_CHECKING:
    from hulian.control.service import ControlService

log = logging.getLogger("hulian.control.scheduler")
ACTIVE = (TaskState.READY, TaskState.RUNNING)
OUTBOX_FIRST_RETRY_SECONDS = 5.0  # a job/stop a party did not answer: again after this, doubling ...
OUTBOX_MAX_RETRY_SECONDS = 60.0  # ... up to this, until it answers (or transport.message_ttl_seconds pass)


class Scheduler:
    def __init__(self, svc: ControlService):
        self.svc = svc
        self.config = svc.config.control
        self._walkers: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._polled: dict[str, float] = {}

    # ---- lifecycle ------------------------------------------------------------------------------------------
    async def resume(self) -> None:
        live = (JobState.PENDING, JobState.READY, JobState.RUNNING)
        await self.svc.db.run(lambda c: repo.update_outbox(c, None, next_at=0.0))  # undelivered stops: at once
        rows = await self.svc.db.run(lambda c: repo.jobs_where(c, scheduler=self.svc.me, statuses=live))
        for job in rows:
            log.info("resuming job %s (%s)", job["job_id"], job["status"])
            self.launch(job["job_id"], resumed=True)

    def launch(self, job_id: str, resumed: bool = False) -> None:
        if job_id in self._walkers and not self._walkers[job_id].done():
            return
        self._wake.setdefault(job_id, asyncio.Event())
        self._walkers[job_id] = asyncio.create_task(self._walk(job_id, resumed), name=f"walk-{job_id}")

    def wake(self, job_id: str) -> None:
        if job_id in self._wake:
            self._wake[job_id].set()

    def lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    def _forget(self, job_id: str) -> None:
        """A job's walk has ended: drop its in-memory state (a later walk, e.g. after a restart, makes it anew)."""
        self._walkers.pop(job_id, None)
        self._wake.pop(job_id, None)
        self._polled.pop(job_id, None)
        lock = self._locks.get(job_id)
        if lock is not None and not lock.locked():
            del self._locks[job_id]

    async def close(self) -> None:
        for t in self._walkers.values():
            t.cancel()
        await asyncio.gather(*self._walkers.values(), return_exceptions=True)

    # ---- fan-out ----------------------------------------------------------------------------------------------
    async def broadcast(self, nodes: list[str], path: str, body: dict[str, Any],
                        retries: int | None = None) -> dict[str, ControlError | None]:
        async def one(node: str) -> ControlError | None:
            try:
                await self.svc.send(node, path, body, retries=retries)
                return None
            except ControlError as e:
                return e
            except Exception as e:  # a bug on our side must not stop the fan-out to the others
                log.exception("%s to %s failed", path, node)
                return ControlError(f"{type(e).__name__}: {e}")
        results = await asyncio.gather(*(one(n) for n in nodes))
        return dict(zip(nodes, results, strict=True))

    async def deliver(self, job_id: str, nodes: list[str], path: str, body: dict[str, Any],
                      retries: int | None = None) -> dict[str, ControlError | None]:
        """`broadcast`, durably: the call is queued in the database (ctl_outbox) before it is sent, and a remote
        node that does not answer gets it again from the watchdog (`deliver_pending`) until it does, also after
        a restart of this node. For job/stop: FATE-Flow never asks back for a stop it missed."""
        now = time.time()
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"))
        queued = [{"key": hashlib.sha256(f"{n}\n{path}\n{raw}".encode()).hexdigest(), "job_id": job_id,
                   "node_id": n, "path": path, "body": raw, "attempts": 0, "next_at": now, "last_error": "",
                   "created_at": now} for n in nodes if n != self.svc.me]
        await self.svc.db.run(lambda c: repo.add_outbox(c, queued))
        results = await self.broadcast(nodes, path, body, retries)
        for row in queued:
            await self._settle(row, results[row["node_id"]])
        return results

    async def deliver_pending(self) -> None:
        """Send again every queued call that is due (the control watchdog runs this every few seconds): nodes in
        parallel, each node's calls in order. Once a node proves unreachable in a pass its other calls wait for
        their next attempt without a call each, so one dead peer holding many stops cannot stretch the pass (and
        the watchdog's other duties) to stops x request timeout."""
        rows = await self.svc.db.run(lambda c: repo.due_outbox(c, time.time()))
        by_node: dict[str, list[repo.Row]] = {}
        for row in rows:
            by_node.setdefault(row["node_id"], []).append(row)
        await asyncio.gather(*(self._deliver_to(node_rows) for node_rows in by_node.values()))

    async def _deliver_to(self, rows: list[repo.Row]) -> None:
        down: PeerUnreachable | None = None
        for row in rows:
            err: ControlError | None = down
            if down is None:
                try:
                    await self.svc.client.call(row["node_id"], row["path"], json.loads(row["body"]), retries=0)
                except ControlError as e:
                    err = e
                    down = e if isinstance(e, PeerUnreachable) else None
            await self._settle(row, err)

    async def _settle(self, row: repo.Row, err: ControlError | None) -> None:
        """After one attempt of a queued call: done when the node answered (even with a refusal: it is there
        to refuse), else the next attempt scheduled and the failure logged."""
        what = f"{row['path'].removeprefix(P.EW + '/')} of job {row['job_id']}"
        attempts = row["attempts"] + 1
        if err is None or not isinstance(err, PeerUnreachable):
            if err is not None:
                log.warning("%s: node %s refused it: %s", what, row["node_id"], err.message)
            elif attempts > 1:
                log.info("%s reached node %s after %d attempts", what, row["node_id"], attempts)
            await self.svc.db.run(lambda c: repo.delete_outbox(c, row["key"]))
            return
        now = time.time()
        if now - row["created_at"] > self.svc.config.transport.message_ttl_seconds:
            log.error("%s never reached node %s (%d attempts since %.0fs ago; transport.message_ttl_seconds); "
                      "giving up: %s", what, row["node_id"], attempts, now - row["created_at"], err.message)
            await self.svc.db.run(lambda c: repo.delete_outbox(c, row["key"]))
            return
        delay = min(OUTBOX_FIRST_RETRY_SECONDS * 2 ** (attempts - 1), OUTBOX_MAX_RETRY_SECONDS)
        log.warning("%s did not reach node %s (attempt %d; again in %.0fs): %s", what, row["node_id"], attempts,
                    delay, err.message)
        await self.svc.db.run(lambda c: repo.update_outbox(c, row["key"], attempts=attempts, next_at=now + delay,
                                                           last_error=err.message))

    async def create_everywhere(self, job_id: str) -> None:
        """job/create on every party; any refusal rejects the job (and raises with the parties' reasons)."""
        job = await self.svc.job(job_id)
        _, conf = self.svc.spec(job)
        body = {"job_id": job_id, "flow_id": job["flow_id"], "dag": json.loads(job["dag"]),
                "config": json.loads(job["conf"])}
        results = await self.broadcast(conf.nodes(), P.CREATE, body)
        refused = {n: e for n, e in results.items()
                   if e is not None and not (isinstance(e, PeerError) and is_duplicate(e))}
        if refused:
            why = "; ".join(f"node {n} refused the job: {e.message}" for n, e in refused.items())
            await self.svc.db.run(lambda c: repo.update_job(c, job_id, status=JobState.REJECTED, message=why))
            accepted = [n for n in results if n not in refused]
            await self.deliver(job_id, accepted, P.STOP, {"job_id": job_id}, retries=1)
            raise PeerRefused(why)
        await self.svc.db.run(lambda c: repo.update_job(c, job_id, status=JobState.READY))

    # ---- the walk -----------------------------------------------------------------------------------------------
    async def _walk(self, job_id: str, resumed: bool) -> None:
        """Drive the job until it ends; an unexpected failure (database, bug) is logged and the step retried."""
        while True:
            try:
                ended, resumed = await self._step(job_id, resumed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling step of job %s failed; retrying", job_id)
                ended = False
                await asyncio.sleep(max(1.0, 5 * self.config.poll_interval_seconds))
            if ended:
                self._forget(job_id)
                return
            event = self._wake[job_id]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.config.poll_interval_seconds)
            event.clear()

    async def _step(self, job_id: str, resumed: bool) -> tuple[bool, bool]:
        """One pass: (ended, still to resend starts)."""
        job = await self.svc.job(job_id)
        status = JobState(job["status"])
        if status.ended:
            return True, resumed
        if status == JobState.PENDING:
            try:
                await self.create_everywhere(job_id)
            except PeerRefused:
                return True, resumed
            return False, resumed
        if status == JobState.READY:
            await self._start_job(job)
            return False, resumed
        if resumed:
            await self._resend_starts(job)
        await self._sync(job)
        async with self.lock(job_id):
            return await self._advance(job_id), False

    async def _start_job(self, job: repo.Row) -> None:
        _, conf = self.svc.spec(job)
        results = await self.broadcast(conf.nodes(), P.START_JOB, {"job_id": job["job_id"]})
        failed = {n: e for n, e in results.items() if e is not None}
        if failed:
            why = "; ".join(f"node {n} did not start the job: {e.message}" for n, e in failed.items())
            await self._finish(job["job_id"], why)
            return
        await self.svc.db.run(lambda c: repo.update_job(c, job["job_id"], status=JobState.RUNNING))

    async def _resend_starts(self, job: repo.Row) -> None:
        """After a restart: task/start again (idempotent) wherever a started task has not ended."""
        rows = await self.svc.db.run(lambda c: (repo.get_tasks(c, job["job_id"]), repo.get_parties(c, job["job_id"])))
        tasks, parties = rows
        for t in tasks:
            if t["status"] not in ACTIVE:
                continue
            nodes = sorted({p["node_id"] for p in parties if p["task_id"] == t["task_id"]
                            and not TaskState(p["status"]).ended})
            await self._send_task_start(job["job_id"], t["task_id"], t["task_name"], nodes)

    async def _sync(self, job: repo.Row) -> None:
        """Bring party rows up to date: local ones from the component layer, remote ones by task/poll."""
        job_id = job["job_id"]
        _, conf = self.svc.spec(job)
        interval = (self.config.callback_poll_interval_seconds if conf.sync_type == "callback"
                    else self.config.poll_interval_seconds)
        due = time.monotonic() - self._polled.get(job_id, 0.0) >= interval * 0.9
        rows = [r for r in await self.svc.db.run(lambda c: repo.get_parties(c, job_id=job_id))
                if not TaskState(r["status"]).ended]
        if due:
            self._polled[job_id] = time.monotonic()
        await asyncio.gather(*(self.svc.refresh(r) if r["node_id"] == self.svc.me else self._poll(r)
                               for r in rows if r["node_id"] == self.svc.me or due))

    async def _poll(self, row: repo.Row) -> None:
        now = time.time()
        body = {"task_id": row["task_id"], "role": row["role"]}
        try:
            data = await self.svc.client.call(row["node_id"], P.POLL, body, retries=0) or {}
        except PeerError:  # FATE answers code 6000 for a task it has not created yet: not an answer about state
            await self.svc.db.run(lambda c: repo.update_party(c, row["task_id"], row["role"], last_seen=now))
            return
        except ControlError as e:
            silent = now - row["last_seen"]
            if silent > self.config.party_unreachable_seconds:
                why = f"node {row['node_id']} unreachable for {silent:.0f}s: {e.message}"
                await self.svc.db.run(lambda c: repo.update_party(c, row["task_id"], row["role"],
                                                                  status=TaskState.FAILED, message=why))
            return
        state = task_state(data.get("status") if isinstance(data, dict) else None) or TaskState(row["status"])
        message = str(data.get("message") or "") if isinstance(data, dict) else ""
        if state == TaskState.PENDING and row["status"] != TaskState.PENDING:
            state = TaskState(row["status"])  # a poll that raced the task/start
        await self.svc.db.run(lambda c: repo.update_party(c, row["task_id"], row["role"], status=state,
                                                          message=message, last_seen=now))

    async def _advance(self, job_id: str) -> bool:
        """Aggregate, fail, start ready tasks, finish; True when the job has ended."""
        job = await self.svc.job(job_id)
        if JobState(job["status"]).ended:
            return True
        dag, conf = self.svc.spec(job)
        tasks, parties = await self.svc.db.run(lambda c: (repo.get_tasks(c, job_id), repo.get_parties(c, job_id)))
        by_name = {t["task_name"]: t for t in tasks}
        now = time.time()
        for t in tasks:
            if t["status"] not in ACTIVE:
                continue
            state, message = aggregate(p for p in parties if p["task_id"] == t["task_id"])
            if not state.ended and t["deadline"] and now > t["deadline"]:
                state = TaskState.FAILED
                message = (f"timed out after {t['deadline'] - t['started_at']:.0f}s (task_params system.timeout "
                           "or control.task_timeout_seconds)")
            if state == TaskState.PENDING:
                state = TaskState.READY
            if state != t["status"] or message != t["message"]:
                t.update(status=state.value, message=message)
                await self.svc.db.run(lambda c, t=t: repo.upsert_task(c, job_id, t["task_name"], status=t["status"],
                                                                      message=t["message"]))
        failed = [t for t in tasks if t["status"] == TaskState.FAILED and not t["stopped"]]
        if failed:
            await self._finish(job_id, "; ".join(f"task {t['task_name']} failed: {t['message']}" for t in failed))
            return True
        started = False
        for name in D.order(dag):
            t = by_name[name]
            comp = dag.component(name)
            if t["status"] == TaskState.PENDING and comp is not None and \
                    all(by_name[u]["status"] == TaskState.SUCCESS for u in comp.upstream):
                await self._start_task(job_id, dag, conf, t)
                started = True
        if not started and not any(t["status"] in ACTIVE for t in tasks):
            await self._finish(job_id, "")
            return True
        return False

    async def _start_task(self, job_id: str, dag: D.Dag, conf: D.Conf, t: repo.Row) -> None:
        comp = dag.component(t["task_name"])
        assert comp is not None
        parties = conf.parties()
        roles = D.task_roles(conf, self.svc.describe(comp.component, comp.version or None))
        now = time.time()
        deadline = now + task_timeout(self.svc.config, conf, t["task_name"], roles) + self.config.timeout_grace_seconds

        def record(c) -> None:
            repo.upsert_task(c, job_id, t["task_name"], status=TaskState.READY, started_at=now, deadline=deadline)
            for role in roles:
                repo.insert_party(c, task_id=t["task_id"], role=role, job_id=job_id, task_name=t["task_name"],
                                  node_id=parties[role], status=TaskState.READY, message="")
        await self.svc.db.run(record)
        t.update(status=TaskState.READY.value)
        log.info("job %s: starting task %s (%s) on %s", job_id, t["task_name"], t["task_id"], roles)
        await self._send_task_start(job_id, t["task_id"], t["task_name"], sorted({parties[r] for r in roles}))

    async def _send_task_start(self, job_id: str, task_id: str, task_name: str, nodes: list[str]) -> None:
        body = {"job_id": job_id, "task_id": task_id, "task_name": task_name}
        results = await self.broadcast(nodes, P.START_TASK, body)
        for node, err in results.items():
            if err is None:
                continue
            why = f"task/start refused by node {node}: {err.message}"

            def fail(c, node=node, why=why) -> None:
                for p in repo.get_parties(c, task_id=task_id):
                    if p["node_id"] == node and not TaskState(p["status"]).ended:
                        repo.update_party(c, task_id, p["role"], status=TaskState.FAILED, message=why)
            await self.svc.db.run(fail)
        self.wake(job_id)

    async def _finish(self, job_id: str, failure: str) -> None:
        """Unfinished tasks FAILED, job/stop on every party (they end their job too), then FINISHED here: a
        crash in between repeats the stop after the restart."""
        job = await self.svc.job(job_id)
        _, conf = self.svc.spec(job)
        why = f"stopped: {failure}" if failure else "stopped"

        def mark(c) -> None:
            for t in repo.get_tasks(c, job_id):
                if t["status"] in ACTIVE:
                    repo.upsert_task(c, job_id, t["task_name"], status=TaskState.FAILED, stopped=1, message=why)
            for p in repo.get_parties(c, job_id=job_id):
                if p["node_id"] != self.svc.me and not TaskState(p["status"]).ended:  # local: stopped below
                    repo.update_party(c, p["task_id"], p["role"], status=TaskState.FAILED, message=why)
            repo.update_job(c, job_id, message=failure)
        await self.svc.db.run(mark)
        if failure:
            log.warning("job %s stopped: %s", job_id, failure)
        else:
            log.info("job %s finished", job_id)
        await self.deliver(job_id, conf.nodes(), P.STOP, {"job_id": job_id})
        await self.svc.db.run(lambda c: repo.update_job(c, job_id, status=JobState.FINISHED))

    # ---- requests from parties and users ------------------------------------------------------------------
    async def stop(self, job_id: str, task_name: str, by: str) -> None:
        """stop_all: the named task and everything downstream (or the whole job) FAILED, everywhere."""
        async with self.lock(job_id):
            job = await self.svc.job(job_id)
            if JobState(job["status"]).ended:
                return
            dag, conf = self.svc.spec(job)
            if task_name and dag.component(task_name) is None:
                raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job_id!r}")
            if not task_name:
                await self._finish(job_id, f"stopped by node {by}")
                return
            names = D.downstream(dag, task_name)
            await self.svc.db.run(lambda c: repo.stop_tasks(c, job_id, names, f"stopped by node {by}"))
            await self.deliver(job_id, conf.nodes(), P.STOP, {"job_id": job_id, "task_name": task_name})
        self.wake(job_id)

    async def reject(self, job_id: str, why: str) -> None:
        async with self.lock(job_id):
            await self._finish(job_id, why)
            await self.svc.db.run(lambda c: repo.update_job(c, job_id, status=JobState.REJECTED))

    async def view(self, job_id: str) -> dict[str, Any]:
        """status_all: `job_status`, `status` keyed by task name and by task id (FATE reads names, Kuscia and
        the north-south spec ids), and hulian's `tasks` with every party's state and error text."""
        job = await self.svc.job(job_id)
        tasks, parties = await self.svc.db.run(lambda c: (repo.get_tasks(c, job_id), repo.get_parties(c, job_id)))
        status: dict[str, str] = {}
        detail = []
        for t in tasks:
            status[t["task_name"]] = t["status"]
            if t["task_id"]:
                status[t["task_id"]] = t["status"]
            detail.append({"task_name": t["task_name"], "task_id": t["task_id"], "status": t["status"],
                           "message": public_text(t["message"]),
                           "parties": {p["role"]: {"node_id": p["node_id"], "status": p["status"],
                                                   "message": public_text(p["message"])}
                                       for p in parties if p["task_id"] == t["task_id"]}})
        return {"job_id": job_id, "job_status": job["status"], "status": status,
                "message": public_text(job["message"]), "tasks": detail}
