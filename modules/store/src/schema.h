#pragma once
#include <string>
#include <vector>

#include "sqlite_db.h"

namespace atomscope::store::detail {

struct Migration {
  int version;              // the schema version this migration produces
  const char* description;  // one line, for the migration warning
  const char* sql;
};

// Ordered, oldest first; the last one's version is the current schema version.
const std::vector<Migration>& migrations();
int currentSchemaVersion();

// Version stored in the database: 0 for an empty database. Throws StoreError for a database that
// holds tables but no schema_version table (not an Atomscope store).
int storedSchemaVersion(Connection& conn);

// Applies every pending migration in one write transaction; returns the version found before.
// Throws StoreError when the stored version is newer than currentSchemaVersion().
int migrate(Connection& conn);

}  // namespace atomscope::store::detail
