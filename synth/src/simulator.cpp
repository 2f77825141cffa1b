#include "mcip/synth/simulator.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include <fmt/format.h>

#include "mcip/synth/json_text.h"

namespace mcip::synth {
namespace {

std::string humanize(const std::string& key) {
  std::string s = key;
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Lower-cases the first letter after a prefix such as "Please " unless it starts a word in capitals.
std::string join_prefix(const std::string& prefix, const std::string& body) {
  if (prefix.empty() || body.empty()) return prefix + body;
  if ((body.rfind("Please", 0) == 0 || body.rfind("please", 0) == 0) && prefix.rfind("Please", 0) == 0) return body;
  std::string b = body;
  if (b.size() > 1 && std::isupper(static_cast<unsigned char>(b[0])) && std::islower(static_cast<unsigned char>(b[1])) &&
      !(b[0] == 'I' && b[1] == ' '))
    b[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(b[0])));
  return prefix + b;
}

// Multi-line text as one line of at most ~160 characters, for quoting in an answer.
std::string one_line(const std::string& text) {
  std::string out;
  for (char ch : text) {
    const bool space = ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 160) {
    size_t cut = out.rfind(' ', 157);
    if (cut == std::string::npos || cut < 80) cut = 157;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    out = out.substr(0, cut) + "...";
  }
  return out;
}

}  // namespace

bool is_token_name(const std::string& name) {
  return name.find("token") != std::string::npos || name.find("session") != std::string::npos ||
         name.find("nonce") != std::string::npos || name == "otp";
}

std::string Simulator::request_text(const Tool& tool, int query, const ojson& slots, Rng& rng) const {
  const auto& ph = world_.phrasing();
  std::string body;
  if (query >= 0) {
    std::vector<std::pair<std::string, std::string>> values;
    for (auto it = slots.begin(); it != slots.end(); ++it) values.emplace_back(it.key(), plain_text(it.value()));
    body = fill(tool.queries[static_cast<size_t>(query)].text, values);
  } else {
    std::string args;
    for (auto it = slots.begin(); it != slots.end(); ++it)
      args += (args.empty() ? "" : ", ") + humanize(it.key()) + " " + plain_text(it.value());
    if (args.empty()) args = "the defaults";
    std::string title = tool.title.empty() ? humanize(tool.name) : tool.title;
    std::string lower = title;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    body = fill(rng.pick(ph.fallback_queries), {{"title", title}, {"title_lower", lower}, {"args", args}});
  }
  return body;
}

ojson Simulator::arguments_for(const Tool& tool, const ojson& stated, const std::vector<Call>& before, const Identity&,
                               Rng& rng) const {
  ojson args = ojson::object();
  const ojson& props = tool.input_schema.contains("properties") ? tool.input_schema["properties"] : ojson::object();
  for (const auto& prop : tool.properties) {
    if (stated.contains(prop)) {
      args[prop] = stated[prop];
      continue;
    }
    // A value the user stated under a more specific name ("from_account_id" for "account_id").
    bool done = false;
    for (auto it = stated.begin(); it != stated.end() && !done; ++it) {
      const std::string& k = it.key();
      if ((k.size() > prop.size() && k.compare(k.size() - prop.size() - 1, std::string::npos, "_" + prop) == 0) ||
          (prop.size() > k.size() && prop.compare(prop.size() - k.size() - 1, std::string::npos, "_" + k) == 0)) {
        args[prop] = it.value();
        done = true;
      }
    }
    if (done) continue;
    // Handed over from an earlier result: tokens, ids, the latest value wins.
    for (auto c = before.rbegin(); c != before.rend() && !done; ++c)
      if (!c->is_error && c->structured.is_object() && c->structured.contains(prop) && !c->structured[prop].is_null() &&
          c->server == tool.server) {
        args[prop] = c->structured[prop];
        done = true;
      }
    if (done) continue;
    // Or listed in one: a search result's first item ("offers": [{"offer_id": ...}]) is the one booked.
    for (auto c = before.rbegin(); c != before.rend() && !done; ++c)
      if (!c->is_error && c->structured.is_object() && c->server == tool.server)
        for (auto f = c->structured.begin(); f != c->structured.end() && !done; ++f)
          if (f->is_array() && !f->empty() && (*f)[0].is_object() && (*f)[0].contains(prop) && !(*f)[0][prop].is_null()) {
            args[prop] = (*f)[0][prop];
            done = true;
          }
    if (done) continue;
    const bool required = contains(tool.required_args, prop);
    if (!required && !rng.chance(world_.config().episode.optional_args * 0.5)) continue;
    args[prop] = world_.pools().sample(props[prop], prop, rng);
  }
  ValuePools::order_date_ranges(args, stated);
  return args;
}

void Simulator::set_result_text(Call& call) {
  // A result with one field is sent as that field, as the real filesystem and memory servers do:
  // a string (a file's text, a status line) as plain text, a list as its JSON.
  const bool lone = call.structured.size() == 1;
  if (lone && call.structured.begin()->is_string()) call.text = call.structured.begin()->get<std::string>();
  else if (lone && call.structured.begin()->is_array()) call.text = compact_json(*call.structured.begin());
  else call.text = compact_json(call.structured);
}

void Simulator::list_stated_values(std::vector<Call>& before, const Call& call, const ojson& stated) {
  for (auto a = call.arguments.begin(); a != call.arguments.end(); ++a) {
    if (is_token_name(a.key())) continue;
    bool said = false;  // under this name or a more specific one ("from_account_id" for "account_id")
    for (auto v = stated.begin(); v != stated.end() && !said; ++v) said = v.value() == a.value();
    if (!said) continue;
    // The latest earlier result of this server that lists this field must list the stated value.
    for (auto c = before.rbegin(); c != before.rend(); ++c) {
      if (c->is_error || !c->structured.is_object() || c->server != call.server) continue;
      ojson* list = nullptr;
      for (auto f = c->structured.begin(); f != c->structured.end() && !list; ++f)
        if (f->is_array() && !f->empty() && (*f)[0].is_object() && (*f)[0].contains(a.key())) list = &*f;
      if (!list) continue;
      bool listed = false;
      for (const auto& item : *list) listed = listed || (item.is_object() && item.contains(a.key()) && item[a.key()] == a.value());
      if (!listed) {
        (*list)[0][a.key()] = a.value();
        set_result_text(*c);
      }
      break;
    }
  }
}

void Simulator::simulate_result(Call& call, Rng& rng, bool fail, bool transient) const {
  const Tool& tool = *call.tool;
  call.recorded = nullptr;  // from here on the result is simulated
  call.is_error = fail;
  if (fail) {
    static const std::vector<std::string> reasons = {
        "{arg} '{value}' was not found", "invalid {arg}: '{value}'", "the service is temporarily unavailable, try again later",
        "request rejected: rate limit exceeded"};
    std::string arg = "request", value = "";
    for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it)
      if (!is_token_name(it.key()) && (it.value().is_string() || it.value().is_number())) {
        arg = it.key();
        value = plain_text(it.value());
        break;
      }
    call.structured = nullptr;
    // The last two reasons are transient.
    const std::string& reason = transient ? reasons[reasons.size() - 2 + rng.below(2)] : rng.pick(reasons);
    call.text = "Error: " + fill(reason, {{"arg", arg}, {"value", value}});
    return;
  }
  if (tool.output_schema.is_object()) {
    ojson out = world_.pools().sample(tool.output_schema, "", rng);
    if (!out.is_object()) out = ojson::object();
    // Results echo the arguments they were asked about, so answer and request agree.
    for (auto it = out.begin(); it != out.end(); ++it)
      if (call.arguments.contains(it.key()) && !is_token_name(it.key()) &&
          call.arguments[it.key()].type() == it.value().type())
        it.value() = call.arguments[it.key()];
    ValuePools::order_date_ranges(out, call.arguments);
    call.structured = std::move(out);
    // A state change reports its status in that string ("Successfully wrote to ..."), not a sample.
    const bool lone = call.structured.size() == 1;
    if (lone && call.structured.begin()->is_string() && !tool.read_only) *call.structured.begin() = prose_result(tool, call.arguments, rng);
    set_result_text(call);
  } else if (rng.chance(world_.config().episode.plain_text_results)) {
    // Prose, as real servers without an outputSchema usually answer.
    call.structured = nullptr;
    call.text = prose_result(tool, call.arguments, rng);
  } else {
    ojson out = ojson::object();
    out["status"] = tool.read_only ? "ok" : "completed";
    int echoed = 0;
    for (auto it = call.arguments.begin(); it != call.arguments.end() && echoed < 2; ++it)
      if (!is_token_name(it.key())) {
        out[it.key()] = it.value();
        ++echoed;
      }
    call.structured = nullptr;
    call.text = compact_json(out);
  }
}

