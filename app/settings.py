"""All runtime settings, read from ``SAFEGROUND_*`` environment variables (or a ``.env`` file).

Every setting is documented in the README; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEGROUND_", env_file=".env", extra="ignore")

    # Database. When database_url is empty the embedded PostGIS cluster is used.
    database_url: str = ""
    data_dir: Path = Path(".safeground")
    db_port: int = 54329
    pool_size: int = 10

    # Web
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = 12
    secure_cookies: bool = False
    # Front-end assets installed by npm at set-up (never committed, never from a CDN).
    assets_dir: Path = Path("node_modules")

    # Upload and geometry limits, enforced before heavy work.
    max_upload_bytes: int = 200 * 1024 * 1024
    max_unzipped_bytes: int = 1024 * 1024 * 1024
    max_features: int = 200_000
    max_vertices_per_feature: int = 100_000
    max_request_body_bytes: int = 5 * 1024 * 1024
    max_vertex_gap_m: float = 5_000.0
    repair_area_tolerance: float = Field(0.01, description="relative area change allowed by repair")
    country_buffer_m: float = 10_000.0
    duplicate_overlap_threshold: float = 0.5

    # Land release accounting
    release_tolerance_m: float = 0.5
    closure_threshold_m2: float = 1.0
    accounting_tolerance_m2: float = 1.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
