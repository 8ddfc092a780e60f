import os
import socket

from fastapi import APIRouter

from app.api.deps import SettingsDep
from app.schemas import HealthResponse

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/health", response_model=HealthResponse)
def health(settings: SettingsDep) -> HealthResponse:
    """Answers ok while the service is up, with how many replicas serve and which one answered."""
    return HealthResponse(status="ok", replicas=settings.replicas, replica=f"{socket.gethostname()}:{os.getpid()}")
