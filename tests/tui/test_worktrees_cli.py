"""Worktrees (issue 17, point 7): `worktree: true` gives each attempt its own git worktree and
branch at the run's start commit; the attempt's changes are committed on its branch, its patch
is kept in the run's directory, its diffstat is in `show --json` and the report; the worktrees go
when the run ends unless `keep_worktrees`; a workdir outside a git repository is a plan error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import Run, show_last


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _repo(tmp_path: Path, plan: str) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README").write_text("hello\n")
    (tmp_path / "plan.yaml").write_text(plan)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    return tmp_path


PLAN = """
name: trees
agents:
  dev: {slots: 2, worktree: true}
phases:
  - id: build
    tasks:
      - id: edit
        agent: dev
        run: "sh -c 'echo change >> README; echo new > added.txt; pwd > where.txt'"
        outputs: [added.txt]
      - {id: idle, agent: dev, run: "true"}
      - {id: here, agent: dev, worktree: false, run: "sh -c 'pwd > here.txt'"}
"""


def test_each_attempt_works_on_its_own_branch_and_hands_off_a_commit_and_a_patch(
    pg: Run, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, PLAN)
    start = _git(repo, "rev-parse", "HEAD")
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    shown = show_last(pg)
    tasks = {t["id"]: t for t in shown["tasks"]}  # type: ignore[attr-defined]
    run_id = str(shown["id"])
    handoff = tasks["edit"]["handoff"]
    assert handoff["branch"] == f"phasegate/{run_id}/edit-1"
    assert (handoff["files"], handoff["insertions"], handoff["deletions"]) == (3, 3, 0)
    # the work is a commit on its branch, made from the run's start commit
    assert _git(repo, "rev-parse", handoff["branch"]) == handoff["commit"]
    assert _git(repo, "merge-base", handoff["branch"], "main") == start
    assert _git(repo, "show", f"{handoff['branch']}:added.txt") == "new"
    where = _git(repo, "show", f"{handoff['branch']}:where.txt")
    assert where.endswith("/worktrees/edit-1") and where != str(repo)
    # the main checkout is untouched; a task with worktree: false ran there
    assert (repo / "README").read_text() == "hello\n" and not (repo / "added.txt").exists()
    assert (repo / "here.txt").read_text().strip() == str(repo)
    assert "handoff" not in tasks["here"]
    # the patch applies to the start commit
    patch = Path(handoff["patch"])
    assert patch.is_file()
    assert subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo).returncode == 0
    # a task that changed nothing hands off nothing, and leaves no branch
    assert tasks["idle"]["handoff"]["commit"] == "" and tasks["idle"]["status"] == "succeeded"
    branches = _git(repo, "branch", "--list", f"phasegate/{run_id}/*").split()
    assert branches == [f"phasegate/{run_id}/edit-1"]
    # the worktrees are gone when the run ends
    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    report = pg("report", "last").stdout
    assert f"edit: branch phasegate/{run_id}/edit-1, 3 files, +3 -0" in report.replace("\\", "")


def test_keep_worktrees_keeps_them_and_a_retry_gets_a_fresh_one(pg: Run, tmp_path: Path) -> None:
    plan = """
name: keep
keep_worktrees: true
agents: {dev: {worktree: true}}
phases:
  - id: p
    tasks:
      - id: flaky
        agent: dev
        retries: 1
        backoff: 0s
        # the first attempt leaves a file and fails; the second starts clean from the commit
        run: "sh -c 'test -e ../flaky-1/seen || { touch seen; exit 3; }; ls > listing.txt'"
