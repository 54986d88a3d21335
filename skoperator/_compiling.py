"""The training step compiled with :func:`torch.compile`, and its fall-back to eager steps.

``DeepONetRegressor(compile=...)`` compiles the step's objective
(:func:`skoperator._objective.step_objective`: forward, residuals, loss and,
through AOTAutograd, their backward). torch compiles lazily: a module the
compiler cannot handle raises at the first compiled call of a new shape, in
the forward or (by default) in the first backward. :class:`CompiledObjective`
asks for the backward to be compiled with the forward, so that both fail at
the call, and then runs that step and every later one eagerly, with one
warning that names the user's module and the compiler's error. Only an error
that the eager step does not raise is taken for a compilation failure: an
error of the step itself is raised as it would be without compilation.

torch keeps a function's compiled graphs on its code object, and past
``torch._dynamo.config.recompile_limit`` graphs (8) it runs the function
eagerly with no error, only a log line: one shared objective would stop being
compiled, silently, from about the fifth architecture a process fits (a search
over widths, say). So each architecture (the network's modules, parameter
shapes, dtypes and devices, and the mode) compiles its own copy of the
objective, with its own graphs and its own limit; fits of the same architecture
(refits, ``partial_fit``, ``warm_start``) share them. The copies of the
:data:`KEPT` most recent architectures are kept, with their graphs.
"""

import collections
import contextlib
import threading
import types
import warnings

import torch
import torch._functorch.config

#: inductor's notice that complex operators (the FNO's Fourier transforms) run
#: as eager kernels inside the compiled graph: expected, not the user's concern.
_COMPLEX_NOTICE = "Torchinductor does not support code generation for complex operators"

#: The :func:`torch.compile` backend (the tests replace it with one that fails).
BACKEND = "inductor"

#: How many architectures' copies of the objective (and their graphs) are kept.
KEPT = 16

_copies = collections.OrderedDict()  # architecture -> copy of the objective, oldest first
_copies_lock = threading.Lock()  # fits may run in threads (a search with n_jobs)


class CompiledObjective:
    """``objective`` compiled with :func:`torch.compile`; eager from the first failure on.

    Parameters
    ----------
    objective : callable
        ``objective(network, *args)``: the step's objective, called with
        the network first.
    mode : str or None
        The :func:`torch.compile` mode (None: its default).
    network : torch.nn.Module
        The network the fit trains: its architecture picks the copy of
        ``objective`` that is compiled (see the module's docstring).

    Attributes
    ----------
    failure : str or None
        The compiler's error (type and first line) after a fall-back, else
        None.
    """

    def __init__(self, objective, mode, network):
        self.eager = objective
        self.compiled = torch.compile(_copy_for(objective, (mode, architecture(network))),
                                      mode=mode, backend=BACKEND)
        self.failure = None
        self.mode = mode

    def __call__(self, network, *args):
        if self.failure is not None:
            return self.eager(network, *args)
        try:
            with _backward_with_forward(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_COMPLEX_NOTICE)
                return self.compiled(network, *args)
        except Exception as exc:
            # An error the eager step raises too is the step's own: it raises here.
            result = self.eager(network, *args)
            self.failure = _first_line(exc)
            warnings.warn(
                f"compile (mode {self.mode or 'default'!r}): torch.compile failed on "
                f"{describe(network)} "
                f"({self.failure}); this fit continues without compilation, as with "
                "compile=False. Pass compile=False to skip the attempt.",
                UserWarning, stacklevel=4)
            return result


def architecture(network):
    """What distinguishes ``network``'s compiled graphs: modules, parameter and buffer shapes."""
    modules = tuple((name, type(m).__module__, type(m).__qualname__)
                    for name, m in network.named_modules())
    tensors = tuple((name, tuple(t.shape), str(t.dtype), str(t.device))
                    for name, t in (*network.named_parameters(), *network.named_buffers()))
    return modules, tensors


def _copy_for(objective, key):
    """The copy of ``objective`` (its own code object) for ``key``, the most recent kept."""
    key = (objective.__module__, objective.__qualname__, key)
    with _copies_lock:
        copy = _copies.pop(key, None) or types.FunctionType(
            objective.__code__.replace(), objective.__globals__, objective.__name__,
            objective.__defaults__, objective.__closure__)
        _copies[key] = copy  # the most recent last
        while len(_copies) > KEPT:
            _copies.popitem(last=False)
    return copy


def _backward_with_forward():
    """A context in which AOTAutograd compiles a graph's backward with its forward."""
    if hasattr(torch._functorch.config, "force_non_lazy_backward_lowering"):
        return torch._functorch.config.patch(force_non_lazy_backward_lowering=True)
    return contextlib.nullcontext()  # older torch: the backward compiles lazily


def _first_line(exc):
    """``"Type: first line"`` of ``exc``, with its innermost cause's (the compiler's error)."""
    inner, seen = exc, {id(exc)}
    while True:
        cause = getattr(inner, "inner_exception", None) or inner.__cause__
        if cause is None or id(cause) in seen:
            break
        inner = cause
        seen.add(id(inner))
    lines = str(inner).strip().splitlines()
    text = f"{type(inner).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if inner is exc else f"{type(exc).__name__}: {text}"


def describe(network):
    """The user's modules in ``network`` by class name, or the network's class.

    A user's module is one whose class is defined outside skoperator and
    torch; only the outermost are named. Without one, the network's class
    and those of its branch and trunk.
    """
    names, inside = [], []
    for name, module in network.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        package = type(module).__module__.partition(".")[0]
        if package not in ("skoperator", "torch"):
            names.append(type(module).__name__)
            inside.append(name)
    if not names:
        parts = [f"{role} {type(getattr(network, role)).__name__}" for role in ("branch", "trunk")
                 if isinstance(getattr(network, role, None), torch.nn.Module)]
        return f"the network {type(network).__name__}" + (f" ({', '.join(parts)})" if parts
                                                          else "")
    return "the module " + ", ".join(dict.fromkeys(names))
