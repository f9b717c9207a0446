#include "common/names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kcred {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Returns an empty string when `label` is a valid DNS-1123 label, else what is wrong with it.
std::string LabelProblem(absl::string_view label) {
  if (label.empty()) return "must not be empty";
  if (label.size() > 63)
    return absl::StrCat("must be no more than 63 characters (has ", label.size(), ")");
  for (char c : label) {
    if (!IsAlnum(c) && c != '-') {
      return "must consist of lower case alphanumeric characters or '-'";
    }
  }
  if (!IsAlnum(label.front()) || !IsAlnum(label.back())) {
    return "must start and end with an alphanumeric character";
  }
  return "";
}

}  // namespace

absl::Status ValidateDns1123Label(absl::string_view value, absl::string_view what) {
  std::string problem = LabelProblem(value);
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " \"", value,
                                                 "\" is not a valid DNS-1123 label: it ", problem,
                                                 " (e.g. \"my-name\" or \"123-abc\")"));
}

absl::Status ValidateDns1123Subdomain(absl::string_view value, absl::string_view what) {
  std::string problem;
  if (value.empty()) {
    problem = "must not be empty";
  } else if (value.size() > 253) {
    problem = absl::StrCat("must be no more than 253 characters (has ", value.size(), ")");
  } else {
    for (absl::string_view label : absl::StrSplit(value, '.')) {
      problem = LabelProblem(label);
      if (!problem.empty()) {
        problem =
            absl::StrCat("must consist of lower case alphanumeric characters, '-' or '.', and ",
                         "each dot-separated part ", problem);
        break;
      }
    }
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", value, "\" is not a valid DNS-1123 subdomain: it ", problem,
                   " (e.g. \"example.com\" or \"my-name\")"));
}

absl::Status ValidatePathSegmentName(absl::string_view value, absl::string_view what) {
  std::string problem;
  if (value.empty()) {
    problem = "must not be empty";
  } else if (value == "." || value == "..") {
    problem = "may not be '.' or '..'";
  } else if (value.find('/') != absl::string_view::npos) {
    problem = "may not contain '/'";
  } else if (value.find('%') != absl::string_view::npos) {
    problem = "may not contain '%'";
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", value, "\" is not a valid name: it ", problem));
}

}  // namespace kcred
