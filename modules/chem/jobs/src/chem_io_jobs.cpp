// chem.convert: any structure file this build reads into any format it writes, all frames or one.
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "atomscope/chem/chem_jobs.h"
#include "atomscope/chem/formats.h"
#include "atomscope/chem/poscar.h"
#include "atomscope/chem/smiles.h"

namespace atomscope::chem {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> formatChoices(bool forWriting) {
  std::vector<std::string> out = {"auto"};
  for (const StructureFormat& f : structureFormats())
    if (forWriting ? f.canWrite : f.canRead) out.push_back(f.name);
  return out;
}

std::string firstExtension(const std::string& format) {
  for (const StructureFormat& f : structureFormats())
    if (f.name == format) return f.extensions.front();
  return format;
}

// "all", "first", "last" or a 0-based index (negative counts from the end, as in Python).
Trajectory selectFrames(Trajectory frames, const std::string& which) {
  if (which == "all") return frames;
  if (frames.empty()) return frames;
  if (which == "first") return {frames.front()};
  if (which == "last") return {frames.back()};
  char* end = nullptr;
  const long long index = std::strtoll(which.c_str(), &end, 10);
  if (which.empty() || *end != '\0')
    throw ChemError("frames must be all, first, last or a frame index, not '" + which + "'");
  const long long n = static_cast<long long>(frames.size());
  const long long i = index < 0 ? n + index : index;
  if (i < 0 || i >= n)
    throw ChemError("frame " + which + " does not exist: the file has " + std::to_string(n) + " frame(s) (0.." +
                    std::to_string(n - 1) + ")");
  return {frames[static_cast<std::size_t>(i)]};
}

std::vector<std::string> splitSpecies(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

class ConvertJob : public core::Job {
 public:
  core::JobInfo info() const override {
    return {"chem.convert", "Convert structure files", "Chemistry",
            "Reads molecules or crystals from any structure format this build knows (XYZ/extended XYZ, CIF, "
            "POSCAR/CONTCAR, PDB, SDF/MOL, MOL2, CDVAE CSV, SMILES) and writes all frames or one of them as XYZ, "
            "CIF, POSCAR, PDB, SDF or MOL2. Formats follow the file extensions unless given.",
            false};
  }

  core::ParamSchema schema() const override {
    core::ParamSchema s;
    s.addPath("input", "", "The structure file to read.", fileDialogFilter(false), false, true);
    s.addOptionalPath("output",
                      "The file to write; empty: the run's artifacts, named after the input, in output_format "
                      "(xyz when that is auto).",
                      fileDialogFilter(true));
    s.addChoice("input_format", formatChoices(false), "auto", "Format of the input; auto: from its name.");
    s.addChoice("output_format", formatChoices(true), "auto", "Format of the output; auto: from its name.");
    s.addString("frames", "all",
                "Which frames to write: all, first, last, or a 0-based index (negative counts from the end).");
    s.addString("species", "",
                "VASP 4 POSCARs without a species line: the elements of the counts, e.g. Si,O.")
        .markAdvanced();
    s.addInt("smiles_seed", 42, 0, 2147483647.0, "ETKDG seed for SMILES input (same seed, same 3D coordinates).")
        .markAdvanced();
    return s;
  }

  void run(core::Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const fs::path input = p.getString("input");
    std::string inFormat = p.getString("input_format");
    if (inFormat == "auto") inFormat = formatForPath(input);
    fb.setProgress(0.05, "reading " + input.filename().string());
    Trajectory frames;
    const std::string species = p.getString("species");
    if (inFormat == "poscar" && !species.empty()) {
      PoscarReadOptions o;
      o.species = splitSpecies(species);
      frames = {readPoscar(input, o)};
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
    } else if (inFormat == "smiles") {
      SmilesOptions o;
      o.seed = static_cast<int>(p.getInt("smiles_seed"));
      frames = readSmilesFile(input, o);
#endif
    } else {
      frames = readStructureFile(input, p.getString("input_format"));
    }
    const std::size_t read = frames.size();
    fb.info("read " + std::to_string(read) + " frame(s) from " + input.string() + " (" + inFormat + ")");
    fb.throwIfCancelled();

    frames = selectFrames(std::move(frames), p.getString("frames"));
    std::string outFormat = p.getString("output_format");
    fs::path output = p.getString("output");
    if (output.empty()) {
      if (outFormat == "auto") outFormat = "xyz";
      const std::string name = input.stem().string() + "." + firstExtension(outFormat);
      output = ctx.run().addArtifact(name, "structure", "converted from " + input.filename().string());
    } else {
      if (outFormat == "auto") outFormat = formatForPath(output);
      if (!output.parent_path().empty()) fs::create_directories(output.parent_path());
    }
    fb.setProgress(0.6, "writing " + output.filename().string());
    writeStructureFile(output, frames, outFormat);
    std::size_t atoms = 0;
    for (const Structure& s : frames) atoms += s.size();
    ctx.run().setSummary("frames_read", static_cast<long long>(read));
    ctx.run().setSummary("frames_written", static_cast<long long>(frames.size()));
    ctx.run().setSummary("atoms_written", static_cast<long long>(atoms));
    ctx.run().setSummary("input_format", inFormat);
    ctx.run().setSummary("output_format", outFormat);
    ctx.run().setSummary("output", output.string());
    fb.info("wrote " + std::to_string(frames.size()) + " frame(s), " + std::to_string(atoms) + " atoms to " +
            output.string() + " (" + outFormat + ")");
    fb.setProgress(1.0, "done");
  }
};

}  // namespace

void registerChemIoJobs(core::JobRegistry& registry) {
  registry.add([] { return std::make_unique<ConvertJob>(); });
}

}  // namespace atomscope::chem
