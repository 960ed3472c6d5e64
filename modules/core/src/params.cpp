#include "atomscope/core/params.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <sstream>

#include "atomscope/core/device.h"
#include "atomscope/core/error.h"

namespace atomscope::core {

namespace {

const char* const kTypeNames[] = {"int", "float", "bool", "string", "choice", "path", "device"};

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

std::string describeRange(const ParamSpec& s) {
  std::ostringstream os;
  if (s.min && s.max) os << " in [" << *s.min << ", " << *s.max << "]";
  else if (s.min) os << " >= " << *s.min;
  else if (s.max) os << " <= " << *s.max;
  return os.str();
}

std::string joinChoices(const std::vector<std::string>& c) {
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) out += (i ? ", " : "") + c[i];
  return out;
}

// Checks and converts one value; appends a message to errors and returns null on failure.
Json checkValue(const ParamSpec& s, const Json& v, std::vector<std::string>& errors) {
  const std::string where = "parameter '" + s.name + "'";
  switch (s.type) {
    case ParamType::Int: {
      long long x = 0;
      if (v.is_number_integer()) {
        x = v.get<long long>();
      } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                 std::abs(v.get<double>()) < 9.0e15) {
        x = static_cast<long long>(v.get<double>());
      } else {
        errors.push_back(where + ": expected an integer, got " + v.dump());
        return nullptr;
      }
      if ((s.min && x < *s.min) || (s.max && x > *s.max)) {
        errors.push_back(where + ": " + std::to_string(x) + " is out of range; expected a value" + describeRange(s));
        return nullptr;
      }
      return x;
    }
    case ParamType::Float: {
      if (!v.is_number()) {
        errors.push_back(where + ": expected a number, got " + v.dump());
        return nullptr;
      }
      double x = v.get<double>();
      if (!std::isfinite(x)) {
        errors.push_back(where + ": expected a finite number");
        return nullptr;
      }
      if ((s.min && x < *s.min) || (s.max && x > *s.max)) {
        std::ostringstream os;
        os << where << ": " << x << " is out of range; expected a value" << describeRange(s);
        errors.push_back(os.str());
        return nullptr;
      }
      return x;
    }
    case ParamType::Bool:
      if (!v.is_boolean()) {
        errors.push_back(where + ": expected true or false, got " + v.dump());
        return nullptr;
      }
      return v;
    case ParamType::String:
      if (!v.is_string()) {
        errors.push_back(where + ": expected text, got " + v.dump());
        return nullptr;
      }
      return v;
    case ParamType::Choice: {
      if (!v.is_string()) {
        errors.push_back(where + ": expected one of " + joinChoices(s.choices) + ", got " + v.dump());
        return nullptr;
      }
      const auto str = v.get<std::string>();
      for (const auto& c : s.choices)
        if (c == str) return v;
      errors.push_back(where + ": '" + str + "' is not one of " + joinChoices(s.choices));
      return nullptr;
    }
    case ParamType::Path: {
      if (!v.is_string()) {
        errors.push_back(where + ": expected a path, got " + v.dump());
        return nullptr;
      }
      const auto p = v.get<std::string>();
      if (s.mustExist && !p.empty()) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(p, ec);
        if (!exists) {
          errors.push_back(where + ": " + p + " does not exist");
          return nullptr;
        }
        if (s.directory && !std::filesystem::is_directory(p, ec)) {
          errors.push_back(where + ": " + p + " is not a folder");
          return nullptr;
        }
        if (!s.directory && std::filesystem::is_directory(p, ec)) {
          errors.push_back(where + ": " + p + " is a folder; expected a file");
          return nullptr;
        }
      }
      return v;
    }
    case ParamType::Device: {
      if (!v.is_string()) {
        errors.push_back(where + ": expected auto, cpu, cuda or cuda:N, got " + v.dump());
        return nullptr;
      }
      try {
        return DeviceSpec::parse(v.get<std::string>()).toString();
      } catch (const Error& e) {
        errors.push_back(where + ": " + e.what());
        return nullptr;
      }
    }
  }
  return nullptr;
}

}  // namespace

std::string toString(ParamType t) { return kTypeNames[static_cast<int>(t)]; }

ParamType paramTypeFromString(const std::string& s) {
  for (int i = 0; i < 7; ++i)
    if (s == kTypeNames[i]) return static_cast<ParamType>(i);
  throw ParamError("unknown parameter type '" + s + "'; expected int, float, bool, string, choice, path or device");
}

