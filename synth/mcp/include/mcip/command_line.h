// Splits a `--server "<command line>"` string into argv the way a POSIX shell would for
// plain words: whitespace separates, '...' is literal, "..." allows \" \\ \$ \` escapes,
// a backslash outside quotes escapes the next character. No expansion of $VAR, globs or
// pipes: the server is exec'd directly, never through /bin/sh.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mcip::mcp {

// Throws InputError (field `option`) on an unterminated quote, a trailing backslash or an
// empty command.
std::vector<std::string> split_command_line(std::string_view line, const std::string& option = "--server");

// Quotes argv back into one line that split_command_line() parses to the same words.
std::string join_command_line(const std::vector<std::string>& argv);

}  // namespace mcip::mcp
