#!/usr/bin/env python3
"""A scriptable fake MCP stdio server for the client's fault tests.

Usage: fake_server.py MODE
Modes:
  ok             well-behaved: 3 tools over 2 pages, resources and prompts, a log notification,
                 a ping request to the client and a stray notification before answering
  old-version    answers initialize with protocolVersion 2024-11-05 (which the client accepts)
  bad-version    answers initialize with protocolVersion 1999-01-01
  exit-early     writes a message to stderr and exits with status 3 before answering
  hang           never answers; ignores SIGTERM and stdin EOF, and forks a sleeping grandchild
  non-json       prints a banner line on stdout before answering
  huge-line      answers tools/list with a single line of HUGE_LINE_BYTES (default 2 MiB)
  wrong-id       answers initialize with the wrong id
  rpc-error      answers tools/list with a JSON-RPC error
  cursor-loop    tools/list keeps returning the same nextCursor
  bad-tool       tools/list returns a tool whose inputSchema is not an object schema
  dynamic        like ok, but a client declaring `roots` is asked roots/list after initialized
                 and then gets a fourth tool, announced with notifications/tools/list_changed
  churn          like ok, but every tools/list is followed by notifications/tools/list_changed
Environment: FAKE_PID_FILE (write own pid, and the grandchild's pid in hang mode, one per line).
"""
import json
import os
import signal
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"

TOOLS = [
    {"name": "read_note", "title": "Read note", "description": "Reads a note by its id. Returns the text.",
     "inputSchema": {"type": "object", "properties": {"note_id": {"type": "string", "description": "Note id"}},
                     "required": ["note_id"]},
     "annotations": {"readOnlyHint": True, "openWorldHint": False}},
    {"name": "delete_note", "description": "Permanently deletes a note.",
     "inputSchema": {"type": "object", "properties": {"note_id": {"type": "string"}, "force": {"type": "boolean"}},
                     "required": ["note_id"]}},
    {"name": "run_script", "description": "Executes a shell script on the host {dangerous}.",
     "inputSchema": {"type": "object", "properties": {"script": {"type": "string"}}}},
]


def send(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def result(msg_id, res):
    send({"jsonrpc": "2.0", "id": msg_id, "result": res})


def write_pids(*pids):
    path = os.environ.get("FAKE_PID_FILE")
    if path:
        with open(path, "w") as f:
            f.write("".join("%d\n" % p for p in pids))


def main():
    if MODE == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = os.fork()
        if grandchild == 0:
            os.execvp("sleep", ["sleep", "300"])
        write_pids(os.getpid(), grandchild)
        while True:
            time.sleep(1)
    write_pids(os.getpid())
    if MODE == "exit-early":
        sys.stderr.write("fake: fatal: missing API key FAKE_TOKEN\n")
        sys.stderr.flush()
        sys.exit(3)
    if MODE == "non-json":
        sys.stdout.write("Fake server v1 listening on stdio\n")
        sys.stdout.flush()
    sys.stderr.write("fake server started in mode %s\n" % MODE)
    sys.stderr.flush()
    tools = list(TOOLS)
    listings = 0
    client_capabilities = {}
    for line in sys.stdin:
        msg = json.loads(line)
        method, msg_id = msg.get("method"), msg.get("id")
        if method == "notifications/initialized" and MODE == "dynamic" and "roots" in client_capabilities:
            send({"jsonrpc": "2.0", "id": "roots-1", "method": "roots/list"})
            continue
        if method is None and msg_id == "roots-1":
            # The client's answer to roots/list: register a tool that depends on it.
            if isinstance(msg.get("result", {}).get("roots"), list):
                tools.append({"name": "list_roots", "description": "Lists the client's roots.",
                              "inputSchema": {"type": "object", "properties": {}}})
                send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            continue
        if msg_id is None:
            continue  # notifications/initialized
        if method is None:
            continue  # a response to our ping
        if method == "ping":
            result(msg_id, {})
        elif method == "initialize":
            client_capabilities = msg["params"].get("capabilities", {})
            if MODE == "wrong-id":
                msg_id = msg_id + 1000
            version = {"old-version": "2024-11-05", "bad-version": "1999-01-01"}.get(
                MODE, msg["params"]["protocolVersion"])
            result(msg_id, {"protocolVersion": version,
                            "capabilities": {"tools": {"listChanged": True}, "resources": {}, "prompts": {},
                                             "logging": {}},
                            "serverInfo": {"name": "fake-notes", "version": "1.2.3"},
                            "instructions": "Use read_note before delete_note."})
        elif method == "tools/list":
            cursor = (msg.get("params") or {}).get("cursor")
            if MODE == "rpc-error":
                send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32603, "message": "database is locked"}})
            elif MODE == "huge-line":
                size = int(os.environ.get("HUGE_LINE_BYTES", str(2 * 1024 * 1024)))
                sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":{"tools":[],"pad":"%s"}}\n' % (msg_id, "x" * size))
                sys.stdout.flush()
            elif MODE == "cursor-loop":
                result(msg_id, {"tools": [], "nextCursor": "same"})
            elif MODE == "bad-tool":
                result(msg_id, {"tools": [{"name": "broken", "inputSchema": {"type": "string"}}]})
            elif cursor is None:
                listings += 1
                if listings == 1:
                    # Before the first answer: a log line, a ping to the client, and a stray
                    # list_changed that the (not yet answered) listing already reflects.
                    send({"jsonrpc": "2.0", "method": "notifications/message",
                          "params": {"level": "info", "data": "listing tools"}})
                    send({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
                    send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                result(msg_id, {"tools": tools[:2], "nextCursor": "page-2"})
            elif cursor == "page-2":
                result(msg_id, {"tools": tools[2:]})
                if MODE == "churn":
                    send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            else:
                send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": "bad cursor"}})
        elif method == "resources/list":
            result(msg_id, {"resources": [{"uri": "notes://1", "name": "note 1", "mimeType": "text/plain"}]})
        elif method == "prompts/list":
            result(msg_id, {"prompts": [{"name": "summarize", "arguments": [{"name": "note_id", "required": True}]}]})
        elif method == "tools/call":
            name = msg["params"]["name"]
            args = msg["params"].get("arguments", {})
            if name == "read_note":
                result(msg_id, {"content": [{"type": "text", "text": "note %s: buy milk" % args.get("note_id")}]})
            else:
                result(msg_id, {"content": [{"type": "text", "text": "not allowed"}], "isError": True})
        else:
            send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": "Method not found"}})


if __name__ == "__main__":
    main()