ParamSchema& ParamSchema::add(ParamSpec spec) {
  if (spec.name.empty()) throw ParamError("a parameter needs a name");
  if (find(spec.name)) throw ParamError("parameter '" + spec.name + "' is declared twice");
  if (spec.type == ParamType::Choice && spec.choices.empty())
    throw ParamError("choice parameter '" + spec.name + "' declares no choices");
  if (spec.label.empty()) spec.label = spec.name;
  if (!spec.defaultValue.is_null()) {
    std::vector<std::string> errors;
    ParamSpec copy = spec;
    copy.mustExist = false;  // a default path may be created later
    Json v = checkValue(copy, spec.defaultValue, errors);
    if (!errors.empty()) throw ParamError("default of " + errors.front());
    spec.defaultValue = v;
  }
  specs_.push_back(std::move(spec));
  return *this;
}

ParamSchema& ParamSchema::addInt(std::string name, long long def, std::optional<double> min,
                                 std::optional<double> max, std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Int;
  s.defaultValue = def;
  s.min = min;
  s.max = max;
  s.help = std::move(help);
  return add(std::move(s));
}

ParamSchema& ParamSchema::addFloat(std::string name, double def, std::optional<double> min,
                                   std::optional<double> max, std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Float;
  s.defaultValue = def;
  s.min = min;
  s.max = max;
  s.help = std::move(help);
  return add(std::move(s));
}

ParamSchema& ParamSchema::addBool(std::string name, bool def, std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Bool;
  s.defaultValue = def;
  s.help = std::move(help);
  return add(std::move(s));
}

ParamSchema& ParamSchema::addString(std::string name, std::string def, std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::String;
  s.defaultValue = std::move(def);
  s.help = std::move(help);
  return add(std::move(s));
}

ParamSchema& ParamSchema::addChoice(std::string name, std::vector<std::string> choices, std::string def,
                                    std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Choice;
  s.choices = std::move(choices);
  s.defaultValue = std::move(def);
  s.help = std::move(help);
  return add(std::move(s));
}

ParamSchema& ParamSchema::addPath(std::string name, std::string def, std::string help, std::string filter,
                                  bool directory, bool mustExist) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Path;
  s.defaultValue = def.empty() ? Json() : Json(def);
  s.help = std::move(help);
  s.fileFilter = std::move(filter);
  s.directory = directory;
  s.mustExist = mustExist;
  return add(std::move(s));
}

ParamSchema& ParamSchema::addOptionalPath(std::string name, std::string help, std::string filter, bool directory) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Path;
  s.defaultValue = "";
  s.help = std::move(help);
  s.fileFilter = std::move(filter);
  s.directory = directory;
  return add(std::move(s));
}

ParamSchema& ParamSchema::markAdvanced() {
  if (specs_.empty()) throw ParamError("markAdvanced() needs a parameter added before it");
  specs_.back().advanced = true;
  return *this;
}

ParamSchema& ParamSchema::addDevice(std::string name, std::string def) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = ParamType::Device;
  s.defaultValue = std::move(def);
  s.label = "device";
  s.help = "Where to compute: auto (the first GPU if there is one, else the CPU), cpu, cuda or cuda:N.";
  return add(std::move(s));
}

const ParamSpec* ParamSchema::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

Json ParamSchema::toJson() const {
  Json list = Json::array();
  for (const auto& s : specs_) {
    Json j;
    j["name"] = s.name;
    j["type"] = toString(s.type);
    j["default"] = s.defaultValue;
    j["label"] = s.label;
    j["help"] = s.help;
    if (s.min) j["min"] = *s.min;
    if (s.max) j["max"] = *s.max;
    if (!s.choices.empty()) j["choices"] = s.choices;
    if (!s.fileFilter.empty()) j["file_filter"] = s.fileFilter;
    if (s.type == ParamType::Path) {
      j["directory"] = s.directory;
      j["must_exist"] = s.mustExist;
    }
    if (s.advanced) j["advanced"] = true;
    if (!s.group.empty()) j["group"] = s.group;
    list.push_back(std::move(j));
  }
  return Json{{"params", list}};
}