"""
    repo = _repo(tmp_path, plan)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    flaky = {t["id"]: t for t in show_last(pg)["tasks"]}["flaky"]  # type: ignore[attr-defined]
    assert flaky["attempts"] == 2 and flaky["handoff"]["attempt"] == 2
    trees = _git(repo, "worktree", "list", "--porcelain")
    assert trees.count("worktree ") == 3  # the main one and both attempts'
    listing = _git(repo, "show", f"{flaky['handoff']['branch']}:listing.txt").split()
    assert sorted(listing) == ["README", "listing.txt", "plan.yaml"]  # no `seen`: a fresh tree


def test_a_workdir_outside_a_git_repository_is_a_plan_error(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: nogit\nagents: {dev: {worktree: true}}\n"
        'phases: [{id: p, tasks: [{id: t, agent: dev, run: "true"}]}]\n'
    )
    for command in ("validate", "run"):
        done = pg(command, "plan.yaml", *(["--headless"] if command == "run" else []))
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "plan.yaml:2: agents.dev.worktree: worktree: the workdir" in done.stderr
        assert "is not in a git repository" in done.stderr and "git init" in done.stderr
    checked = json.loads(pg("validate", "plan.yaml", "--json").stdout)
    assert checked["valid"] is False


SECRET_PLAN = """
name: trees
secrets:
  TOKEN: {env: TREES_TOKEN}
agents:
  dev: {worktree: true, secrets: [TOKEN]}
phases:
  - id: build
    tasks:
      - {id: leak, agent: dev, run: "sh -c 'echo \\"token=$TOKEN\\" > config.txt'"}
"""


def test_a_secret_the_task_wrote_into_its_work_is_redacted_in_the_patch(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (the run's directory never holds a secret: the patch held it as the task wrote it)
    secret = "tok-" + "9f3k2LmQ8zR1vX7wC4nB6yT0" * 2
    cli_env["TREES_TOKEN"] = secret
    repo = _repo(tmp_path, SECRET_PLAN)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    handoff = show_last(pg)["tasks"][0]["handoff"]  # type: ignore[index]
    patch = Path(handoff["patch"]).read_text()
    assert secret not in patch and "+token=«TOKEN»" in patch
    assert patch.startswith("phasegate: a secret was replaced by its «NAME» in this patch")
    assert handoff["branch"] in patch.splitlines()[0]  # (where the change is, as made)
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    # the branch is the task's own work, as it made it (the user's repository)
    assert secret in _git(repo, "show", f"{handoff['branch']}:config.txt")


FAKE_AGENT = """#!{python}
import json, os, sys
sys.stdin.readline(); sys.stdin.readline()
print(json.dumps({{"type": "system", "subtype": "init", "session_id": "s-1"}}), flush=True)
if "--resume" not in sys.argv:  # attempt 1: half the work, then out of turns
    with open("draft.txt", "w") as f:
        f.write("half done\\n")
    print(json.dumps({{"type": "result", "subtype": "success", "is_error": True,
                      "result": "ran out", "session_id": "s-1", "usage": {{}}}}), flush=True)
    sys.exit(1)
with open("final.txt", "w") as f:  # the session goes on: its agent counts on its draft
    f.write(f"draft there: {{os.path.exists('draft.txt')}}\\n")
print(json.dumps({{"type": "result", "subtype": "success", "is_error": False,
                  "result": "done", "session_id": "s-1", "usage": {{}}}}), flush=True)
"""


def test_a_retry_that_goes_on_with_its_agents_session_starts_from_what_it_left(
    pg: Run, tmp_path: Path
) -> None:
    import sys

    agent = tmp_path / "fake-claude"
    agent.write_text(FAKE_AGENT.format(python=sys.executable))
    agent.chmod(0o755)
    plan = f"""
name: carry
agents:
  coder: {{kind: claude, binary: {agent}, worktree: true}}
phases:
  - id: p
    tasks:
      - {{id: fix, agent: coder, prompt: "fix it", retries: 1, backoff: 0s}}
"""
    repo = _repo(tmp_path, plan)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    run_id = str(show_last(pg)["id"])
    # attempt 2 resumed the session, in a worktree made from attempt 1's branch
    assert _git(repo, "show", f"phasegate/{run_id}/fix-2:final.txt") == "draft there: True"
    # its hand-off, against the run's start commit, holds the task's whole work
    patch = (tmp_path / "data" / "runs" / run_id / "patches" / "fix-2.patch").read_text()
    assert "+++ b/draft.txt" in patch and "+++ b/final.txt" in patch
