"""The task graph against networkx as the oracle, on random graphs: the ranks are the longest
remaining paths, the dry run's critical path with free slots is a longest path, and a cycle is
always found and named (see docs/dag.md for why the hand-written code stays)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasegate.engine.plan.check import semantic_problems
from phasegate.engine.plan.convert import parse
from phasegate.engine.plan.dag import build
from phasegate.engine.plan.model import Plan
from phasegate.engine.watch.simulate import simulate

Needs = dict[str, list[str]]


@st.composite
def dags(draw: st.DrawFn) -> tuple[Needs, dict[str, int]]:
    """Tasks t0..tn-1 whose needs point only to a lower number (so acyclic), listed in the plan
    in a shuffled order (so needs also point forward inside the phase); whole-second estimates."""
    n = draw(st.integers(1, 12))
    ids = [f"t{i}" for i in range(n)]
    needs: Needs = {t: [] for t in ids}
    for i in range(n):
        for j in range(i):
            if draw(st.booleans()):
                needs[ids[i]].append(ids[j])
    estimates = {t: draw(st.integers(1, 20)) for t in ids}
    listed = draw(st.permutations(ids))
    return {t: needs[t] for t in listed}, estimates


@st.composite
def cyclic(draw: st.DrawFn) -> tuple[Needs, list[str]]:
    """A random DAG with a ring of 2 or more tasks added: each task of the ring needs the next."""
    needs, _ = draw(dags().filter(lambda d: len(d[0]) >= 2))
    ring = draw(st.lists(st.sampled_from(sorted(needs)), min_size=2, unique=True))
    for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
        if b not in needs[a]:
            needs[a].append(b)
    return needs, ring


def _data(needs: Needs, estimates: dict[str, int] | None = None) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    for t, ns in needs.items():
        task: dict[str, Any] = {"id": t, "run": "true", "agent": "a", "needs": ns}
        if estimates is not None:
            task["estimate"] = estimates[t]
        tasks.append(task)
    # as many slots as tasks: nothing waits for a slot, so the schedule follows the needs alone
    return {
        "name": "dag",
        "agents": {"a": {"slots": len(needs)}},
        "phases": [{"id": "p", "tasks": tasks}],
    }


def _oracle(needs: Needs, estimates: dict[str, int]) -> Any:
    """Edges from a need to its dependent, weighted by the dependent's estimate, and a start
    node before every task weighted by that task's: a path's weight is its tasks' estimates."""
    graph = nx.DiGraph()
    graph.add_nodes_from(needs)
    graph.add_edges_from((n, t, {"w": estimates[t]}) for t, ns in needs.items() for n in ns)
    graph.add_edges_from(("<start>", t, {"w": estimates[t]}) for t in needs)
    return graph


def _is_path(path: list[str], needs: Needs) -> bool:
    return all(a in needs[b] for a, b in pairwise(path))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(dag=dags())
def test_ranks_are_the_longest_remaining_paths(dag: tuple[Needs, dict[str, int]]) -> None:
    needs, estimates = dag
    graph = build(parse(Plan, _data(needs, estimates)))
    oracle = _oracle(needs, estimates)
    for t in needs:
        rest = oracle.subgraph(nx.descendants(oracle, t) | {t})
        expected = estimates[t] + nx.dag_longest_path_length(rest, weight="w")
        assert graph.rank[t] == expected, t


@SETTINGS
@given(dag=dags())
def test_the_highest_rank_is_the_longest_path(dag: tuple[Needs, dict[str, int]]) -> None:
    needs, estimates = dag
    graph = build(parse(Plan, _data(needs, estimates)))
    oracle = _oracle(needs, estimates)
    longest = nx.dag_longest_path(oracle, weight="w")[1:]
    assert _is_path(longest, needs)
    assert max(graph.rank.values()) == sum(estimates[t] for t in longest)
    # following the ranks down from the top walks a longest path too
    t = max(graph.rank, key=lambda t: (graph.rank[t], -graph.order[t]))
    walk = [t]
    while graph.dependents[t]:
        t = max(graph.dependents[t], key=lambda d: (graph.rank[d], -graph.order[d]))
        walk.append(t)
    assert _is_path(walk, needs)
    assert sum(estimates[t] for t in walk) == sum(estimates[t] for t in longest)


@SETTINGS
@given(dag=dags())
def test_with_free_slots_the_critical_path_is_a_longest_path(
    dag: tuple[Needs, dict[str, int]],
) -> None:
    needs, estimates = dag
    schedule = simulate(parse(Plan, _data(needs, estimates)))
    length = nx.dag_longest_path_length(_oracle(needs, estimates), weight="w")
    assert schedule.total == length
    assert _is_path(schedule.critical_path, needs)
    assert sum(estimates[t] for t in schedule.critical_path) == length


def _cycles_named(data: dict[str, Any]) -> list[list[str]]:
    prefix = "dependency cycle: "
    named = []
    for found in semantic_problems(data):
        if found.message.startswith(prefix):
            named.append(found.message[len(prefix) :].split(" (")[0].split(" -> "))
    return named


@SETTINGS
@given(dag=dags())
def test_no_cycle_is_named_in_a_dag(dag: tuple[Needs, dict[str, int]]) -> None:
    assert _cycles_named(_data(dag[0])) == []


@SETTINGS
@given(graph=cyclic())
def test_a_cycle_is_always_found_and_named(graph: tuple[Needs, list[str]]) -> None:
    needs, ring = graph
    named = _cycles_named(_data(needs))
    oracle = nx.DiGraph((t, n) for t, ns in needs.items() for n in ns)
    tangles = [c for c in nx.strongly_connected_components(oracle) if len(c) > 1]
    # one cycle named per tangle of tasks, each a real cycle inside its own tangle
    assert len(named) == len(tangles) >= 1
    for names in named:
        assert len(names) >= 3 and names[0] == names[-1]
        assert len(set(names[:-1])) == len(names) - 1
        assert _is_path(names[::-1], needs)  # each needs the next
        assert sum(set(names) <= c for c in tangles) == 1
    # the tangle holding the added ring is among them
    ring_tangle = next(c for c in tangles if set(ring) <= c)
    assert any(set(names) <= ring_tangle for names in named)
