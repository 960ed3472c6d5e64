#include "sqlite_db.h"

#include <cmath>
#include <limits>

namespace atomscope::store {

namespace {
std::string composeMessage(const std::filesystem::path& db, const std::string& what, const std::string& sqliteMessage) {
  std::string message = "project store '" + db.string() + "': " + what;
  if (!sqliteMessage.empty()) message += ": " + sqliteMessage;
  return message;
}
}  // namespace

StoreError::StoreError(std::filesystem::path databasePath, const std::string& what, std::string sqliteMessage,
                       int sqliteCode)
    : core::Error(composeMessage(databasePath, what, sqliteMessage)),
      databasePath_(std::move(databasePath)),
      sqliteMessage_(std::move(sqliteMessage)),
      sqliteCode_(sqliteCode) {}

}  // namespace atomscope::store

namespace atomscope::store::detail {

Connection::Connection(const std::filesystem::path& path, int busyTimeoutMs) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.string().c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StoreError(path, "cannot open the database file", message, rc & 0xff);
  }
  sqlite3_extended_result_codes(db_, 0);
  sqlite3_busy_timeout(db_, busyTimeoutMs);
}

Connection::~Connection() {
  if (db_) sqlite3_close_v2(db_);
}

void Connection::fail(const std::string& what, int rc) const {
  std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  throw StoreError(path_, what, message, rc & 0xff);
}

void Connection::exec(const std::string& sql, const char* what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw StoreError(path_, what, message, rc & 0xff);
  }
}

Statement Connection::prepare(std::string_view sql) const { return Statement(*this, sql); }

Statement::Statement(const Connection& conn, std::string_view sql) : conn_(&conn) {
  const int rc = sqlite3_prepare_v2(conn.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) conn.fail("cannot prepare \"" + std::string(sql.substr(0, 60)) + "\"", rc);
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : conn_(other.conn_), stmt_(other.stmt_) { other.stmt_ = nullptr; }

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) conn_->fail("cannot bind a parameter", rc);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int rc = std::isnan(value) ? sqlite3_bind_null(stmt_, index) : sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) conn_->fail("cannot bind a parameter", rc);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) conn_->fail("cannot bind a parameter", rc);
  return *this;
}

Statement& Statement::bindStatic(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) conn_->fail("cannot bind a parameter", rc);
  return *this;
}

Statement& Statement::bindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) conn_->fail("cannot bind a parameter", rc);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  std::string head = sql ? std::string(sql).substr(0, 60) : std::string();
  sqlite3_reset(stmt_);
  conn_->fail("statement \"" + head + "\" failed", rc);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::real(int col) const {
  if (isNull(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, col);
}
std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!p) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

Transaction::Transaction(Connection& conn, Kind kind) : conn_(conn), kind_(kind) {
  conn_.exec(kind == Kind::Write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", "cannot begin a transaction");
  open_ = true;
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  conn_.exec("COMMIT", "cannot commit a transaction");
  open_ = false;
}

void Transaction::commitAndContinue() {
  commit();
  conn_.exec(kind_ == Kind::Write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", "cannot begin a transaction");
  open_ = true;
}

}  // namespace atomscope::store::detail
