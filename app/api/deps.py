"""Annotated dependencies shared by the routes."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.services.inference import InferenceService
from app.services.registry import ModelRegistry


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry  # type: ignore[no-any-return]


def get_inference(request: Request) -> InferenceService:
    return request.app.state.inference  # type: ignore[no-any-return]


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
InferenceDep = Annotated[InferenceService, Depends(get_inference)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
