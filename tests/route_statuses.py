"""Which HTTP statuses a route's code can answer, derived from its source: the walk the OpenAPI contract test uses.

From the handler and its dependencies, it follows every call it can resolve statically (a function or a
module's function of this project, by name) and collects:
- `raise SomeError(...)` of a `LuntrexError` class: its class `status` (static), or "any status of the error
  table" when the class sets its status per instance (dynamic: a job's or the ledger's error code);
- `status_code=<int>` given to a response it builds (success statuses such as 202, or a replay's 200);
- 400 when the route has parameters or a body FastAPI validates (the app answers validation errors with 400).
It cannot see through calls on objects (`services.commands.issue`), so it under-approximates there; the
contract test therefore requires the declared statuses to be a superset of the static ones and a subset of
what the route can produce.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.dependencies.models import Dependant

from schemas.errors import ERRORS, LuntrexError

PROJECT_PACKAGES = ("ingress", "ledger", "schemas", "runtime", "workers")
DEPTH_MAX = 8


@dataclass
class Derived:
    errors: set[int] = field(default_factory=set)
    successes: set[int] = field(default_factory=set)
    dynamic: bool = False

    def possible_errors(self) -> set[int]:
        """Every error status the route can answer: the static ones, and all the table's when dynamic."""
        table = {spec.status for spec in ERRORS.values()} if self.dynamic else set()
        return self.errors | table


def derive(route: Any) -> Derived:
    """What a route (an entry of `openapi_document.api_routes`) can answer."""
    derived = Derived(successes={route.status_code or 200})
    seen: set[Any] = set()
    for call in [route.endpoint, *_dependency_calls(route.dependant)]:
        _walk(call, derived, seen, DEPTH_MAX)
    if _has_validated_inputs(route.dependant):
        derived.errors.add(400)
    return derived


def _has_validated_inputs(dependant: Dependant) -> bool:
    params = (
        dependant.path_params + dependant.query_params + dependant.header_params + dependant.cookie_params
    ) + dependant.body_params
    return bool(params) or any(_has_validated_inputs(sub) for sub in dependant.dependencies)


def _dependency_calls(dependant: Dependant) -> list[Callable[..., Any]]:
    calls: list[Callable[..., Any]] = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            calls.append(sub.call)
        calls.extend(_dependency_calls(sub))
    return calls


def _is_project(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    return isinstance(module, str) and module.split(".")[0] in PROJECT_PACKAGES


def _walk(function: Any, derived: Derived, seen: set[Any], depth: int) -> None:
    function = inspect.unwrap(function)
    if depth == 0 or function in seen or not isinstance(function, types.FunctionType) or not _is_project(function):
        return
    seen.add(function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return
    scope = {**function.__globals__, **_closure_of(function)}
    types_of = _local_types(function, tree, scope)
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            _raised(_resolve(node.exc.func, scope, types_of), derived)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "status_code":
                    derived.successes.update(_int_constants(keyword.value))
            target = _resolve(node.func, scope, types_of)
            if target is not None:
                _walk(target, derived, seen, depth - 1)


def _closure_of(function: types.FunctionType) -> dict[str, Any]:
    names = function.__code__.co_freevars
    cells = function.__closure__ or ()
    values = {}
    for name, cell in zip(names, cells, strict=True):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            continue
    return values


def _raised(cls: Any, derived: Derived) -> None:
    if not (isinstance(cls, type) and issubclass(cls, LuntrexError)):
        return
    if _sets_status_per_instance(cls):
        derived.dynamic = True
    else:
        derived.errors.add(cls.status)


def _sets_status_per_instance(cls: type[LuntrexError]) -> bool:
    for klass in cls.__mro__:
        code = getattr(klass.__dict__.get("__init__"), "__code__", None)
        if code is not None and "status" in code.co_names:
            return True
    return False


def _local_types(function: types.FunctionType, tree: ast.AST, scope: dict[str, Any]) -> dict[str, type]:
    """The classes of a function's annotated parameters and locals (`services: Services = ...`), and `self`."""
    found: dict[str, type] = {}
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - an unresolvable annotation only means less is derived
        hints = {}
    found.update({name: hint for name, hint in hints.items() if isinstance(hint, type)})
    owner = inspect.getmodule(function)
    qualname = function.__qualname__.split(".")
    if len(qualname) > 1 and owner is not None and isinstance(getattr(owner, qualname[0], None), type):
        found["self"] = getattr(owner, qualname[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = _resolve(node.annotation, scope, {})
            if isinstance(annotation, type):
                found[node.target.id] = annotation
    return found


def _attribute_of(owner: Any, name: str) -> Any:
    """`owner.name` for a module or a class: a class's annotated field is its declared type."""
    if isinstance(owner, type):
        try:
            hint = typing.get_type_hints(owner).get(name)
        except Exception:  # noqa: BLE001 - see _local_types
            hint = None
        if isinstance(hint, type):
            return hint
    if isinstance(owner, (types.ModuleType, type)):
        return getattr(owner, name, None)
    return None


def _resolve(node: ast.expr, scope: dict[str, Any], types_of: dict[str, type]) -> Any:
    """What a call's target names: `name`, `module.name`, or `var.field.method` through declared types."""
    if isinstance(node, ast.Name):
        return types_of.get(node.id) or scope.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope, types_of)
        if owner is not None and (isinstance(owner, (types.ModuleType, type))):
            return _attribute_of(owner, node.attr)
    return None


def _int_constants(node: ast.expr) -> set[int]:
    return {
        sub.value
        for sub in ast.walk(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, int) and not isinstance(sub.value, bool)
    }
