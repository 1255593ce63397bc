"""What user code gets instead of real modules, inside a sandbox child: read-only views.

The import hook hands user code a view of each module it imports, never the module itself.
A view enforces the code policy (`app.lab.code_policy`) at run time, whatever way the name
was spelled (``np.x``, ``getattr``, ``operator.attrgetter("a.b")``, ``functools.reduce``):

- private and double-underscore attributes are refused (``random._os``), except a few
  harmless dunders (``__name__``, ``__doc__``, ``__version__``, ``__all__``);
- an attribute that is a module is handed out as another view when the module may be
  imported, and refused otherwise (``pd.io``, ``warnings.sys``, ``typing.sys``): the
  dangerous modules stay unreachable even when named;
- ``operator.attrgetter``/``methodcaller``, however they are reached, are replaced by
  versions that check every name they will look up;
- views cannot be written to.

The real module is only held in a closure of the view's class, which user code cannot reach
without double-underscore attributes. The libraries themselves keep using the real modules,
so nothing they do changes. This is a policy layer, not the security boundary: the
operating-system walls (`walls`) hold without it.
"""

import operator
import types
from collections.abc import Callable
from typing import Any

from app.lab.code_policy import attribute_refusal, dotted_refusal, module_refusal

# Dunders a view answers (everything else double-underscore is refused).
VIEW_DUNDERS = frozenset({"__name__", "__doc__", "__version__", "__all__"})

_views: dict[str, types.ModuleType] = {}
_view_ids: set[int] = set()


class PolicyError(AttributeError):
    """User code reached for something the code policy refuses."""


def checked_attrgetter(*names: str) -> Callable[[Any], Any]:
    refusal = dotted_refusal(names) if all(isinstance(n, str) for n in names) else None
    if refusal or not names:
        raise PolicyError(f"attrgetter: {refusal or 'needs attribute names'}")
    getter = operator.attrgetter(*names)

    def get(obj: Any) -> Any:
        return safe_value(getter(obj))

    return get


def checked_methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    refusal = dotted_refusal([name]) if isinstance(name, str) else "needs a method name"
    if refusal or "." in name:
        raise PolicyError(f"methodcaller: {refusal or 'needs a plain method name'}")
    return operator.methodcaller(name, *args, **kwargs)


_REPLACEMENTS: dict[int, Any] = {
    id(operator.attrgetter): checked_attrgetter,
    id(operator.methodcaller): checked_methodcaller,
}


def safe_value(value: Any) -> Any:
    """What user code may hold instead of `value`: a view for an allowed module, the
    checked version of a dynamic getter, the value itself otherwise; raises `PolicyError`
    for a module that may not be reached."""
    if isinstance(value, types.ModuleType):
        return module_view(value)
    replacement = _REPLACEMENTS.get(id(value))
    return value if replacement is None else replacement


def module_view(module: types.ModuleType) -> types.ModuleType:
    """The view of `module` (one per module and process); raises `PolicyError` when user
    code may not reach it."""
    if id(module) in _view_ids:
        return module
    real_name = module.__name__
    if not isinstance(real_name, str):
        raise PolicyError("this module is not available in the Lab sandbox")
    refusal = module_refusal(real_name)
    if refusal:
        raise PolicyError(f"module {real_name!r} is not available in the Lab sandbox: {refusal}")
    view = _views.get(real_name)
    if view is None:
        view = _views[real_name] = _make_view(module)
        _view_ids.add(id(view))
    return view


def _make_view(real: types.ModuleType) -> types.ModuleType:
    name = real.__name__

    class ModuleView(types.ModuleType):
        def __getattribute__(self, attribute: str) -> Any:
            if attribute in VIEW_DUNDERS:
                return getattr(real, attribute)
            refusal = attribute_refusal(attribute)
            if refusal:
                raise PolicyError(f"{name}.{attribute}: {refusal}")
            try:
                value = getattr(real, attribute)
            except AttributeError:
                raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None
            return safe_value(value)

        def __setattr__(self, attribute: str, value: Any) -> None:
            raise PolicyError(f"modules cannot be changed from Lab code ({name}.{attribute})")

        def __delattr__(self, attribute: str) -> None:
            raise PolicyError(f"modules cannot be changed from Lab code ({name}.{attribute})")

        def __dir__(self) -> list[str]:
            return sorted(a for a in dir(real) if attribute_refusal(a) is None)

        def __repr__(self) -> str:
            return f"<module {name!r} (Lab view)>"

    return ModuleView(name)
