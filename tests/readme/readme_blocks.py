#!/usr/bin/env python3
"""Prints the fenced code blocks of README.md that the README tests run, so that the
documentation and its tests cannot drift apart.

  readme_blocks.py README SECTION LANG [--index N]

SECTION is the start of a heading's text (any level: "By hand", "SQL cookbook",
"Node.js"); the blocks are those between that heading and the next heading of the same or
a higher level. LANG is the fence's language word (sh, sql, js, python, go, cpp). With
--index N only the Nth block (from 0) is printed. Exits 1 when nothing matches, so that a
renamed section fails the test instead of testing nothing.
"""
import re
import sys


def blocks(text, section, lang):
    lines = text.splitlines()
    start = level = None
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#+)\s+(.*)", line)
        if m and start is None and m.group(2).startswith(section):
            start, level = i + 1, len(m.group(1))
        elif m and start is not None and len(m.group(1)) <= level:
            lines = lines[start:i]
            break
    else:
        if start is None:
            return []
        lines = lines[start:]
    out, current = [], None
    for line in lines:
        if current is None and line.strip() == "```" + lang:
            current = []
        elif current is not None and line.strip() == "```":
            out.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return out


def main():
    args = sys.argv[1:]
    index = None
    if "--index" in args:
        i = args.index("--index")
        index = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    path, section, lang = args
    with open(path, encoding="utf-8") as f:
        found = blocks(f.read(), section, lang)
    if index is not None:
        found = found[index : index + 1]
    if not found:
        sys.exit(f"readme_blocks: no ```{lang} block under a heading '{section}' in {path}")
    sys.stdout.write("\n".join(found))


if __name__ == "__main__":
    main()
