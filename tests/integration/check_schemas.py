"""Validates Kafka messages against the project's JSON Schemas.

usage: check_schemas.py SCHEMA_DIR SCHEMA_FILE MESSAGES_FILE [MIN]
MESSAGES_FILE holds one JSON message a line (as kcat prints them). Exits 0
when every message is valid and there are at least MIN (default 1); else
prints the first invalid message's error and exits 1.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource


def main():
    schema_dir = pathlib.Path(sys.argv[1])
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in schema_dir.glob("*.schema.json"))
    schema = json.loads((schema_dir / sys.argv[2]).read_text())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    want = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    n = 0
    for lineno, line in enumerate(open(sys.argv[3]), 1):
        if not line.strip():
            continue
        err = jsonschema.exceptions.best_match(validator.iter_errors(json.loads(line)))
        if err is not None:
            path = "/".join(str(p) for p in err.absolute_path) or "(top)"
            sys.exit(f"{sys.argv[3]}:{lineno}: {path}: {err.message}: {line.strip()[:300]}")
        n += 1
    if n < want:
        sys.exit(f"{sys.argv[3]}: {n} messages, wanted at least {want}")
    print(f"{n} messages valid against {sys.argv[2]}")


main()
