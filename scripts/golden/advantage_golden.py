#!/usr/bin/env python3
"""Golden data for steptool-advantage: every estimator, re-implemented independently in NumPy.

The Rust crate computes GAE by the backward recursion A_t = delta_t + gamma*lam*A_{t+1} in float32.
This script uses the closed form instead, A_t = sum_{i>=t} (gamma*lam)^(i-t) delta_i, as a matrix
product in float64, and builds each estimator's reward/value sequences from the spec of issue 3
(formats.md 1.6-1.7 for ReferenceCompat). Inputs are drawn in float32 so that both sides read
exactly the same numbers.

Writes `fixtures/golden/advantage/estimators.json`: a batch of random episodes and, for a list of
configs (in the crate's serde format), the expected per-episode outputs and whitening statistics.

Run from the repository root:
    python3 -m venv .venv-advantage && .venv-advantage/bin/pip install numpy
    .venv-advantage/bin/python scripts/golden/advantage_golden.py
"""
import json
import os

import numpy as np

OUT = os.path.join("fixtures", "golden", "advantage", "estimators.json")


def g9(xs):
    """Nine significant digits: far below the comparison tolerance, and a smaller file."""
    return [float(f"{float(v):.9g}") for v in xs]


def f32(x):
    return [float(v) for v in np.asarray(x, dtype=np.float32)]


def make_batch(rng, n_episodes):
    episodes = []
    for i in range(n_episodes):
        n = int(rng.integers(1, 6))
        t = int(rng.integers(1, 6))  # prompt tokens
        spans = []
        for _ in range(n):
            a = int(rng.integers(1, 9))
            spans.append([t, t + a])
            t += a + int(rng.integers(0, 11))  # tool response, possibly empty
        L = t
        ep = dict(
            num_tokens=L,
            action_spans=spans,
            step_rewards=f32(rng.uniform(-1, 1, n)),
            logprobs=f32(rng.uniform(-3, 0, L - 1)),
            ref_logprobs=f32(rng.uniform(-3, 0, L - 1)),
            values=f32(rng.uniform(-1, 1, L - 1)),
        )
        if i % 3 == 2:
            ep["bootstrap_value"] = f32([rng.uniform(-1, 1)])[0]
        episodes.append(ep)
    return episodes


def kl_estimate(lp, rlp, kind):
    d = lp - rlp
    if kind == "kl":
        return d
    if kind == "abs":
        return np.abs(d)
    if kind == "mse":
        return 0.5 * d * d
    if kind == "k3":
        return np.exp(-d) - 1.0 + d
    raise ValueError(kind)


def gae_closed_form(deltas, gl):
    """A_j = sum_{i >= j} gl^(i-j) * delta_i."""
    m = len(deltas)
    idx = np.arange(m)
    power = idx[None, :] - idx[:, None]
    weights = np.where(power >= 0, np.power(gl, np.maximum(power, 0)), 0.0)
    return weights @ np.asarray(deltas, dtype=np.float64)


def estimator_name(config):
    e = config["estimator"]
    return e if isinstance(e, str) else "reference_compat"


