#pragma once
// Status helpers: early-return macros in the style of Abseil's internal ones, and the one place
// where absl::Status becomes grpc::Status lives in daemon/server.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KCRED_STATUS_CONCAT_INNER(a, b) a##b
#define KCRED_STATUS_CONCAT(a, b) KCRED_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define KCRED_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status kcred_status_ = (expr);         \
    if (!kcred_status_.ok()) return kcred_status_; \
  } while (false)

// `lhs` (a declaration or an lvalue) = the value of StatusOr `expr`, or return its status.
#define KCRED_ASSIGN_OR_RETURN(lhs, expr) \
  KCRED_ASSIGN_OR_RETURN_IMPL(KCRED_STATUS_CONCAT(kcred_statusor_, __LINE__), lhs, expr)
#define KCRED_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
