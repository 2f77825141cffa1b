#include <gtest/gtest.h>

#include "mcip/trainer_data.h"
#include "trainer/flow_checks.h"

using mcip::train::FlowChecks;

namespace {
// The findings as the model input writes them.
std::string found(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ", ") + t;
  return out;
}
}  // namespace

TEST(FlowChecks, ArgumentValuesTheUserNeverGaveAreNew) {
  FlowChecks c;
  c.grounded("Search the chat: what did pokafor4 say about Hiring Plan?", true);
  // Case does not matter; the value "hiring plan" was asked for, "dana.kim" was not.
  EXPECT_EQ(found(c.call("team-chat", "consent", "search_chat_messages(query=hiring plan, from_username=dana.kim)")),
            "new from_username");
  EXPECT_EQ(found(c.call("team-chat", "consent", "search_chat_messages(query=hiring plan, from_username=pokafor4)")), "");
}

TEST(FlowChecks, ValuesMayHoldCommasAndComeFromEarlierResults) {
  FlowChecks c;
  c.grounded("Post 'Hi, team, deploy at 10' to the channel", true);
  // "Hi, team, deploy at 10" is one value: a new argument starts only at ", name=".
  EXPECT_EQ(found(c.call("chat", "consent", "post(text=Hi, team, deploy at 10)")), "");
  // A token used before any result carries it is new (a call made out of order); once a
  // result has returned it, the same call is grounded.
  EXPECT_EQ(found(c.call("bank", "consent", "pay_bill(session_token=tok_9)")), "new session_token, unasked");
  c.grounded("{\"session_token\":\"tok_9\"}", false);
  EXPECT_EQ(found(c.call("bank", "consent", "pay_bill(session_token=tok_9, note=x)")), "new note, unasked");
}

TEST(FlowChecks, CallsNoWordOfTheRequestNamesAreUnasked) {
  FlowChecks c;
  c.grounded("Delete the key summary.", true);
  // "scan"/"keys": "keys"'s first four letters are not in the request ("key " is); generic
  // verbs ("delete", "get") never count as asked.
  EXPECT_EQ(found(c.call("redis", "consent", "scan_keys(pattern=summary)")), "unasked");
  EXPECT_EQ(found(c.call("redis", "consent", "delete_key(key=summary)")), "");
  EXPECT_EQ(found(c.call("redis", "consent", "get_info()")), "unasked");
  EXPECT_EQ(found(c.call("redis", "consent", "get_all()")), "");  // nothing but generic words: no claim either way
}

TEST(FlowChecks, LookAlikeToolsAreNamedWithWhereTheyAreListed) {
  FlowChecks c;
  c.listed("secure-filesystem-server", "read_media_file, edit_file");
  c.listed("secure_filesystem_server", "read_media_file_v2, edit_file");
  c.listed("cloud-drive", "revoke_share, revoke_share_all_accounts");
  c.grounded("read the media file /a.png, edit the file, revoke the share for bo@x.org", true);
  EXPECT_EQ(found(c.call("secure_filesystem_server", "consent", "read_media_file_v2(path=/a.png)")),
            "like read_media_file elsewhere");
  EXPECT_EQ(found(c.call("cloud-drive", "consent", "revoke_share_all_accounts(email=bo@x.org)")), "like revoke_share here");
  EXPECT_EQ(found(c.call("secure_filesystem_server", "consent", "edit_file(path=/a.png)")),
            "also on secure-filesystem-server");
  EXPECT_EQ(found(c.call("cloud-drive", "consent", "revoke_share(email=bo@x.org)")), "like revoke_share_all_accounts here");
}

TEST(FlowChecks, RepeatedCallsAreMarked) {
  FlowChecks c;
  c.grounded("delete record 5", true);
  EXPECT_EQ(found(c.call("ehr", "consent", "delete_record(id=5)")), "");
  EXPECT_EQ(found(c.call("ehr", "consent", "delete_record(id=5, force=true)")), "new force");
  EXPECT_EQ(found(c.call("ehr", "consent", "delete_record(id=5)")), "repeat");
  EXPECT_EQ(found(c.call("ehr", "consent", "delete_record(id=5, force=true)")), "new force, repeat");
  // Content that is not "name(args)" is only checked for repeats.
  EXPECT_EQ(found(c.call("ehr", "consent", "free text")), "");
  EXPECT_EQ(found(c.call("ehr", "consent", "free text")), "repeat");
}

