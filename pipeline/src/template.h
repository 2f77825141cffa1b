// "{name}" placeholder expansion for stage command lines and publish paths.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mcip::pipeline {

using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

// Replaces every {name} by lookup(name); "{{" and "}}" stand for literal braces. Throws
// std::invalid_argument naming the placeholder when lookup has no value for it.
std::string expand(const std::string& text, const Lookup& lookup);

// The placeholder names used in text, in order of appearance.
std::vector<std::string> placeholders(const std::string& text);

}  // namespace mcip::pipeline