ParamSchema ParamSchema::fromJson(const Json& j) {
  if (!j.is_object() || !j.contains("params") || !j["params"].is_array())
    throw ParamError("a parameter schema is an object with a 'params' array");
  ParamSchema schema;
  for (const auto& p : j["params"]) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || !p.contains("type") ||
        !p["type"].is_string())
      throw ParamError("every schema entry needs a string 'name' and 'type': " + p.dump());
    ParamSpec s;
    s.name = p["name"].get<std::string>();
    s.type = paramTypeFromString(p["type"].get<std::string>());
    s.defaultValue = p.value("default", Json());
    s.label = p.value("label", s.name);
    s.help = p.value("help", std::string());
    if (p.contains("min") && p["min"].is_number()) s.min = p["min"].get<double>();
    if (p.contains("max") && p["max"].is_number()) s.max = p["max"].get<double>();
    if (p.contains("choices")) {
      if (!p["choices"].is_array()) throw ParamError("'choices' of '" + s.name + "' must be an array");
      for (const auto& c : p["choices"]) {
        if (!c.is_string()) throw ParamError("'choices' of '" + s.name + "' must hold strings");
        s.choices.push_back(c.get<std::string>());
      }
    }
    s.fileFilter = p.value("file_filter", std::string());
    s.directory = p.value("directory", false);
    s.mustExist = p.value("must_exist", false);
    s.advanced = p.value("advanced", false);
    s.group = p.value("group", std::string());
    schema.add(std::move(s));
  }
  return schema;
}

Json ParamSchema::validate(const Json& given) const {
  std::vector<std::string> errors;
  Json out = Json::object();
  if (!given.is_null() && !given.is_object()) throw ParamError("parameters must be a JSON object, got " + given.dump());
  if (given.is_object()) {
    for (auto it = given.begin(); it != given.end(); ++it) {
      if (!find(it.key())) {
        std::string known;
        for (const auto& s : specs_) known += (known.empty() ? "" : ", ") + s.name;
        errors.push_back("unknown parameter '" + it.key() + "'; this job takes: " + known);
      }
    }
  }
  for (const auto& s : specs_) {
    if (given.is_object() && given.contains(s.name) && !given[s.name].is_null()) {
      Json v = checkValue(s, given[s.name], errors);
      if (!v.is_null()) out[s.name] = v;
    } else if (!s.required()) {
      out[s.name] = s.defaultValue;
    } else {
      errors.push_back("parameter '" + s.name + "' is required" + (s.help.empty() ? "" : ": " + s.help));
    }
  }
  if (!errors.empty()) throw ParamError(joinLines(errors));
  return out;
}

namespace {
// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF): what JSON text, and so
// run.json, can hold.
bool validUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}
}  // namespace

Json ParamSchema::valueFromText(const std::string& name, const std::string& text) const {
  if (!validUtf8(name) || !validUtf8(text))
    throw ParamError("--param " + std::string(validUtf8(name) ? "'" + name + "'" : "name") +
                     ": not valid UTF-8 text (parameters, file names included, must be UTF-8)");
  const ParamSpec* s = find(name);
  if (!s) {
    std::string known;
    for (const auto& p : specs_) known += (known.empty() ? "" : ", ") + p.name;
    throw ParamError("unknown parameter '" + name + "'; this job takes: " + known);
  }
  const std::string where = "parameter '" + name + "'";
  switch (s->type) {
    case ParamType::Int: {
      try {
        size_t used = 0;
        long long v = std::stoll(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
        return v;
      } catch (const std::exception&) {
        throw ParamError(where + ": '" + text + "' is not an integer");
      }
    }
    case ParamType::Float: {
      try {
        size_t used = 0;
        double v = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
        return v;
      } catch (const std::exception&) {
        throw ParamError(where + ": '" + text + "' is not a number");
      }
    }
    case ParamType::Bool:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      throw ParamError(where + ": '" + text + "' is not true or false");
    default:
      return text;
  }
}

const Json& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw ParamError("job asked for parameter '" + name + "', which its schema lacks");
  return *it;
}

long long Params::getInt(const std::string& name) const {
  const Json& v = at(name);
  if (!v.is_number()) throw ParamError("parameter '" + name + "' is not a number");
  return v.get<long long>();
}

double Params::getFloat(const std::string& name) const {
  const Json& v = at(name);
  if (!v.is_number()) throw ParamError("parameter '" + name + "' is not a number");
  return v.get<double>();
}

bool Params::getBool(const std::string& name) const {
  const Json& v = at(name);
  if (!v.is_boolean()) throw ParamError("parameter '" + name + "' is not true or false");
  return v.get<bool>();
}

std::string Params::getString(const std::string& name) const {
  const Json& v = at(name);
  if (v.is_null()) return {};
  if (!v.is_string()) throw ParamError("parameter '" + name + "' is not text");
  return v.get<std::string>();
}

}  // namespace atomscope::core
