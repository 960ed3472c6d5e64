#pragma once
// Shared helpers of the masa tests: paths to the shared data, the numpy reference script, the
// stories260K model loaded with recording projections and calibrated on real text.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "atomscope/core/tensor_io.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/masa/calibration.h"
#include "test_util.h"

namespace atomscope::masa_test {

using namespace ::atomscope::masa;

namespace fs = std::filesystem;

inline fs::path dataDir() { return fs::path(ATOMSCOPE_SHARED_DATA_DIR); }
inline fs::path storiesModel() { return dataDir() / "lm" / "stories260K.bin"; }
// llama2.c's tokenizer.bin of stories260K: the same ids as tok512.model (tests/lm SentencePiece.AgreesWithLlama2c...),
// and readable in every build (the sanitizer and GPU builds have no libsentencepiece).
inline fs::path storiesTokenizer() { return dataDir() / "lm" / "tok512.bin"; }
inline fs::path valText() { return dataDir() / "text" / "tinystories" / "tinystories_val_head.txt"; }
inline fs::path trainText() { return dataDir() / "text" / "tinystories" / "tinystories_train_head_2MiB.txt"; }

// Runs tests/masa/tools/numpy_reference.py with Debian's python3 (numpy); false on failure.
inline bool numpyReference(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) + "/tests/masa/tools/numpy_reference.py " + args;
  return std::system(cmd.c_str()) == 0;
}

struct CalibratedModel {
  lm::LoadedModel loaded;
  std::shared_ptr<CalibrationRecorder> recorder;
};

// stories260K with recording projections, calibrated on the first `tokens` tokens of the
// TinyStories train head (documents with BOS, as the model was trained).
inline CalibratedModel calibratedStories(std::int64_t tokens = 4096) {
  CalibratedModel m;
  m.recorder = std::make_shared<CalibrationRecorder>();
  lm::LoadOptions o;
  o.model.attentionProjections = recordingProjections(m.recorder);
  m.loaded = lm::loadModel(storiesModel(), o);
  auto tok = lm::openTokenizer(storiesTokenizer());
  std::ifstream in(trainText());
  std::stringstream ss;
  ss << in.rdbuf();
  auto ids = calibrationTokens(ss.str(), *tok, tokens);
  core::Feedback fb;
  calibrate(*m.loaded.model, *m.recorder, ids, 256, fb);
  return m;
}

}  // namespace atomscope::masa_test