std::string Simulator::prose_result(const Tool& tool, const ojson& arguments, Rng& rng) const {
  std::string args;
  int shown = 0;
  for (auto it = arguments.begin(); it != arguments.end() && shown < 2; ++it)
    if (!is_token_name(it.key()) && !it.value().is_object() && !it.value().is_array()) {
      args += (args.empty() ? "" : ", ") + humanize(it.key()) + " " + one_line(plain_text(it.value()));
      ++shown;
    }
  if (args.empty()) args = "the request";
  const std::string title = tool.title.empty() ? humanize(tool.name) : tool.title;
  std::string lower = title;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const auto& ph = world_.phrasing();
  return fill(rng.pick(tool.read_only ? ph.text_results_read : ph.text_results_write), {{"title", title}, {"title_lower", lower}, {"args", args}});
}

std::string Simulator::compose_answer(const Episode& ep, Rng& rng, int only_call) const {
  const auto& ph = world_.phrasing();
  std::string body;
  bool any_error = false;
  for (size_t r = 0; r < (only_call >= 0 ? 1 : ep.requests.size()); ++r) {
    const int c = only_call >= 0 ? only_call : ep.call_for_request(static_cast<int>(r));
    if (c < 0) continue;
    const Call& call = ep.calls[static_cast<size_t>(c)];
    std::string part;
    if (call.is_error) {
      any_error = true;
      std::string msg = call.text.rfind("Error: ", 0) == 0 ? call.text.substr(7) : call.text;
      part = fill(rng.pick(ph.answer_error), {{"message", msg}});
    } else {
      const ojson obj = call.structured.is_object() ? call.structured : ojson::parse(call.text, nullptr, false);
      std::vector<std::string> fields;
      if (obj.is_object())
        for (auto it = obj.begin(); it != obj.end() && fields.size() < 3; ++it) {
          if (is_token_name(it.key())) continue;
          std::string value;
          if (it.value().is_array()) value = fmt::format("{} item{}", it.value().size(), it.value().size() == 1 ? "" : "s");
          else if (it.value().is_object()) continue;
          else value = plain_text(it.value());
          if (value.find('\n') != std::string::npos) value = one_line(value);  // multi-line text of a real result
          fields.push_back(fill(rng.pick(ph.answer_field), {{"field", humanize(it.key())}, {"value", value}}));
        }
      if (fields.empty() && obj.is_discarded() && !call.text.empty()) {
        // Plain text, as real servers often return: quote its start.
        part = fill(rng.pick(ph.answer_text), {{"text", one_line(call.text)}});
      } else if (fields.empty()) {
        part = rng.pick(ph.answer_empty);
      } else {
        for (size_t i = 0; i < fields.size(); ++i) part += (i ? (i + 1 == fields.size() ? " and " : ", ") : "") + fields[i];
        part[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(part[0])));
        part += ".";
      }
    }
    body += (body.empty() ? "" : " ") + part;
  }
  if (body.empty()) return rng.pick(ph.answer_empty);
  return (any_error ? std::string() : rng.pick(ph.answer_intros) + " ") + body;
}

