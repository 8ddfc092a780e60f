"""One place for every setting; each can be overridden by an ATTNVIZ_* environment variable."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTNVIZ_")

    # Longest text accepted, checked before tokenizing (characters).
    max_text_chars: int = 2000
    # Largest JSON request body read at all (bytes); bigger bodies are refused unread.
    max_json_body_bytes: int = 64 * 1024
    # Largest image upload (bytes), enforced while the body is read.
    max_upload_bytes: int = 10 * 1024 * 1024
    # Largest decoded image (pixels), against decompression bombs.
    max_image_pixels: int = 50_000_000
    # Torch intra-op threads per inference; 1 keeps 2 cores from spin-waiting on each other.
    torch_threads: int = 1
    # Copies of the app serving together (`attnviz serve --ray --replicas N` sets it); reported by /api/health.
    replicas: int = 1
    # Inferences allowed to run at once; further requests wait their turn.
    inference_workers: int = 2
    # Requests allowed to wait for a slot; one more gets 503 with Retry-After instead of a long wait.
    max_waiting: int = 16
    # Longest wait for a slot (seconds) before a 503.
    wait_timeout_s: float = 30.0
    # Model outputs kept for repeated requests (e.g. the page fetching one layer at a time), in MB.
    cache_mb: int = 256
    # Responses larger than this (bytes) are gzip-compressed for clients that accept it.
    gzip_min_bytes: int = 1024
    # Local Hugging Face model folders to serve, id -> folder (JSON in ATTNVIZ_HF_MODELS).
    hf_models: dict[str, Path] = {}
    # Where templates and our static files live.
    templates_dir: Path = REPO_ROOT / "templates"
    static_dir: Path = REPO_ROOT / "static"
    # Where `make eval` writes its reports (translation_eval.json, caption_eval.json), served by /api/reports.
    reports_dir: Path = REPO_ROOT / "reports"
    # Saved results (permanent links, /r/<id>): the SQLite file, and how many results / MB it may hold.
    results_db: Path = REPO_ROOT / "var" / "results.sqlite3"
    results_max_count: int = 10_000
    results_max_mb: int = 512
    # The image page's sample gallery: held-out composed scenes (models/data/scenes.py) and the real-photo table
    # (models/data/real_photos.py); each part is offered only where its folder has been built.
    scenes_dir: Path = REPO_ROOT / "data" / "scenes"
    real_photos_dir: Path = REPO_ROOT / "data" / "real_photos"
    # eflomal priors counted on the EN-ES training mix, for the reference alignment of translations.
    reference_priors: Path = REPO_ROOT / "models" / "weights" / "eflomal-en-es" / "priors.tsv.gz"


@lru_cache
def get_settings() -> Settings:
    return Settings()
