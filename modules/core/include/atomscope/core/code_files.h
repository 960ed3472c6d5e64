#pragma once
// Model files that are code. A Python pickle (torch.save checkpoints, pytorch_model.bin, .pkl) runs
// arbitrary code when unpickled: never loaded, refused with how to convert it. A TorchScript model
// carries TorchScript code (methods): loaded only when the user trusts it (`atomscope-cli --trust`,
// a confirmation in the GUI). Sniffing reads bytes only; it runs nothing. No torch.
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"

namespace atomscope::core {

enum class CodeFileKind {
  None,         // not a pickle, no TorchScript methods (safetensors, npy, llama2.c, our torch archives)
  Pickle,       // a Python pickle stream (protocol 2+), e.g. torch.save's legacy format
  TorchPickle,  // a torch.save zip archive (data.pkl without TorchScript constants): a pickle inside
  TorchScript,  // a TorchScript archive whose code/ defines methods (torch.jit.save)
};

// What `path` holds (a missing or unreadable file is None: its loader reports that).
CodeFileKind sniffCodeFile(const std::filesystem::path& path);
// The same for a file's bytes. A zip is judged from its central directory and its code/ entries only
// (stored or deflated; a few KB of a model of any size: the GUI asks this before every job start); a
// zip whose directory cannot be followed is scanned whole.
CodeFileKind sniffCodeBytes(std::string_view bytes);
std::string toString(CodeFileKind kind);

// Throws Error when `path` is a Python pickle (either kind): the message names the file, says why
// it is not read, and how to convert it (safetensors). `what` names the expected content
// ("language model", "ADiT model", ...).
void refusePickle(const std::filesystem::path& path, const std::string& what);

// Who may load TorchScript code in this process: everything (the CLI's --trust) or single files the
// user confirmed (the GUI). Process-wide and thread-safe.
class CodeTrust {
 public:
  static void trustAll(bool on);
  static void trustFile(const std::filesystem::path& path);
  static bool isTrusted(const std::filesystem::path& path);
  static void reset();  // forget everything (tests)
  // Throws Error unless `path` is trusted; the message says how to trust it.
  static void require(const std::filesystem::path& path, const std::string& what);
};

// Front ends call this before running a job: every parameter naming an existing TorchScript file
// (a text value, or a list of texts) must be trusted, and no parameter may name a pickle.
void checkCodeFileParams(const Json& params);

}  // namespace atomscope::core
