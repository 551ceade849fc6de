#!/usr/bin/python3
"""Checks a Slicer CLI module's --xml output with an independent XML parser (xml.etree).

usage: check_module_xml.py EXECUTABLE SOURCE_XML PROJECT_VERSION

The rules below are the execution model's, as its documentation states them
(https://www.slicer.org/wiki/Documentation/Nightly/Developers/SlicerExecutionModel):
- the root is <executable>, with the module information Slicer shows in its module panel and
  help: category, title, description, version, documentation-url, license, contributor,
  acknowledgements;
- parameters come in <parameters> groups (attribute advanced="true"|"false" optional), each with
  a <label> and a <description>;
- every parameter has a <name> (a C++ identifier), a <label> and a <description>; it is passed
  either with a <flag> (one character) and/or <longflag>, or by position (<index>, which needs a
  <channel>); a parameter with <channel>output</channel> and neither flag nor index is a return
  parameter, which must be a simple type (Slicer reads it back from --returnparameterfile);
- file, directory, image, geometry and transform parameters declare a <channel> (input|output);
  an <image> type attribute is one of scalar, label, tensor, diffusion-weighted, vector, model;
- enumerations list <element>s and their <default> is one of them; a <boolean> defaults to false
  (Slicer passes a boolean as a bare flag, so a default of true could never be switched off);
- numeric defaults lie within <constraints> (<minimum>, <maximum>);
- indices are 0..n-1 without gaps; names and flags are unique.
The module must also print exactly its source XML file (embedded at build time), and its version
must be the project's.
"""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

MODULE_INFO = ["category", "title", "description", "version", "documentation-url", "license",
               "contributor", "acknowledgements"]
