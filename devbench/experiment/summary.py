"""An experiment folder's finished stages turned into its answer: tables, claims, figures, ``report.md``.

Everything here is read back from the stage folders (their ``metrics.json`` and timings), never from
memory of the run that made them, so the report of a resumed experiment is the report of the whole
experiment, and ``write_summary`` can be rerun at any time on a partly finished folder (a claim without
its data is then ``inconclusive``, saying so).
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbench.experiment.claims import (
    CLAIMS,
    Evidence,
    LatencyRatio,
    judge_latency,
    judge_reduced,
    judge_scratch,
    overall,
)
from devbench.experiment.plan import Plan, Stage, format_seconds
from devbench.experiment.recipe import DATASET_IMAGES
from devbench.experiment.run import STAGE_JSON, TIMINGS_JSON, arm_of, is_done, pick_pruned, stage_dir
from devbench.experiment.tables import ARMS, LatencyRow, NetworkRow, joined, to_csv, to_json

REPORT, RESULTS_CSV, RESULTS_JSON = "report.md", "results.csv", "results.json"


def _metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metrics.json").read_text())


def _budgets(plan: Plan, network: str) -> dict[str, dict[str, int]]:
    """Each compared budget's label and what it names (``{"params": B}`` or ``{"stage": S}``)."""
    out: dict[str, dict[str, int]] = {}
    for s in plan.stages:
        if s.network == network and s.budget and (s.kind in ("reduced", "scratch", "latency")
                                                  or (s.kind == "family" and s.inputs["size"] == "pruned")):
            out[s.budget] = s.inputs["what"] if s.kind == "latency" else s.inputs["budget"]
    return out


def network_rows(plan: Plan, out: Path) -> list[NetworkRow]:
    """One row per finished network and seed: the base, the pruned network at each budget (the
    recipe's method only: baselines are for figures of their own) and every network trained from it."""
    from devbench.models import get_spec

    full_test = DATASET_IMAGES.get(plan.recipe.dataset.name, (0, 0))[1]

    def row(s: Stage, arm: str, budget: str, path: Path) -> NetworkRow:
        m = _metrics(path)
        subset = m.get("test_subset")
        return NetworkRow(network=s.network, family=get_spec(s.network).family, seed=s.seed, arm=arm, budget=budget,
                          params=m["params"], macs=m["macs"], test_error=m["test_error"],
                          test_images=min(subset, full_test) if subset else full_test,
                          path=str(path.relative_to(out)), stage=s.name)

    rows: list[NetworkRow] = []
    for s in plan.stages:
        if s.kind == "latency" or not is_done(out, s):
            continue
        if s.kind != "prune":
            rows.append(row(s, arm_of(s), s.budget or "", stage_dir(out, s)))
        elif s.detail == _method(plan, s.network):
            rows += [row(s, "pruned", label, pick_pruned(stage_dir(out, s), what).path)
                     for label, what in _budgets(plan, s.network).items()]
    order = {a: k for k, a in enumerate(ARMS)}
    return sorted(rows, key=lambda r: (r.network, r.budget, order.get(r.arm, len(order)), r.seed))


def _method(plan: Plan, network: str) -> str:
    return next(n.pruning.method for n in plan.recipe.network if n.base == network)


def latency_rows(plan: Plan, out: Path) -> list[LatencyRow]:
    rows: list[LatencyRow] = []
    for s in plan.stages:
        if s.kind == "latency" and is_done(out, s):
            rows += [LatencyRow(**r) for r in json.loads((stage_dir(out, s) / TIMINGS_JSON).read_text())]
    return rows


