"""missions-bench's results channel for sealed acceptance runs of pytest.

Loaded with `-p missions_bench_seal` before any code of the tree under test is imported. It writes
one JSON line per test report to a file descriptor it opens at load time, and before it says the
run ended it checks that nothing from the tree changed the test runner, the interpreter's modules,
the import machinery or the collected tests. The harness trusts a run only when the last line is
the end line and no check failed.
"""

import json
import os
import sys

_PATH = os.environ.pop("MISSIONS_BENCH_SEAL", None)
_TREE = os.path.realpath(os.environ.pop("MISSIONS_BENCH_SEAL_TREE", os.getcwd()))
_INTO = os.path.realpath(os.environ.pop("MISSIONS_BENCH_SEAL_INTO", _TREE))
_FD = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if _PATH else None
_write = os.write
_dumps = json.dumps
_realpath = os.path.realpath
# The standard library's own folder: decorators from there (unittest.skip, mock.patch) wrap a
# hidden test and say what they wrap; code from anywhere else is not followed through.
import sysconfig as _sysconfig
_STDLIB = _realpath(_sysconfig.get_paths()["stdlib"])

# Modules tests commonly use, imported now so that their originals are known before the tree runs.
for _name in (
    "argparse", "base64", "collections", "csv", "datetime", "functools", "hashlib",
    "http.client", "http.server", "io", "itertools", "json", "math", "os", "pathlib", "random",
    "re", "shutil", "socket", "sqlite3", "string", "subprocess", "tempfile", "textwrap", "time",
    "unittest", "unittest.mock", "urllib.request", "uuid",
):
    try:
        __import__(_name)
    except Exception:
        pass

# Replaced by the runner itself around each test, or mutable state rather than code.
_VOLATILE = {
    ("sys", None), ("warnings", None), ("threading", "excepthook"), ("builtins", "_"),
}


def _emit(record):
    if _FD is not None:
        _write(_FD, (_dumps(record) + "\n").encode())


def _in_tree(path):
    if not path:
        return False
    real = _realpath(path)
    inside = real == _TREE or real.startswith(_TREE + os.sep)
    hidden = real == _INTO or real.startswith(_INTO + os.sep)
    return inside and not hidden


def _watched_modules(everything=True):
    stdlib = getattr(sys, "stdlib_module_names", ())
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        runner = top in ("pytest", "_pytest", "pluggy")
        if runner or top == "builtins" or (everything and top in stdlib):
            if (top, None) in _VOLATILE:
                continue
            yield name, module, runner


def _members(everything=True):
    """`((module, attribute), value)` of the functions and classes of the watched modules, and
    of the members of the runner's own classes."""
    for name, module, deep in _watched_modules(everything):
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if (name, attr) in _VOLATILE or not (callable(value) or isinstance(value, type)):
                continue
            yield (name, attr), value
            if deep and isinstance(value, type) and getattr(value, "__module__", None) == name:
                for key, member in list(vars(value).items()):
                    if callable(member) or isinstance(member, (property, staticmethod, classmethod)):
                        yield (name, attr + "." + key), member


_CODE = type(_emit.__code__)


def _code_file(value):
    """The file a function (or the function behind a method, property or partial) comes from."""
    try:
        for candidate in (value, getattr(value, "__func__", None), getattr(value, "func", None),
                          getattr(value, "fget", None)):
            if isinstance(candidate, type):
                continue
            code = getattr(candidate, "__code__", None)
            if isinstance(code, _CODE):
                return code.co_filename
    except Exception:
        pass
    return None


_ORIGINAL = dict(_members())
_IMPORT_HOOKS = (list(sys.meta_path), list(sys.path_hooks))
_config = None
_problems = []
_SELF = sys.modules.get(__name__)


def _problem(text):
    if text not in _problems:
        _problems.append(text)


def _check_modules(everything=True):
    """Code from the tree must not stand in for the runner's or the interpreter's.

    The runner and the standard library swap some of their own functions while tests run (warning
    capture, for one), so a replacement counts when the new code comes from the tree, or when a
    function written in Python was replaced by something that has no code to show. Between tests
    only the runner's modules and the builtins are checked; everything at the end of collection
    and of the session.
    """
    present = set()
    for key, value in _members(everything):
        original = _ORIGINAL.get(key)
        if original is value:
            if everything:
                present.add(key)
            continue
        name = key[0] + "." + key[1]
        origin = _code_file(value)
        if _in_tree(origin):
            _problem("replaced " + name + " by code from "
                     + os.path.relpath(_realpath(origin), _TREE))
        elif original is not None and origin is None and _code_file(original) is not None:
            _problem("replaced " + name + " by " + type(value).__name__)
        if everything:
            present.add(key)
    if everything:
        for key, original in _ORIGINAL.items():
            if key not in present and key[0] in sys.modules and _code_file(original) is not None:
                _problem("removed " + key[0] + "." + key[1])
    meta_path, path_hooks = _IMPORT_HOOKS
    for hook in sys.meta_path:
        if not any(hook is h for h in meta_path):
            _problem("added an import hook to sys.meta_path: " + type(hook).__name__)
    for hook in sys.path_hooks:
        if not any(hook is h for h in path_hooks):
            _problem("added an import hook to sys.path_hooks")