def one_episode(ep, c):
    L1 = ep["num_tokens"] - 1
    lp = np.array(ep["logprobs"], dtype=np.float64)
    rlp = np.array(ep["ref_logprobs"], dtype=np.float64)
    V = np.array(ep["values"], dtype=np.float64)
    boot = float(ep.get("bootstrap_value", 0.0))
    pen = -c["kl_coef"] * kl_estimate(lp, rlp, c["kl_estimator"])
    r = np.array(ep["step_rewards"], dtype=np.float64)
    n = len(r)
    if not c["intermediate_rewards"]:
        r[: n - 1] = 0.0
    P = [list(range(s - 1, e - 1)) for s, e in ep["action_spans"]]
    g, gl = c["gamma"], c["gamma"] * c["lam"]
    rewards = np.zeros(L1)
    adv = np.zeros(L1)
    ret = np.zeros(L1)
    mask = np.zeros(L1, dtype=bool)
    name = estimator_name(c)
    if name == "step_gae":
        R = np.array([r[k] + pen[P[k]].sum() for k in range(n)])
        Vs = np.array([V[P[k][0]] for k in range(n)])
        Vnext = np.append(Vs[1:], boot)
        A = gae_closed_form(R + g * Vnext - Vs, gl)
        for k in range(n):
            rewards[P[k]] = pen[P[k]]
            rewards[P[k][-1]] += r[k]
            adv[P[k]] = A[k]
            ret[P[k]] = A[k] + Vs[k]
            mask[P[k]] = True
    elif name in ("token_gae", "final_reward"):
        steps = range(n) if name == "token_gae" else [n - 1]
        seq = [t for k in steps for t in P[k]]
        rs = pen[seq].copy()
        for k in steps:
            rs[seq.index(P[k][-1])] += r[k]
        vs = V[seq]
        A = gae_closed_form(rs + g * np.append(vs[1:], boot) - vs, gl)
        rewards[seq] = rs
        adv[seq] = A
        ret[seq] = A + vs
        mask[seq] = True
    else:
        weighting = c["estimator"]["reference_compat"]["weighting"]
        for k in range(n):
            mask[P[k]] = True
        rewards = pen.copy()
        ends = [t for t in range(L1) if mask[t] and (t + 1 == L1 or not mask[t + 1])]
        for j, (t, score) in enumerate(zip(reversed(ends), reversed(list(r)))):
            rewards[t] += score * (j if weighting == "reference" else 1.0)
        m = mask.astype(np.float64)
        rm, vm = rewards * m, V * m
        adv = gae_closed_form(rm + g * np.append(vm[1:], boot) - vm, gl)
        ret = adv + vm
    return dict(rewards=rewards, advantages_raw=adv, returns=ret, mask=mask)


def run(episodes, c):
    outs = [one_episode(ep, c) for ep in episodes]
    everywhere = estimator_name(c) == "reference_compat"
    result = dict(config=c, episodes=[])
    mean = var = None
    if c["whiten"]:
        vals = np.concatenate([o["advantages_raw"][o["mask"]] for o in outs])
        mean, var = float(vals.mean()), float(vals.var(ddof=1))
    for o in outs:
        a = o["advantages_raw"]
        if mean is None:
            w = a
        else:
            w = (a - mean) / np.sqrt(var + 1e-8)
            if not everywhere:
                w = np.where(o["mask"], w, 0.0)
        result["episodes"].append(dict(
            rewards=g9(o["rewards"]),
            advantages_raw=g9(a),
            advantages=g9(w),
            returns=g9(o["returns"]),
            mask=[int(x) for x in o["mask"]],
        ))
    result["whiten_mean"] = mean
    result["whiten_var"] = var
    return result


def main():
    rng = np.random.default_rng(20251121)
    episodes = make_batch(rng, 8)
    base = dict(gamma=0.99, lam=0.95, kl_coef=0.3, kl_estimator="kl", whiten=True,
                intermediate_rewards=True)
    configs = [
        dict(base, estimator="step_gae"),
        dict(base, estimator="step_gae", gamma=0.9, lam=0.7, kl_estimator="k3", kl_coef=0.1),
        dict(base, estimator="step_gae", intermediate_rewards=False, whiten=False),
        dict(base, estimator="token_gae"),
        dict(base, estimator="token_gae", kl_estimator="abs", lam=1.0),
        dict(base, estimator="final_reward"),
        dict(base, estimator="final_reward", kl_estimator="mse", gamma=0.5),
        dict(base, estimator={"reference_compat": {"weighting": "reference"}}),
        dict(base, estimator={"reference_compat": {"weighting": "plain"}}, whiten=False),
        dict(base, estimator={"reference_compat": {"weighting": "plain"}}, kl_estimator="k3",
             gamma=1.0, lam=1.0),
    ]
    out = dict(
        description="steptool-advantage goldens: NumPy float64 closed-form GAE "
                    "(scripts/golden/advantage_golden.py)",
        numpy=np.__version__,
        episodes=episodes,
        cases=[run(episodes, c) for c in configs],
    )
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(episodes)} episodes, {len(configs)} configs")


if __name__ == "__main__":
    main()