Identity Simulator::make_caller(Rng& rng, const std::string& role, const std::vector<const Tool*>& used) const {
  Identity id;
  const auto& pools = world_.pools();
  id.name = rng.pick(pools.pool("first_names")) + " " + rng.pick(pools.pool("last_names"));
  id.role = role;
  if (role == "service") {
    id.id = fmt::format("svc-{}-{}", rng.pick(pools.pool("words")), rng.range(10, 99));
    id.name = "automation " + id.id;
  } else {
    id.id = fmt::format("{}-{}", role == "admin" ? "adm" : "u", rng.range(10000, 99999));
  }
  const Privilege cap = role == "user" ? Privilege::Write : Privilege::Admin;
  for (const Tool* t : used) {
    if (t->synthetic) continue;
    id.scopes.push_back(t->server + ":read");
    for (Privilege p : {Privilege::Write, Privilege::Admin})
      if (static_cast<int>(p) <= static_cast<int>(t->privilege) && static_cast<int>(p) <= static_cast<int>(cap))
        id.scopes.push_back(fmt::format("{}:{}", t->server, privilege_name(p)));
    if (role != "user") id.scopes.push_back(t->server + ":admin");
  }
  std::sort(id.scopes.begin(), id.scopes.end());
  id.scopes.erase(std::unique(id.scopes.begin(), id.scopes.end()), id.scopes.end());
  return id;
}