def judge(networks: Sequence[NetworkRow], latency: Sequence[LatencyRow]) -> dict[str, list[Evidence]]:
    """The evidence for each claim: paired by seed at every budget, and every reduced network's timing."""
    # per network, budget and arm: each seed's (params, MACs, test error)
    runs: dict[tuple[str, str, str], dict[int, tuple[int, int, float]]] = defaultdict(dict)
    for r in networks:
        runs[r.network, r.budget, r.arm][r.seed] = (r.params, r.macs, r.test_error)
    evidence: dict[str, list[Evidence]] = {claim: [] for claim in CLAIMS}
    for (net, budget, arm), by_seed in sorted(runs.items()):
        pruned = runs.get((net, budget, "pruned"))
        if arm in ("base", "pruned") or not pruned:
            continue
        seeds = sorted(set(pruned) & set(by_seed))
        if not seeds:
            continue
        # the family member of the pruned size may be the pruned architecture itself, trained alike: the
        # scratch arm's very networks, and counting them twice would double one comparison's weight
        twins = runs.get((net, budget, "family")) == runs.get((net, budget, "scratch"))
        if arm == "family" and twins:
            continue
        a, b = {k: pruned[k][2] for k in seeds}, {k: by_seed[k][2] for k in seeds}
        also = " (also the family member: the same networks)" if arm == "scratch" and twins else ""
        # each seed's pruned network has its own size, and its reduced networks are matched to it
        subject = (f"{net} {budget}: {arm}{also} ({_sizes([p for p, _, _ in by_seed.values()])} params) vs pruned "
                   f"({_sizes([p for p, _, _ in pruned.values()])})")
        if arm.startswith("reduced_"):
            evidence["reduced_beats_pruned"].append(judge_reduced(a, b, subject))
        else:
            evidence["scratch_competitive"].append(judge_scratch(a, b, subject))
    for t in latency:
        if t.arm.startswith("reduced_"):
            ratio = LatencyRatio(t.target, t.backend, t.ratio, t.ratio_ci_low, t.ratio_ci_high, t.emulated,
                                 t.unstable, t.rounds)
            evidence["reduced_faster"] += judge_latency([ratio], f"{t.network} {t.budget} {t.arm}")
    return evidence


def _sizes(counts: Sequence[int]) -> str:
    """``107,522-114,146`` over seeds, or the one count."""
    lo, hi = min(counts), max(counts)
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def write_summary(plan: Plan, out: Path) -> Path:
    """Write ``results.csv``, ``results.json``, the figures and ``report.md`` into ``out``; returns the report."""
    from devbench.experiment.figures import write_figures

    networks, latency = network_rows(plan, out), latency_rows(plan, out)
    evidence = judge(networks, latency)
    claims = [{**e.as_dict(), "claim_text": CLAIMS[e.claim]} for es in evidence.values() for e in es]
    (out / RESULTS_CSV).write_text(to_csv(joined(networks, latency)))
    overall_ = {c: {"claim": CLAIMS[c], "verdict": v, "why": why} for c, (v, why) in verdicts(evidence).items()}
    (out / RESULTS_JSON).write_text(to_json(networks, latency, claims, overall_))
    figures = write_figures(networks, latency, out) if networks else []
    report = out / REPORT
    report.write_text(render(plan, out, networks, latency, evidence, figures))
    return report


def verdicts(evidence: dict[str, list[Evidence]]) -> dict[str, tuple[str, str]]:
    """Each claim's overall verdict and why."""
    return {claim: overall(evidence[claim]) for claim in CLAIMS}


def _interval(e: Evidence) -> tuple[str, str]:
    """The evidence's mean and 95% interval as the table shows them: errors in points, ratios as they are."""
    iv = e.interval
    if iv is None:
        return "", ""
    show = (lambda x: f"{x:.3f}") if e.claim == "reduced_faster" else (lambda x: f"{x * 100:+.2f}")
    if iv.low is None or iv.high is None:
        return show(iv.mean), "none"
    return show(iv.mean), f"{show(iv.low)} to {show(iv.high)}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in cells)]


def _seconds(plan: Plan, out: Path) -> float:
    total = 0.0
    for s in plan.stages:
        f = stage_dir(out, s) / STAGE_JSON
        if f.is_file():
            total += json.loads(f.read_text()).get("seconds", 0.0)
    return total


