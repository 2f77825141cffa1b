#include <gtest/gtest.h>

#include "mcip/command_line.h"
#include "mcip/error.h"

namespace mcip::mcp {
namespace {

using Words = std::vector<std::string>;

TEST(CommandLine, SplitsOnWhitespace) {
  EXPECT_EQ(split_command_line("  node  dist/index.js\t/tmp "), (Words{"node", "dist/index.js", "/tmp"}));
}

TEST(CommandLine, HonoursQuotesAndEscapes) {
  EXPECT_EQ(split_command_line(R"(node 'my dir/x.js' "a \"b\" \\ c" d\ e '')"),
            (Words{"node", "my dir/x.js", R"(a "b" \ c)", "d e", ""}));
  EXPECT_EQ(split_command_line(R"(echo "$HOME" 'it''s')"), (Words{"echo", "$HOME", "its"}));
  EXPECT_EQ(split_command_line(R"(a"b"'c'd)"), (Words{"abcd"}));
}

TEST(CommandLine, RejectsMalformedLines) {
  EXPECT_THROW(split_command_line("node 'x.js"), InputError);
  EXPECT_THROW(split_command_line("node \"x.js"), InputError);
  EXPECT_THROW(split_command_line("node x\\"), InputError);
  EXPECT_THROW(split_command_line("   "), InputError);
  try {
    split_command_line("node 'x.js");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--server");
    EXPECT_NE(std::string(e.what()).find("unterminated single quote"), std::string::npos);
  }
}

TEST(CommandLine, JoinRoundTrips) {
  const Words argv = {"node", "a b", "it's", "", "$X", "plain/path-1.js", "--k=v"};
  EXPECT_EQ(split_command_line(join_command_line(argv)), argv);
  EXPECT_EQ(join_command_line({"node", "x.js"}), "node x.js");
}

}  // namespace
}  // namespace mcip::mcp