def _check_plugins():
    """Only the harness's and the hidden tests' own plugins may take part in the run."""
    if _config is None:
        return
    manager = _config.pluginmanager
    for name, plugin in manager.list_name_plugin():
        origin = getattr(plugin, "__file__", None)
        if origin is None:
            module = sys.modules.get(getattr(type(plugin), "__module__", ""), None)
            origin = getattr(module, "__file__", None)
        if _in_tree(origin):
            _problem("registered a pytest plugin from " + os.path.relpath(_realpath(origin), _TREE))
    for hook_name in dir(manager.hook):
        caller = getattr(manager.hook, hook_name, None)
        impls = getattr(caller, "get_hookimpls", None)
        if impls is None:
            continue
        for impl in impls():
            origin = _code_file(getattr(impl, "function", None))
            if _in_tree(origin):
                _problem("implemented the pytest hook " + hook_name + " in "
                         + os.path.relpath(_realpath(origin), _TREE))


_HOOK_CALLERS = {}


def _check_hooks(manager):
    """The hook callers must be pytest's own, and this plugin must still be called."""
    for name, caller in _HOOK_CALLERS.items():
        if getattr(manager.hook, name, None) is not caller:
            _problem("replaced the pytest hook caller " + name)
    for name in ("pytest_runtest_logreport", "pytest_sessionfinish"):
        caller = getattr(manager.hook, name, None)
        impls = caller.get_hookimpls() if hasattr(caller, "get_hookimpls") else []
        if not any(getattr(i, "plugin", None) is _SELF for i in impls):
            _problem("removed the harness's plugin from the hook " + name)


def pytest_configure(config):
    global _config
    _config = config
    for name in dir(config.pluginmanager.hook):
        if name.startswith("pytest_"):
            _HOOK_CALLERS[name] = getattr(config.pluginmanager.hook, name)
    _emit({"event": "start", "pid": os.getpid()})


def _check_all(everything=True, _modules=_check_modules, _plugins=_check_plugins,
               _hooks=_check_hooks):
    _modules(everything)
    _plugins()
    if _config is not None:
        _hooks(_config.pluginmanager)


def _hide_hidden_sources():
    """The hidden tests' modules are in memory once collected; their files go, so that code the
    tests run in another process (a command-line product) cannot read the expected answers."""
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and _realpath(origin).startswith(_INTO + os.sep) and origin.endswith(".py"):
            try:
                os.unlink(origin)
            except OSError:
                pass
    for folder, names, _files in os.walk(_INTO):
        if "__pycache__" in names:
            for name in os.listdir(os.path.join(folder, "__pycache__")):
                try:
                    os.unlink(os.path.join(folder, "__pycache__", name))
                except OSError:
                    pass


def _test_file(function):
    """The file of a collected test function, through the standard library's decorators."""
    for _ in range(8):
        origin = _code_file(function)
        if origin is None or not _realpath(origin).startswith(_STDLIB + os.sep):
            return origin
        wrapped = getattr(function, "__wrapped__", None)
        if wrapped is None:
            return origin
        function = wrapped
    return None


def pytest_collection_finish(session):
    _hide_hidden_sources()
    for item in session.items:
        function = getattr(item, "function", None)
        origin = _test_file(function) if function is not None else str(getattr(item, "path", ""))
        if origin is None or not _realpath(origin).startswith(_INTO + os.sep):
            _problem("collected a test that is not one of the hidden tests: " + item.nodeid)
    _check_all()


def pytest_collectreport(report):
    if report.failed:
        _emit({"event": "collect", "nodeid": report.nodeid, "outcome": "failed"})


# Functions the hooks below call are bound as default arguments (pluggy passes only the hook's own
# arguments), so replacing this module's globals does not change what the hooks do.
def pytest_runtest_logreport(report, _emit=_emit, _check=_check_all):
    _emit({
        "event": "report",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": hasattr(report, "wasxfail"),
    })
    # Code imported while the tests run (a fixture may import the product) is checked after
    # each test, before it could put things back.
    if report.when == "teardown":
        _check(False)


def pytest_sessionfinish(session, exitstatus, _emit=_emit, _check=_check_all, _problems=_problems):
    _check()
    for problem in _problems:
        _emit({"event": "problem", "text": problem})
    _emit({"event": "end", "exitstatus": int(exitstatus)})
