"""Settings loading shared by the services: environment variables and an optional TOML file.

Each service defines a ``BaseSettings`` subclass with its own ``BPPOOL_*`` prefix; values come
from (highest first) explicit arguments, environment variables, the TOML file given with
``--config``, then the defaults, which all work on one machine with SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

S = TypeVar("S", bound=BaseSettings)


def sqlite_url(database_url: str | None, data_dir: Path, filename: str) -> str:
    """``database_url`` when one is set; otherwise a SQLite file ``filename`` in ``data_dir``
    (the directory created if need be)."""
    if database_url:
        return database_url
    path = data_dir / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def one_of(value: str, names: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``names``; otherwise a ``ValueError`` naming ``what`` and
    the choices (a settings validator's check)."""
    if value not in names:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(names)}")
    return value


class SettingsError(Exception):
    """Settings that cannot be used, with a message naming the bad value."""


def load_settings(cls: type[S], config_file: Path | None = None, **overrides: Any) -> S:
    """Build ``cls`` from ``overrides``, the environment and ``config_file`` (TOML)."""
    if config_file is not None and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")

    class _WithToml(cls):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    _WithToml.__name__ = cls.__name__
    try:
        values = {k: v for k, v in overrides.items() if v is not None}
        loaded = _WithToml(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    return loaded
