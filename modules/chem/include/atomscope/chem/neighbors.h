#pragma once
// Neighbour lists with periodic boundaries: every pair of atoms closer than a cutoff, with the
// image of the cell each partner sits in, by a cell list (linear in the number of atoms). Cutoffs
// larger than the cell are fine: a partner then appears once per image within reach, and an atom
// can be its own neighbour in another image. The convention is ASE's neighbor_list('ijS'):
// j's partner of i is at positions[j] + image . lattice. Force fields build their graphs from it.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct NeighborList {
  std::vector<std::int32_t> i, j;                  // pair (i, j): j is a neighbour of i
  std::vector<std::array<std::int32_t, 3>> image;  // cell image of j's copy
  std::vector<double> distance;                    // Angstrom
  std::vector<Vec3> vector;                        // positions[j] + image . lattice - positions[i]
  std::size_t size() const { return i.size(); }
};

// Every ordered pair (i, j, image) with 0 < |r_ij| < cutoff: both (i, j, S) and (j, i, -S), sorted by
// (i, j, image). Open axes (pbc false, or no lattice) see no images. Throws ChemError for a cutoff
// that is not positive and finite, or for a cell so thin that the list would explode (more than
// 50 million pairs).
NeighborList neighborList(const Structure& structure, double cutoff);

// The engine under neighborList and findBonds: calls visit(i, j, image, d2) once for each unordered
// pair closer than cutoff, with i <= j (i == j only across a non-zero image, and then once, for the
// lexicographically positive image). Pairs at distance 0 are visited too.
void visitPairsWithin(const Structure& structure, double cutoff,
                      const std::function<void(std::size_t i, std::size_t j, const std::array<int, 3>& image, double d2)>& visit);

}  // namespace atomscope::chem
