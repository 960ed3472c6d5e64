#!/usr/bin/env python3
"""The reference for scaling_gpu.sh: the same Llama shape as the lm.train runs there (transformers'
LlamaForCausalLM, tied embeddings, vocabulary of the tokenizer's size), trained with PyTorch's
DistributedDataParallel over NCCL (25 MiB buckets, overlapped with the backward pass), bf16 autocast,
fused AdamW and clipping at 1.0. Start one process per GPU with torchrun; rank 0 prints one JSON line
with the global tokens/s over the timed steps.
  torchrun --nproc_per_node 2 ddp_reference.py --batch-per-gpu 16 --context 1024"""
import argparse, json, os, time
import torch
import torch.distributed as dist
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
for k, v in dict(dim=768, layers=12, heads=12, hidden=2048, vocab=512, context=1024, batch_per_gpu=16,
                 warmup=5, steps=40).items():
    ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
a = ap.parse_args()
world = int(os.environ.get("WORLD_SIZE", "1"))
rank = int(os.environ.get("RANK", "0"))
local = int(os.environ.get("LOCAL_RANK", "0"))
torch.cuda.set_device(local)
if world > 1:
    dist.init_process_group("nccl")
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.hidden, num_hidden_layers=a.layers,
                  num_attention_heads=a.heads, num_key_value_heads=a.heads, max_position_embeddings=a.context,
                  tie_word_embeddings=True, attn_implementation="sdpa")
model = LlamaForCausalLM(cfg).cuda()
ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local]) if world > 1 else model
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
gen = torch.Generator(device="cuda").manual_seed(1 + rank)


def step():
    ids = torch.randint(a.vocab, (a.batch_per_gpu, a.context + 1), device="cuda", generator=gen)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = ddp(ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(a.warmup):
    step()
torch.cuda.synchronize()
t0 = time.time()
for _ in range(a.steps):
    loss = step()
torch.cuda.synchronize()
sec = time.time() - t0
if rank == 0:
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps(dict(impl="pytorch-ddp", torch=torch.__version__, gpus=world, params=params,
                          batch_per_gpu=a.batch_per_gpu, context=a.context,
                          tokens_per_s=a.steps * a.batch_per_gpu * world * a.context / sec, final_loss=loss)))
if world > 1:
    dist.destroy_process_group()
