"""The layout: the library's import graph has no cycles and no library module imports a
command (cli/) or defines flags at import; `jaxstyle.stylize` is the function and
`python -m jaxstyle.stylize` the command; the test ids that tests/README.md names exist."""

import ast
import importlib
import pathlib
import re
import subprocess
import sys

import pytest

import jaxstyle

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _library_modules():
  for path in sorted((ROOT / "jaxstyle").rglob("*.py")):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    yield ".".join(parts), path


def _imports(path: pathlib.Path, module: str, modules) -> set[str]:
  """jaxstyle modules imported at the top level of a file (not inside functions):
  `from a import b` imports a.b if that is a module, else a."""
  tree = ast.parse(path.read_text())
  found = set()
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  for node in tree.body:
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith("jaxstyle")}
    elif isinstance(node, ast.ImportFrom) and node.module:
      base = node.module if node.level == 0 else package + "." + node.module
      if base.startswith("jaxstyle"):
        for a in node.names:
          found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
  return found


def test_library_import_graph_has_no_cycles_and_no_cli():
  modules = dict(_library_modules())
  graph = {m: {i for i in _imports(p, m, modules) if i in modules and i != m}
           for m, p in modules.items()}
  for module, deps in graph.items():
    if not module.startswith("jaxstyle.cli") and module not in ("jaxstyle.stylize",
                                                                "jaxstyle.weights.__main__"):
      assert not any(d.startswith("jaxstyle.cli") for d in deps), (module, deps)
  # A package's __init__ importing its own submodules is how packages work; a cycle is
  # a chain of modules back to the start that goes through another module.
  def parent_of(m):
    return m.rpartition(".")[0]

  state = {}

  def visit(m, stack):
    state[m] = "open"
    for d in graph[m]:
      if parent_of(d) == m or d == parent_of(m):
        continue
      if state.get(d) == "open":
        raise AssertionError(f"import cycle: {' -> '.join(stack + [m, d])}")
      if d not in state:
        visit(d, stack + [m])
    state[m] = "done"

  for m in graph:
    if m not in state:
      visit(m, [])


@pytest.mark.slow
def test_stylize_is_the_function_and_python_m_jaxstyle_stylize_the_command():
  assert callable(jaxstyle.stylize)
  with pytest.raises(ImportError, match="jaxstyle.cli.stylize"):
    importlib.import_module("jaxstyle.stylize")
  assert callable(jaxstyle.stylize)
  done = subprocess.run([sys.executable, "-m", "jaxstyle.stylize", "--content=missing.png",
                         "--style=missing.png"], capture_output=True, text=True, cwd=ROOT,
                        check=False)
  assert done.returncode == 1, done.stderr
  assert done.stderr.strip().splitlines()[-1] == "error: missing.png: no such file"


def test_importing_the_library_defines_no_flags():
  names = [m for m, _ in _library_modules() if not m.startswith("jaxstyle.cli")
           and m not in ("jaxstyle.stylize", "jaxstyle.weights.__main__")]
  code = ("from absl import flags, logging; before = set(flags.FLAGS)\n"
          + "".join(f"import {m}\n" for m in names)
          + "import sys; print(sorted(set(flags.FLAGS) - before)); "
          "print(sorted(m for m in sys.modules if m.startswith('jaxstyle.cli')))")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        check=True, cwd=ROOT)
  assert done.stdout.splitlines() == ["[]", "[]"], done.stdout


def test_the_test_ids_tests_readme_names_exist():
  """Each `tests/DIR/test_x.py::test_name` in tests/README.md (its map of promises to
  tests) is a test function of that file: read with ast, nothing imported or collected."""
  readme = (ROOT / "tests" / "README.md").read_text()
  ids = sorted(set(re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", readme)))
  assert ids
  functions = {}
  for path in {path for path, _ in ids}:
    file = ROOT / path
    functions[path] = ({node.name for node in ast.parse(file.read_text()).body
                        if isinstance(node, ast.FunctionDef)} if file.is_file() else set())
  missing = [f"{path}::{name}" for path, name in ids if name not in functions[path]]
  assert not missing, f"tests/README.md names tests that do not exist: {missing}"
