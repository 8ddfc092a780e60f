"""Annotated dependencies shared by the routes."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.services.inference import InferenceService
from app.services.reference import ReferenceService
from app.services.registry import ModelRegistry


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_inference(request: Request) -> InferenceService:
    return request.app.state.inference


def get_reference(request: Request) -> ReferenceService:
    return request.app.state.reference


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
InferenceDep = Annotated[InferenceService, Depends(get_inference)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ReferenceDep = Annotated[ReferenceService, Depends(get_reference)]
