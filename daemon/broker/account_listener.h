#pragma once
// The AccountListener seam: who needs to hear that an account changed through the API (the
// rotation scheduler, and watchers of accounts). The gRPC service calls it after each successful
// ProvisionAccount, RotateToken and DeleteAccount.

#include "proto/kcred/v1/broker.pb.h"

namespace kcred::broker {

class AccountListener {
 public:
  virtual ~AccountListener() = default;
  // The account as it is now (spec and status; never a token). Thread-safe; must not block long.
  virtual void AccountChanged(const v1::Account& account) = 0;
  // The account is gone. Thread-safe; must not block long.
  virtual void AccountDeleted(const v1::AccountRef& ref) = 0;
};

}  // namespace kcred::broker
