"""`toolproxy serve --style auto-best --eval-results DIR` serves the style `toolproxy eval` measured best."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import shared_dir
from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.scripted import Script, ScriptedBackend
from toolproxy.settings import Settings


def _serve_style(settings: Settings) -> str:
    def factory(_: Settings) -> ScriptedBackend:
        return ScriptedBackend(lambda _: Script(text="hi"), model_id="my-model")

    with running_server(create_app(settings, backend_factory=factory)) as url:
        return str(httpx.get(f"{url}/v1/models").json()["data"][0]["style"])


def test_auto_best_picks_the_measured_best_style_for_this_model(tmp_path: Path) -> None:
    row = {"answered": 10, "malformed": 0}
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "results.json").write_text(json.dumps({"format": 1, "model": "my-model", "overall": {
        "hermes": {**row, "accuracy": 0.2}, "mixtral": {**row, "accuracy": 0.6}}}))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text(json.dumps({"format": 1, "model": "another-model", "overall": {
        "functionary": {**row, "accuracy": 0.9}}}))
    assert _serve_style(Settings(style="auto-best", eval_results=str(tmp_path))) == "mixtral"


def test_auto_best_without_results_for_this_model_falls_back_to_detection(tmp_path: Path) -> None:
    assert _serve_style(Settings(style="auto-best", eval_results=str(tmp_path))) == "hermes"


def test_auto_best_without_results_takes_the_templates_choice_derived_too(tmp_path: Path) -> None:
    """No results for this model: the style the template's choice gives (here derived from Muse Glimmer's
    template, which no family's markers match), as without ``--style``."""
    template = shared_dir() / "chat-templates" / "muse-glimmer.jinja"
    settings = Settings(style="auto-best", eval_results=str(tmp_path), chat_template=str(template))
    assert _serve_style(settings) == "derived"
