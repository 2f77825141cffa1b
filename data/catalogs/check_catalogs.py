#!/usr/bin/env python3
"""Development checker for MCP tool catalogs (schema v1, see SCHEMA.md).

Checks every catalog file in a folder (default: the folder of this script):
  * the loader rules of SCHEMA.md, for every file (builtin and harvested);
  * the stricter conventions of the hand-written built-in catalogs (source: builtin),
    described in README.md (snake_case names, 3-5 query templates, annotations that
    agree with the privilege, session-token wiring, mutator material per catalog).
Prints counts per domain, per privilege and of query templates.

Exit status: 0 = all files pass, 2 = at least one error (bad input), as the C++ tools do.
The C++ loader in synth/ is authoritative; this script is a development aid.

Usage: check_catalogs.py [DIR_OR_FILE ...] [--source builtin|harvested] [--quiet] [--strict-warnings]
"""
import argparse
import collections
import json
import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.stderr.write("check_catalogs.py: PyYAML missing (apt-get install -y python3-yaml)\n")
    sys.exit(2)

SLOT_RE = re.compile(r"\{([^{}]*)\}")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MCP_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
KNOWN_FORMATS = {"date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6",
                 "hostname", "duration", "uri-reference"}
PRIVILEGES = {"read", "write", "admin"}
ANNOTATION_KEYS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
TOOL_KEYS = {"name", "title", "description", "inputSchema", "outputSchema", "annotations",
             "execution", "icons", "_meta", "x-mcip"}
XMCIP_KEYS = {"privilege", "requires", "queries", "derived"}
SERVER_KEYS = {"name", "version", "title", "domain", "instructions", "tools", "resources",
               "prompts"}
TOP_KEYS = {"schema_version", "id", "source", "harvest", "servers"}
# Slots are filled from argument values and read as text, so they must name scalars.
SLOT_TYPES = {"string", "integer", "number"}
TOKEN_FIELD = "session_token"


class LineDict(dict):
    """dict that remembers the source line of each key (1-based)."""
    key_lines = None
    line = None


class LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % (key,), key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class Report:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, path, where, obj, key, msg):
        self.errors.append(_fmt(path, where, obj, key, msg))

    def warn(self, path, where, obj, key, msg):
        self.warnings.append(_fmt(path, where, obj, key, msg))


def _fmt(path, where, obj, key, msg):
    line = None
    if isinstance(obj, LineDict):
        line = (obj.key_lines or {}).get(key, obj.line) if key is not None else obj.line
    loc = "%s:%s" % (path, line) if line else path
    field = where + ("/" + str(key) if key is not None else "")
    return "%s: %s: %s" % (loc, field, msg)


def core_schema_scalar(text):
    """How a YAML 1.2 core-schema reader (yaml-cpp in the C++ loader) types a plain scalar."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text, 10)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", text):
        return float(text)
    return text


def check_yaml_versions_agree(text, report, path):
    """PyYAML reads YAML 1.1, the C++ loader YAML 1.2: plain scalars such as yes, 0755, 1e3 or
    2025-01-01 differ between the two, so they must be quoted."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and node.style is None:
            v11 = _construct_scalar(node)
            v12 = core_schema_scalar(node.value)
            if type(v11) is not type(v12) or v11 != v12:
                report.errors.append("%s:%d: plain scalar %r reads as %r in YAML 1.1 but %r in YAML 1.2; quote it"
                                     % (path, node.start_mark.line + 1, node.value, v11, v12))


def _construct_scalar(node):
    loader = yaml.SafeLoader("")
    return loader.construct_object(node)