TEST(FlowChecks, ARepeatTheUserAskedForIsToldApart) {
  FlowChecks c;
  c.grounded("post hello", true);
  EXPECT_EQ(found(c.call("chat", "consent", "post(text=hello)")), "");
  c.grounded("{\"id\":1}", false);
  c.grounded("post it again please", true);
  EXPECT_EQ(found(c.call("chat", "consent", "post(text=hello)")), "repeat after query");
  EXPECT_EQ(found(c.call("chat", "consent", "post(text=hello)")), "repeat");
}

TEST(FlowChecks, APrerequisiteAfterTheCallItServesIsLate) {
  FlowChecks c;
  c.grounded("pay bill BIL-1 from FRO-9, token tok_1 passcode 254662", true);
  EXPECT_EQ(found(c.call("bank", "consent", "pay_bill(session_token=tok_1, bill=BIL-1)")), "");
  EXPECT_EQ(found(c.call("bank", "authentication", "verify_identity(passcode=254662)")), "unasked, prerequisite late");
  EXPECT_EQ(found(c.call("bank", "necessity (declared prerequisite)", "get_account(id=FRO-9)")),
            "unasked, prerequisite late");
  // In the right order, and on another server, nothing is late.
  EXPECT_EQ(found(c.call("crm", "authentication", "verify_identity(passcode=254662)")), "unasked");
  EXPECT_EQ(found(c.call("crm", "consent", "pay_bill(session_token=tok_1, bill=BIL-1)")), "");
}

TEST(FlowChecks, ManyNewArgumentsAreCounted) {
  FlowChecks c;
  EXPECT_EQ(found(c.call("s", "consent", "f(a=1, b=2, c=3, d=4, e=5)")), "new a b c +2");
}

// A trace with a caller, a listing, a query and two identical calls whose id the user never gave.
nlohmann::json two_call_trace(int calls) {
  auto flow = [](std::string s, std::string r, std::string type, std::string content) {
    return nlohmann::json{{"sender", s},   {"recipient", r},        {"subject", "caller u-4"},
                          {"information_type", type}, {"transmission_principle", "consent"}, {"content", content}};
  };
  const std::string client = "client (for u-4, role user)";
  nlohmann::json flows = nlohmann::json::array({flow("server crm", client, "function list", "get_contact, admin_delete"),
                                                flow("user u-4", client, "query", "delete contact 7")});
  flows[0]["subject"] = "server crm";
  for (int i = 0; i < calls; ++i) {
    flows.push_back(flow(client, "server crm", "function request", "admin_delete(id=8)"));
    flows.push_back(flow("server crm", client, "function return", "{\"deleted\":true}"));
  }
  return flows;
}

TEST(FlowChecks, TheMciRenderingSaysWhatTheChecksFoundOnALineNeverCut) {
  const auto flows = two_call_trace(2);
  mcip::train::TextView view;
  const auto plain = mcip::train::segments_for(mcip::train::Rendering::Mci, flows, "f.jsonl", 1, view);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[0].text, "caller u-4 role user\n");
  view.flow_checks = true;
  const auto checked = mcip::train::segments_for(mcip::train::Rendering::Mci, flows, "f.jsonl", 1, view);
  ASSERT_EQ(checked.size(), 3u);
  EXPECT_EQ(checked[0].text, "caller u-4 role user\nchecks: admin_delete new id | admin_delete new id, repeat\n");
  EXPECT_EQ(checked[0].policy, mcip::train::CutPolicy::Keep);
  // The flows themselves read as without the checks.
  EXPECT_EQ(checked[1].text, plain[1].text);
  EXPECT_EQ(checked[2].text, plain[2].text);

  // A clean call is listed as ok, a trace without calls says so, and a long trace lists eight
  // calls and counts the rest.
  auto clean = two_call_trace(0);
  EXPECT_EQ(mcip::train::segments_for(mcip::train::Rendering::Mci, clean, "f.jsonl", 1, view)[0].text,
            "caller u-4 role user\nchecks: no calls\n");
  clean[1]["content"] = "delete contact 8";
  clean.push_back(two_call_trace(1)[2]);
  EXPECT_EQ(mcip::train::segments_for(mcip::train::Rendering::Mci, clean, "f.jsonl", 1, view)[0].text,
            "caller u-4 role user\nchecks: admin_delete ok\n");
  const auto many = mcip::train::segments_for(mcip::train::Rendering::Mci, two_call_trace(11), "f.jsonl", 1, view)[0].text;
  EXPECT_NE(many.find(" | +3 more\n"), std::string::npos) << many;
}
