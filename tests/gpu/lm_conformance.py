#!/usr/bin/env python3
"""Conformance of Atomscope's Llama and GPT-2 (modules/lm) with Hugging Face transformers.

For random-init LlamaForCausalLM (grouped-query, untied; multi-head, tied, with attention biases)
and GPT2LMHeadModel built here with transformers, saved with save_pretrained:
  1. Atomscope (tests/lm/tools/lm_logits_dump) loads the folder and computes logits on fixed ids:
     max |logit difference| to transformers must be < 1e-4 (fp32), on every device asked for;
     its greedy continuation (KV cache) must equal transformers' generate(do_sample=False).
  2. Atomscope exports the model as a Hugging Face folder; transformers loads that folder and its
     logits must again match (< 1e-4).
With --shared (the project's ../shared/data): stories260K.bin (llama2.c) exported by Atomscope and
loaded by transformers (checks the q/k rotary permutation), and the fake_gpt2_random folder.
Nothing is downloaded. Exit status 0 when every check passes.
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

TOL = 1e-4
rows = []
failed = False


def record(case, check, value, ok):
    global failed
    rows.append((case, check, value, "ok" if ok else "FAIL"))
    failed |= not ok


def hf_load(folder):
    try:
        m = LlamaForCausalLM if json.load(open(os.path.join(folder, "config.json")))["model_type"] == "llama" else GPT2LMHeadModel
        try:
            return m.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
        except TypeError:
            return m.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"transformers cannot load {folder}: {e}") from e


@torch.no_grad()
def hf_logits(model, ids):
    return model(torch.tensor([ids])).logits[0].float().numpy()


@torch.no_grad()
def hf_greedy(model, ids, n):
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0,
                         eos_token_id=None)
    return out[0, len(ids):].tolist()


def run_tool(tool, model, ids, work, device, n_gen):
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, f"logits-{device}.npy")
    exp = os.path.join(work, f"export-{device}")
    gen = os.path.join(work, f"greedy-{device}.json")
    cmd = [tool, model, ",".join(map(str, ids)), out, "--device", device, "--export", exp, "--generate", str(n_gen), gen]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{p.stderr.strip()} (command: {' '.join(cmd)})")
    return np.load(out), exp, json.load(open(gen))


def check_folder(case, folder, ids, tool, devices, work, ref_model=None, n_gen=16):
    ref_model = ref_model or hf_load(folder)
    ref = hf_logits(ref_model, ids)
    ref_gen = hf_greedy(ref_model, ids, n_gen)
    for dev in devices:
        ours, exp, gen = run_tool(tool, folder, ids, os.path.join(work, case.split(" ")[0]), dev, n_gen)
        d = float(np.abs(ours - ref).max())
        record(case, f"atomscope logits vs transformers ({dev})", f"{d:.2e}", d < TOL)
        record(case, f"greedy {n_gen} tokens vs transformers ({dev})", "equal" if gen == ref_gen else f"{gen} != {ref_gen}", gen == ref_gen)
        back = hf_logits(hf_load(exp), ids)
        d2 = float(np.abs(back - ref).max())
        record(case, f"transformers on atomscope export ({dev}) vs original", f"{d2:.2e}", d2 < TOL)


def perturb(model, seed):
    # Non-trivial norms and biases, so a wrong mapping of any tensor shows.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="path of the built lm_logits_dump")
    ap.add_argument("--shared", default="", help="the shared data folder (with lm/stories260K.bin), optional")
    ap.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--work", default="")
    a = ap.parse_args()
    torch.manual_seed(0)
    devices = [d for d in a.devices.split(",") if d]
    work = a.work or tempfile.mkdtemp(prefix="lm-conformance-")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, devices {devices}, work {work}")

    cases = {
        "llama-gqa-untied": LlamaForCausalLM(LlamaConfig(
            vocab_size=257, hidden_size=64, intermediate_size=112, num_hidden_layers=2, num_attention_heads=8,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False,
            initializer_range=0.1)),
        "llama-mha-tied-bias": LlamaForCausalLM(LlamaConfig(
            vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=4, max_position_embeddings=128, tie_word_embeddings=True, attention_bias=True,
            initializer_range=0.1)),
        "gpt2": GPT2LMHeadModel(GPT2Config(
            vocab_size=211, n_embd=48, n_layer=2, n_head=4, n_positions=64, initializer_range=0.1,
            activation_function="gelu_new", attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0)),
    }
    rng = np.random.default_rng(1)
    for i, (case, model) in enumerate(cases.items()):
        try:
            perturb(model, i)
            folder = os.path.join(work, case, "hf")
            model.save_pretrained(folder)
            ids = rng.integers(0, model.config.vocab_size, size=24).tolist()
            check_folder(case, folder, ids, a.tool, devices, work)
        except Exception as e:  # noqa: BLE001
            record(case, "ran", str(e)[:300], False)

    if a.shared:
        stories = os.path.join(a.shared, "lm", "stories260K.bin")
        if os.path.exists(stories):
            case = "stories260K (llama2.c)"
            try:
                ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376]
                for dev in devices:
                    ours, exp, gen = run_tool(a.tool, stories, ids, os.path.join(work, "stories"), dev, 30)
                    hf = hf_load(exp)
                    d = float(np.abs(hf_logits(hf, ids) - ours).max())
                    record(case, f"transformers on atomscope export vs atomscope on .bin ({dev})", f"{d:.2e}", d < TOL)
                    ref_gen = hf_greedy(hf, ids, 30)
                    record(case, f"greedy 30 tokens vs transformers ({dev})", "equal" if gen == ref_gen else f"{gen} != {ref_gen}", gen == ref_gen)
            except Exception as e:  # noqa: BLE001
                record(case, "ran", str(e)[:300], False)
        fake = os.path.join(a.shared, "lm", "fake_gpt2_random")
        if os.path.isdir(fake):
            try:
                check_folder("fake_gpt2_random (shared)", fake, [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13],
                             a.tool, devices, work)
            except Exception as e:  # noqa: BLE001
                record("fake_gpt2_random (shared)", "ran", str(e)[:300], False)

    print("\n| case | check | value | result |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\nFAILED" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
