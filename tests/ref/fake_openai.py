#!/usr/bin/env python3
"""A small OpenAI-compatible chat server for the remote-engine tests (never a real model).

    fake_openai.py LOG [--api-key KEY]   serves on 127.0.0.1, prints the port on the first line

GET  /v1/models             {"object": "list", "data": [{"id": "fake-mla"}, {"id": MLA_NAME}]}
POST /v1/chat/completions   the reply "Hello from the fake server. You said: <last user message>"
                            word by word as server-sent events (chunked transfer), a chunk with
                            finish_reason, with stream_options.include_usage one with usage
                            and no choices, then "data: [DONE]";
                            max_tokens words at most (then finish_reason "length").
With --api-key, both answer 401 with an OpenAI error body unless "Authorization: Bearer KEY".
The last user message may ask for misbehaviour with a word in brackets:
    [slow]         0.3 s between words
    [endless]      words every 50 ms until the client goes away (for Stop)
    [silent]       the headers, then nothing at all (for Stop and the stall timeout)
    [cut]          three words, then the connection closes mid-stream (no last chunk, no [DONE])
    [nodone]       the whole reply without "data: [DONE]" and without a finish_reason
    [500]          status 500 with {"error": {"message": "the fake server failed on purpose"}}
    [garbage]      comments, "event:"/"id:" fields and lines that are no field between events
                   (which a client must ignore); the reply is complete
    [badjson]      one word, then "data: {not json"
    [streamerror]  two words, then data: {"error": {"message": "out of memory on the server"}}
    [split]        every byte in its own chunk, lines ending in \\r\\n
    [json]         no stream: one application/json chat.completion body
LOG gets one JSON line per request before its reply: method, path, auth, body (parsed).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
API_KEY = sys.argv[sys.argv.index("--api-key") + 1] if "--api-key" in sys.argv else None
MLA_NAME = "deepseek-ai/DeepSeek-V2-Lite-Chat"
log_lock = threading.Lock()


def log(entry):
    with log_lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Cut(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, kind):
        self.send_json(status, {"error": {"message": message, "type": kind, "code": status}})

    def authorized(self):
        if API_KEY is None or self.headers.get("Authorization") == "Bearer " + API_KEY:
            return True
        self.error(401, "Incorrect API key provided", "invalid_request_error")
        return False

    def do_GET(self):
        log({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
        if not self.authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": "fake-mla", "object": "model", "owned_by": "fake"},
                {"id": MLA_NAME, "object": "model", "owned_by": "fake"}]})
        else:
            self.error(404, "no route " + self.path, "not_found")

    def chunk(self, data, split=False):
        if split:
            for i in range(len(data)):
                self.chunk(data[i:i + 1])
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj, split=False, eol="\n"):
        text = obj if isinstance(obj, str) else json.dumps(obj)
        self.chunk(("data: " + text + eol + eol).encode(), split)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        log({"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"),
             "body": body})
        if not self.authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.error(404, "no route " + self.path, "not_found")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.error(400, "the body must be a JSON object with messages", "bad_request")
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        last = users[-1] if users else ""
        model = body.get("model", "fake-mla")
        if "[500]" in last:
            return self.error(500, "the fake server failed on purpose", "server_error")
        text = "Hello from the fake server. You said: " + last
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1][:-1]
        max_tokens = int(body.get("max_tokens") or 1 << 30)
        finish = "stop"
        if len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 4 for m in body["messages"])

        def chunk_of(delta, finish_reason=None, usage=None):
            obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                   "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if usage:
                obj["usage"] = usage
            return obj

        if "[json]" in last:
            return self.send_json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "finish_reason": finish,
                             "message": {"role": "assistant", "content": "".join(words)}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words)}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        split = "[split]" in last
        eol = "\r\n" if split else "\n"
        try:
            if "[silent]" in last:
                while True:
                    time.sleep(0.05)
                    self.wfile.flush()
            self.event(chunk_of({"role": "assistant", "content": ""}), split, eol)
            if "[endless]" in last:
                n = 0
                while True:
                    self.event(chunk_of({"content": "word%d " % n}))
                    n += 1
                    time.sleep(0.05)
            for i, w in enumerate(words):
                if "[cut]" in last and i == 3:
                    raise Cut()
                if "[badjson]" in last and i == 1:
                    self.chunk(b"data: {not json\n\n")
                    return
                if "[streamerror]" in last and i == 2:
                    self.event({"error": {"message": "out of memory on the server",
                                          "type": "server_error", "code": 500}})
                    return self.chunk(b"")
                if "[garbage]" in last:
                    self.chunk(b": keep-alive\n\nthis line is no field\nevent: ping\nid: 7\n"
                               b"retry: 100\n\n")
                self.event(chunk_of({"content": w}), split, eol)
                if "[slow]" in last:
                    time.sleep(0.3)
            if "[nodone]" in last:
                return self.chunk(b"")
            self.event(chunk_of({}, finish), split, eol)
            if (body.get("stream_options") or {}).get("include_usage"):
                # As OpenAI sends it: a last chunk with no choices.
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                         "total_tokens": prompt_tokens + len(words)}
                self.event({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                            "model": model, "choices": [], "usage": usage}, split, eol)
            self.event("[DONE]", split, eol)
            self.chunk(b"")
        except Cut:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
