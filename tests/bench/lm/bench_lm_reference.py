#!/usr/bin/env python3
"""The reference for bench_lm: transformers' LlamaForCausalLM / GPT2LMHeadModel with the same shapes,
optimizer settings and precision, as issue 3 describes the baseline: sdpa attention, bf16 autocast,
fused AdamW, clipping at 1.0 for training; bf16 weights and model.generate (greedy, KV cache) for
generation. Prints one JSON line with the same keys as bench_lm."""
import argparse, json, time
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="llama")
for k, v in dict(context=1024, batch=16, steps=20, gen_tokens=256, bf16=1).items():
    ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
ap.add_argument("--gen-batches", default="1,32")
ap.add_argument("--peak-tflops", type=float, default=989.4)
ap.add_argument("--decodings", default="auto")  # accepted for the same command line; transformers has one
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
a = ap.parse_args()
dev = torch.device(a.device)
cuda, bf16 = dev.type == "cuda", bool(a.bf16) and dev.type == "cuda"
torch.manual_seed(0)
if a.model == "gpt2":
    vocab = 50257
    cfg = GPT2Config(vocab_size=vocab, n_embd=768, n_layer=12, n_head=12, n_positions=a.context,
                     attn_implementation="sdpa")
    model = GPT2LMHeadModel(cfg)
    pos_params = a.context * 768
else:
    vocab = 32000
    hidden = ((8 * 768 // 3 + 255) // 256) * 256
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=768, intermediate_size=hidden, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=a.context,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    model = LlamaForCausalLM(cfg)
    pos_params = 0
model.to(dev)
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)], lr=3e-4,
                        fused=cuda)
sync = (lambda: torch.cuda.synchronize()) if cuda else (lambda: None)

def step():
    ids = torch.randint(vocab, (a.batch, a.context + 1), device=dev)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()

model.train()
for _ in range(3):
    step()
sync(); t0 = time.time()
for _ in range(a.steps):
    loss = step()
sync(); train_s = time.time() - t0
params = sum(p.numel() for p in model.parameters())
tps = a.steps * a.batch * a.context / train_s
flops_per_token = 6.0 * (params - pos_params) + 12.0 * 12 * 768 * a.context
out = dict(impl="transformers", transformers=transformers.__version__, torch=torch.__version__, model=a.model,
           device=a.device, params=params, context=a.context, batch=a.batch, bf16=bf16, fused_adamw=cuda,
           train_tokens_per_s=tps, mfu=tps * flops_per_token / (a.peak_tflops * 1e12), final_loss=loss)
if bf16:
    model.to(torch.bfloat16)
model.eval()
for item in a.gen_batches.split(","):
    gb = int(item)
    prompt = torch.full((gb, 16), 5, device=dev)
    prompt[:, 1] = torch.arange(gb, device=dev) % 100
    mask = torch.ones_like(prompt)
    with torch.no_grad():
        model.generate(prompt, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0)
        sync(); t0 = time.time()
        gen = model.generate(prompt, attention_mask=mask, max_new_tokens=a.gen_tokens, min_new_tokens=a.gen_tokens,
                             do_sample=False, pad_token_id=0, eos_token_id=None)
        sync(); sec = time.time() - t0
    out["gen_tokens_per_s_batch%s" % item] = (gen.shape[1] - 16) * gb / sec
print(json.dumps(out))