SCALARS = {"integer", "float", "double", "boolean", "string"}
VECTORS = {"integer-vector", "float-vector", "double-vector", "string-vector"}
ENUMERATIONS = {"integer-enumeration", "float-enumeration", "double-enumeration", "string-enumeration"}
CHANNELLED = {"file", "directory", "image", "geometry", "transform", "point", "region", "table"}
IMAGE_TYPES = {"scalar", "label", "tensor", "diffusion-weighted", "vector", "model"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# What each of our modules must offer (issue 5): inputs and outputs of the right kinds, a model
# file, device (and attack) enumerations, an advanced group and its return values.
EXPECTED = {
    "IMA Segment": {"images": {"inputVolume": ("input", "", 0), "outputLabel": ("output", "label", 1),
                               "referenceLabel": ("input", "label", None)},
                    "files": {"model": ("input", ".imamodel")},
                    "enumerations": ["device"],
                    "returns": ["labelNames", "labelVolumesMl", "labelVoxels", "dice", "meanDice"]},
    "IMA Harden": {"images": {"inputVolume": ("input", "", 0), "inputLabel": ("input", "label", 1)},
                   "files": {"model": ("input", ".imamodel"), "outputModel": ("output", ".imamodel")},
                   "enumerations": ["device", "method", "attackNorm"],
                   "returns": ["finalLoss", "meanMargin", "trainingSeconds"]},
    "IMA Evaluate": {"images": {"inputVolume": ("input", "", 0), "referenceLabel": ("input", "label", 1)},
                     "files": {"model": ("input", ".imamodel"), "report": ("output", ".json")},
                     "enumerations": ["device", "attack", "norm"],
                     "returns": ["auc", "cleanDice", "worstDice", "diceByBudget"]},
}

errors = []


def fail(message):
    errors.append(message)


def text(element, tag):
    child = element.find(tag)
    return None if child is None else (child.text or "").strip()


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_parameter(p, group_label, names, flags, indices, returns):
    kind = p.tag
    name = text(p, "name")
    where = f"parameter <{kind}> '{name}' in group '{group_label}'"
    if kind not in SCALARS | VECTORS | ENUMERATIONS | CHANNELLED:
        fail(f"{where}: unknown parameter kind")
    if not name or not IDENTIFIER.match(name):
        fail(f"{where}: <name> must be a C++ identifier")
    for tag in ("label", "description"):
        if not text(p, tag):
            fail(f"{where}: <{tag}> is missing or empty")
    if name in names:
        fail(f"{where}: name used twice")
    names.add(name)
    flag, longflag, index, channel = text(p, "flag"), text(p, "longflag"), text(p, "index"), text(p, "channel")
    default = text(p, "default")
    if flag is not None and not re.match(r"^-?[A-Za-z]$", flag):
        fail(f"{where}: <flag> '{flag}' must be one character")
    if longflag is not None and not re.match(r"^(--)?[A-Za-z][A-Za-z0-9_]*$", longflag):
        fail(f"{where}: <longflag> '{longflag}' is not a valid long flag")
    for f in (flag, longflag):
        if f:
            key = f.lstrip("-")
            if key in flags:
                fail(f"{where}: flag '{f}' used twice")
            flags.add(key)
    if channel is not None and channel not in ("input", "output"):
        fail(f"{where}: <channel> must be input or output")
    if index is not None:
        if not index.isdigit():
            fail(f"{where}: <index> must be a non-negative integer")
        else:
            indices.append(int(index))
        if channel is None:
            fail(f"{where}: an indexed parameter needs a <channel>")
        if flag or longflag:
            fail(f"{where}: has both an <index> and a flag")
    is_return = channel == "output" and not flag and not longflag and index is None
    if is_return:
        if kind not in SCALARS | VECTORS | ENUMERATIONS:
            fail(f"{where}: a return parameter (output, no flag) must be a simple type")
        returns.append(name)
    elif not flag and not longflag and index is None:
        fail(f"{where}: needs a flag, a longflag or an index")
    if kind in CHANNELLED and channel is None:
        fail(f"{where}: needs a <channel>")
    if kind == "image" and p.get("type") is not None and p.get("type") not in IMAGE_TYPES:
        fail(f"{where}: image type '{p.get('type')}' is not one of {sorted(IMAGE_TYPES)}")
    if kind in ENUMERATIONS:
        elements = [(e.text or "").strip() for e in p.findall("element")]
        if not elements:
            fail(f"{where}: an enumeration needs <element>s")
        if default not in elements:
            fail(f"{where}: default '{default}' is not one of {elements}")
    if kind == "boolean" and default not in (None, "false"):
        fail(f"{where}: a boolean must default to false (it is passed as a bare flag)")
    if kind in ("integer", "float", "double") and default is not None:
        value = number(default)
        if value is None or (kind == "integer" and not re.match(r"^-?\d+$", default)):
            fail(f"{where}: default '{default}' is not a valid {kind}")
        constraints = p.find("constraints")
        if constraints is not None and value is not None:
            low, high = number(text(constraints, "minimum")), number(text(constraints, "maximum"))
            if (low is not None and value < low) or (high is not None and value > high):
                fail(f"{where}: default {default} outside [{low}, {high}]")
    return {"kind": kind, "channel": channel, "type": p.get("type", ""), "index": index,
            "fileExtensions": p.get("fileExtensions", ""), "return": is_return}


def main():
    executable, source, version = sys.argv[1:4]
    run = subprocess.run([executable, "--xml"], capture_output=True)
    if run.returncode != 0:
        fail(f"'{executable} --xml' exited with {run.returncode}: {run.stderr.decode()}")
    with open(source, "rb") as f:
        if run.stdout != f.read():
            fail(f"--xml output differs from {source}")
    try:
        root = ET.fromstring(run.stdout)
    except ET.ParseError as e:
        print(f"FAIL: --xml output is not well-formed XML: {e}")
        return 1
    if root.tag != "executable":
        fail(f"root element is <{root.tag}>, expected <executable>")
    for tag in MODULE_INFO:
        if root.find(tag) is None:
            fail(f"<{tag}> is missing")
        elif tag != "license" and not text(root, tag):
            fail(f"<{tag}> is empty")
    if text(root, "version") != version:
        fail(f"<version> is '{text(root, 'version')}', the project's version is '{version}'")

    groups = root.findall("parameters")
    if not groups:
        fail("no <parameters> group")
    names, flags, indices, returns, params = set(), set(), [], [], {}
    advanced = 0
    for g in groups:
        label = text(g, "label")
        if not label or not text(g, "description"):
            fail(f"a <parameters> group lacks its <label> or <description> ({label})")
        if g.get("advanced") not in (None, "true", "false"):
            fail(f"group '{label}': advanced must be true or false")
        advanced += g.get("advanced") == "true"
        for p in g:
            if p.tag in ("label", "description"):
                continue
            params[text(p, "name")] = check_parameter(p, label, names, flags, indices, returns)
    if sorted(indices) != list(range(len(indices))):
        fail(f"indices {sorted(indices)} are not 0..n-1")
    if advanced == 0:
        fail('no <parameters advanced="true"> group')

    expected = EXPECTED.get(text(root, "title"))
    if expected is None:
        fail(f"unexpected module title '{text(root, 'title')}'")
    else:
        for name, (channel, image_type, index) in expected["images"].items():
            p = params.get(name)
            if not p or p["kind"] != "image" or p["channel"] != channel or p["type"] != image_type or \
                    (index is not None and p["index"] != str(index)):
                fail(f"expected <image{' type=' + repr(image_type) if image_type else ''}> '{name}' "
                     f"channel {channel}" + (f" index {index}" if index is not None else "") + f", found {p}")
        for name, (channel, extension) in expected["files"].items():
            p = params.get(name)
            if not p or p["kind"] != "file" or p["channel"] != channel or extension not in p["fileExtensions"]:
                fail(f"expected <file fileExtensions='{extension}'> '{name}' channel {channel}, found {p}")
        for name in expected["enumerations"]:
            if params.get(name, {}).get("kind") != "string-enumeration":
                fail(f"expected a <string-enumeration> '{name}'")
        if sorted(returns) != sorted(expected["returns"]):
            fail(f"return parameters {sorted(returns)}, expected {sorted(expected['returns'])}")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"{executable}: --xml is well-formed, matches {source} and has every element Slicer needs "
              f"({len(params)} parameters in {len(groups)} groups, {len(returns)} return parameters)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
