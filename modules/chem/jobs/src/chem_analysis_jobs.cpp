// chem.validity and chem.symmetry: ADiT's validity / uniqueness / novelty metrics for a file of
// generated structures, and spglib's symmetry analysis of crystals.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "atomscope/chem/chem_jobs.h"
#include "atomscope/chem/formats.h"
#include "atomscope/chem/structure_matcher.h"
#include "atomscope/chem/validity.h"
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
#include "atomscope/chem/molecule_perception.h"
#include "atomscope/chem/symmetry.h"
#endif

namespace atomscope::chem {
namespace {

namespace fs = std::filesystem;

std::string csvField(std::string s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

class ValidityJob : public core::Job {
 public:
  core::JobInfo info() const override {
    return {"chem.validity", "Validity, uniqueness and novelty", "Chemistry",
            "ADiT's metrics for a file of generated structures. Crystals: SMACT charge neutrality with the "
            "Pauling test, distances >= 0.5 A, volume >= 0.1 A^3; uniqueness and novelty through the structure "
            "matcher (ltol 0.3, stol 0.5, angle_tol 10). Molecules: valid when RDKit sanitises the bonds Open "
            "Babel perceives; uniqueness and novelty by canonical SMILES of the largest fragment. Writes a "
            "per-structure table (validity.csv).",
            false};
  }

  core::ParamSchema schema() const override {
    core::ParamSchema s;
    s.addPath("input", "", "The structures to check (any readable format; many frames).", fileDialogFilter(false),
              false, true);
    s.addOptionalPath("reference", "Training structures for novelty (same kind); empty: novelty not computed.",
                      fileDialogFilter(false));
    s.addChoice("kind", {"auto", "crystal", "molecule"}, "auto",
                "auto: crystals when the first structure has a lattice.");
    s.addFloat("ltol", 0.3, 0.0, 1.0, "Structure matcher: fractional length tolerance.").markAdvanced();
    s.addFloat("stol", 0.5, 0.0, 2.0, "Structure matcher: site tolerance ((V/N)^(1/3) units).").markAdvanced();
    s.addFloat("angle_tol", 10.0, 0.0, 45.0, "Structure matcher: angle tolerance (degrees).").markAdvanced();
    s.addBool("angle_filter", false,
              "Also count a lattice with an angle outside (50, 130) degrees as invalid (ADiT's filter on "
              "generated lattice parameters).")
        .markAdvanced();
    return s;
  }

  void run(core::Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const fs::path input = p.getString("input");
    fb.setProgress(0.02, "reading " + input.filename().string());
    const Trajectory frames = readStructureFile(input);
    if (frames.empty()) throw ChemError(input.string() + ": no structures");
    std::string kind = p.getString("kind");
    if (kind == "auto") kind = frames.front().lattice ? "crystal" : "molecule";
    Trajectory reference;
    const std::string refPath = p.getString("reference");
    if (!refPath.empty()) reference = readStructureFile(refPath);
    fb.info("read " + std::to_string(frames.size()) + " structure(s) (" + kind + ")");

    const fs::path table = ctx.run().addArtifact("validity.csv", "table", "per-structure validity");
    std::ofstream out(table);
    SetMetrics m;
    if (kind == "crystal") {
      StructureMatcherOptions mo;
      mo.ltol = p.getFloat("ltol");
      mo.stol = p.getFloat("stol");
      mo.angleTol = p.getFloat("angle_tol");
      CrystalValidityOptions vo;
      vo.angleFilter = p.getBool("angle_filter");
      std::vector<CrystalValidity> validity;
      for (std::size_t i = 0; i < frames.size(); ++i) {
        validity.push_back(crystalValidity(frames[i], vo));
        if (i % 16 == 0) {
          fb.throwIfCancelled();
          fb.setProgress(0.05 + 0.45 * i / frames.size(), "validity");
        }
      }
      fb.setProgress(0.5, "uniqueness and novelty (structure matcher)");
      std::vector<int> groups;
      m = crystalSetMetrics(frames, refPath.empty() ? nullptr : &reference, mo, vo, &validity, &groups);
      out << "index,formula,valid,composition_valid,structure_valid,min_distance,unique_group,reason\n";
      for (std::size_t i = 0; i < frames.size(); ++i)
        out << i << "," << frames[i].formula() << "," << validity[i].valid << "," << validity[i].composition << ","
            << validity[i].structure << "," << validity[i].minDistance << "," << groups[i] << ","
            << csvField(validity[i].reason) << "\n";
    } else {
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
      std::vector<std::string> largest;
      std::size_t neutral = 0;
      out << "index,formula,valid,valid_and_neutral,smiles,largest_fragment_smiles,error,not_neutral_because\n";
      for (std::size_t i = 0; i < frames.size(); ++i) {
        const PerceivedMolecule pm = perceiveMolecule(frames[i]);
        largest.push_back(pm.valid ? pm.largestFragmentSmiles : "");
        neutral += validAndNeutral(pm);
        out << i << "," << frames[i].formula() << "," << pm.valid << "," << validAndNeutral(pm) << ","
            << csvField(pm.smiles) << "," << csvField(pm.largestFragmentSmiles) << "," << csvField(pm.error) << ","
            << csvField(pm.strictError) << "\n";
        if (i % 16 == 0) {
          fb.throwIfCancelled();
          fb.setProgress(0.05 + 0.8 * i / frames.size(), "perceiving molecules");
        }
      }
      std::set<std::string> refSmiles;
      for (const Structure& r : reference) {
        const PerceivedMolecule pm = perceiveMolecule(r);
        if (pm.valid) refSmiles.insert(pm.largestFragmentSmiles);
      }
      m = moleculeSetMetrics(largest, refPath.empty() ? nullptr : &refSmiles);
      ctx.run().setSummary("valid_and_neutral", static_cast<long long>(neutral));
#else
      throw ChemError("molecule validity needs the chemistry toolkits (RDKit, Open Babel)");
#endif
    }
    ctx.run().setSummary("kind", kind);
    ctx.run().setSummary("total", static_cast<long long>(m.total));
    ctx.run().setSummary("valid", static_cast<long long>(m.valid));
    ctx.run().setSummary("unique", static_cast<long long>(m.unique));
    ctx.run().setSummary("valid_rate", m.validRate);
    ctx.run().setSummary("unique_rate", m.uniqueRate);
    if (!refPath.empty()) {
      ctx.run().setSummary("novel", static_cast<long long>(m.novel));
      ctx.run().setSummary("novel_rate", m.novelRate);
    }
    fb.info("valid " + std::to_string(m.valid) + "/" + std::to_string(m.total) + ", unique " +
            std::to_string(m.unique) + (refPath.empty() ? "" : ", novel " + std::to_string(m.novel)));
    fb.setProgress(1.0, "done");
  }
};

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
class SymmetryJob : public core::Job {
 public:
  core::JobInfo info() const override {
    return {"chem.symmetry", "Crystal symmetry", "Chemistry",
            "Space group (spglib) of every crystal in a file, and its standardized primitive, conventional "
            "and Niggli-reduced cells written out as extended XYZ; a table symmetry.csv.",
            false};
  }

  core::ParamSchema schema() const override {
    core::ParamSchema s;
    s.addPath("input", "", "The crystals (any readable format; many frames).", fileDialogFilter(false), false, true);
    s.addFloat("symprec", 0.01, 1e-6, 1.0, "Distance tolerance (A); pymatgen's default 0.01, MP's 0.1.");
    s.addFloat("angle_tolerance", 5.0, -1.0, 30.0, "Angle tolerance (degrees); pymatgen's default 5.")
        .markAdvanced();
    return s;
  }

  void run(core::Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const fs::path input = p.getString("input");
    const Trajectory frames = readStructureFile(input);
    SymmetryOptions o;
    o.symprec = p.getFloat("symprec");
    o.angleTolerance = p.getFloat("angle_tolerance");
    Trajectory prim, conv, niggli;
    const fs::path table = ctx.run().addArtifact("symmetry.csv", "table", "space groups");
    std::ofstream out(table);
    out << "index,formula,spacegroup_number,international,crystal_system,atoms,primitive_atoms,conventional_atoms\n";
    std::map<int, int> histogram;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const SpaceGroupInfo sg = spaceGroup(frames[i], o);
      prim.push_back(primitiveCell(frames[i], o));
      conv.push_back(conventionalCell(frames[i], o));
      niggli.push_back(niggliReduced(frames[i]));
      ++histogram[sg.number];
      out << i << "," << frames[i].formula() << "," << sg.number << "," << sg.international << ","
          << sg.crystalSystem << "," << frames[i].size() << "," << prim.back().size() << "," << conv.back().size()
          << "\n";
      fb.throwIfCancelled();
      fb.setProgress(static_cast<double>(i + 1) / frames.size(), "symmetry");
    }
    writeStructureFile(ctx.run().addArtifact("primitive.xyz", "structure", "standardized primitive cells"), prim, "xyz");
    writeStructureFile(ctx.run().addArtifact("conventional.xyz", "structure", "standardized conventional cells"), conv,
                       "xyz");
    writeStructureFile(ctx.run().addArtifact("niggli.xyz", "structure", "Niggli-reduced cells"), niggli, "xyz");
    ctx.run().setSummary("structures", static_cast<long long>(frames.size()));
    Json h = Json::object();
    for (const auto& [n, c] : histogram) h[std::to_string(n)] = c;
    ctx.run().setSummary("spacegroups", h);
    if (frames.size() == 1) ctx.run().setSummary("spacegroup_number", histogram.begin()->first);
    fb.setProgress(1.0, "done");
  }
};
#endif

}  // namespace

void registerChemAnalysisJobs(core::JobRegistry& registry) {
  registry.add([] { return std::make_unique<ValidityJob>(); });
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  registry.add([] { return std::make_unique<SymmetryJob>(); });
#endif
}

}  // namespace atomscope::chem