def render(plan: Plan, out: Path, networks: Sequence[NetworkRow], latency: Sequence[LatencyRow],
           evidence: dict[str, list[Evidence]], figures: Sequence[Path]) -> str:
    """``report.md``: the verdicts first, then each claim's evidence, the networks, timings and figures."""
    from devbench import __version__

    r = plan.recipe
    done = sum(is_done(out, s) for s in plan.stages)
    test_images = sorted({n.test_images for n in networks})
    lines = [f"# {r.name}: are reduced networks better than pruned ones?", ""]
    if r.description:
        lines += [r.description, ""]
    lines += [f"Dataset {r.dataset.name}; seeds {', '.join(map(str, r.seeds))}; test errors on "
              f"{' / '.join(f'{n:,}' for n in test_images) or 'no'} test images. {done} of {len(plan.stages)} stages "
              f"finished; their compute time {format_seconds(_seconds(plan, out))} (stages run in parallel). Written "
              f"{time.strftime('%Y-%m-%d %H:%M %Z')} by devbench {__version__}.", ""]
    if done < len(plan.stages):
        lines += [f"**Unfinished**: {len(plan.stages) - done} stages have not run; the verdicts below use only what "
                  "has.", ""]
    lines += ["## Verdicts", ""]
    claim_titles = {c: f"{k}. {text}" for k, (c, text) in enumerate(CLAIMS.items(), start=1)}
    lines += _table(["claim", "verdict", "why"], [(claim_titles[c], f"**{v}**", why)
                                                  for c, (v, why) in verdicts(evidence).items()])
    lines += ["", "Errors are paired by seed (the two networks of a seed share the base network's training); "
              "each interval is Student's t 95% interval of the mean paired difference over seeds. Latency "
              "ratios are `devbench compare`'s: the median of per-round ratios, measured in interleaved rounds, "
              "with its exact 95% interval. Emulated boards are reported, never counted.", ""]
    for claim, es in evidence.items():
        lines += [f"## {claim_titles[claim]}", ""]
        if not es:
            lines += ["No comparison finished.", ""]
            continue
        if claim == "reduced_faster":
            lines += _table(["networks and board", "ratio to pruned", "95% CI", "verdict", "reason"],
                            [(e.subject, *_interval(e), e.verdict, e.reason) for e in es])
        else:
            what = "pruned minus reduced error" if claim == "reduced_beats_pruned" else "scratch minus pruned error"
            lines += _table(["comparison", f"{what} (points)", "95% CI", "verdict", "reason"],
                            [(e.subject, *_interval(e), e.verdict, e.reason) for e in es])
        lines.append("")
    lines += ["## Networks", "", "Test error over seeds (mean ± sample standard deviation); sizes over seeds "
              "(each seed's pruning stops at its own size, and the networks of a seed are matched to it).", ""]
    groups: dict[tuple[str, str, str], list[NetworkRow]] = defaultdict(list)
    for n in networks:
        groups[n.network, n.budget, n.arm].append(n)
    lines += _table(["network", "budget", "arm", "params", "MACs", "test error (%)", "seeds"], [
        (net, budget or "-", arm, _sizes([x.params for x in g]), _sizes([x.macs for x in g]), _mean_std(g), len(g))
        for (net, budget, arm), g in groups.items()])
    if latency:
        lines += ["", "## Timings", "", "The first seed's networks; ratio to the pruned network of the same budget.",
                  ""]
        lines += _table(["network", "budget", "arm", "target", "backend", "median ms", "95% CI ms", "ratio", "verdict"],
                        [(t.network, t.budget, t.arm, t.target + (" (emulated)" if t.emulated else ""), t.backend,
                          _ms(t.median_ms), _ci_ms(t), "" if t.ratio is None else f"{t.ratio:.3f}",
                          t.verdict if not t.unstable else f"{t.verdict}: {t.unstable}") for t in latency])
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{f.stem}]({f.name})" for f in figures if f.suffix == ".png"]
    lines += ["", "Every network is a run directory under `stages/` (spec.json, weights.pt, metrics.json): "
              "`devbench run --model DIR/stages/<stage>` measures it; `results.csv` has one row per network and seed.",
              ""]
    return "\n".join(lines)


def _mean_std(group: Sequence[NetworkRow]) -> str:
    errs = [g.test_error * 100 for g in group]
    if len(errs) == 1:
        return f"{errs[0]:.2f}"
    return f"{statistics.fmean(errs):.2f} ± {statistics.stdev(errs):.2f}"


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _ci_ms(t: LatencyRow) -> str:
    if t.ci95_low_ms is None or t.ci95_high_ms is None:
        return "none"
    return f"{t.ci95_low_ms:.3f}-{t.ci95_high_ms:.3f}"
