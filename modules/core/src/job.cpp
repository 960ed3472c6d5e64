#include "atomscope/core/job.h"

#include "atomscope/core/error.h"

namespace atomscope::core {

JobRegistry& JobRegistry::global() {
  static JobRegistry registry;
  return registry;
}

void JobRegistry::add(JobFactory factory) {
  if (!factory) throw Error("JobRegistry::add: empty factory");
  const std::string name = factory()->info().name;
  if (name.empty()) throw Error("a job declares an empty name");
  std::lock_guard lock(mutex_);
  if (factories_.count(name)) throw Error("job '" + name + "' is registered twice");
  factories_[name] = std::move(factory);
}

bool JobRegistry::contains(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return factories_.count(name) > 0;
}

std::unique_ptr<Job> JobRegistry::create(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [k, v] : factories_) known += (known.empty() ? "" : ", ") + k;
    throw Error("no job named '" + name + "'; known jobs: " + (known.empty() ? "(none)" : known));
  }
  return it->second();
}

std::vector<JobInfo> JobRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<JobInfo> out;
  for (const auto& [name, factory] : factories_) out.push_back(factory()->info());
  return out;
}

}  // namespace atomscope::core
