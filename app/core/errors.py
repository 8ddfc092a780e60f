"""Exception handlers: every error leaves as {"detail": "<sentence>"}, never as a stack trace."""

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.services.inference import ServiceBusyError, WrongTaskError
from app.services.registry import ModelUnavailableError, UnknownModelError
from models.contract import InputError

logger = logging.getLogger(__name__)


def describe_validation_error(exc: RequestValidationError) -> str:
    """Pydantic's error list as one readable sentence per problem."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        if error.get("type") == "json_invalid":
            parts.append(f"The body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')}).")
        elif error.get("type") == "model_attributes_type" or (location == "" and "dict" in error.get("msg", "")):
            parts.append("The body must be a JSON object, e.g. {\"model\": \"minilm-l6\", \"text\": \"...\"}.")
        elif error.get("type") == "extra_forbidden":
            parts.append(f"Unknown field '{location}'.")
        else:
            parts.append(f"{location or 'body'}: {error.get('msg', 'invalid value')}.")
    return " ".join(parts) or "The request is invalid."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_validation_error(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Starlette's Allow names the first route on the path only: name them all
            routes = request.app.router.routes
            methods = [
                method
                for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
                if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
            ]
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
        return await http_exception_handler(request, exc)

    # Model errors map to one status each, wherever a route meets them.
    @app.exception_handler(UnknownModelError)
    async def unknown_model(request: Request, exc: UnknownModelError) -> JSONResponse:
        known = ", ".join(request.app.state.registry.specs)
        return JSONResponse({"detail": f"Unknown model '{exc.args[0]}'. Known models: {known}."}, status_code=404)

    @app.exception_handler(ModelUnavailableError)
    async def unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
        return JSONResponse({"detail": f"Model '{exc.model_id}' cannot be loaded here: {exc}"}, status_code=503)

    @app.exception_handler(InputError)
    @app.exception_handler(WrongTaskError)
    async def bad_input(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ServiceBusyError)
    async def busy(request: Request, exc: ServiceBusyError) -> JSONResponse:
        # Every inference slot is taken and the waiting line is full: say so now rather than queue forever.
        return JSONResponse(
            {"detail": "The server is busy with other requests; retry in a moment."},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Something went wrong on our side; please try again."}, status_code=500)
