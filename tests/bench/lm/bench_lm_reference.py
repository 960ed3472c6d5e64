#!/usr/bin/env python3
"""The reference for bench_lm: transformers' LlamaForCausalLM with the same shapes, optimizer and
precision (bf16 autocast for training, bf16 weights for generation on CUDA). Prints one JSON line."""
import argparse, json, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
for k, v in dict(dim=768, layers=12, heads=12, kv_heads=12, vocab=32000, context=1024, batch=8, steps=20,
                 gen_tokens=256, bf16=1).items():
    ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
a = ap.parse_args()
dev = torch.device(a.device)
cuda, bf16 = dev.type == "cuda", bool(a.bf16) and dev.type == "cuda"
hidden = ((8 * a.dim // 3 + 255) // 256) * 256
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=hidden, num_hidden_layers=a.layers,
                  num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, max_position_embeddings=a.context,
                  tie_word_embeddings=True)
model = LlamaForCausalLM(cfg).to(dev)
model.config._attn_implementation = "sdpa"
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
sync = (lambda: torch.cuda.synchronize()) if cuda else (lambda: None)

def step():
    ids = torch.randint(a.vocab, (a.batch, a.context + 1), device=dev)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()

for _ in range(3):
    step()
sync(); t0 = time.time()
for _ in range(a.steps):
    loss = step()
sync(); train_s = time.time() - t0
if bf16:
    model.to(torch.bfloat16)
model.eval()
prompt = torch.full((1, 16), 5, device=dev)
with torch.no_grad():
    model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    sync(); t0 = time.time()
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=a.gen_tokens,
                         min_new_tokens=a.gen_tokens, do_sample=False, pad_token_id=0, eos_token_id=None)
    sync(); gen_s = time.time() - t0
n = out.shape[1] - 16
print(json.dumps(dict(impl="transformers", torch=torch.__version__, device=a.device,
                      params=sum(p.numel() for p in model.parameters()), dim=a.dim, layers=a.layers,
                      context=a.context, batch=a.batch, bf16=bf16,
                      train_tokens_per_s=a.steps * a.batch * a.context / train_s, final_loss=loss,
                      gen_tokens=n, gen_tokens_per_s=n / gen_s)))
