#include <gtest/gtest.h>

#include <fstream>

#include "common/test_support.h"
#include "fixture.h"
#include "mcip/error.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_data.h"

namespace fs = std::filesystem;
using namespace mcip::train;

namespace {

// A small tokenizer trained once on the fixture corpus.
struct Env {
  const mcip::test::ScratchDir scratch{"trainer-data"};  // removed when the test program ends
  const fs::path dir = scratch.path;
  std::optional<mcip::tokenizer::SentencePiece> sp;
  DataConfig data;
  Env() {
    mcip::test::write_fixture_dataset(dir / "ds", 66, 22, 5);
    data.dir = dir / "ds";
    data.cache_dir = dir / "cache";
    std::ofstream corpus(dir / "corpus.txt");
    for (const auto& l : corpus_lines(data, "train", {{Rendering::Glaive, Rendering::JsonRpc, Rendering::Mci}, true}, 0, 1)) corpus << l << "\n";
    corpus.close();
    mcip::tokenizer::TrainOptions o;
    o.input_files = {(dir / "corpus.txt").string()};
    o.model_prefix = (dir / "sp").string();
    o.vocab_size = 400;
    mcip::tokenizer::SentencePiece::train(o);
    sp = mcip::tokenizer::SentencePiece::load((dir / "sp.model").string());
  }
};

Env& env() {
  static Env e;
  return e;
}

}  // namespace

TEST(TrainerData, TruncationKeepsRequestAndEndAndCutsToolListTail) {
  const auto& sp = *env().sp;
  std::string tools;
  for (int i = 0; i < 200; ++i) tools += "{\"name\": \"tool_" + std::to_string(i) + "\"}\n";
  const std::string chat = "USER: please book a table\n\n\nASSISTANT: <functioncall> book_table\n\n\nASSISTANT: done.";
  nlohmann::json v = {{"system", "SYSTEM: functions:\n" + tools}, {"chat", chat}};
  auto segs = segments_for(Rendering::Glaive, v, "x", 1);
  ASSERT_EQ(segs.size(), 2u);
  EncodedExample e = encode_segments(segs, sp, {128, 32, true});
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.ids.size(), 128u);
  EXPECT_EQ(e.ids.front(), sp.bos_id());
  EXPECT_EQ(e.ids.back(), sp.eos_id());
  std::vector<int> body(e.ids.begin() + 1, e.ids.end() - 1);
  const std::string text = sp.decode(body);
  EXPECT_NE(text.find("SYSTEM: functions:"), std::string::npos);  // head of the tool list
  EXPECT_EQ(text.find("tool_199"), std::string::npos);             // its tail is cut
  EXPECT_NE(text.find(chat), std::string::npos);                   // the whole conversation survives

  // A very long conversation: keep its start (the request) and its end (calls, answer).
  std::string long_chat = "USER: the request\n\n\n";
  for (int i = 0; i < 300; ++i) long_chat += "ASSISTANT: filler " + std::to_string(i) + "\n";
  long_chat += "ASSISTANT: <functioncall> final_call";
  EncodedExample m = encode_segments(segments_for(Rendering::Glaive, nlohmann::json{{"system", "S"}, {"chat", long_chat}}, "x", 1),
                                     sp, {96, 24, true});
  const std::string mt = sp.decode(std::vector<int>(m.ids.begin() + 1, m.ids.end() - 1));
  EXPECT_NE(mt.find("USER: the request"), std::string::npos);
  EXPECT_NE(mt.find("final_call"), std::string::npos);
  EXPECT_EQ(mt.find("filler 150\n"), std::string::npos);
}

TEST(TrainerData, GlaiveCallerLineSurvivesToolListCut) {
  const auto& sp = *env().sp;
  std::string tools;
  for (int i = 0; i < 200; ++i) tools += "{\"name\": \"tool_" + std::to_string(i) + "\"}\n";
  const std::string system = "SYSTEM: functions:\n" + tools + "\nCaller: Ana (id u-1, role admin; scopes: a:write)";
  auto segs = segments_for(Rendering::Glaive, nlohmann::json{{"system", system}, {"chat", "USER: hi\n\n\nASSISTANT: ok"}}, "x", 1);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[1].policy, CutPolicy::Keep);
  EncodedExample e = encode_segments(segs, sp, {96, 24, true});
  const std::string text = sp.decode(std::vector<int>(e.ids.begin() + 1, e.ids.end() - 1));
  EXPECT_NE(text.find("Caller: Ana (id u-1, role admin; scopes: a:write)"), std::string::npos) << text;
  EXPECT_EQ(text.find("tool_199"), std::string::npos);
  // The plain-string form splits the same way.
  auto flat = segments_for(Rendering::Glaive, nlohmann::json(system + "\n\n\nUSER: hi\n\n\nASSISTANT: ok"), "x", 1);
  ASSERT_EQ(flat.size(), 3u);
  EXPECT_EQ(flat[1].policy, CutPolicy::Keep);
}