void Simulator::offer(Episode& ep, const Tool& tool) const {
  Session* s = ep.session(tool.server);
  if (!s) {
    const Server* srv = world_.catalog().server(tool.server);
    Session ns;
    ns.server = tool.server;
    if (srv) {
      ns.version = srv->version;
      ns.title = srv->title;
      ns.instructions = srv->instructions;
    } else {
      ns.version = "1.0.0";
      ns.impostor = true;
    }
    ep.sessions.push_back(std::move(ns));
    s = &ep.sessions.back();
  }
  if (std::find(s->tools.begin(), s->tools.end(), &tool) != s->tools.end()) return;
  const Server* srv = world_.catalog().server(tool.server);
  if (!srv || tool.synthetic) {
    s->tools.push_back(&tool);
    return;
  }
  auto index_of = [&](const Tool* t) -> long { return t->synthetic ? 1L << 30 : static_cast<long>(t - srv->tools.data()); };
  const long mine = index_of(&tool);
  auto pos = std::find_if(s->tools.begin(), s->tools.end(), [&](const Tool* t) { return t->server == tool.server && index_of(t) > mine; });
  s->tools.insert(pos, &tool);
}

const Tool* Simulator::pick_other_tool(Rng& rng, const Episode& ep, const std::vector<const Tool*>& exclude, bool same_server,
                                       const std::string& server) const {
  auto ok = [&](const Tool* t) {
    return std::find(exclude.begin(), exclude.end(), t) == exclude.end() && world_.usable_in(*t, ep.split);
  };
  if (same_server) {
    const Server* srv = world_.catalog().server(server);
    if (!srv) return nullptr;
    std::vector<const Tool*> c;
    for (const auto& t : srv->tools)
      if (ok(&t)) c.push_back(&t);
    return c.empty() ? nullptr : c[rng.below(c.size())];
  }
  const auto& all = world_.tools();
  for (int tries = 0; tries < 48; ++tries) {
    const Tool* t = all[rng.below(all.size())];
    if (t->server != server && ok(t)) return t;
  }
  return nullptr;
}

