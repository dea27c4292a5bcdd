#!/usr/bin/env python3
"""Renders and checks the wiregate chart with real tools; deploy/tests/helm_chart.rs reads
the verdicts and the rendered objects from the JSON this prints.

    render.py CHART_DIR [VALUES_FILE | -]

The tools, all from PyPI (no Helm binary is obtainable here: it is in neither Debian's
archive nor a registry we may use):
- helm-python-sdk: Helm's own Go engine (the Helm v4 SDK, built into libhelm_c) for
  `helm template` and `helm lint`, so templates, Sprig functions and values coalescing
  behave exactly as under the helm command;
- kubernetes-validate: the Kubernetes OpenAPI schemas, in strict mode (unknown fields are
  errors), at the oldest version the chart supports and the newest one bundled;
- yamllint: the chart's YAML files and every rendered manifest (duplicate keys above all,
  which a YAML loader silently merges).

A missing tool exits non-zero and says what to install; everything else, including a
template that refuses the values, is reported in the JSON with status 0.
"""

import json
import re
import sys
from pathlib import Path

try:
    import helm_python as helm
    import kubernetes_validate
    import kubernetes_validate.utils as kv_utils
    import yaml
    from yamllint import linter
    from yamllint.config import YamlLintConfig
except ImportError as e:
    sys.exit(
        f"render.py: {e}: install the chart tools with\n"
        "  python3 -m pip install helm-python-sdk kubernetes-validate yamllint"
    )

RELEASE = "wiregate"
NAMESPACE = "vpn"

# Rendered output: Helm's own layout is the norm (no `---` inside a template, long
# checksum lines, toYaml's unindented lists beside the templates' indented ones), but
# duplicate keys, broken indentation and stray whitespace are errors.
RENDERED_LINT = YamlLintConfig(
    """
extends: default
rules:
  document-start: disable
  line-length: disable
  indentation: {spaces: 2, indent-sequences: whatever}
  truthy: {check-keys: false}
  key-duplicates: enable
"""
)
# The chart's own YAML files, which people read.
SOURCE_LINT = YamlLintConfig(
    """
extends: default
rules:
  document-start: disable
  line-length: {max: 100}
  indentation: {spaces: 2, indent-sequences: consistent}
  comments: {min-spaces-from-content: 1}
"""
)
SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def yamllint_problems(text, config, name):
    return [
        f"{name}:{p.line}:{p.column}: [{p.level}] {p.desc}"
        for p in linter.run(text, config)
    ]


def kube_versions(chart_dir):
    """The chart's oldest supported Kubernetes (its kubeVersion floor) and the newest one
    kubernetes-validate knows."""
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    floor = re.search(r">=\s*v?(\d+\.\d+)", meta.get("kubeVersion", ""))
    newest = kv_utils.latest_version()
    return [floor.group(1), newest] if floor else [newest]


def schema_check(obj, versions):
    """Errors and missing schemas of one object, at each version."""
    errors, unknown = [], []
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kv_utils.SchemaNotFoundError:
            unknown.append(f"{name} ({obj.get('apiVersion')}): no schema at {version}")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{name} at Kubernetes {version}: {path}: {e.message}")
    return errors, unknown


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    chart_dir = Path(sys.argv[1])
    values_text = ""
    values_name = "(defaults)"
    if len(sys.argv) == 3:
        values_name = sys.argv[2]
        values_text = sys.stdin.read() if values_name == "-" else Path(values_name).read_text()
    values = helm.values_from_yaml(values_text) if values_text.strip() else {}

    report = {
        "helm_sdk": helm.helm_sdk_version(),
        "render_error": None,
        "lint": [],
        "yamllint": [],
        "schema_errors": [],
        "schema_unknown": [],
        "documents": [],
        "notes": "",
        "values": {},
    }
    for source in [chart_dir / "Chart.yaml", chart_dir / "values.yaml"]:
        report["yamllint"] += yamllint_problems(source.read_text(), SOURCE_LINT, str(source))
    if values_text and values_name != "-":
        report["yamllint"] += yamllint_problems(values_text, SOURCE_LINT, values_name)

    try:
        chart = helm.Chart.load(chart_dir)
    except helm.HelmError as e:
        sys.exit(f"render.py: Helm cannot load the chart {chart_dir}: {e}")
    with chart:
        report["values"] = chart.merge_values(values)
        try:
            rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as e:
            report["render_error"] = str(e)
            print(json.dumps(report))
            return

    versions = kube_versions(chart_dir)
    lint = helm.lint(
        chart_dir,
        values,
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{kv_utils.major_minor(versions[0])}.0",
    )
    report["lint"] = [
        {"severity": SEVERITY.get(m["severity"], "unknown"), "path": m["path"], "error": m["error"]}
        for m in lint["messages"]
    ] + [{"severity": "error", "path": "", "error": e} for e in lint.get("errors") or []]

    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            report["notes"] = text
            continue
        if not text.strip():
            continue
        problems = yamllint_problems(text, RENDERED_LINT, template)
        report["yamllint"] += problems
        if any("syntax error" in p for p in problems):
            continue  # yamllint has said why it is not YAML
        for obj in yaml.safe_load_all(text):
            if not obj:
                continue
            errors, unknown = schema_check(obj, versions)
            report["schema_errors"] += errors
            report["schema_unknown"] += unknown
            report["documents"].append({"template": template, "object": obj, "text": text})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
