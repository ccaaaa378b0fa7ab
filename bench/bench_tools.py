"""Figure 1c: whole processes beside the tools a user would pick instead — the same requests, one server.

    python bench/bench_tools.py                  # 500 requests, 200 ms latency, concurrency 50, 3 rounds
    python bench/bench_tools.py --rounds 5 --only bare,harness,promptfoo

Four clients send the same requests (the suite's 25 cases × 20 epochs = 500; the configured agent prompt as the
system prompt, each case's rendered request as the user message, temperature 1.0, max_tokens 2048) to one
loopback fake Messages API (``common.ServerProcess``: its own process, 200 ms latency, realistic 2–12 KB
reviews), at concurrency 50. Each is timed as a **whole process**, from spawn to exit, as a user would run it:

* ``bare``      — ``python bench/bare_loop.py``: ``AsyncAnthropic`` + ``asyncio.Semaphore`` + ``messages.create``,
  nothing else (the floor);
* ``harness``   — ``python -m harness.cli run --cache off --epochs 20 --concurrency 50 ...``: records, the
  deterministic grader (its lexical stage: ``semantic_grading = false`` in a scratch project's pyproject.toml;
  the semantic stage is measured by ``bench_runner.py --semantic``), run.json, summary and the run's markdown
  and HTML reports;
* ``promptfoo`` — ``promptfoo eval -j 50 --repeat 20 --no-cache`` (Node ≥ 22) with the ``anthropic:messages``
  provider, a prompt function giving the same system and user messages, results written to its own database
  (a scratch ``PROMPTFOO_CONFIG_DIR``) and a JSON output file; telemetry and update checks off;
* ``inspect``   — ``inspect eval`` of a Task with the same 500 samples, ``generate()``, a trivial scorer,
  ``--max-connections 50``, logs to a scratch folder.

promptfoo and inspect-ai are found where ``bench/setup_tools.sh`` installs them (``bench/.node``,
``bench/.venv-inspect``; inspect-ai also when importable here); a missing one is skipped and said so. Rounds
alternate the clients, the order rotating each round, and the 1-minute load average is printed with every run:
figures are ratios of medians measured in this run, so a drift of the machine's load hits every client alike.
Client CPU is the whole process's (``wait4``: user + system, every thread, start-up included) ÷ requests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (BENCH, MODEL, ROOT, Bench, ServerProcess, add_load_options, child_env, loadavg,  # noqa: E402
                    median, run_cmd, table, work_dir)

VARIANTS = ("bare", "harness", "promptfoo", "inspect")
TEMPERATURE = 1.0
MAX_TOKENS = 2048
NODE_DIR = BENCH / ".node"
INSPECT_VENV = BENCH / ".venv-inspect"


# ------------------------------------------------------------------------------------------------ tools


def find_node() -> tuple[Path | None, str]:
    """A Node ≥ 22 (bench/.node first, then PATH) and why not when there is none."""
    cands = [NODE_DIR / "node_modules" / "node" / "bin" / "node"]
    if shutil.which("node"):
        cands.append(Path(shutil.which("node")))
    seen = []
    for c in cands:
        if not c.is_file():
            continue
        try:
            v = subprocess.run([str(c), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        seen.append(f"{c}: {v}")
        if v.startswith("v") and int(v[1:].split(".")[0]) >= 22:
            return c, ""
    return None, "no Node >= 22 (" + ("; ".join(seen) or "none found") + ")"


def find_promptfoo() -> tuple[list[str] | None, str, str]:
    """(the command prefix ``[node, promptfoo's entry script]``, its version, why not when absent)."""
    node, why = find_node()
    if node is None:
        return None, "", why + "; run bench/setup_tools.sh"
    entry = NODE_DIR / "node_modules" / ".bin" / "promptfoo"
    if not entry.exists():
        return None, "", f"promptfoo not installed under {NODE_DIR.relative_to(ROOT)}; run bench/setup_tools.sh"
    pkg = json.loads((NODE_DIR / "node_modules" / "promptfoo" / "package.json").read_text(encoding="utf-8"))
    return [str(node), str(entry.resolve())], pkg.get("version", "?"), ""


def find_inspect() -> tuple[list[str] | None, str, str]:
    """(the ``inspect`` command, inspect-ai's version, why not when absent)."""
    venv_bin = INSPECT_VENV / "bin" / "inspect"
    if venv_bin.is_file():
        py = INSPECT_VENV / "bin" / "python"
        v = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('inspect-ai'))"],
                           capture_output=True, text=True).stdout.strip()
        return [str(venv_bin)], v, ""
    if shutil.which("inspect"):
        from importlib import metadata
        try:
            return [shutil.which("inspect")], metadata.version("inspect-ai"), ""
        except metadata.PackageNotFoundError:
            pass
    return None, "", "inspect-ai not installed (bench/setup_tools.sh puts it in bench/.venv-inspect)"


