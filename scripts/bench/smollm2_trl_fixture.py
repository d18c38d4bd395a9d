"""The TRL-baseline fixture for SmolLM2-135M-Instruct (docs/performance.md, "LoRA PPO step on
SmolLM2"): the imported model, the same train.tsv as the tiny fixture, a fixed value head, and a
tokenizer that puts SmolLM2's BOS (`<|im_start|>`, id 1) before every encoded segment.

    .venv/bin/python scripts/bench/smollm2_trl_fixture.py \
        --model .cache/smollm2/SmolLM2-135M-Instruct --out .cache/smollm2/trl-fixture

Both benchmark sides read this one directory: `bench_trl.py --fixture DIR` encodes each segment
as `[bos] + encode(text, add_special_tokens=False)`, and `bench_ppo --fixture DIR` encodes each
segment with the tokenizer's special tokens (the reference-compat encoding). SmolLM2's own
tokenizer adds no BOS, so the fixture's `tokenizer.json` gets a post-processor that adds it:
the two sides then feed the model the same ids. The weights are hard links (or copies) of the
imported model's files; nothing is downloaded. Deterministic: running it twice gives the same
files.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def link_or_copy(src, dst):
    if os.path.exists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache/smollm2/SmolLM2-135M-Instruct"))
    ap.add_argument("--tsv", default=os.path.join(ROOT, "fixtures/trl-baseline/train.tsv"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".cache/smollm2/trl-fixture"))
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    for name in ["config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"]:
        link_or_copy(os.path.join(args.model, name), os.path.join(args.out, name))
    link_or_copy(args.tsv, os.path.join(args.out, "train.tsv"))

    with open(os.path.join(args.model, "tokenizer.json")) as f:
        tok = json.load(f)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    bos_id = cfg["bos_token_id"]
    bos = next(t["content"] for t in tok["added_tokens"] if t["id"] == bos_id)
    tok["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)

    # A fixed value head (TRL's v_head.summary), drawn as nn.Linear's default range, as the tiny
    # fixture's make_fixture.py does.
    hidden = cfg["hidden_size"]
    g = torch.Generator().manual_seed(args.seed + 1)
    bound = 1.0 / hidden ** 0.5
    v_w = (torch.rand(1, hidden, generator=g) * 2 - 1) * bound
    v_b = (torch.rand(1, generator=g) * 2 - 1) * bound
    save_file({"summary.weight": v_w.contiguous(), "summary.bias": v_b.contiguous()},
              os.path.join(args.out, "value_head.safetensors"))
    print(json.dumps({"out": args.out, "bos": bos, "bos_id": bos_id, "hidden": hidden}))


if __name__ == "__main__":
    main()
