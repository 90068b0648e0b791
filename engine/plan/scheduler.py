"""Who runs next: ready tasks ordered by priority, then longest remaining path, then plan order;
placed on a ready agent that has the capability and a free slot, within resource capacity."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import msgspec

from phasegate.engine.plan.dag import Graph

if TYPE_CHECKING:  # (annotations only: a front end reads forecasts without the model)
    from phasegate.engine.plan.model import Plan


class Scheduler(msgspec.Struct):
    """Holds ready tasks and free capacity; `take()` hands out (task, agent) placements."""

    candidates: dict[str, tuple[str, ...]]  # task -> agents that may run it, in preference order
    uses: dict[str, dict[str, int]]
    key: dict[str, tuple[int, float, int]]
    slots: dict[str, int]
    capacity: dict[str, int]
    free_slots: dict[str, int] = {}
    free_res: dict[str, int] = {}
    ready_agents: set[str] = set()
    _heap: list[tuple[tuple[int, float, int], str]] = []
    _dropped: set[str] = set()
    _free_total: int = 0

    @classmethod
    def for_plan(cls, plan: Plan, graph: Graph) -> Scheduler:
        agents = sorted(plan.agents)
        candidates: dict[str, tuple[str, ...]] = {}
        uses: dict[str, dict[str, int]] = {}
        key: dict[str, tuple[int, float, int]] = {}
        having: dict[str, tuple[str, ...]] = {}  # capability -> agents that have it
        for _, task in plan.tasks():
            if task.agent:
                candidates[task.id] = (task.agent,)
            elif task.capability:
                cap = task.capability
                if cap not in having:
                    having[cap] = tuple(a for a in agents if cap in plan.agents[a].capabilities)
                candidates[task.id] = having[cap]
            else:
                candidates[task.id] = tuple(agents) if len(agents) == 1 else ()
            uses[task.id] = {r: n for r, n in task.uses.items() if n}
            key[task.id] = (-task.priority, -graph.rank[task.id], graph.order[task.id])
        slots = {a: spec.slots for a, spec in plan.agents.items()}
        capacity = {r: spec.capacity for r, spec in plan.resources.items()}
        s = cls(candidates, uses, key, slots, capacity)
        s.free_slots = dict(slots)
        s.free_res = dict(capacity)
        s.ready_agents = set(slots)
        s._free_total = sum(slots.values())
        return s

    def fresh(self) -> Scheduler:
        """A scheduler for the same plan with nothing queued or placed (the forecast simulates
        on one); the per-task tables are shared, they never change."""
        s = Scheduler(self.candidates, self.uses, dict(self.key), dict(self.slots), self.capacity)
        s.free_slots = dict(self.slots)
        s.free_res = dict(self.capacity)
        s.ready_agents = set(self.slots)
        s._free_total = sum(self.slots.values())
        return s

    def set_ready(self, agent: str, ready: bool) -> None:
        was = agent in self.ready_agents
        if ready and not was:
            self.ready_agents.add(agent)
            self._free_total += self.free_slots[agent]
        elif not ready and was:
            self.ready_agents.discard(agent)
            self._free_total -= self.free_slots[agent]

    def runnable(self, task: str) -> bool:
        """Can any ready agent ever take this task?"""
        return any(a in self.ready_agents for a in self.candidates[task])

    def push(self, task: str) -> None:
        heapq.heappush(self._heap, (self.key[task], task))

    def reprioritise(self, task: str, priority: int) -> None:
        """A new priority; a queued task takes its new place in the queue."""
        _, rank, order = self.key[task]
        self.key[task] = (-priority, rank, order)
        if any(t == task for _, t in self._heap):
            self._heap = [(self.key[t] if t == task else k, t) for k, t in self._heap]
            heapq.heapify(self._heap)

    def set_slots(self, agent: str, slots: int) -> None:
        """Change an agent's slots; running tasks keep theirs, new ones fit the new number."""
        delta = slots - self.slots[agent]
        self.slots[agent] = slots
        self.free_slots[agent] += delta
        if agent in self.ready_agents:
            self._free_total += delta

    def drop(self, task: str) -> None:
        """Forget a queued task (skipped or cancelled before it started)."""
        if any(t == task for _, t in self._heap):
            self._dropped.add(task)

    def __len__(self) -> int:
        return len(self._heap)

    def take(self) -> list[tuple[str, str]]:
        """Place as many ready tasks as free slots and resources allow, best first."""
        placed: list[tuple[str, str]] = []
        deferred = []
        heap = self._heap
        while heap and self._free_total > 0:
            item = heapq.heappop(heap)
            task = item[1]
            if task in self._dropped:
                self._dropped.discard(task)
                continue
            agent = self._place(task)
            if agent is None:
                deferred.append(item)
            else:
                placed.append((task, agent))
        for item in deferred:
            heapq.heappush(heap, item)
        return placed

    def _place(self, task: str) -> str | None:
        needs = self.uses[task]
        free_res = self.free_res
        if needs:
            for r, n in needs.items():
                if free_res[r] < n:
                    return None
        # the ready candidate with the most free slots (the first of equals)
        best, most = None, 0
        free_slots, ready = self.free_slots, self.ready_agents
        for agent in self.candidates[task]:
            free = free_slots[agent]
            if free > most and agent in ready:
                best, most = agent, free
        if best is None:
            return None
        free_slots[best] -= 1
        self._free_total -= 1
        if needs:
            for r, n in needs.items():
                free_res[r] -= n
        return best

    def occupy(self, task: str, agent: str) -> None:
        """Take a slot and resources for a task that runs already (adopted after a crash)."""
        self.free_slots[agent] -= 1
        if agent in self.ready_agents:
            self._free_total -= 1
        for r, n in self.uses[task].items():
            self.free_res[r] -= n

    def release(self, task: str, agent: str) -> None:
        self.free_slots[agent] += 1
        if agent in self.ready_agents:
            self._free_total += 1
        for r, n in self.uses[task].items():
            self.free_res[r] += n