# ------------------------------------------------------------------------------------------------ workload

PROMPT_JS = """const fs = require('fs');
const path = require('path');
const SYSTEM = fs.readFileSync(path.join(__dirname, 'system.txt'), 'utf8');
module.exports = async function ({ vars }) {
  return [{ role: 'system', content: SYSTEM }, { role: 'user', content: vars.message }];
};
"""

INSPECT_TASK = """import json, os
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate


@scorer(metrics=[accuracy()])
def trivial():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=1.0 if state.output.completion else 0.0)
    return score


@task
def bench():
    w = json.load(open(os.path.join(os.path.dirname(__file__), "work.json"), encoding="utf-8"))
    return Task(dataset=[Sample(id=i, input=[ChatMessageSystem(content=w["system"]), ChatMessageUser(content=m)])
                         for i, m in enumerate(w["messages"])], solver=generate(), scorer=trivial())
"""


def prepare(tmp: Path, samples: int) -> dict:
    """Write every client's inputs under ``tmp``; returns what the commands need."""
    from common import load_suite_and_prompt
    from harness.request import render_request
    suite, prompt, cfg = load_suite_and_prompt()
    epochs = max(1, samples // len(suite))
    msgs = {c.id: render_request(c) for c in suite}
    # the harness's plan order: epoch, then case
    work = {"model": MODEL.split("/", 1)[1], "system": prompt.body, "temperature": TEMPERATURE,
            "max_tokens": MAX_TOKENS, "messages": [msgs[c.id] for _ in range(epochs) for c in suite]}
    (tmp / "work.json").write_text(json.dumps(work, ensure_ascii=False), encoding="utf-8")

    proj = tmp / "proj"
    proj.mkdir()
    price = cfg.price_for(work["model"])
    prices = (f'[tool.harness.prices."{work["model"]}"]\ninput = {price.input}\noutput = {price.output}\n'
              f"cache_write = {price.cache_write}\ncache_read = {price.cache_read}\n") if price else ""
    (proj / "pyproject.toml").write_text(
        "[tool.harness]\n"
        f"cases_dir = {json.dumps(str(cfg.path(cfg.cases_dir)))}\n"
        f"prompts = [{json.dumps(str(cfg.path(cfg.prompts[0])))}]\n"
        'runs_root = "runs"\nreports_dir = "reports"\n'
        "semantic_grading = false\n\n" + prices, encoding="utf-8")

    pf = tmp / "promptfoo"
    pf.mkdir()
    (pf / "system.txt").write_text(prompt.body, encoding="utf-8")
    (pf / "prompt.js").write_text(PROMPT_JS, encoding="utf-8")
    pf_cfg = {"description": "bench_tools", "prompts": ["file://prompt.js"],
              "providers": [{"id": f"anthropic:messages:{work['model']}",
                             "config": {"temperature": TEMPERATURE, "max_tokens": MAX_TOKENS}}],
              "tests": [{"description": c.id, "vars": {"message": msgs[c.id]}} for c in suite]}
    # JSON is YAML: promptfoo reads it as its config
    (pf / "promptfooconfig.yaml").write_text(json.dumps(pf_cfg, ensure_ascii=False, indent=1), encoding="utf-8")

    ins = tmp / "inspect"
    ins.mkdir()
    (ins / "work.json").write_text(json.dumps(work, ensure_ascii=False), encoding="utf-8")
    (ins / "bench_task.py").write_text(INSPECT_TASK, encoding="utf-8")
    return {"epochs": epochs, "cases": len(suite), "requests": len(work["messages"])}


def command(variant: str, tmp: Path, r: int, a, tools: dict) -> tuple[list[str], dict, Path]:
    """(argv, extra environment, working folder) of one timed run."""
    if variant == "bare":
        return [sys.executable, str(BENCH / "bare_loop.py"), str(tmp / "work.json"), str(a.concurrency)], {}, ROOT
    if variant == "harness":
        proj = tmp / "proj"
        return ([sys.executable, "-m", "harness.cli", "--root", str(proj), "run", "--model", MODEL, "--cases", "all",
                 "--epochs", str(a.epochs), "--concurrency", str(a.concurrency), "--cache", "off",
                 "--temperature", str(TEMPERATURE), "--max-tokens", str(MAX_TOKENS), "--no-progress",
                 "--run-dir", str(proj / "runs" / f"r{r}")],
                {"PYTHONPATH": str(ROOT), "HARNESS_CACHE_DIR": str(tmp / "cache")}, proj)
    if variant == "promptfoo":
        pf = tmp / "promptfoo"
        return ([*tools["promptfoo"], "eval", "-c", str(pf / "promptfooconfig.yaml"), "-j", str(a.concurrency),
                 "--repeat", str(a.epochs), "--no-cache", "--no-table", "--no-progress-bar",
                 "-o", str(pf / f"out-r{r}.json")],
                {"PATH": str(Path(tools["promptfoo"][0]).parent) + os.pathsep + os.environ.get("PATH", ""),
                 "PROMPTFOO_CONFIG_DIR": str(pf / "home"), "PROMPTFOO_DISABLE_TELEMETRY": "1",
                 "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
                 # the messages are sent as written: a case quoting Go templates ({{ .Values.x }}, a Helm chart)
                 # is otherwise rendered by promptfoo's Nunjucks and its 17 requests fail ("expected variable end")
                 "PROMPTFOO_DISABLE_TEMPLATING": "true"}, pf)
    if variant == "inspect":
        ins = tmp / "inspect"
        # a relative task path: inspect-ai 0.3.285 globs it, and pathlib rejects an absolute pattern
        return ([*tools["inspect"], "eval", "bench_task.py", "--model", MODEL,
                 "--max-connections", str(a.concurrency), "--temperature", str(TEMPERATURE),
                 "--max-tokens", str(MAX_TOKENS), "--log-dir", str(ins / f"logs-r{r}"), "--display", "none",
                 "--no-log-realtime"],
                {}, ins)
    raise ValueError(variant)


def answered(variant: str, tmp: Path, r: int, stdout: str) -> int:
    """Requests the client reports answered, from its own output (so a run that failed quietly shows)."""
    try:
        if variant == "bare":
            return int(json.loads(stdout.strip().splitlines()[-1])["ok"])
        if variant == "harness":
            run = json.loads((tmp / "proj" / "runs" / f"r{r}" / "run.json").read_text(encoding="utf-8"))
            return int((run.get("summary") or {}).get("outcomes", {}).get("ok", 0))
        if variant == "promptfoo":
            out = json.loads((tmp / "promptfoo" / f"out-r{r}.json").read_text(encoding="utf-8"))
            return int(out["results"]["stats"]["successes"])
        if variant == "inspect":
            logs = list((tmp / "inspect" / f"logs-r{r}").glob("*"))
            return -1 if logs else 0   # inspect's log format is its own: its exit code and the server's count say it
    except (OSError, ValueError, KeyError, IndexError):
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(ap)
    ap.add_argument("--only", help="comma-separated clients: " + ", ".join(VARIANTS))
    a = ap.parse_args(argv)
    want = [v for v in VARIANTS if not a.only or v in {x.strip() for x in a.only.split(",")}]

    tools: dict = {}
    versions: dict[str, str] = {}
    variants = [v for v in want if v in ("bare", "harness")]
    for name, finder in (("promptfoo", find_promptfoo), ("inspect", find_inspect)):
        if name not in want:
            continue
        cmd, ver, why = finder()
        if cmd is None:
            print(f"   {name} is absent: {why}; its comparison is skipped", flush=True)
            continue
        tools[name], versions[name] = cmd, ver
        variants.append(name)
    b = Bench("tools", f"Whole processes: {a.samples} requests, {a.latency * 1000:.0f} ms latency, concurrency "
                       f"{a.concurrency} ({', '.join(f'{v} {versions[v]}' if v in versions else v for v in variants)}"
                       f"; {a.rounds} rounds)")
    ideal = a.samples * a.latency / a.concurrency
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    with work_dir("tools-") as tmp_s, ServerProcess(latency_s=a.latency) as srv:
        tmp = Path(tmp_s)
        info = prepare(tmp, a.samples)
        a.epochs = info["epochs"]
        n = info["requests"]
        for r in range(a.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                srv.reset()
                s0 = srv.cpu_s()
                load = loadavg()
                argv_, extra, cwd = command(v, tmp, r, a, tools)
                out, usage = run_cmd(argv_, env={**child_env(srv.base_url), **extra}, cwd=cwd, timeout=600)
                st = srv.stats()
                res = {"wall_s": usage["wall_s"], "cpu_s": usage["cpu_s"], "maxrss_mib": usage["maxrss_mib"],
                       "exit": usage["returncode"], "answered": answered(v, tmp, r, out),
                       "server_completed": st["completed"], "server_requests": st["requests"],
                       "server_max_inflight": st["max_inflight"], "server_cpu_s": round(srv.cpu_s() - s0, 3),
                       "load1": load[0] if load else None}
                runs[v].append(res)
                print(f"   round {r + 1} {v:9s} {res['wall_s']:6.2f} s wall, {res['cpu_s']:5.2f} s CPU, "
                      f"{res['maxrss_mib']:6.0f} MiB, exit {res['exit']}, server answered {st['completed']}/{n} "
                      f"(max in flight {st['max_inflight']}); load {load[0] if load else '?'}", flush=True)
                if res["exit"] not in (0,) or st["completed"] < n:
                    print(f"   WARNING: {v} did not complete (exit {res['exit']}): {out[-1500:]}", flush=True)

    # a run that failed (exit code other than 0, or 3: `harness run` incomplete for its 17 cut replies) or left
    # requests unanswered is not a figure
    for v in variants:
        bad = [x for x in runs[v] if x["exit"] not in (0, 3) or x["server_completed"] < n]
        if bad:
            print(f"   {v}: {len(bad)} of {len(runs[v])} runs failed and are left out of the figures", flush=True)
        runs[v] = [x for x in runs[v] if x not in bad]
    variants = [v for v in variants if runs[v]]
    med = {v: median([x["wall_s"] for x in runs[v]]) for v in variants}
    cpu = {v: median([x["cpu_s"] for x in runs[v]]) / n * 1000 for v in variants}
    loads = [x["load1"] for v in variants for x in runs[v] if x["load1"] is not None]
    rows = [[v, versions.get(v, ""), f"{med[v]:.2f}", f"{med[v] / med['bare']:.2f}×" if "bare" in med else "",
             f"{med[v] / ideal:.2f}×", f"{cpu[v]:.2f}", ", ".join(f"{x['wall_s']:.2f}" for x in runs[v])]
            for v in variants]
    print(table(["client", "version", "median wall s", "÷ bare", "÷ ideal", "CPU ms/request", "each round"], rows))
    print(f"   1-minute load average during the runs: {min(loads, default=0):.2f}–{max(loads, default=0):.2f}")
    note = f"load {min(loads, default=0):.1f}–{max(loads, default=0):.1f}"
    b.add("tools_ideal_s", "ideal wall (requests × latency ÷ concurrency)", ideal, "s")
    if "bare" in med:
        b.add("tools_bare_wall_s", "bare SDK loop, whole process", med["bare"], "s", note=note)
    if "harness" in med and "bare" in med:
        b.add("tools_harness_vs_bare", "harness run ÷ bare SDK loop (whole processes)", med["harness"] / med["bare"],
              "×", target="<= 1.10", note=note)
    if "harness" in med:
        b.add("tools_harness_cpu_ms", "harness run CPU per request (whole process, lexical grading)", cpu["harness"],
              "ms", note=f"bare loop {cpu['bare']:.2f} ms" if "bare" in cpu else "")
    for other, target in (("promptfoo", "<= 0.9"), ("inspect", "<= 0.5")):
        if other in med and "harness" in med:
            b.add(f"tools_harness_vs_{other}", f"harness run ÷ {other} {versions[other]}", med["harness"] / med[other],
                  "×", target=target, note=note)
        if other in med and "bare" in med:
            b.add(f"tools_{other}_vs_bare", f"{other} ÷ bare SDK loop", med[other] / med["bare"], "×", note=note)
    b.details = {"samples": a.samples, "latency_s": a.latency, "concurrency": a.concurrency, "rounds": a.rounds,
                 "epochs": a.epochs, "versions": versions, "runs": runs}
    b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
