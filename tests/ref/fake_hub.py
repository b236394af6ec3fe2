#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub in its URL layout, for tests/test_hub.cpp (never the real hub).

    fake_hub.py ROOT LOG       serves ROOT on 127.0.0.1, prints the port on the first line of stdout

ROOT/repos/<owner>/<name>/<revision>/...  the files of each repo at each revision
ROOT/search.json                          [{"id", "config": {...}, "gguf": {...}, "tags", ...}]
ROOT/behaviour.json (read on every request, so a test can change it between calls):
    "cut":       {"owner/name/path": {"after": BYTES, "times": N}}  the first N requests of the file
                 announce the whole length, send BYTES and drop the connection
    "corrupt":   ["owner/name/path"]      one byte flipped in what is served (the listing is true)
    "slow":      {"owner/name/path": S}   sleep S seconds before each 64 KiB
    "no_range":  ["owner/name/path"]      Range ignored: 200 and the whole file
    "missing":   ["owner/name/path"]      listed, but its bytes answer 404 (EntryNotFound)
    "tokens":    {"owner/name": "SECRET"} 401 unless "Authorization: Bearer SECRET"
    "page_size": N                        the tree listing in pages of N, linked by Link: rel="next"
    "redirect":  true                     LFS files answered by a 302 to /cdn/... (as the hub's CDN)
LOG gets one JSON line per request, written before its body is sent: method, path, query, range,
auth, status, sent (the body bytes it sends: fewer than announced when cut).
Files ending .safetensors/.gguf/.bin are listed as LFS files (sha256), others as git files (oid is
the git blob SHA-1), as the hub's /api/models/REPO/tree/REV does.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
LOG = sys.argv[2]
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")
log_lock = threading.Lock()
cut_counts = {}


last_behaviour = [None]


def behaviour():
    """The behaviour now; a new one starts the "cut" counts again."""
    try:
        with open(os.path.join(ROOT, "behaviour.json")) as f:
            text = f.read()
    except FileNotFoundError:
        text = "{}"
    with log_lock:
        if text != last_behaviour[0]:
            last_behaviour[0] = text
            cut_counts.clear()
    return json.loads(text)


def repo_dir(repo, revision=None):
    parts = [ROOT, "repos"] + repo.split("/")
    if revision is not None:
        parts.append(revision)
    return os.path.join(*parts)


def listing(repo, revision):
    base = repo_dir(repo, revision)
    entries = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, base)
        if rel_dir != ".":
            entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": rel_dir})
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            with open(full, "rb") as f:
                data = f.read()
            entry = {"type": "file", "size": len(data), "path": rel}
            if name.endswith(LFS_SUFFIXES):
                pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
                    hashlib.sha256(data).hexdigest(), len(data))
                entry["oid"] = hashlib.sha1(pointer.encode()).hexdigest()
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                "pointerSize": len(pointer)}
            else:
                entry["oid"] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            entries.append(entry)
    return entries


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, status, sent):
        line = {"method": self.command, "path": urllib.parse.urlsplit(self.path).path,
                "query": urllib.parse.urlsplit(self.path).query,
                "range": self.headers.get("Range", ""), "auth": self.headers.get("Authorization", ""),
                "status": status, "sent": sent}
        with log_lock, open(LOG, "a") as f:
            f.write(json.dumps(line) + "\n")

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.record(status, len(body))  # before the body: the client acts once it has it
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, json.dumps({"error": message}).encode(),
                   {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message})

    def authorized(self, repo, b):
        secret = b.get("tokens", {}).get(repo)
        if secret is None:
            return True
        if self.headers.get("Authorization") == "Bearer " + secret:
            return True
        self.error(401, "GatedRepo", "Access to model %s is restricted." % repo)
        return False

    def do_GET(self):
        split = urllib.parse.urlsplit(self.path)
        path, query = split.path, urllib.parse.parse_qs(split.query)
        b = behaviour()
        if path == "/api/models":
            return self.search(query)
        if path.startswith("/api/models/") and "/tree/" in path:
            repo, rev = path[len("/api/models/"):].split("/tree/", 1)
            return self.tree(repo, urllib.parse.unquote(rev), query, b)
        if path.startswith("/cdn/"):
            repo, rest = path[len("/cdn/"):].split("/resolve/", 1)
            return self.resolve(repo, rest, b, from_cdn=True)
        if "/resolve/" in path:
            repo, rest = path[1:].split("/resolve/", 1)
            return self.resolve(repo, rest, b, from_cdn=False)
        self.error(404, "NotFound", "no such route")

    def search(self, query):
        try:
            with open(os.path.join(ROOT, "search.json")) as f:
                models = json.load(f)
        except FileNotFoundError:
            models = []
        text = query.get("search", [""])[0].lower()
        limit = int(query.get("limit", ["20"])[0])
        hits = [m for m in models if text in m["id"].lower()][:limit]
        self.reply(200, json.dumps(hits).encode(), {"Content-Type": "application/json"})

    def tree(self, repo, rev, query, b):
        if not os.path.isdir(repo_dir(repo)):
            return self.error(404, "RepoNotFound", "Repository Not Found")
        if not self.authorized(repo, b):
            return
        if not os.path.isdir(repo_dir(repo, rev)):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        entries = listing(repo, rev)
        page_size = b.get("page_size")
        headers = {"Content-Type": "application/json"}
        if page_size:
            start = int(query.get("cursor", ["0"])[0])
            if start + page_size < len(entries):
                headers["Link"] = '<http://127.0.0.1:%d/api/models/%s/tree/%s?recursive=true&cursor=%d>; rel="next"' % (
                    self.server.server_address[1], repo, urllib.parse.quote(rev, safe=""), start + page_size)
            entries = entries[start:start + page_size]
        self.reply(200, json.dumps(entries).encode(), headers)

    def resolve(self, repo, rest, b, from_cdn):
        if not os.path.isdir(repo_dir(repo)):
            return self.error(404, "RepoNotFound", "Repository Not Found")
        if not from_cdn and not self.authorized(repo, b):
            return
        rev, _, rel = rest.partition("/")
        rev, rel = urllib.parse.unquote(rev), urllib.parse.unquote(rel)
        full = os.path.join(repo_dir(repo, rev), rel)
        if not os.path.isdir(repo_dir(repo, rev)):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        key = "%s/%s" % (repo, rel)
        if ".." in rel.split("/") or not os.path.isfile(full) or key in b.get("missing", []):
            return self.error(404, "EntryNotFound", "Entry not found")
        if b.get("redirect") and rel.endswith(LFS_SUFFIXES) and not from_cdn:
            return self.reply(302, b"", {"Location": "/cdn/%s/resolve/%s" % (repo, rest)})
        with open(full, "rb") as f:
            data = f.read()
        if key in b.get("corrupt", []):
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and key not in b.get("no_range", []):
            start = int(rng[len("bytes="):].split("-")[0])
            if start >= len(data):
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        cut = b.get("cut", {}).get(key)
        send = len(body)
        if cut and cut_counts.get(key, 0) < cut.get("times", 1):
            cut_counts[key] = cut_counts.get(key, 0) + 1
            send = min(send, cut["after"])
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        delay = b.get("slow", {}).get(key, 0)
        self.record(status, send)  # before the body, as reply() does
        sent = 0
        try:
            while sent < send:
                if delay:
                    time.sleep(delay)
                chunk = body[sent:min(send, sent + 65536)]
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if send < len(body):
            # Drop the connection mid-file, as a network failure would.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