TEST(TrainerData, GlaiveSignaturesPutCalledFunctionsFirst) {
  const auto& sp = *env().sp;
  std::string system = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n";
  for (int i = 0; i < 40; ++i)
    system += "{\n    \"name\": \"tool_" + std::to_string(i) + "\",\n    \"description\": \"Does thing " + std::to_string(i) +
              " {with braces} and \\\"quotes\\\".\",\n    \"parameters\": {\"type\": \"object\", \"properties\": "
              "{\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}\n}\n";
  system += "\nCaller: Ana (id u-1, role user; scopes: x:read)";
  const std::string chat =
      "USER: do it\n\n\nASSISTANT: <functioncall> {\"name\": \"tool_37\", \"arguments\": '{\"a\": \"1\"}'} <|endoftext|>\n\n\n"
      "FUNCTION RESPONSE: {}\n\n\nASSISTANT: <functioncall> {\"name\": \"tool_5\", \"arguments\": '{}'} <|endoftext|>\n\n\n"
      "ASSISTANT: <functioncall> {\"name\": \"tool_37\", \"arguments\": '{}'} <|endoftext|>\n\n\nASSISTANT: done.";
  const nlohmann::json v = {{"system", system}, {"chat", chat}};
  auto segs = segments_for(Rendering::Glaive, v, "x", 1, TextView{ToolView::Signatures, 0});
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[0].text,
            "tool_37(a, b?): Does thing 37 {with braces} and \"quotes\".\n"
            "tool_5(a, b?): Does thing 5 {with braces} and \"quotes\".\n");
  EXPECT_EQ(segs[1].text.rfind("tool_0(a, b?): Does thing 0", 0), 0u);
  EXPECT_EQ(segs[1].text.find("tool_37("), std::string::npos);
  EXPECT_EQ(segs[2].policy, CutPolicy::Keep);
  EXPECT_EQ(segs[3].text, chat);
  // Under a tight budget the called functions' definitions survive and the others lose their tail.
  EncodedExample e = encode_segments(segs, sp, {256, 24, true});
  const std::string text = sp.decode(std::vector<int>(e.ids.begin() + 1, e.ids.end() - 1));
  EXPECT_NE(text.find("tool_5(a, b?)"), std::string::npos) << text;
  EXPECT_EQ(text.find("tool_39("), std::string::npos);
  EXPECT_NE(text.find("Caller: Ana"), std::string::npos);
  // The flat string form gives the same segments; text that is not JSON definitions stays verbatim.
  auto flat = segments_for(Rendering::Glaive, nlohmann::json(system + "\n\n\n" + chat), "x", 1, TextView{ToolView::Signatures, 0});
  EXPECT_EQ(flat[0].text, segs[0].text);
  auto odd = segments_for(Rendering::Glaive, nlohmann::json{{"system", "SYSTEM: tools {not json"}, {"chat", chat}}, "x", 1,
                          TextView{ToolView::Signatures, 0});
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0].text, "SYSTEM: tools {not json\n");
}

TEST(TrainerData, GuardianPairKeepsTemplateAndAnswer) {
  const auto& sp = *env().sp;
  std::string chat;
  for (int i = 0; i < 200; ++i) chat += "USER: line " + std::to_string(i) + "\n";
  const std::string prompt = "###Definition:\nD\n\n###Chat\n" + chat + "\n\n###Question:\nWhich?";
  EncodedExample e = encode_segments(guardian_segments(prompt, "Rationale: r\nChoice: B. X"), sp, {160, 16, true});
  ASSERT_GT(e.answer_start, 0);
  const std::string answer = sp.decode(std::vector<int>(e.ids.begin() + e.answer_start, e.ids.end() - 1));
  EXPECT_EQ(answer, "Rationale: r\nChoice: B. X");
  const std::string all = sp.decode(std::vector<int>(e.ids.begin() + 1, e.ids.end() - 1));
  EXPECT_NE(all.find("###Definition:"), std::string::npos);
  EXPECT_NE(all.find("###Question:\nWhich?"), std::string::npos);
  EXPECT_THROW(encode_segments(guardian_segments(prompt, std::string(2000, 'x')), sp, {160, 16, true}), mcip::InputError);
}

