#!/usr/bin/env python3
"""Golden numbers for `steptool report` (steptool-env `metrics::paper_report`), computed
independently in Python from the fixture `fixtures/eval/` (results of two methods on six
StableToolBench test subsets, and the subsets' test query files).

What is computed, by the rules docs/eval.md states:
- per subset, StableToolBench `eval_pass_rate.py`'s arithmetic (its loop is reproduced below):
  for each run r < evaluate_times, score_r = (Solved + 0.5 * Unsure) / len(file), a missing
  label scoring 0; pass rate = sum(scores) / len(scores) * 100; std = np.std(scores) * 100
  (population std; numpy is not required: `np_std` below is numpy's formula,
  sqrt(mean(|x - mean(x)|^2))). evaluate_times = 1 + the highest run number in the file (3);
- per group (I1 = G1_instruction + G1_category + G1_tool, I2 = G2_instruction + G2_category,
  I3 = G3_instruction): mean of the subsets' pass rates, mean of their stds, sum of tasks, mean
  of their recalls and mean lengths, error counts summed;
- recall: per query |R & C| / |R|, R = relevant APIs as function names (ToolBench's
  standardize / change_name, copied verbatim below, name[-64:]), C = called names that are
  offered (tool_names), Finish excluded; mean over queries;
- mean length: steps (lines of answer_steps) per query;
- error types: the four rules of docs/eval.md, step by step;
- win rate of steptool (candidate) against toolllama_sft (reference), ToolEval's rule part.

Run from the repository root: `python3 scripts/golden/eval_report_golden.py` (plain python3).
Writes fixtures/golden/eval/report.json.
"""
import ast
import json
import math
import os
import re

FIXTURE = "fixtures/eval"
OUT = "fixtures/golden/eval/report.json"
METHODS = ["steptool", "toolllama_sft"]
SUBSETS = ["G1_instruction", "G1_category", "G1_tool", "G2_instruction", "G2_category", "G3_instruction"]
GROUPS = [
    ("I1", ["G1_instruction", "G1_category", "G1_tool"]),
    ("I2", ["G2_instruction", "G2_category"]),
    ("I3", ["G3_instruction"]),
]
KINDS = ["tool_selection", "hallucinated_tool", "arguments", "parse"]
ENV_FAILURES = [
    "Timeout error", "Connection error", "API not working error", "Unauthorized error",
    "Unsubscribed error", "Too many requests error", "Rate limit per minute error",
    "Message error", "request invalid, data error", "Failed to generate fake response",
]


# --- ToolBench toolbench/utils.py, verbatim -------------------------------------------------
def standardize(string):
    res = re.compile("[^\\u4e00-\\u9fa5^a-z^A-Z^0-9^_]")
    string = res.sub("_", string)
    string = re.sub(r"(_)\1+", "_", string).lower()
    while True:
        if len(string) == 0:
            return string
        if string[0] == "_":
            string = string[1:]
        else:
            break
    while True:
        if len(string) == 0:
            return string
        if string[-1] == "_":
            string = string[:-1]
        else:
            break
    if string[0].isdigit():
        string = "get_" + string
    return string


def change_name(name):
    change_list = ["from", "class", "return", "false", "true", "id", "and"]
    if name in change_list:
        name = "is_" + name
    return name
# ---------------------------------------------------------------------------------------------


def function_name(tool, api):
    return (change_name(standardize(api)) + "_for_" + standardize(tool))[-64:]


def np_std(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum(abs(x - m) ** 2 for x in xs) / len(xs))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def loads(s):
    try:
        return json.loads(s, strict=False)
    except (ValueError, RecursionError):
        return None


def parse_steps(answer_steps):
    if answer_steps == "":
        return []
    steps = []
    for k, line in enumerate(answer_steps.split("\n")):
        prefix = "Step %d: " % (k + 1)
        assert line.startswith(prefix), line[:40]
        steps.append(ast.literal_eval(line[len(prefix):]))
    return steps


def pass_rate(label_cnt):
    evaluate_times = 1 + max(int(k) for e in label_cnt.values() for k in e["is_solved"])
    # eval_pass_rate.py, lines after `write_results(...)`:
    scores = []
    for runtime in range(evaluate_times):
        score = 0
        for query_id in label_cnt:
            solved_dict = {**label_cnt[query_id]['is_solved']}
            solved_dict = {int(k): v for k, v in solved_dict.items()}
            if runtime not in solved_dict:
                score += 0
                continue
            if solved_dict[runtime] == "AnswerStatus.Solved":
                score += 1
            elif solved_dict[runtime] == "AnswerStatus.Unsure":
                score += 0.5
        scores.append(score / len(label_cnt))
    solve_rate = sum(scores) / len(scores) * 100
    std_dev = np_std(scores) * 100
    return solve_rate, std_dev, [s * 100 for s in scores], evaluate_times


def finish_parses(arguments):
    parsed = loads(arguments)
    if parsed is None:
        parsed = loads(arguments + '"}')
    if not isinstance(parsed, dict):
        return False
    rt = parsed.get("return_type")
    if rt == "give_up_and_restart":
        return True
    if rt == "give_answer":
        return "final_answer" in parsed
    return False


