// CDVAE CSV data sets: an RFC 4180 CSV reader of our own, the cif column through readCifString.
#include "atomscope/chem/cdvae_csv.h"

#include <cmath>

#include "../text_util.h"
#include "atomscope/chem/cif.h"

namespace atomscope::chem {
namespace {

struct Field {
  std::string text;
  std::size_t line = 0;  // file line where the field's content starts
};

struct Record {
  std::vector<Field> fields;
  std::size_t line = 0;  // file line where the record starts
};

// Splits CSV text into records: comma-separated fields, "quoted" fields with "" for a quote and
// newlines inside; LF or CRLF line ends.
class CsvReader {
 public:
  CsvReader(std::string_view text, std::string_view source) : text_(text), source_(source) {
    if (text_.size() >= 3 && text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }

  bool next(Record& record) {
    record.fields.clear();
    // Skip empty lines between records.
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ >= text_.size()) return false;
    record.line = line_;
    while (true) {
      Field f;
      f.line = line_;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        ++pos_;
        const std::size_t startLine = line_;
        bool closed = false;
        while (pos_ < text_.size()) {
          const char c = text_[pos_];
          if (c == '"') {
            if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
              f.text += '"';
              pos_ += 2;
              continue;
            }
            ++pos_;
            closed = true;
            break;
          }
          if (c == '\n') ++line_;
          f.text += c;
          ++pos_;
        }
        if (!closed)
          throw ChemError(std::string(source_) + ":" + std::to_string(startLine) +
                          ": a quoted field starting here has no closing quote (truncated file?)");
        // Text between the closing quote and the separator is kept, as Python's csv module does.
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          f.text += text_[pos_++];
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          f.text += text_[pos_++];
      }
      record.fields.push_back(std::move(f));
      if (pos_ >= text_.size()) return true;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      // End of line.
      if (text_[pos_] == '\r') ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') {
        ++pos_;
        ++line_;
      }
      return true;
    }
  }

 private:
  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

Trajectory readCdvaeCsvString(std::string_view text, std::string_view sourceName, const CdvaeCsvOptions& options) {
  const std::string source(sourceName);
  CsvReader reader(text, sourceName);
  Record header;
  if (!reader.next(header)) throw ChemError(source + ":1: the file is empty (expected a CSV header with a '" + options.cifColumn + "' column)");
  std::vector<std::string> names;
  std::size_t cifIndex = header.fields.size();
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    names.emplace_back(text::trim(header.fields[i].text));
    if (names.back() == options.cifColumn && cifIndex == header.fields.size()) cifIndex = i;
  }
  if (cifIndex == header.fields.size()) {
    std::string cols;
    for (const std::string& n : names) cols += (cols.empty() ? "" : ", ") + n;
    throw ChemError(source + ":" + std::to_string(header.line) + ": the header has no '" + options.cifColumn +
                    "' column (columns: " + text::quote(cols) + ")");
  }
  std::size_t idIndex = names.size();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == "material_id") idIndex = i;

  Trajectory frames;
  Record record;
  std::size_t row = 0;
  while (reader.next(record)) {
    ++row;
    std::string rowName = "row " + std::to_string(row);
    if (idIndex < record.fields.size()) rowName += " (material_id " + text::quote(record.fields[idIndex].text) + ")";
    if (record.fields.size() != names.size())
      throw ChemError(source + ":" + std::to_string(record.line) + ": " + rowName + " has " +
                      std::to_string(record.fields.size()) + " fields, the header has " + std::to_string(names.size()));
    const Field& cifField = record.fields[cifIndex];
    Trajectory structures;
    try {
      structures = readCifString(cifField.text, sourceName, {}, cifField.line);
    } catch (const ChemError& e) {
      // Put the row after "<file>:<line>: ".
      std::string what = e.what();
      std::size_t cut = 0;
      if (what.rfind(source + ":", 0) == 0) {
        cut = source.size() + 1;
        while (cut < what.size() && std::isdigit(static_cast<unsigned char>(what[cut]))) ++cut;
        if (what.compare(cut, 2, ": ") == 0) cut += 2;
        else cut = 0;
      }
      throw ChemError(what.substr(0, cut) + rowName + ": " + what.substr(cut));
    }
    for (Structure& s : structures) {
      Json info = Json::object();
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (i == cifIndex || text::trim(record.fields[i].text).empty()) continue;
        info[names[i].empty() ? std::string("index") : names[i]] = text::scalarJson(record.fields[i].text);
      }
      for (auto it = s.info.begin(); it != s.info.end(); ++it)
        if (!info.contains(it.key())) info[it.key()] = it.value();
      s.info = std::move(info);
      frames.push_back(std::move(s));
    }
    if (options.maxRows > 0 && row >= options.maxRows) break;
  }
  if (frames.empty()) throw ChemError(source + ": the CSV has a header but no rows");
  return frames;
}

Trajectory readCdvaeCsv(const std::filesystem::path& path, const CdvaeCsvOptions& options) {
  const std::string bytes = text::readFile(path);
  return readCdvaeCsvString(bytes, path.string(), options);
}

}  // namespace atomscope::chem