TEST(TrainerData, JsonRpcSplitsHandshakeFromCalls) {
  nlohmann::json msgs = nlohmann::json::array();
  msgs.push_back({{"message", {{"method", "tools/list"}}}});
  msgs.push_back({{"message", {{"method", "tools/call"}}}});
  auto segs = segments_for(Rendering::JsonRpc, msgs, "x", 1);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].policy, CutPolicy::CutTail);
  EXPECT_NE(segs[1].text.find("tools/call"), std::string::npos);
  EXPECT_THROW(segments_for(Rendering::JsonRpc, nlohmann::json("not json"), "x", 1), mcip::InputError);
  // The string form gives the same text as the array.
  EXPECT_EQ(segments_for(Rendering::JsonRpc, nlohmann::json(msgs.dump(2)), "x", 1)[1].text, segs[1].text);
}

nlohmann::json mci_flow(const std::string& sender, const std::string& recipient, const std::string& subject,
                        const std::string& type, const std::string& tp, const std::string& content) {
  return {{"sender", sender}, {"recipient", recipient}, {"subject", subject}, {"information_type", type},
          {"transmission_principle", tp}, {"content", content}};
}

// An identity-injection trace as mcip-synth writes it: the call runs as another principal.
nlohmann::json identity_trace() {
  const std::string client = "client (for u-4, role user)", root = "client (for root-1, role service)";
  nlohmann::json f = nlohmann::json::array();
  f.push_back(mci_flow("server crm", client, "server crm", "function list", "transparency", "get_contact, admin_delete"));
  f.push_back(mci_flow("user u-4", client, "caller u-4", "query", "consent", "delete\ncontact 7"));
  f.push_back(mci_flow(root, "server crm", "caller u-4", "function request", "authorization", "admin_delete(id=7)"));
  f.push_back(mci_flow("server crm", root, "caller u-4", "function return", "service provision", "{\"deleted\":true,\"note\":\"é long\"}"));
  f.push_back(mci_flow(client, "user u-4", "contact 7", "response", "transparency", "Done."));
  return f;
}

TEST(TrainerData, MciFlowsBecomeShortLinesNamingEachFactOnce) {
  auto segs = segments_for(Rendering::Mci, identity_trace(), "f.jsonl", 3);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].text, "caller u-4 role user\n");
  EXPECT_EQ(segs[0].policy, CutPolicy::Keep);
  EXPECT_EQ(segs[1].text, "tools crm > client (transparency): get_contact, admin_delete\n");
  EXPECT_EQ(segs[1].policy, CutPolicy::CutTail);
  // The call made as someone else keeps that identity; the usual subject (the caller) is left
  // out, an unusual one ("contact 7") is written; newlines inside content become spaces.
  EXPECT_EQ(segs[2].text,
            "query user > client (consent): delete contact 7\n"
            "call client[root-1 service] > crm (authorization): admin_delete(id=7)\n"
            "result crm > client[root-1 service] (service provision): {\"deleted\":true,\"note\":\"é long\"}\n"
            "answer client > user (transparency) re contact 7: Done.\n");
  EXPECT_EQ(segs[2].policy, CutPolicy::CutMiddle);
}

TEST(TrainerData, MciResultsAreCutAtUtf8Boundaries) {
  TextView view;
  view.max_result_chars = 25;  // ends inside the two-byte 'é' (bytes 24-25): cut before it
  const auto text = segments_for(Rendering::Mci, identity_trace(), "f.jsonl", 3, view)[2].text;
  EXPECT_NE(text.find("(service provision): {\"deleted\":true,\"note\":\"...\n"), std::string::npos) << text;
  view.max_result_chars = 26;
  EXPECT_NE(segments_for(Rendering::Mci, identity_trace(), "f.jsonl", 3, view)[2].text.find("\"é..."), std::string::npos);
}

