#pragma once
// A job declares its parameters once (QGIS Processing style); the GUI form, the CLI and
// validation all come from this declaration.
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::core {

enum class ParamType { Int, Float, Bool, String, Choice, Path, Device };

std::string toString(ParamType t);
ParamType paramTypeFromString(const std::string& s);  // throws ParamError

struct ParamSpec {
  std::string name;         // snake_case key used on the CLI (--param name=value)
  ParamType type = ParamType::String;
  Json defaultValue;        // null means required
  std::string label;        // shown in forms; defaults to name
  std::string help;         // one or two sentences
  std::optional<double> min, max;      // Int and Float
  std::vector<std::string> choices;    // Choice
  std::string fileFilter;   // Path: e.g. "Structures (*.xyz *.extxyz)"
  bool directory = false;   // Path: a folder rather than a file
  bool mustExist = false;   // Path: validated to exist
  bool advanced = false;    // folded away in forms
  std::string group;        // section heading in forms

  bool required() const { return defaultValue.is_null(); }
};

class ParamSchema {
 public:
  ParamSchema& add(ParamSpec spec);  // throws ParamError on a duplicate or inconsistent spec

  // Shorthands for the common kinds.
  ParamSchema& addInt(std::string name, long long def, std::optional<double> min, std::optional<double> max,
                      std::string help);
  ParamSchema& addFloat(std::string name, double def, std::optional<double> min, std::optional<double> max,
                        std::string help);
  ParamSchema& addBool(std::string name, bool def, std::string help);
  ParamSchema& addString(std::string name, std::string def, std::string help);
  ParamSchema& addChoice(std::string name, std::vector<std::string> choices, std::string def, std::string help);
  ParamSchema& addPath(std::string name, std::string def, std::string help, std::string filter = {},
                       bool directory = false, bool mustExist = true);
  // A path the user may leave empty (addPath with an empty default makes the parameter required).
  ParamSchema& addOptionalPath(std::string name, std::string help, std::string filter = {}, bool directory = false);
  ParamSchema& addDevice(std::string name = "device", std::string def = "auto");
  // Folds the parameter added last away in forms: s.addInt(...).markAdvanced().
  ParamSchema& markAdvanced();

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(const std::string& name) const;

  Json toJson() const;                      // {"params":[{name,type,default,min,max,choices,help,...}]}
  static ParamSchema fromJson(const Json&); // throws ParamError

  // Returns the complete parameter object: given values checked and converted, defaults filled.
  // Throws ParamError naming every unknown key, missing required value, type error and range error.
  Json validate(const Json& given) const;

  // Converts CLI text ("0.1", "true", "cuda:1") to the JSON value of a parameter's type.
  Json valueFromText(const std::string& name, const std::string& text) const;

 private:
  std::vector<ParamSpec> specs_;
};

// Typed access to a validated parameter object.
class Params {
 public:
  Params() = default;
  explicit Params(Json values) : values_(std::move(values)) {}
  long long getInt(const std::string& name) const;
  double getFloat(const std::string& name) const;
  bool getBool(const std::string& name) const;
  std::string getString(const std::string& name) const;  // String, Choice, Path, Device
  bool has(const std::string& name) const { return values_.contains(name); }
  const Json& json() const { return values_; }

 private:
  const Json& at(const std::string& name) const;
  Json values_ = Json::object();
};

}  // namespace atomscope::core