void Simulator::plan_request(Episode& ep, int r, Rng& rng) const {
  const Request& req = ep.requests[static_cast<size_t>(r)];
  const Server& srv = world_.server_of(*req.tool);
  std::function<void(const Tool&, bool)> add = [&](const Tool& tool, bool requested) {
    for (const auto& name : tool.requires) {
      const Tool* pre = srv.find(name);
      bool done = false;
      for (const auto& c : ep.calls) done = done || (c.tool == pre);
      if (!done) add(*pre, false);
    }
    Call call;
    call.tool = &tool;
    call.server = tool.server;
    call.purpose = requested ? "requested" : "prerequisite";
    call.request = requested ? r : -1;
    call.arguments = arguments_for(tool, req.slots, ep.calls, ep.caller, rng);
    list_stated_values(ep.calls, call, req.slots);
    simulate_result(call, rng);
    ep.calls.push_back(std::move(call));
  };
  add(*req.tool, true);
}

Episode Simulator::benign(Rng& rng, const Tool* primary, bool force_multi_request, const std::string& forced_role) const {
  const auto& cfg = world_.config();
  const auto& ph = world_.phrasing();
  Episode ep;
  const Tool* p = primary ? primary : world_.tools()[rng.below(world_.tools().size())];
  const int q = p->queries.empty() ? -1 : rng.below_int(p->queries.size());
  ep.template_id = fmt::format("{}/{}#{}", p->server, p->name, q);
  ep.group = ep.template_id;
  ep.split = world_.split_of(p->server, ep.group);

  std::vector<const Tool*> requested = {p};
  if (force_multi_request || rng.chance(cfg.episode.multi_request)) {
    std::vector<const Tool*> exclude = {p};
    for (const auto& n : p->requires) exclude.push_back(world_.server_of(*p).find(n));
    const Tool* second = pick_other_tool(rng, ep, exclude, rng.chance(0.7), p->server);
    if (!second) second = pick_other_tool(rng, ep, exclude, false, p->server);
    if (second) requested.push_back(second);
  }

  for (const Tool* t : requested) {
    Request req;
    req.tool = t;
    req.query = (t == p) ? q : (t->queries.empty() ? -1 : rng.below_int(t->queries.size()));
    const ojson& props = t->input_schema.contains("properties") ? t->input_schema["properties"] : ojson::object();
    if (req.query >= 0) {
      for (const auto& slot : t->queries[static_cast<size_t>(req.query)].slots)
        req.slots[slot] = world_.pools().sample(props[slot], slot, rng);
    } else {
      for (const auto& a : t->required_args)
        if (!is_token_name(a)) req.slots[a] = world_.pools().sample(props[a], a, rng);
    }
    ValuePools::order_date_ranges(req.slots);
    ep.requests.push_back(std::move(req));
  }

  bool any_admin = false;
  for (const Tool* t : requested) any_admin = any_admin || t->privilege == Privilege::Admin;
  std::string role = draw_role(rng, any_admin);
  if (!forced_role.empty()) role = forced_role;
  // Caller identity is drawn before planning so identity-shaped arguments could use it.
  ep.caller.role = role;
  for (size_t r = 0; r < ep.requests.size(); ++r) plan_request(ep, static_cast<int>(r), rng);
  std::vector<const Tool*> used;
  for (const auto& c : ep.calls) used.push_back(c.tool);
  ep.caller = make_caller(rng, role, used);
  for (auto& c : ep.calls) c.actor = ep.caller;

  connect_servers(ep, used, p->server, rng);
  set_subject(ep);

  // A benign tool failure now and then, on the last call only so no dependent call is affected.
  if (!ep.calls.empty() && rng.chance(cfg.episode.tool_error)) {
    if (rng.chance(cfg.episode.error_recovery)) {
      // A transient failure the client recovers from: the same call fails once, then succeeds.
      Call failed = ep.calls.back();
      failed.purpose = "failed_attempt";
      failed.request = -1;
      simulate_result(failed, rng, true, true);
      ep.calls.insert(ep.calls.end() - 1, std::move(failed));
    } else {
      simulate_result(ep.calls.back(), rng, true);
    }
  }

  add_chitchat(ep, rng);
  // One politeness prefix and suffix per message, not per request.
  std::string text;
  for (size_t r = 0; r < ep.requests.size(); ++r) {
    auto& req = ep.requests[r];
    req.text = request_text(*req.tool, req.query, req.slots, rng);
    text += r == 0 ? req.text : rng.pick(ph.multi_joiners) + req.text;
  }
  text = join_prefix(rng.pick(ph.request_prefixes), text) + rng.pick(ph.request_suffixes);
  ep.turns.push_back({TurnKind::User, text, -1});
  close_turns(ep, rng);
  return ep;
}