def step_error(step, offered, relevant, required):
    name, arguments, response = step["name"], step["arguments"], step["response"]
    if name == "Finish":
        return None if finish_parses(arguments) else "parse"
    args = {} if arguments.strip() == "" else loads(arguments)
    obs = loads(response)
    error = obs.get("error") if isinstance(obs, dict) else None
    if not (isinstance(error, str) and error != ""):
        error = None
    if not isinstance(args, dict):
        return "parse"
    if error is not None and error.startswith("Tool input parse error"):
        return "parse"
    if name in offered:
        resolved = name
    else:
        matches = [o for o in offered if o != "Finish" and o.endswith(name)]
        if not matches:
            return "hallucinated_tool"
        resolved = matches[0]
    if relevant and resolved not in relevant:
        return "tool_selection"
    if any(p not in args for p in required.get(resolved, [])):
        return "arguments"
    if error is not None and not any(error.startswith(f) for f in ENV_FAILURES):
        return "arguments"
    return None


def error_summary(per_answer):
    types = {}
    for kind in KINDS:
        n_steps = sum(a.count(kind) for a in per_answer)
        n_queries = sum(1 for a in per_answer if kind in a)
        types[kind] = {"queries": n_queries, "steps": n_steps, "share": n_queries / len(per_answer)}
    return {"queries": len(per_answer), "steps": sum(len(a) for a in per_answer),
            "tool_selection_known": True, "types": types}


def merge_errors(parts):
    queries = sum(p["queries"] for p in parts)
    types = {}
    for kind in KINDS:
        q = sum(p["types"][kind]["queries"] for p in parts)
        types[kind] = {"queries": q, "steps": sum(p["types"][kind]["steps"] for p in parts),
                       "share": q / queries}
    return {"queries": queries, "steps": sum(p["steps"] for p in parts),
            "tool_selection_known": True, "types": types}


def subset_numbers(results, queries):
    by_id = {str(q["query_id"]): q for q in queries}
    rate, std, runs, _ = pass_rate(results)
    recalls, lengths, per_answer = [], [], []
    for qid, entry in results.items():
        q = by_id[qid]
        steps = parse_steps(entry["answer_steps"])
        lengths.append(len(steps))
        relevant = [function_name(t, a) for t, a in q["relevant APIs"]]
        offered = entry["tool_names"]
        called = {s["name"] for s in steps if s["name"] != "Finish"} & set(offered)
        r = set(relevant)
        if r:
            recalls.append(len(r & called) / len(r))
        required = {}
        for api in q["api_list"]:
            req = [change_name(standardize(p["name"])) for p in api.get("required_parameters", [])]
            required[function_name(api["tool_name"], api["api_name"])] = req
        per_answer.append([step_error(s, offered, relevant, required) for s in steps])
    return {"pass_rate": rate, "pass_rate_std": std, "runs": runs, "tasks": len(results),
            "recall": mean(recalls), "mean_length": mean(lengths), "errors": error_summary(per_answer)}


def win_rate(ref, cand):
    k = max(pass_rate(ref)[3], pass_rate(cand)[3])
    value = {"AnswerStatus.Solved": 1.0, "AnswerStatus.Unsure": 0.5}
    ids = set(ref) | set(cand)
    wins = 0
    for qid in ids:
        r_pts = c_pts = 0
        for run in range(k):
            if qid in ref and qid in cand:
                rv = value.get(ref[qid]["is_solved"].get(str(run)), 0.0)
                cv = value.get(cand[qid]["is_solved"].get(str(run)), 0.0)
                if cv > rv:
                    c_pts += 1
                elif rv > cv:
                    r_pts += 1
            elif qid in cand:
                c_pts += 1
            else:
                r_pts += 1
        wins += c_pts > r_pts
    return wins / len(ids)


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    queries = {s: load(os.path.join(FIXTURE, "queries", s + ".json")) for s in SUBSETS}
    results = {m: {s: load(os.path.join(FIXTURE, "results", m, s + ".json")) for s in SUBSETS}
               for m in METHODS}
    methods = {}
    for m in METHODS:
        subsets = {s: subset_numbers(results[m][s], queries[s]) for s in SUBSETS}
        groups = {}
        for g, members in GROUPS:
            parts = [subsets[s] for s in members]
            groups[g] = {
                "pass_rate": mean(p["pass_rate"] for p in parts),
                "pass_rate_std": mean(p["pass_rate_std"] for p in parts),
                "recall": mean(p["recall"] for p in parts),
                "tasks": sum(p["tasks"] for p in parts),
                "mean_length": mean(p["mean_length"] for p in parts),
                "errors": merge_errors([p["errors"] for p in parts]),
            }
        methods[m] = {"groups": groups, "subsets": subsets}
    wr_subsets = {s: win_rate(results["toolllama_sft"][s], results["steptool"][s]) for s in SUBSETS}
    wr_groups = {g: mean(wr_subsets[s] for s in members) for g, members in GROUPS}
    out = {
        "methods": methods,
        "win_rates": [{"reference": "toolllama_sft", "candidate": "steptool",
                       "groups": wr_groups, "subsets": wr_subsets}],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
