"""``toolproxy grammar SCHEMA.json|-``: print the GBNF grammar of a JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.builder import schema_to_gbnf


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="toolproxy grammar", description="Print the llama.cpp GBNF grammar of a JSON Schema."
    )
    parser.add_argument("schema", help="path of a JSON Schema file, or - for stdin")
    parser.add_argument("--root", default="root", help="name of the root rule (default: root)")
    args = parser.parse_args(argv)
    try:
        if args.schema == "-":
            text = sys.stdin.read()
        else:
            with open(args.schema, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        print(f"toolproxy grammar: cannot read {args.schema}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"toolproxy grammar: {args.schema} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        grammar = schema_to_gbnf(schema, root=args.root)
    except UnsupportedSchema as exc:
        print(f"toolproxy grammar: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"toolproxy grammar: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(grammar)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
