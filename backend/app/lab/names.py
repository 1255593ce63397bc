"""Names used in user code that nothing defines (``NameError`` waiting to happen at run time).

Rules kept here:
- A name is undefined when it is read somewhere, is not a builtin, and no scope it can
  resolve to binds it: not the module (assignment, import, def, class, for/with targets,
  ``global`` writes from functions), not an enclosing function, not the scope itself.
- Class bodies are not enclosing scopes for their methods (Python's rule), so ``self.x``
  must be used for attributes; a bare ``x`` in a method must be defined elsewhere.
- Each undefined name is reported once, at its first use, with line and column.
- Code with ``from m import *`` is not checked (its names are unknowable statically).
Built on the standard library's `symtable`, the compiler's own view of scopes.
"""

import ast
import builtins
import symtable
from collections.abc import Iterator

_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__doc__", "__file__", "__builtins__"}


def _tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _tables(child)


def undefined_names(tree: ast.Module, code: str, filename: str) -> list[tuple[str, int, int]]:
    """(name, line, column) of each name read but never defined, in order of first use."""
    if any(
        isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        for node in ast.walk(tree)
    ):
        return []
    try:
        top = symtable.symtable(code, filename, "exec")
    except SyntaxError:
        return []
    module_names = {
        s.get_name()
        for s in top.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    }
    # A function's `global x; x = ...` defines x for the module too.
    for table in _tables(top):
        for symbol in table.get_symbols():
            if symbol.is_declared_global() and symbol.is_assigned():
                module_names.add(symbol.get_name())
    missing: set[str] = set()
    for table in _tables(top):
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if not symbol.is_referenced() or name in _BUILTINS or name in module_names:
                continue
            if table.get_type() == "module" or symbol.is_global():
                missing.add(name)
    if not missing:
        return []
    found: dict[str, tuple[str, int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in missing:
            first = found.get(node.id)
            here = (node.id, node.lineno, node.col_offset + 1)
            if first is None or (here[1], here[2]) < (first[1], first[2]):
                found[node.id] = here
    return sorted(found.values(), key=lambda item: (item[1], item[2]))
