#pragma once
// ADiT training sets: molecules and crystals as one kind of record (atomic numbers, Cartesian
// positions, fractional coordinates, lattice lengths and angles, data-set kind, space group), read
// from QM9 SMILES (3D through RDKit ETKDGv3 + MMFF), (extended) XYZ, CDVAE CSV files (MP-20,
// Perov-5, Carbon-24) or folders of CIFs, crystals Niggli-reduced as ADiT's data pipeline does
// (facebookresearch/all-atom-diffusion-transformer, src/data). Stored as safetensors shards with a
// JSON manifest (manifest.json: format atomscope.adit_data/1, shards, counts, atom-count histogram).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "atomscope/adit/shard_format.h"
#include "atomscope/chem/structure.h"
#include "atomscope/core/error.h"
#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"

namespace atomscope::adit {

// Data-set kind: the class ADiT's classifier-free guidance conditions on.
enum class Kind : int { Molecule = 0, Crystal = 1 };
constexpr int kNumKinds = 2;
constexpr int kMaxZ = 118;         // atom-type classes 1..118 (0 unused)
constexpr int kNumSpaceGroups = 230;

// Everything of the data set in memory, atoms concatenated (offsets[i]..offsets[i+1] is record i).
struct Records {
  torch::Tensor numbers;    // [A] int64
  torch::Tensor positions;  // [A, 3] float32, Angstrom (molecules centred on their centroid)
  torch::Tensor fractional; // [A, 3] float32 (zeros for molecules)
  torch::Tensor offsets;    // [n + 1] int64
  torch::Tensor lattice;    // [n, 6] float32: a, b, c (Angstrom), alpha, beta, gamma (degrees); zeros for molecules
  torch::Tensor kind;       // [n] int64 (Kind)
  torch::Tensor spaceGroup; // [n] int64, 0 when unknown (molecules)
  std::int64_t size() const { return kind.defined() ? kind.size(0) : 0; }
  std::int64_t atomsOf(std::int64_t i) const;
};

// One structure as a record's fields (molecules centred; crystals Niggli-reduced first when asked).
Records recordsFromStructures(const chem::Trajectory& structures, Kind kind, bool niggli, bool spaceGroups);
Records concat(const std::vector<Records>& parts);
// Structure i back (lattice from parameters in ASE's orientation for crystals).
chem::Structure toStructure(const Records& r, std::int64_t i);

struct PrepareSource {
  std::string path;   // a .smi/.txt SMILES file, .xyz/.extxyz, a CDVAE .csv, or a folder of .cif files
  std::string kind;   // "auto", "molecule", "crystal"
};

struct PrepareOptions {
  std::size_t limit = 0;            // first N of each source (0: all)
  std::size_t shardSize = 20000;    // records per shard
  bool niggli = true;
  bool dropCharged = true;          // SMILES with formal charges or radicals are dropped
  int seed = 42;
  unsigned maxEmbedAttempts = 0;    // ETKDG attempts (0: RDKit default)
  unsigned threads = 0;             // threads embedding SMILES (0: every core); the output does not depend on it
};

struct PrepareReport {
  std::size_t records = 0, molecules = 0, crystals = 0;
  std::size_t dropped = 0;        // charged / radical SMILES
  std::size_t failed = 0;         // could not embed or read
  std::vector<std::string> failures;  // first few reasons
};

// Reads every source and writes shards + manifest.json into outDir.
PrepareReport prepareDataset(const std::vector<PrepareSource>& sources, const std::filesystem::path& outDir,
                             const PrepareOptions& options, core::Feedback* feedback = nullptr);

// Records of a prepared folder (all shards). Throws AditError naming the file on any problem.
Records loadDataset(const std::filesystem::path& dir);
void saveShard(const std::filesystem::path& file, const Records& r);
Records loadShard(const std::filesystem::path& file);

// A padded batch. Model inputs are normalised: lattice lengths divided by natoms^(1/3) (CDVAE's
// scaling), angles in radians.
struct Batch {
  torch::Tensor numbers;     // [B, N] int64 (0 = padding)
  torch::Tensor positions;   // [B, N, 3]
  torch::Tensor fractional;  // [B, N, 3]
  torch::Tensor mask;        // [B, N] bool, true for real atoms
  torch::Tensor lattice;     // [B, 6] normalised
  torch::Tensor kind;        // [B]
  torch::Tensor spaceGroup;  // [B]
  torch::Tensor natoms;      // [B] int64
  Batch to(const torch::Device& d) const;
};

Batch makeBatch(const Records& r, const std::vector<std::int64_t>& indices);

// Every record padded to one atom count (the data set's largest, or more), kept on one device, so a
// training batch is a gather by an index tensor on that device: no host work and no host-device
// synchronisation per step, and every batch has the same shape.
struct PaddedRecords {
  torch::Tensor numbers, positions, fractional, mask;  // [n, N], [n, N, 3], [n, N, 3], [n, N]
  torch::Tensor lattice;                               // [n, 6] normalised
  torch::Tensor kind, spaceGroup, natoms;              // [n]
  std::int64_t size() const { return kind.defined() ? kind.size(0) : 0; }
  std::int64_t width() const { return mask.defined() ? mask.size(1) : 0; }
  Batch gather(const torch::Tensor& indices) const;  // indices: int64 on the same device
};
// minAtoms: pad to at least this many atoms (0: the largest record).
PaddedRecords padRecords(const Records& r, const torch::Device& device, std::int64_t minAtoms = 0);
// Per-atom rows [A, D] (record order, as Records' atoms) into [n, N, D] with zeros as padding.
torch::Tensor padAtomRows(const torch::Tensor& rows, const torch::Tensor& offsets, std::int64_t N);
// Normalised lattice features <-> lengths (A) and angles (degrees).
torch::Tensor normaliseLattice(const torch::Tensor& lattice, const torch::Tensor& natoms);
torch::Tensor denormaliseLattice(const torch::Tensor& features, const torch::Tensor& natoms);

// Histogram of atom counts per kind: counts[kind][n].
std::vector<std::vector<std::int64_t>> atomCountHistogram(const Records& r);

// A composition as text, "Z:count" pairs by ascending Z joined by commas ("1:10,6:7,8:2"), and back (throws
// AditError on a malformed key).
std::string compositionKey(const std::map<int, int>& counts);
std::map<int, int> compositionFromKey(const std::string& key);
// Per kind, each composition of the records (compositionKey) and how many records have it.
std::vector<std::map<std::string, std::int64_t>> compositionHistogram(const Records& r);

}  // namespace atomscope::adit