std::string Simulator::draw_role(Rng& rng, bool any_admin) const {
  const double u = rng.real();
  return any_admin ? (u < 0.75 ? "admin" : "service") : (u < 0.85 ? "user" : u < 0.95 ? "admin" : "service");
}

void Simulator::connect_servers(Episode& ep, const std::vector<const Tool*>& used, const std::string& primary_server, Rng& rng) const {
  const auto& cfg = world_.config();
  // Connected servers and offered tools: every tool in use, then distractors.
  for (const auto& c : ep.calls) offer(ep, *c.tool);
  if (rng.chance(cfg.episode.multi_server)) {
    const Tool* other = pick_other_tool(rng, ep, used, false, primary_server);
    if (other && !ep.session(other->server)) offer(ep, *other);
  }
  const int target = static_cast<int>(rng.range(cfg.episode.min_tools_offered, cfg.episode.max_tools_offered));
  int offered = 0;
  for (const auto& s : ep.sessions) offered += static_cast<int>(s.tools.size());
  for (int tries = 0; offered < target && tries < 4 * target; ++tries) {
    const Session& s = ep.sessions[rng.below(ep.sessions.size())];
    const Server* srv = world_.catalog().server(s.server);
    const Tool* t = &srv->tools[rng.below(srv->tools.size())];
    if (ep.offered(t->server, t->name)) continue;
    offer(ep, *t);
    ++offered;
  }
}

void Simulator::set_subject(Episode& ep) const {
  // Data subject: a named third party when the request names one, else the caller.
  ep.subject = "caller " + ep.caller.id;
  for (auto it = ep.requests[0].slots.begin(); it != ep.requests[0].slots.end(); ++it)
    if (world_.pools().choose(it.key()).generator == Generator::PersonName && it.value().is_string()) {
      ep.subject = "third party " + it.value().get<std::string>();
      break;
    }
}

void Simulator::add_chitchat(Episode& ep, Rng& rng) const {
  const auto& ph = world_.phrasing();
  if (!rng.chance(world_.config().episode.chitchat)) return;
  std::string servers;
  for (const auto& s : ep.sessions) servers += (servers.empty() ? "" : ", ") + s.server;
  if (rng.chance(0.6)) {
    ep.turns.push_back({TurnKind::User, rng.pick(ph.greetings), -1});
    ep.turns.push_back({TurnKind::Assistant, rng.pick(ph.greeting_replies), -1});
  } else {
    const size_t k = rng.below(ph.chitchat_questions.size());
    ep.turns.push_back({TurnKind::User, ph.chitchat_questions[k], -1});
    ep.turns.push_back({TurnKind::Assistant, fill(ph.chitchat_answers[k % ph.chitchat_answers.size()], {{"servers", servers}}), -1});
  }
}

void Simulator::close_turns(Episode& ep, Rng& rng) const {
  const auto& ph = world_.phrasing();
  for (size_t c = 0; c < ep.calls.size(); ++c) ep.turns.push_back({TurnKind::Call, "", static_cast<int>(c)});
  ep.turns.push_back({TurnKind::Assistant, compose_answer(ep, rng), -1, true});
  if (rng.chance(world_.config().episode.chitchat * 0.5)) {
    ep.turns.push_back({TurnKind::User, rng.pick(ph.thanks), -1});
    ep.turns.push_back({TurnKind::Assistant, rng.pick(ph.welcome), -1});
  }
}

}  // namespace mcip::synth
