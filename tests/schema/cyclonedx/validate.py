"""Validates a CycloneDX 1.6 JSON BOM against the schema beside this file, every
$ref (spdx.schema.json, jsf-0.82.schema.json) resolved from here: no network.

    /usr/bin/python3 tests/schema/cyclonedx/validate.py BOM.json   # exit 0: valid; 1: the errors

Needs python3-jsonschema (Debian; scripts/dev.sh's test packages)."""
import json
import os
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")


def _load(name):
    with open(os.path.join(HERE, name)) as f:
        return json.load(f)


def validator():
    schemas = {name: _load(name) for name in FILES}
    bom = schemas["bom-1.6.schema.json"]
    # Each schema under its own $id: the relative $refs resolve to these.
    store = {s["$id"]: s for s in schemas.values()}

    def offline(uri):
        raise jsonschema.exceptions.RefResolutionError(f"{uri} is not shipped beside the schema (no network)")

    resolver = jsonschema.RefResolver(base_uri=bom["$id"], referrer=bom, store=store,
                                      handlers={"http": offline, "https": offline})
    jsonschema.Draft7Validator.check_schema(bom)
    return jsonschema.Draft7Validator(bom, resolver=resolver)


def errors(doc):
    """Every way `doc` breaks the schema, as readable lines (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    bad = errors(doc)
    for line in bad:
        print(line, file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
