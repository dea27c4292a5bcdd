#!/usr/bin/env python3
"""Seeds from the documentation, which shows real requests and files: every `curl` call
to the API in docs/*.md becomes an `api_request` seed (`METHOD /path`, a newline, the
body), and every TOML configuration in docs/*.md and examples/ a `config_file` seed.
Usage: from_docs.py <seeds directory> (run from anywhere)."""

import glob
import os
import re
import shlex
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def blocks(text, language):
    return re.findall(r"```" + language + r"\n(.*?)```", text, re.S)


def requests(block):
    """(method, path, body) of each curl call to $API in a shell block."""
    words = shlex.split(block.replace("\\\n", " "), comments=True)
    calls, current = [], None
    for word in words:
        if word == "curl":
            current = []
            calls.append(current)
        elif current is not None:
            current.append(word)
    for args in calls:
        method, body, path = None, None, None
        for i, arg in enumerate(args):
            if arg == "-X":
                method = args[i + 1]
            elif arg == "-d":
                body = args[i + 1]
            elif "$API" in arg:
                path = arg.split("$API", 1)[1]
            elif arg.startswith("http://127.0.0.1:8080"):
                path = arg[len("http://127.0.0.1:8080"):]
        if path:
            yield method or ("POST" if body is not None else "GET"), path, body or ""


def main():
    out = sys.argv[1]
    api, config = os.path.join(out, "api_request"), os.path.join(out, "config_file")
    os.makedirs(api, exist_ok=True)
    os.makedirs(config, exist_ok=True)
    seen = set()
    docs = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    for doc in docs:
        text = open(doc).read()
        name = os.path.splitext(os.path.basename(doc))[0]
        for block in blocks(text, "sh") + blocks(text, "bash"):
            for method, path, body in requests(block):
                seed = f"{method} {path}\n{body}"
                if seed not in seen:
                    seen.add(seed)
                    with open(os.path.join(api, f"{name}-{len(seen):02}"), "w") as f:
                        f.write(seed)
        for i, block in enumerate(blocks(text, "toml")):
            with open(os.path.join(config, f"{name}-{i:02}.toml"), "w") as f:
                f.write(block)
    for example in glob.glob(os.path.join(ROOT, "examples", "*.toml")):
        with open(example) as src, open(os.path.join(config, "example-" + os.path.basename(example)), "w") as f:
            f.write(src.read())


if __name__ == "__main__":
    main()