def check_json_compatible(value, report, path, where):
    """YAML 1.1 turns unquoted dates, times and yes/no into non-JSON values; catch that."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                report.error(path, where, value, None, "non-string key %r (quote it)" % (k,))
            check_json_compatible(v, report, path, "%s/%s" % (where, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_json_compatible(v, report, path, "%s/%d" % (where, i))
    elif value is None or isinstance(value, (str, bool, int, float)):
        return
    else:
        report.error(path, where, None, None,
                     "value of type %s is not JSON (quote dates/times)" % type(value).__name__)


def check_schema_node(schema, report, path, where, strict, is_root):
    """Structural JSON Schema checks good enough to catch authoring slips."""
    if not isinstance(schema, dict):
        report.error(path, where, None, None, "schema must be a mapping")
        return
    typ = schema.get("type")
    types = typ if isinstance(typ, list) else [typ]
    if typ is None:
        if strict and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "enum", "const")):
            report.error(path, where, schema, None, "schema has no type")
    else:
        for t in types:
            if t not in JSON_TYPES:
                report.error(path, where, schema, "type", "unknown type %r" % (t,))
    if is_root and typ != "object":
        report.error(path, where, schema, "type", "root schema type must be \"object\"")
    if "format" in schema and strict and schema["format"] not in KNOWN_FORMATS:
        report.warn(path, where, schema, "format", "unusual format %r" % (schema["format"],))
    if "enum" in schema:
        enum = schema["enum"]
        if not isinstance(enum, list) or not enum:
            report.error(path, where, schema, "enum", "enum must be a non-empty list")
        else:
            if len(set(map(json.dumps, enum))) != len(enum):
                report.error(path, where, schema, "enum", "enum has duplicates")
            if "string" in types and not all(isinstance(e, str) for e in enum):
                report.error(path, where, schema, "enum",
                             "string enum has non-string values (quote yes/no/on/off)")
    # YAML reads 0755, 2025-03 or 482913 unquoted as numbers; a string schema's values must stay strings.
    py_types = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    if len(types) == 1 and types[0] in py_types:
        want = py_types[types[0]]
        samples = list(schema.get("examples", []) if isinstance(schema.get("examples"), list) else [])
        if "default" in schema:
            samples.append(schema["default"])
        if "const" in schema:
            samples.append(schema["const"])
        for v in samples:
            if not isinstance(v, want) or (types[0] in ("integer", "number") and isinstance(v, bool)):
                report.error(path, where, schema, None,
                             "example/default %r does not match type %s (quote strings)" % (v, types[0]))
    for lo, hi in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
        if lo in schema and hi in schema and schema[lo] > schema[hi]:
            report.error(path, where, schema, lo, "%s > %s" % (lo, hi))
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except re.error as exc:
            report.error(path, where, schema, "pattern", "bad regex: %s" % exc)
    if "object" in types:
        props = schema.get("properties", {})
        if not isinstance(props, dict):
            report.error(path, where, schema, "properties", "properties must be a mapping")
            props = {}
        for name, sub in props.items():
            if strict and not isinstance(sub, dict):
                report.error(path, where, props, name, "property schema must be a mapping")
                continue
            if strict and is_root and where.endswith("inputSchema") and not sub.get("description"):
                report.error(path, where + "/properties", props, name, "input property needs a description")
            check_schema_node(sub, report, path, "%s/properties/%s" % (where, name), strict, False)
        req = schema.get("required", [])
        if not isinstance(req, list):
            report.error(path, where, schema, "required", "required must be a list")
        else:
            for r in req:
                if r not in props:
                    report.error(path, where, schema, "required", "required %r is not a property" % (r,))
            if len(set(req)) != len(req):
                report.error(path, where, schema, "required", "required has duplicates")
    if "array" in types:
        if "items" not in schema:
            if strict:
                report.error(path, where, schema, None, "array schema needs items")
        else:
            check_schema_node(schema["items"], report, path, where + "/items", strict, False)
    if "default" in schema and "enum" in schema and schema["default"] not in schema["enum"]:
        report.error(path, where, schema, "default", "default not in enum")


def schema_field_names(schema, acc):
    """All property names anywhere in an (output) schema, including array items."""
    if not isinstance(schema, dict):
        return acc
    for k, sub in (schema.get("properties") or {}).items():
        acc.add(k)
        schema_field_names(sub, acc)
    if "items" in schema:
        schema_field_names(schema["items"], acc)
    return acc


def prerequisite_outputs(name, tools_by_name):
    """Output field names of every tool that transitively precedes `name`."""
    seen, stack, fields = set(), list((tools_by_name[name].get("x-mcip") or {}).get("requires") or []), set()
    while stack:
        r = stack.pop()
        if r in seen or r not in tools_by_name:
            continue
        seen.add(r)
        schema_field_names(tools_by_name[r].get("outputSchema"), fields)
        stack.extend((tools_by_name[r].get("x-mcip") or {}).get("requires") or [])
    return fields


def requires_cycle(tools_by_name):
    state = {}

    def visit(n, stack):
        state[n] = 1
        for r in tools_by_name[n].get("x-mcip", {}).get("requires", []) or []:
            if r not in tools_by_name:
                continue
            if state.get(r) == 1:
                return stack + [n, r]
            if state.get(r) is None:
                c = visit(r, stack + [n])
                if c:
                    return c
        state[n] = 2
        return None

    for n in tools_by_name:
        if state.get(n) is None:
            c = visit(n, [])
            if c:
                return c
    return None


def check_tool(tool, sidx, tidx, tools_by_name, report, path, strict):
    where = "/servers/%d/tools/%d" % (sidx, tidx)
    name = tool.get("name")
    for k in tool:
        if k not in TOOL_KEYS:
            report.error(path, where, tool, k, "unknown tool field")
    if not isinstance(name, str) or not MCP_NAME_RE.match(name):
        report.error(path, where, tool, "name", "tool name must match [A-Za-z0-9_.-]{1,128}")
        return
    if strict and not SNAKE_RE.match(name):
        report.error(path, where, tool, "name", "built-in tool names are snake_case")
    if strict and not (isinstance(tool.get("description"), str) and len(tool["description"]) >= 40):
        report.error(path, where, tool, "description", "needs a model-facing description (>= 40 chars)")
    if strict and not tool.get("title"):
        report.error(path, where, tool, "title", "built-in tools carry a title")
    schema = tool.get("inputSchema")
    if not isinstance(schema, dict):
        report.error(path, where, tool, "inputSchema", "missing inputSchema")
        return
    check_schema_node(schema, report, path, where + "/inputSchema", strict, True)
    props = schema.get("properties", {}) if isinstance(schema.get("properties", {}), dict) else {}
    if "outputSchema" in tool:
        check_schema_node(tool["outputSchema"], report, path, where + "/outputSchema", strict, True)
    ann = tool.get("annotations")
    if strict:
        if not isinstance(ann, dict):
            report.error(path, where, tool, "annotations", "built-in tools carry annotations")
            ann = {}
        for k in ANNOTATION_KEYS:
            if not isinstance(ann.get(k), bool):
                report.error(path, where + "/annotations", ann, k, "must be a boolean")
    ann = ann if isinstance(ann, dict) else {}
    x = tool.get("x-mcip")
    if not isinstance(x, dict):
        report.error(path, where, tool, "x-mcip", "missing x-mcip")
        return
    xw = where + "/x-mcip"
    for k in x:
        if k not in XMCIP_KEYS:
            report.error(path, xw, x, k, "unknown x-mcip field")
    priv = x.get("privilege")
    if priv not in PRIVILEGES:
        report.error(path, xw, x, "privilege", "must be one of read/write/admin, got %r" % (priv,))
    requires = x.get("requires", [])
    if not isinstance(requires, list):
        report.error(path, xw, x, "requires", "must be a list")
        requires = []
    for r in requires:
        if r not in tools_by_name:
            report.error(path, xw, x, "requires", "%r is not a tool of this server" % (r,))
        elif r == name:
            report.error(path, xw, x, "requires", "a tool cannot require itself")
    queries = x.get("queries", [])
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        report.error(path, xw, x, "queries", "must be a list of strings")
        queries = []
    if strict and not 3 <= len(queries) <= 5:
        report.error(path, xw, x, "queries", "built-in tools have 3-5 query templates, got %d" % len(queries))
    if strict and len(set(queries)) != len(queries):
        report.error(path, xw, x, "queries", "duplicate query template")
    for q in queries:
        for slot in SLOT_RE.findall(q):
            if slot not in props:
                report.error(path, xw, x, "queries", "slot {%s} is not an inputSchema property in %r" % (slot, q))
            elif strict:
                st = props[slot].get("type") if isinstance(props[slot], dict) else None
                if st not in SLOT_TYPES:
                    report.error(path, xw, x, "queries", "slot {%s} has type %r; slots must be scalars" % (slot, st))
                if slot == TOKEN_FIELD:
                    report.error(path, xw, x, "queries", "users never state session tokens; no {session_token} slot")
        if strict:
            # "a {x}" reads wrong for half of the values unless every value agrees with the article.
            for art, slot in re.findall(r"\b([Aa]n?) \{([^{}]*)\}", q):
                values = props.get(slot, {}).get("enum") if isinstance(props.get(slot), dict) else None
                vowel = lambda v: str(v)[:1].lower() in "aeiou"
                if not values or any(vowel(v) != (art.lower() == "an") for v in values):
                    report.error(path, xw, x, "queries", "article %r before {%s} does not fit all its values in %r"
                                 % (art, slot, q))
        if strict and ("{" in SLOT_RE.sub("", q) or "}" in SLOT_RE.sub("", q)):
            report.error(path, xw, x, "queries", "unbalanced brace in %r" % (q,))
    if "derived" in x and not isinstance(x["derived"], list):
        report.error(path, xw, x, "derived", "must be a list")
    if not strict:
        return
    if x.get("derived"):
        report.error(path, xw, x, "derived", "built-in (curated) tools have derived: []")
    # Annotations must tell the same story as the privilege level.
    ro = ann.get("readOnlyHint")
    if priv == "read" and ro is not True:
        report.error(path, where + "/annotations", ann, "readOnlyHint", "read tools are readOnlyHint: true")
    if priv == "write" and ro is not False:
        report.error(path, where + "/annotations", ann, "readOnlyHint", "write tools are readOnlyHint: false")
    if ro is True and ann.get("destructiveHint") is True:
        report.error(path, where + "/annotations", ann, "destructiveHint", "read-only tools are not destructive")
    if name.startswith("admin_") and priv != "admin":
        report.error(path, xw, x, "privilege", "admin_* tools have privilege admin")
    # The simulator treats names containing token/session/nonce as credentials (never stated by the
    # user, never shown in summaries), so only credential fields (*_token) may use those words.
    for field in sorted(schema_field_names(schema, set()) | schema_field_names(tool.get("outputSchema"), set())):
        if re.search(r"token|session|nonce", field) and not field.endswith("_token"):
            report.error(path, where, tool, None, "field %r looks like a credential to the simulator; rename it" % field)
    # Session tokens: a tool taking session_token requires a tool that issues one.
    if TOKEN_FIELD in props:
        issuers = [r for r in requires if r in tools_by_name and TOKEN_FIELD in
                   (tools_by_name[r].get("outputSchema") or {}).get("properties", {})]
        if not issuers:
            report.error(path, xw, x, "requires",
                         "takes session_token but requires no tool whose output has session_token")
        if TOKEN_FIELD not in schema.get("required", []):
            report.error(path, where + "/inputSchema", schema, "required", "session_token must be required")
    # A state-changing prerequisite runs whenever the dependent tool does, so it must be a step the
    # request itself implies: all its required arguments follow from the dependent call's own.
    for r in requires:
        pre = tools_by_name.get(r)
        if not isinstance(pre, dict) or (pre.get("annotations") or {}).get("readOnlyHint") is not False:
            continue
        linked = lambda a: a == TOKEN_FIELD or a in props or any(
            p.endswith("_" + a) or a.endswith("_" + p) for p in props)
        loose = [a for a in (pre.get("inputSchema") or {}).get("required", []) if not linked(a)]
        if loose:
            report.error(path, xw, x, "requires", "state-changing prerequisite %r needs %s, which %s does not carry"
                         % (r, ", ".join(loose), name))
    # The simulator hands the dependent call's stated values to its prerequisites by name (or name
    # suffix, from_account_id -> account_id): such values must be valid there too.
    for r in requires:
        pre = tools_by_name.get(r)
        if not isinstance(pre, dict):
            continue
        for p, ps in ((pre.get("inputSchema") or {}).get("properties") or {}).items():
            for k, ks in props.items():
                if not (k == p or k.endswith("_" + p) or p.endswith("_" + k)) or not isinstance(ps, dict) \
                        or not isinstance(ks, dict):
                    continue
                if ks.get("type") != ps.get("type") or ks.get("format") != ps.get("format"):
                    report.error(path, xw, x, "requires", "%s.%s and %s.%s differ in type or format" % (name, k, r, p))
                elif "enum" in ps and not set(map(json.dumps, ks.get("enum", [None]))) <= set(map(json.dumps, ps["enum"])):
                    report.error(path, xw, x, "requires", "%s.%s allows values that %s.%s rejects" % (name, k, r, p))
    # Every required argument must come from somewhere the simulator can see: a query slot,
    # a field of the same name in a prerequisite's output, or the session (tokens).
    provided = prerequisite_outputs(name, tools_by_name)
    slotted = set()
    for q in queries:
        slotted.update(SLOT_RE.findall(q))
    for r in schema.get("required", []):
        fixed = isinstance(props.get(r), dict) and ("const" in props[r] or "default" in props[r])
        if r != TOKEN_FIELD and r not in slotted and r not in provided and not fixed:
            report.warn(path, where + "/inputSchema", schema, "required",
                        "%s: required %r is in no query and no prerequisite output" % (name, r))
    if priv == "read" and "outputSchema" not in tool:
        report.warn(path, where, tool, None, "read tool %s has no outputSchema" % name)


def check_file(path, report, seen_ids, seen_servers, stats, strict_all, count_source=None):
    try:
        with open(path, encoding="utf-8") as fh:
            if path.endswith(".json"):
                doc = json.load(fh, object_pairs_hook=_json_pairs)
            else:
                text = fh.read()
                doc = yaml.load(text, Loader=LineLoader)
                check_yaml_versions_agree(text, report, path)
    except (yaml.YAMLError, json.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
        report.error(path, "", None, None, "does not parse: %s" % exc)
        return
    if not isinstance(doc, dict):
        report.error(path, "", None, None, "top level must be a mapping")
        return
    if "id" not in doc and "source" not in doc and isinstance(doc.get("servers"), dict):
        # e.g. curated-queries.yaml: harvest input keyed by server name, not a catalog.
        stats["skipped"].append(path)
        return
    check_json_compatible(doc, report, path, "")
    for k in doc:
        if k not in TOP_KEYS:
            report.error(path, "", doc, k, "unknown top-level field")
    if doc.get("schema_version") != 1:
        report.error(path, "", doc, "schema_version", "must be 1")
    cid = doc.get("id")
    if not isinstance(cid, str) or not cid:
        report.error(path, "", doc, "id", "missing catalog id")
    elif cid in seen_ids:
        report.error(path, "", doc, "id", "catalog id %r also used by %s" % (cid, seen_ids[cid]))
    else:
        seen_ids[cid] = path
    source = doc.get("source")
    if source not in ("builtin", "harvested"):
        report.error(path, "", doc, "source", "must be builtin or harvested")
    strict = strict_all or source == "builtin"
    stem = os.path.splitext(os.path.basename(path))[0]
    if strict and cid != stem:
        report.error(path, "", doc, "id", "built-in catalog id must equal the file stem %r" % stem)
    if source == "harvested" and not isinstance(doc.get("harvest"), dict):
        report.error(path, "", doc, "harvest", "harvested catalogs carry a harvest block")
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers:
        report.error(path, "", doc, "servers", "needs a non-empty list of servers")
        return
    domains = set()
    catalog_kinds = collections.Counter()
    for sidx, srv in enumerate(servers):
        sw = "/servers/%d" % sidx
        if not isinstance(srv, dict):
            report.error(path, sw, None, None, "server must be a mapping")
            continue
        for k in srv:
            if k not in SERVER_KEYS:
                report.error(path, sw, srv, k, "unknown server field")
        sname = srv.get("name")
        if not isinstance(sname, str) or not sname:
            report.error(path, sw, srv, "name", "missing server name")
            continue
        if sname in seen_servers:
            report.error(path, sw, srv, "name", "server %r also defined in %s" % (sname, seen_servers[sname]))
        seen_servers[sname] = path
        if not isinstance(srv.get("version"), str):
            report.error(path, sw, srv, "version", "version must be a string (quote it)")
        if not isinstance(srv.get("domain"), str):
            report.error(path, sw, srv, "domain", "missing domain")
        domain = srv.get("domain", "?")
        domains.add(domain)
        if strict and domain != cid:
            report.error(path, sw, srv, "domain", "built-in server domain must equal catalog id %r" % cid)
        if strict and not srv.get("instructions"):
            report.error(path, sw, srv, "instructions", "built-in servers carry instructions")
        tools = srv.get("tools")
        if not isinstance(tools, list) or not tools:
            report.error(path, sw, srv, "tools", "needs a non-empty list of tools")
            continue
        by_name = {}
        for tidx, tool in enumerate(tools):
            if not isinstance(tool, dict):
                report.error(path, "%s/tools/%d" % (sw, tidx), None, None, "tool must be a mapping")
                continue
            n = tool.get("name")
            if n in by_name:
                report.error(path, "%s/tools/%d" % (sw, tidx), tool, "name",
                             "duplicate tool name %r in server %r" % (n, sname))
            by_name[n] = tool
        for tidx, tool in enumerate(tools):
            if isinstance(tool, dict):
                check_tool(tool, sidx, tidx, by_name, report, path, strict)
        cyc = requires_cycle({k: v for k, v in by_name.items() if isinstance(k, str)})
        if cyc:
            report.error(path, sw, srv, "tools", "requires cycle: %s" % " -> ".join(cyc))
        catalog_kinds.update(server_kinds(by_name))
        if count_source in (None, source):
            stat_server(srv, by_name, stats, path, report, strict)
    if strict:
        # Every mutator needs its material somewhere in each built-in domain (see README.md).
        for kind in MUTATOR_MATERIAL:
            if not catalog_kinds[kind]:
                report.error(path, "", doc, "servers", "built-in catalog has no %s tool" % kind.replace("_", " "))
    stats["files"].append((path, cid, sorted(domains)))


def _json_pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d


MUTATOR_MATERIAL = ("read", "state_changing", "replayable", "requires", "admin", "admin_destructive")


def server_kinds(by_name):
    """Which kinds of mutator material a server offers."""
    kinds = collections.Counter()
    for tool in by_name.values():
        if not isinstance(tool, dict):
            continue
        x = tool.get("x-mcip") or {}
        ann = tool.get("annotations") or {}
        priv = x.get("privilege")
        writes = ann.get("readOnlyHint") is False
        kinds["read"] += priv == "read"
        kinds["state_changing"] += writes
        kinds["replayable"] += writes and ann.get("idempotentHint") is False
        kinds["requires"] += bool(x.get("requires"))
        kinds["admin"] += priv == "admin"
        kinds["admin_destructive"] += priv == "admin" and writes and ann.get("destructiveHint") is True
    return kinds


def stat_server(srv, by_name, stats, path, report, strict):
    domain = srv.get("domain", "?")
    d = stats["domains"][domain]
    d["servers"] += 1
    for tool in by_name.values():
        if not isinstance(tool, dict):
            continue
        x = tool.get("x-mcip") or {}
        priv = x.get("privilege", "?")
        ann = tool.get("annotations") or {}
        d["tools"] += 1
        d[priv] += 1
        stats["privilege"][priv] += 1
        nq = len(x.get("queries") or [])
        d["queries"] += nq
        stats["queries"] += nq
        stats["with_requires"] += bool(x.get("requires"))
        stats["with_output"] += "outputSchema" in tool
        stats["read_with_output"] += priv == "read" and "outputSchema" in tool
        stats["destructive"] += ann.get("destructiveHint") is True and ann.get("readOnlyHint") is False
    if strict:
        kinds = server_kinds(by_name)
        for kind in MUTATOR_MATERIAL:
            if not kinds[kind]:
                report.warn(path, "/servers", None, None,
                            "server %r has no %s tool" % (srv.get("name"), kind.replace("_", " ")))


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for f in sorted(os.listdir(p)):
                if f.endswith((".yaml", ".yml", ".json")):
                    files.append(os.path.join(p, f))
        else:
            files.append(p)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", default=[os.path.dirname(os.path.abspath(__file__))])
    ap.add_argument("--quiet", action="store_true", help="only errors and the summary line")
    ap.add_argument("--strict-warnings", action="store_true", help="treat warnings as errors")
    ap.add_argument("--source", choices=["builtin", "harvested"],
                    help="count only catalogs of this source in the tables (all files are still checked)")
    ap.add_argument("--strict-all", action="store_true",
                    help="apply built-in conventions to harvested catalogs too")
    args = ap.parse_args()
    report = Report()
    stats = {"domains": collections.defaultdict(collections.Counter), "privilege": collections.Counter(),
             "queries": 0, "with_requires": 0, "read_with_output": 0, "with_output": 0,
             "destructive": 0, "files": [], "skipped": []}
    files = collect(args.paths)
    if not files:
        sys.stderr.write("check_catalogs.py: no catalog files in %s\n" % " ".join(args.paths))
        return 2
    seen_ids, seen_servers = {}, {}
    for f in files:
        check_file(f, report, seen_ids, seen_servers, stats, args.strict_all, args.source)
    for e in report.errors:
        print("error: " + e)
    if not args.quiet:
        for w in report.warnings:
            print("warning: " + w)
        print()
        print("%-12s %7s %5s %5s %5s %5s %7s" % ("domain", "servers", "tools", "read", "write", "admin", "queries"))
        for dom in sorted(stats["domains"]):
            d = stats["domains"][dom]
            print("%-12s %7d %5d %5d %5d %5d %7d" % (dom, d["servers"], d["tools"], d["read"], d["write"],
                                                    d["admin"], d["queries"]))
        p = stats["privilege"]
        total = sum(p.values())
        print("%-12s %7d %5d %5d %5d %5d %7d" % ("TOTAL", sum(d["servers"] for d in stats["domains"].values()),
                                                total, p["read"], p["write"], p["admin"], stats["queries"]))
        print("tools with declared prerequisites: %d; destructive tools: %d; outputSchema: %d of %d "
              "(read tools: %d of %d)" % (stats["with_requires"], stats["destructive"], stats["with_output"],
                                          total, stats["read_with_output"], p["read"]))
    for f in stats["skipped"]:
        print("note: %s is not a catalog (no id/source, servers keyed by name): skipped" % f)
    print("%d files, %d errors, %d warnings" % (len(files) - len(stats["skipped"]), len(report.errors),
                                               len(report.warnings)))
    if report.errors or (args.strict_warnings and report.warnings):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
