#pragma once
// Thin RAII wrappers over the SQLite C API, private to the store. Every failure throws StoreError
// carrying the database path and SQLite's message.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/store/project_store.h"

namespace atomscope::store::detail {

class Statement;

class Connection {
 public:
  Connection(const std::filesystem::path& path, int busyTimeoutMs);  // opens read-write, creates
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }

  void exec(const std::string& sql, const char* what);
  Statement prepare(std::string_view sql) const;
  [[noreturn]] void fail(const std::string& what, int rc) const;

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(const Connection& conn, std::string_view sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binding (1-based, as SQLite); text is copied unless bindStatic is used.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);  // NaN binds NULL
  Statement& bind(int index, std::string_view text);
  Statement& bindStatic(int index, std::string_view text);  // caller keeps text alive until reset
  Statement& bindNull(int index);

  bool step();  // true: a row is ready; false: done
  void run();   // step() to completion, ignoring rows
  void reset();

  bool isNull(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;  // NaN for NULL
  std::string text(int col) const;

 private:
  const Connection* conn_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE (writers) or BEGIN DEFERRED (readers wanting one snapshot over several
// statements); rolls back in the destructor unless committed.
class Transaction {
 public:
  enum class Kind { Read, Write };
  Transaction(Connection& conn, Kind kind);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  // Commits what was done so far and begins a new transaction of the same kind (long writes
  // release the lock now and then so other writers are not kept waiting past their timeout).
  void commitAndContinue();

 private:
  Connection& conn_;
  Kind kind_;
  bool open_ = false;
};

}  // namespace atomscope::store::detail
