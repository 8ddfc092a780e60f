from fastapi import APIRouter

from app.schemas import HealthResponse

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """Answers ok while the service is up."""
    return HealthResponse(status="ok")
