#include "atomscope/adit/reference_smiles.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "atomscope/adit/shard_format.h"  // AditError
#include "atomscope/core/text.h"
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
#include "atomscope/chem/molecule_perception.h"
#endif

namespace atomscope::adit {

namespace {

std::string firstField(const std::string& line) { return line.substr(0, line.find_first_of(",; \t\r")); }

}  // namespace

std::vector<std::string> parseReferenceSmiles(const std::string& text, const std::string& source, bool smiFile) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const bool header = core::asciiLower(firstField(line)) == "smiles";
  if (!header && !smiFile) return {};
  std::vector<std::string> out;
  std::size_t lineNo = 1;
  auto take = [&](const std::string& l) {
    const auto smi = firstField(l);
    if (smi.empty()) return;
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
    if (chem::canonicalSmiles(smi, false).empty())
      throw AditError(source + ":" + std::to_string(lineNo) + ": '" + smi + "' is not a SMILES RDKit can read");
#endif
    out.push_back(smi);
  };
  if (!header) take(line);
  while (std::getline(in, line)) {
    ++lineNo;
    take(line);
  }
  if (out.empty()) throw AditError(source + ": the SMILES list is empty");
  return out;
}

std::vector<std::string> readReferenceSmiles(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AditError(path.string() + ": cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  const auto ext = core::asciiLower(path.extension().string());
  return parseReferenceSmiles(text.str(), path.string(), ext == ".smi" || ext == ".smiles");
}

}  // namespace atomscope::adit
