#pragma once
// Minimum-cost perfect assignment of n rows to n columns (the linear assignment problem). The structure matcher
// pairs sites with it; ADiT's decoder gives atoms the elements of an asked composition with it.
#include <vector>

namespace atomscope::chem {

// cost: n x n (finite). Returns, for each row, the column it is assigned to; the sum of cost[i][result[i]] is the
// least over all permutations.
std::vector<int> linearAssignment(const std::vector<std::vector<double>>& cost);

}  // namespace atomscope::chem
