#!/usr/bin/env python3
"""Golden fixtures for steptool-model: tiny random HF checkpoints and what transformers computes.

Writes fixtures/golden/model/<name>/ for three tiny models:
  llama_linear  LLaMA-2 layout, rope_scaling {type: linear, factor: 2} (as ToolLLaMA-2-7b-v2), MHA
  llama3_gqa    Llama-3.1 layout, rope_scaling llama3, GQA (4 query heads, 2 KV heads), plus a PEFT
                LoRA adapter (r=4, alpha=8, q/v/down_proj, non-zero B) in llama3_gqa/adapter/
  qwen2_gqa     Qwen2 layout: q/k/v bias, GQA, tied embeddings
Each directory: config.json, model.safetensors, value_head.safetensors (TRL names
v_head.summary.weight/bias) and expected.json: for a fixed batch of 3 sequences of different
lengths, padded on the left and on the right (position ids from the attention mask), per sequence:
  logprobs[t]  = log p(token t+1 | tokens <= t)     (length L-1)
  entropy[t]   = entropy of the next-token distribution at t   (length L-1)
  values[t]    = value head on the last hidden state           (length L)
  last_logits  = logits at the last real position              (vocab)
With an adapter, expected.json also holds "adapter": the same with LoRA enabled.

Second mode, to check that python peft loads an adapter written by steptool-model:
  model_golden.py check-adapter --model DIR --adapter DIR --expected FILE.json
compares peft's log-probs with FILE.json (written by the Rust example `peft_roundtrip`) and
exits non-zero on a mismatch; without --adapter it checks a merged checkpoint that
`Model::export_merged` wrote.

Environment (pinned, CPU): see scripts/golden/requirements-model.txt
  python3 -m venv .venv-model && .venv-model/bin/pip install -r scripts/golden/requirements-model.txt
  .venv-model/bin/python scripts/golden/model_golden.py
Deterministic: running it twice gives identical files.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

SEED = 20251121
VOCAB = 64
PAD = 0
SEQS = [
    [1, 17, 42, 5, 33, 60, 8],
    [1, 9, 50, 22],
    [1, 31, 12, 45, 7, 19],
]


def tiny_config(kind):
    import transformers

    common = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=PAD,
        torch_dtype="float32",
    )
    if kind == "llama_linear":
        return transformers.LlamaConfig(
            num_key_value_heads=4,
            rope_theta=10000.0,
            rope_scaling={"type": "linear", "rope_type": "linear", "factor": 2.0},
            tie_word_embeddings=False,
            **common,
        )
    if kind == "llama3_gqa":
        return transformers.LlamaConfig(
            num_key_value_heads=2,
            rope_theta=500000.0,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                # wavelengths 6.3, 167, 4450, 1.2e5 with head_dim 8: high, medium, low, low band
                "original_max_position_embeddings": 256,
            },
            tie_word_embeddings=False,
            **common,
        )
    if kind == "qwen2_gqa":
        return transformers.Qwen2Config(
            num_key_value_heads=2,
            rope_theta=1000000.0,
            use_sliding_window=False,
            tie_word_embeddings=True,
            **common,
        )
    raise ValueError(kind)


def randomize(model, gen):
    """Weights large enough that the next-token distributions are far from uniform."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def pad_batch(seqs, side):
    n = max(len(s) for s in seqs)
    ids, mask = [], []
    for s in seqs:
        pad = [PAD] * (n - len(s))
        m = [0] * (n - len(s))
        if side == "left":
            ids.append(pad + s)
            mask.append(m + [1] * len(s))
        else:
            ids.append(s + pad)
            mask.append([1] * len(s) + m)
    ids, mask = torch.tensor(ids), torch.tensor(mask)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, pos


def outputs(model, v_w, v_b, side):
    ids, mask, pos = pad_batch(SEQS, side)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
    logits = out.logits.float()
    hidden = out.hidden_states[-1].float()
    logp = torch.log_softmax(logits, -1)
    ent = -(logp.exp() * logp).sum(-1)
    values = hidden @ v_w.T + v_b  # [b, t, 1]
    res = {"logprobs": [], "entropy": [], "values": [], "last_logits": []}
    n = ids.shape[1]
    for b, s in enumerate(SEQS):
        off = n - len(s) if side == "left" else 0
        idx = list(range(off, off + len(s)))
        res["logprobs"].append([logp[b, idx[t], s[t + 1]].item() for t in range(len(s) - 1)])
        res["entropy"].append([ent[b, idx[t]].item() for t in range(len(s) - 1)])
        res["values"].append([values[b, i, 0].item() for i in idx])
        res["last_logits"].append(logits[b, idx[-1]].tolist())
    return res


def build(kind, root):
    import transformers

    gen = torch.Generator().manual_seed(SEED + {"llama_linear": 0, "llama3_gqa": 1, "qwen2_gqa": 2}[kind])
    cfg = tiny_config(kind)
    cls = transformers.Qwen2ForCausalLM if kind == "qwen2_gqa" else transformers.LlamaForCausalLM
    model = cls(cfg).eval()
    randomize(model, gen)
    out_dir = os.path.join(root, kind)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(out_dir, extra)
        if os.path.exists(p):
            os.remove(p)
    v_w = 0.3 * torch.randn(1, cfg.hidden_size, generator=gen)
    v_b = 0.1 * torch.randn(1, generator=gen)
    save_file({"v_head.summary.weight": v_w, "v_head.summary.bias": v_b},
              os.path.join(out_dir, "value_head.safetensors"))
    expected = {"seqs": SEQS, "pad_token_id": PAD,
                "left": outputs(model, v_w, v_b, "left"), "right": outputs(model, v_w, v_b, "right")}
    if kind == "llama3_gqa":
        import peft

        lcfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                               target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM")
        pm = peft.get_peft_model(model, lcfg)
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if "lora_A" in name:
                    p.copy_(0.3 * torch.randn(p.shape, generator=gen))
                elif "lora_B" in name:
                    p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        pm.eval()
        ad_dir = os.path.join(out_dir, "adapter")
        pm.save_pretrained(ad_dir, safe_serialization=True)
        readme = os.path.join(ad_dir, "README.md")
        if os.path.exists(readme):
            os.remove(readme)
        expected["adapter"] = {"left": outputs(pm, v_w, v_b, "left"), "right": outputs(pm, v_w, v_b, "right")}
        with pm.disable_adapter():
            expected["adapter_disabled_right"] = outputs(pm, v_w, v_b, "right")
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")


def check_adapter(args):
    import peft
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    # Without --adapter: checks a merged checkpoint written by Model::export_merged.
    pm = peft.PeftModel.from_pretrained(model, args.adapter).eval() if args.adapter else model
    with open(args.expected) as f:
        exp = json.load(f)
    ids = torch.tensor(exp["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(pm(input_ids=ids).logits.float(), -1)
    got = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    want = torch.tensor(exp["logprobs"])
    err = (got - want).abs().max().item()
    print(f"{args.model} + {args.adapter}: max |logprob diff| = {err:.3e}")
    sys.exit(0 if err < 1e-4 else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="build", choices=["build", "check-adapter"])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "model"))
    ap.add_argument("--model")
    ap.add_argument("--adapter")
    ap.add_argument("--expected")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.mode == "check-adapter":
        return check_adapter(args)
    for kind in ("llama_linear", "llama3_gqa", "qwen2_gqa"):
        build(kind, os.path.abspath(args.out))


if __name__ == "__main__":
    main()
