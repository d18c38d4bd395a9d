#!/usr/bin/env python3
"""Golden values for steptool-reward's RuleAnnotator, from an independent Python implementation
of the reference notebook's rules (StepTool `src/reward/annotation_by_rules.ipynb`, formats.md
§2.7): SuccCalling on the tool response, Contribution = LCS(resp, final_answer) / len(resp) with
the O(m*n) DP LCS, threshold 0.3.

Input: fixtures/reference/converted_prediction_qwen2_entry_56543.json
Output: fixtures/golden/steptool-reward/rules_56543.json
Run from the repository root: python3 scripts/golden/reward_rules_golden.py
"""
import json

SRC = "fixtures/reference/converted_prediction_qwen2_entry_56543.json"
OUT = "fixtures/golden/steptool-reward/rules_56543.json"
PREFIX = '{"error": "", "response": '


def succ_calling(content):
    if content.startswith(PREFIX):
        return True
    try:
        obj = json.loads(content)
    except json.JSONDecodeError:
        if content.startswith('{"error": "'):
            try:
                obj = json.loads(content + '"}')
            except json.JSONDecodeError:
                return False
        else:
            return False
    if not isinstance(obj, dict):
        return False
    if obj.get("error", "") != "":
        return False
    r = obj.get("response")
    if isinstance(r, dict):
        return r.get("status") != 400
    if isinstance(r, str):
        return not ("wrong" in r or "error" in r or "is empty" in r or r.startswith("Please"))
    return True


def lcs_dp(a, b):
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b):
            cur[j + 1] = prev[j] + 1 if ca == cb else max(cur[j], prev[j + 1])
        prev = cur
    return prev[len(b)]


def response_text(content):
    try:
        obj = json.loads(content)
        return str(obj["response"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return content[len(PREFIX):]


def main():
    data = json.load(open(SRC))
    out = {}
    for qid, entry in data.items():
        node = entry["answer"]["answer_details"][0]
        calls = []
        while True:
            if node["role"] == "tool" and node["message"]:
                calls.append(node["message"])
            if not node["next"]:
                break
            node = node["next"][0]
        final = json.loads(calls[-1]["arguments"])["final_answer"]
        steps = []
        for m in calls[:-1]:
            resp = response_text(m["response"])
            lcs = lcs_dp(resp, final) if resp else 0
            ratio = lcs / len(resp) if resp else None
            steps.append({
                "succ": succ_calling(m["response"]),
                "response_chars": len(resp),
                "lcs": lcs,
                "ratio": ratio,
                "contributes": ratio is not None and ratio >= 0.3,
            })
        out[qid] = {"final_answer_chars": len(final), "steps": steps}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
