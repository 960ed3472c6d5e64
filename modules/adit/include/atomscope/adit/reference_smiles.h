#pragma once
// Reference sets given as SMILES lists, for novelty in adit.evaluate: the QM9 lists of ../shared/data
// (a 'smiles' header, one per line), .smi files, and CSV files with a 'smiles' first column.
// No torch and no toolkit needed to parse (fuzzed as such); with the chemistry toolkits, every entry
// must also be a SMILES RDKit reads.
#include <filesystem>
#include <string>
#include <vector>

namespace atomscope::adit {

// The first field (up to , ; space tab CR) of every line. A list is either headed by a first field
// 'smiles' (any case; the header is skipped) or comes from a file whose name ends in .smi or .smiles
// (smiFile). Anything else returns nothing: not a SMILES list. Empty lines are skipped. Throws AditError
// naming source and line when an entry does not parse (toolkit builds), and when a list has no entry.
std::vector<std::string> parseReferenceSmiles(const std::string& text, const std::string& source, bool smiFile);

// The same for a file. Throws AditError when it cannot be read.
std::vector<std::string> readReferenceSmiles(const std::filesystem::path& path);

}  // namespace atomscope::adit
