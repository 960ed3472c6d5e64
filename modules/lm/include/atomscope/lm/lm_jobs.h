#pragma once
// The language-model jobs (torch-free header):
//   lm.eval      perplexity (sliding window with stride) and bits per byte on a text file or token
//                shards; per-token losses as an .npy artifact
//   lm.generate  text from a prompt (greedy or sampled), streamed through the job's log and metrics
//   lm.train     training from scratch (family/size from params, vocabulary from the tokenizer) or
//                continued from a model; AdamW, warm-up + cosine, clipping, accumulation, bf16 autocast
//                on CUDA, checkpoints + resume, NaN/inf guard, validation loss, HF export
//   lm.inspect   parameter counts per block and per projection
//   lm.attention attention probabilities of every layer and head for a prompt (attention.npy, tokens.json)
#include "atomscope/core/job.h"

namespace atomscope::lm {

void registerLmJobs(core::JobRegistry& registry);

}  // namespace atomscope::lm
