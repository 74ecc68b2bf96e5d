"""Checks HTTP answers against an OpenAPI 3.0 description.

usage: check_openapi.py OPENAPI_YAML ANSWERS_JSONL [MIN]
Each line of ANSWERS_JSONL: {"method", "path" (with the query), "status",
"content_type", "body", "headers"?}. Every answer must be documented: its
path matches a path template, its method and status are listed (or
"default"), its content type is one the answer declares, and a JSON body
validates against the declared schema. When an answer kept its headers
(names lowercase), every header the answer declares required is there, and
each of the API's own headers (API_HEADERS) it carries is declared. A path outside the description may only get 404, and
a method not described only 405, each as components/responses/Error. Prints the first few problems and exits 1 if any, or
if fewer than MIN (default 1) answers were checked.
"""
import json
import os
import re
import sys

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openapi"
GENERIC = "#/components/responses/Error"  # unknown path 404, unknown method 405
API_HEADERS = ("location", "retry-after", "preference-applied")


def to_json_schema(node):
    """OpenAPI 3.0 schema objects to JSON Schema: nullable becomes a null type."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}]}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/"):
        out["$ref"] = SPEC_URI + out["$ref"]
    return out


def main():
    spec = yaml.safe_load(open(sys.argv[1]))
    js = to_json_schema(spec)
    registry = Registry().with_resource(SPEC_URI, Resource(contents=js, specification=DRAFT202012))
    templates = []
    for tpl in spec["paths"]:
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tpl)) + "$"
        templates.append((tpl, re.compile(rx)))
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    problems, n = [], 0

    def resolve(obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            obj = spec
            for part in ref[2:].split("/"):
                obj = obj[part]
        return obj

    for line in open(sys.argv[2]):
        if not line.strip():
            continue
        a = json.loads(line)
        n += 1
        where = f'{a["method"]} {a["path"]} → {a["status"]}'
        path = a["path"].split("?", 1)[0]
        tpl = next((t for t, rx in templates if rx.match(path)), None)
        op = spec["paths"][tpl].get(a["method"].lower()) if tpl is not None else None
        if tpl is None and a["status"] != 404:
            problems.append(f"{where}: path not in the description")
            continue
        if tpl is not None and op is None and a["status"] != 405:
            problems.append(f"{where}: method not described for {tpl}")
            continue
        if op is None:
            # An unknown path (404) or method (405): the generic error answer.
            op = {"responses": {str(a["status"]): {"$ref": GENERIC}}}
        responses = op.get("responses", {})
        resp = responses.get(str(a["status"])) or responses.get("default")
        if resp is None:
            problems.append(f"{where}: status not described (has {', '.join(responses)})")
            continue
        resp = resolve(resp)
        if "headers" in a:
            declared = {k.lower(): v for k, v in resp.get("headers", {}).items()}
            for h, d in declared.items():
                if d.get("required") and h not in a["headers"]:
                    problems.append(f"{where}: required header {h} missing")
            for h in API_HEADERS:
                if h in a["headers"] and h not in declared:
                    problems.append(f"{where}: header {h} sent but not declared")
        content = resp.get("content")
        ctype = (a.get("content_type") or "").split(";", 1)[0].strip().lower()
        if not content:
            continue
        if ctype not in content:
            problems.append(f"{where}: content type {ctype!r} not among {', '.join(content)}")
            continue
        schema = content[ctype].get("schema")
        if schema is None or not ctype.endswith("json"):
            continue
        try:
            body = json.loads(a["body"])
        except ValueError as e:
            problems.append(f"{where}: body is not JSON ({e})")
            continue
        v = jsonschema.Draft202012Validator(to_json_schema(schema), registry=registry)
        err = jsonschema.exceptions.best_match(v.iter_errors(body))
        if err is not None:
            at = "/".join(str(p) for p in err.absolute_path) or "(top)"
            problems.append(f"{where}: {at}: {err.message[:200]}")
    for p in problems[:8]:
        print(p)
    if problems:
        sys.exit(f"{len(problems)} of {n} answers do not match {os.path.basename(sys.argv[1])}")
    if n < want:
        sys.exit(f"{n} answers checked, wanted at least {want}")
    print(f"{n} answers match {os.path.basename(sys.argv[1])}")


main()
