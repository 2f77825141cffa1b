// Reading recorded traces (data/traces/recorded-*.json, written by `mcip-synth record`) and
// comparing result shapes: the synthesizer uses the traces as seeds for its mutators and as
// a realism check of its simulator (do simulated results have the fields and types real
// servers return?).
#pragma once
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mcip/mcp_client.h"

namespace mcip::mcp {

struct TraceCall {
  std::string tool;
  Json arguments;  // object
  Json result;     // CallToolResult as the server sent it
  bool is_error = false;
};

struct TraceEpisode {
  std::string id, query;
  std::vector<TraceCall> calls;
  std::vector<WireMessage> messages;  // the whole session in wire order
};

struct RecordedTraces {
  std::string file;
  Json server;  // serverInfo
  std::string protocol_version;
  std::vector<TraceEpisode> episodes;
};

// Loads and validates one traces file; InputError names the file and the JSON pointer.
RecordedTraces load_recorded_traces(const std::filesystem::path& file);

// The shape of a JSON value: one "path:type" entry per node, arrays written as "/*", and
// integers and floats both "number". Strings holding a JSON object or array (servers often
// serialise structured results into a text block) are descended into as "<path>(json)".
//   {"content":[{"type":"text","text":"{\"a\":1}"}]} →
//   {":object", "/content:array", "/content/*:object", "/content/*/type:string",
//    "/content/*/text:string", "/content/*/text(json):object", "/content/*/text(json)/a:number"}
std::set<std::string> json_shape(const Json& value);

// Per tool: the union of the shapes of its successful (non-isError) results.
std::map<std::string, std::set<std::string>> result_shapes(const RecordedTraces& traces);

struct ShapeComparison {
  std::set<std::string> missing;  // in the reference (recorded), not in the candidate (simulated)
  std::set<std::string> extra;    // in the candidate only
  double jaccard = 1.0;           // |intersection| / |union|; 1 when both are empty
};
ShapeComparison compare_shapes(const std::set<std::string>& reference, const std::set<std::string>& candidate);

}  // namespace mcip::mcp
