"""The lazy registry: deferred imports, did-you-mean errors, duplicates, plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

import syllabus.llm
from syllabus.errors import ConfigError, UnknownNameError
from syllabus.llm import load_llm
from syllabus.registry import Registry, import_object


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A folder on sys.path; modules written there are forgotten again after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("syllabus_test_"):
            del sys.modules[name]
    importlib.invalidate_caches()


def write_module(folder, name, body):
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    importlib.invalidate_caches()


def test_string_entries_are_not_imported_until_get(module_dir):
    write_module(module_dir, "syllabus_test_lazy", """
        LOADED = True
        def factory():
            return "made"
    """)
    reg: Registry[object] = Registry("thing")
    reg.register("lazy", "syllabus_test_lazy:factory")
    assert reg.names() == ["lazy"]
    assert "lazy" in reg and list(reg) == ["lazy"]
    assert "syllabus_test_lazy" not in sys.modules  # listing and membership import nothing
    factory = reg.get("lazy")
    assert "syllabus_test_lazy" in sys.modules
    assert factory() == "made"
    assert reg.get("lazy") is factory  # imported once, then kept


def test_a_broken_entry_only_fails_when_it_is_asked_for(module_dir):
    write_module(module_dir, "syllabus_test_broken", "raise ImportError('heavy dependency missing')\n")
    reg: Registry[object] = Registry("thing")
    reg.register("broken", "syllabus_test_broken:x")
    reg.register("fine", 42)
    assert reg.names() == ["broken", "fine"]
    assert reg.get("fine") == 42
    with pytest.raises(ImportError, match="heavy dependency missing"):
        reg.get("broken")


def test_unknown_names_get_did_you_mean():
    reg: Registry[int] = Registry("task")
    for name in ("gsm8k", "ifeval", "humaneval"):
        reg.register(name, 1)
    with pytest.raises(UnknownNameError, match=r"Unknown task 'gsm8K'\. Did you mean gsm8k\?"):
        reg.get("gsm8K")
    with pytest.raises(UnknownNameError, match="Did you mean ifeval"):
        reg.get("ifevl")
    with pytest.raises(UnknownNameError, match="Known: gsm8k, humaneval, ifeval") as info:
        reg.get("zzz")
    assert info.value.known == ["gsm8k", "humaneval", "ifeval"]
    assert isinstance(info.value, ConfigError)  # one except clause catches config mistakes


def test_duplicate_registration_is_an_error_but_repeating_the_same_entry_is_not():
    reg: Registry[object] = Registry("check")
    reg.register("lower", "pkg.checks:Lower")
    reg.register("lower", "pkg.checks:Lower")  # e.g. a module imported twice
    with pytest.raises(ConfigError, match="check 'lower' is already registered; pick another name"):
        reg.register("lower", "other.checks:Lower")
    with pytest.raises(ConfigError, match="already registered"):

        @reg.register("lower")
        class Lower:
            pass


def test_decorator_form_registers_and_returns_the_object():
    reg: Registry[type] = Registry("method")

    @reg.register("cot")
    class ChainOfThought:
        pass

    assert ChainOfThought.__name__ == "ChainOfThought"  # the decorator gives the class back
    assert reg.get("cot") is ChainOfThought
    assert reg.register("plain", int) is int


def test_import_object_paths():
    assert import_object("os.path:join") is importlib.import_module("os.path").join
    assert import_object("syllabus.record:Example.from_prompt").__name__ == "from_prompt"  # dotted attr
    for bad in ("os.path", ":join", "os:", "os.path.join"):
        with pytest.raises(ConfigError, match="expected 'package.module:attr'"):
            import_object(bad)


@pytest.fixture
def fresh_backends(monkeypatch):
    """Let the real BACKENDS registry scan entry points again; undo its changes afterwards."""
    backends = syllabus.llm.BACKENDS
    monkeypatch.setattr(backends, "_entries", dict(backends._entries))
    monkeypatch.setattr(backends, "_plugins_loaded", False)
    return backends


def test_entry_point_plugin_is_found_by_load_llm(module_dir, fresh_backends):
    # An installed distribution, as pip would leave it: a module and a dist-info folder.
    write_module(module_dir, "syllabus_test_plugin", """
        from syllabus.llm.base import LLM, Generation

        class ShoutLLM(LLM):
            def __init__(self, spec, **options):
                super().__init__(model_id=f"myplugin:{spec}")

            def generate(self, requests):
                return [Generation(text=r.render_plain().upper(), model=self.model_id) for r in requests]
    """)
    dist = module_dir / "syllabus_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: syllabus-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[syllabus.backends]\nmyplugin = syllabus_test_plugin:ShoutLLM\n")
    importlib.invalidate_caches()

    assert "myplugin" in fresh_backends.names()
    assert "syllabus_test_plugin" not in sys.modules  # plugins are lazy like built-in entries
    llm = load_llm("myplugin:x")
    assert llm.model_id == "myplugin:x"
    assert llm.chat("hi") == "USER: HI\nASSISTANT:"


def test_entry_points_do_not_override_built_in_entries(monkeypatch, fresh_backends):
    from importlib.metadata import EntryPoint

    def fake_entry_points(group):
        assert group == "syllabus.backends"
        return [
            EntryPoint(name="fake", value="nowhere.at_all:Nope", group=group),
            EntryPoint(name="other", value="syllabus.llm.fake:load_fake", group=group),
        ]

    monkeypatch.setattr("syllabus.registry.entry_points", fake_entry_points)
    assert load_llm("fake:echo").chat("still the built-in") == "still the built-in"
    assert load_llm("other:echo").chat("via a plugin") == "via a plugin"
