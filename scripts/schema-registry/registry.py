#!/usr/bin/env python3
"""A small Schema Registry for tests and the local stack (Python standard library only).

No Confluent Schema Registry (or Karapace, Apicurio) can be installed from the package
registries this project's machines reach, so this implements the documented REST subset that
Decision Layer and Confluent's clients use (ADR 0015):

  GET  /schemas/ids/{id}                      -> {"schema": "..."}
  GET  /schemas/ids/{id}/versions             -> [{"subject": s, "version": v}]
  GET  /subjects                              -> ["s", ...]
  GET  /subjects/{s}/versions                 -> [1, 2]
  GET  /subjects/{s}/versions/{v|latest}      -> {"subject", "id", "version", "schema"}
  POST /subjects/{s}/versions  {"schema"}     -> {"id": n}   (idempotent per subject)
  POST /subjects/{s}           {"schema"}     -> {"subject", "id", "version", "schema"} or 404
  GET  /config, GET /config/{s}               -> {"compatibilityLevel": "BACKWARD"}

Ids are global: the same schema (compared as parsed JSON) has one id under every subject, as in
Confluent's registry. Errors use Confluent's shape {"error_code": 40403, "message": "..."}.
It does not check compatibility itself (dlctl checks BACKWARD before registering).

  registry.py --port 8081 [--data FILE] [--basic-auth user:password]
"""
import argparse
import base64
import hmac
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
MAX_BODY = 4 * 1024 * 1024


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.schemas = {}   # id (int) -> schema text
        self.subjects = {}  # subject -> [id, ...] in version order
        if path and os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            self.schemas = {int(k): v for k, v in data["schemas"].items()}
            self.subjects = data["subjects"]

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"schemas": self.schemas, "subjects": self.subjects}, f)
        os.replace(tmp, self.path)

    @staticmethod
    def same(a, b):
        return json.loads(a) == json.loads(b)

    def find_id(self, text):
        for sid, known in self.schemas.items():
            if self.same(known, text):
                return sid
        return None

    def register(self, subject, text):
        with self.lock:
            versions = self.subjects.setdefault(subject, [])
            for sid in versions:
                if self.same(self.schemas[sid], text):
                    return sid
            sid = self.find_id(text)
            if sid is None:
                sid = max(self.schemas, default=0) + 1
                self.schemas[sid] = text
            versions.append(sid)
            self.save()
            return sid


class Handler(BaseHTTPRequestHandler):
    store = None
    basic_auth = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: one line per request on stderr only if asked
        if os.environ.get("REGISTRY_LOG"):
            sys.stderr.write("registry: " + (fmt % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def authorised(self):
        if not self.basic_auth:
            return True
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(self.basic_auth.encode()).decode()
        if hmac.compare_digest(header.encode(), expected.encode()):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="schema-registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        doc = json.loads(raw or b"{}")
        schema = doc.get("schema")
        if not isinstance(schema, str):
            raise ValueError("body must be {\"schema\": \"<schema text>\"}")
        if doc.get("schemaType", "AVRO") != "AVRO" or doc.get("references"):
            raise ValueError("only AVRO schemas without references are supported")
        json.loads(schema)  # must be JSON
        return schema

    def version_doc(self, subject, index):
        sid = self.store.subjects[subject][index]
        return {"subject": subject, "id": sid, "version": index + 1, "schema": self.store.schemas[sid]}

    def do_GET(self):
        if not self.authorised():
            return
        path = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/") if p]
        s = self.store
        if path in (["config"],) or (len(path) == 2 and path[0] == "config"):
            return self.reply(200, {"compatibilityLevel": "BACKWARD"})
        if path == ["subjects"]:
            return self.reply(200, sorted(s.subjects))
        if len(path) >= 3 and path[:2] == ["schemas", "ids"] and re.fullmatch(r"\d+", path[2]):
            sid = int(path[2])
            if sid not in s.schemas:
                return self.error(404, 40403, f"Schema {sid} not found")
            if len(path) == 3:
                return self.reply(200, {"schema": s.schemas[sid]})
            if path[3:] == ["versions"]:
                return self.reply(200, [{"subject": sub, "version": i + 1}
                                        for sub, ids in sorted(s.subjects.items())
                                        for i, x in enumerate(ids) if x == sid])
        if len(path) >= 3 and path[0] == "subjects" and path[2] == "versions":
            subject = path[1]
            if subject not in s.subjects:
                return self.error(404, 40401, f"Subject '{subject}' not found.")
            versions = s.subjects[subject]
            if len(path) == 3:
                return self.reply(200, list(range(1, len(versions) + 1)))
            if len(path) == 4:
                v = path[3]
                if v in ("latest", "-1"):
                    return self.reply(200, self.version_doc(subject, len(versions) - 1))
                if re.fullmatch(r"\d+", v) and 1 <= int(v) <= len(versions):
                    return self.reply(200, self.version_doc(subject, int(v) - 1))
                return self.error(404, 40402, f"Version {v} not found.")
        return self.error(404, 404, "Not found")

    def do_POST(self):
        if not self.authorised():
            return
        path = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/") if p]
        try:
            schema = self.body()
        except (ValueError, json.JSONDecodeError) as e:
            return self.error(422, 42201, f"Invalid schema: {e}")
        if len(path) == 3 and path[0] == "subjects" and path[2] == "versions":
            return self.reply(200, {"id": self.store.register(path[1], schema)})
        if len(path) == 2 and path[0] == "subjects":
            subject = path[1]
            if subject not in self.store.subjects:
                return self.error(404, 40401, f"Subject '{subject}' not found.")
            for i, sid in enumerate(self.store.subjects[subject]):
                if Store.same(self.store.schemas[sid], schema):
                    return self.reply(200, self.version_doc(subject, i))
            return self.error(404, 40403, "Schema not found")
        return self.error(404, 404, "Not found")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", help="JSON file that keeps the schemas across restarts")
    ap.add_argument("--basic-auth", help="user:password required on every request")
    args = ap.parse_args()
    Handler.store = Store(args.data)
    Handler.basic_auth = args.basic_auth
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
