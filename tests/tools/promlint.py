#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""promlint.py < metrics.txt: what `promtool check metrics` checks, without the Prometheus
server package (Debian 12 ships promtool only inside `prometheus`, 96 MB installed). Runs on
Debian's python3, where python3-prometheus-client installs its module.

The text is parsed with python3-prometheus-client's exposition parser (syntax errors fail),
then linted with the rules of promtool's promlint (client_golang testutil/promlint):
help text, counters end in _total and nothing else does, base units, no abbreviated units,
no type in the name, no ':' and no camelCase, _bucket/_count/_sum/le/quantile only on
histograms and summaries. Prints "NAME: problem" lines like promtool; exits 1 on any.
"""
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("promlint.py: python3-prometheus-client is not installed")

BASE_UNITS = {"amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters",
              "metres", "seconds", "volts"}
NON_BASE = {  # unit -> the base unit promlint suggests
    "minutes": "seconds", "hours": "seconds", "days": "seconds", "weeks": "seconds",
    "milliseconds": "seconds", "microseconds": "seconds", "nanoseconds": "seconds",
    "kilobytes": "bytes", "megabytes": "bytes", "gigabytes": "bytes",
    "kibibytes": "bytes", "mebibytes": "bytes", "gibibytes": "bytes",
    "bits": "bytes", "kilograms": "grams", "centimeters": "meters",
    "millimeters": "meters", "kilometers": "meters", "fahrenheit": "celsius",
}
ABBREVIATIONS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h",
                 "d"}
CAMEL = re.compile(r"[a-z][A-Z]")


def lint(text):
    problems = []
    # the parser checks the syntax; HELP and TYPE are read here, by the exposed name
    list(text_string_to_metric_families(text))
    helps, types, samples = {}, {}, []
    for line in text.splitlines():
        m = re.match(r"#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$", line)
        if m:
            (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3).strip()
            continue
        if line.strip() and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
            if m:
                labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or "")
                samples.append((m.group(1), labels))
    families = {}
    for name, labels in samples:
        fam = name
        for suffix in ("_bucket", "_count", "_sum"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                fam = base
        families.setdefault(fam, set()).update(labels)
    for name in sorted(set(types) | set(families)):
        typ = types.get(name, "untyped")
        labels = families.get(name, set())
        if not helps.get(name):
            problems.append((name, "no help text"))
        if typ == "counter" and not name.endswith("_total"):
            problems.append((name, 'counter metrics should have "_total" suffix'))
        if typ != "counter" and name.endswith("_total"):
            problems.append((name, 'non-counter metrics should not have "_total" suffix'))
        if typ not in ("histogram",):
            if name.endswith("_bucket"):
                problems.append((name, 'non-histogram metrics should not have "_bucket" suffix'))
            if "le" in labels:
                problems.append((name, 'non-histogram metrics should not have "le" label'))
        if typ not in ("histogram", "summary"):
            for suffix in ("_count", "_sum"):
                if name.endswith(suffix):
                    problems.append((name, "non-histogram and non-summary metrics should not "
                                           'have "%s" suffix' % suffix))
            if "quantile" in labels:
                problems.append((name, "non-summary metrics should not have \"quantile\" label"))
        words = name.split("_")
        for w in words:
            if w in NON_BASE:
                problems.append((name, 'use base unit "%s" instead of "%s"' % (NON_BASE[w], w)))
            if w in ABBREVIATIONS:
                problems.append((name, 'metric names should not contain abbreviated units'))
        for t in ("counter", "gauge", "histogram", "summary", "untyped"):
            if t in words:
                problems.append((name, 'metric name should not include type \'%s\'' % t))
        if ":" in name:
            problems.append((name, "metric names should not contain ':'"))
        if CAMEL.search(name):
            problems.append((name, "metric names should be written in 'snake_case' not "
                                   "'camelCase'"))
        for label in labels:
            if CAMEL.search(label):
                problems.append((name, "label names should be written in 'snake_case' not "
                                       "'camelCase'"))
    return list(dict.fromkeys(problems))


def main():
    try:
        problems = lint(sys.stdin.read())
    except ValueError as e:
        print("error while linting: text format parsing error: %s" % e)
        return 1
    for name, what in problems:
        print("%s %s" % (name, what))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