TEST(TrainerData, MciTextLogReadsLikeTheFlowList) {
  // mcip-synth's text form of the same flows gives the same model input.
  std::string log;
  for (const auto& f : identity_trace()) {
    std::string content = f["content"];
    for (char& c : content)
      if (c == '\n') c = ' ';
    log += f["sender"].get<std::string>() + " sends " + f["information_type"].get<std::string>() + " about " +
           f["subject"].get<std::string>() + " to " + f["recipient"].get<std::string>() + " under " +
           f["transmission_principle"].get<std::string>() + ": " + content + "\n";
  }
  const auto from_list = segments_for(Rendering::Mci, identity_trace(), "f.jsonl", 3);
  const auto from_text = segments_for(Rendering::Mci, nlohmann::json(log), "f.jsonl", 3);
  ASSERT_EQ(from_text.size(), from_list.size());
  for (size_t i = 0; i < from_list.size(); ++i) EXPECT_EQ(from_text[i].text, from_list[i].text);
  // Text that is not a flow log is used as written.
  const auto other = segments_for(Rendering::Mci, nlohmann::json("just a note\n"), "f.jsonl", 3);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].text, "just a note\n");
}

TEST(TrainerData, MciBadFlowNamesTheField) {
  auto flows = identity_trace();
  flows[2].erase("content");
  try {
    segments_for(Rendering::Mci, flows, "f.jsonl", 3);
    FAIL();
  } catch (const mcip::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("f.jsonl:3: mci[2].content"), std::string::npos) << e.what();
  }
  EXPECT_THROW(segments_for(Rendering::Mci, nlohmann::json(42), "f.jsonl", 3), mcip::InputError);
}

TEST(TrainerData, LoadSplitCachesAndIsIndependentOfThreads) {
  auto& e = env();
  const auto tax = mcip::taxonomy::Taxonomy::embedded();
  fs::remove_all(e.data.cache_dir);
  TokenizedSplit a = load_split(e.data, "train", Objective::Classify, 128, 0, *e.sp, tax, 1);
  EXPECT_FALSE(a.from_cache);
  EXPECT_EQ(a.examples.size(), 66u);
  EXPECT_EQ(a.class_counts[0], 6);
  TokenizedSplit b = load_split(e.data, "train", Objective::Classify, 128, 0, *e.sp, tax, 4);
  EXPECT_TRUE(b.from_cache);
  fs::remove_all(e.data.cache_dir);
  TokenizedSplit c = load_split(e.data, "train", Objective::Classify, 128, 0, *e.sp, tax, 4);
  ASSERT_EQ(a.examples.size(), c.examples.size());
  for (size_t i = 0; i < a.examples.size(); ++i) {
    EXPECT_EQ(a.examples[i].ids, b.examples[i].ids);
    EXPECT_EQ(a.examples[i].ids, c.examples[i].ids);
    EXPECT_EQ(a.examples[i].label, c.examples[i].label);
  }
  // Other settings get another cache entry.
  TokenizedSplit d = load_split(e.data, "train", Objective::Classify, 64, 0, *e.sp, tax, 1);
  EXPECT_FALSE(d.from_cache);
  // A corrupted entry is rebuilt, not trusted.
  for (const auto& f : fs::directory_iterator(e.data.cache_dir)) std::ofstream(f.path(), std::ios::trunc) << "garbage";
  TokenizedSplit g = load_split(e.data, "train", Objective::Classify, 128, 0, *e.sp, tax, 1);
  EXPECT_FALSE(g.from_cache);
  EXPECT_EQ(g.examples[3].ids, a.examples[3].ids);
}

TEST(TrainerData, BatchesAreDeterministicBucketedAndCoverTheEpoch) {
  auto& e = env();
  const auto tax = mcip::taxonomy::Taxonomy::embedded();
  TokenizedSplit s = load_split(e.data, "train", Objective::Classify, 128, 0, *e.sp, tax, 1);
  auto b1 = epoch_batches(s, 8, 2, 42, 0), b2 = epoch_batches(s, 8, 2, 42, 0), b3 = epoch_batches(s, 8, 2, 42, 1);
  EXPECT_EQ(b1, b2);
  EXPECT_NE(b1, b3);
  EXPECT_EQ(b1.size(), 66u / 8);
  std::set<std::int64_t> seen;
  for (const auto& b : b1) {
    EXPECT_EQ(b.size(), 8u);
    for (auto i : b) EXPECT_TRUE(seen.insert(i).second);
  }
  const auto w = class_weights({10, 30, 0}, ClassWeighting::InverseFrequency);
  EXPECT_NEAR(w[0], 1.5, 1e-12);
  EXPECT_NEAR(w[1], 0.5, 1e-12);
  EXPECT_EQ(w[2], 0.0);
}
