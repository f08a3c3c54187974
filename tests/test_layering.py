"""The package's layers: imports run one way, from the command line down to config and errors, with
no circle anywhere. Imports inside functions count: they are dependencies all the same."""

import ast

import pytest

from conftest import ROOT

PACKAGE = ROOT / "forecast"

# Top to bottom; a module may import its own layer and the ones below it, never one above.
LAYERS = [
    ("interfaces", ["forecast.cli", "forecast.__main__", "forecast.api"]),
    ("pipelines", ["forecast.train", "forecast.warm", "forecast.tune", "forecast.predict", "forecast.evaluate", "forecast.detect"]),
    ("store", ["forecast.store"]),
    ("model", ["forecast.model"]),
    ("evaluation", ["forecast.evaluation"]),
    ("data", ["forecast.data"]),
    ("base", ["forecast.config", "forecast.settings", "forecast.errors", "forecast.version", "forecast"]),
]


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module):
    """The index of `module`'s layer (0 is the top), by the longest matching prefix."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def imports(module):
    """The forecast modules `module` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "forecast"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "forecast":
            for alias in node.names:  # `from forecast.model import stopping` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found - {module}


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_is_in_a_layer_and_every_import_is_a_module():
    for module, targets in GRAPH.items():
        layer(module)
        assert targets <= set(MODULES), (module, targets - set(MODULES))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    upward = [target for target in sorted(GRAPH[module]) if layer(target) < layer(module)]
    names = {target: LAYERS[layer(target)][0] for target in upward}
    assert not upward, f"{module} ({LAYERS[layer(module)][0]}) imports from a higher layer: {names}"


def test_no_import_circles():
    """Depth-first search for a back edge; the circle found is named."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                circle = stack[stack.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checks_catch_what_they_are_for(monkeypatch):
    """The two rules fail on a graph that breaks them, so that passing means something."""
    assert layer("forecast.store.bundle") > layer("forecast.train") > layer("forecast.cli.commands")
    assert layer("forecast.data.load") > layer("forecast.model.fit")
    broken = {**GRAPH, "forecast.data.load": GRAPH["forecast.data.load"] | {"forecast.model.fit"}}
    monkeypatch.setitem(globals(), "GRAPH", broken)
    with pytest.raises(AssertionError, match="imports from a higher layer"):
        test_no_module_imports_a_layer_above_its_own("forecast.data.load")
    with pytest.raises(pytest.fail.Exception, match="import circle: .*forecast.data.load"):
        test_no_import_circles()
