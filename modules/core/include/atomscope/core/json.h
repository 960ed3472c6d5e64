#pragma once
#include <nlohmann/json.hpp>

namespace atomscope {
using Json = nlohmann::ordered_json;  // keeps keys in the order a schema or record declares them
}
