"""Refuses at the door what a request's model cannot do (a parameter without an equivalent, images), and keeps
only the fallbacks that can; nothing is held or charged for a refused request."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.capabilities import unsupported
from schemas.catalogue import Catalogue, ModelEntry
from schemas.chat_options import ChatOptions
from schemas.errors import InvalidRequest
from schemas.events import PromptMessage


def refusal(
    catalogue: Catalogue, model: ModelEntry, options: ChatOptions | None, messages: Sequence[PromptMessage]
) -> str | None:
    """Why `model` cannot serve this request (naming the parameter and the model), or None."""
    if options is not None:
        missing = unsupported(options.used(), catalogue.kind_of(model), model.parameters)
        if missing:
            kind = catalogue.kind_of(model)
            return (
                f"parameter '{missing[0]}' is not supported by model {model.id} (provider kind {kind}): it has "
                "no equivalent there; remove it or choose another model"
            )
    if not model.accepts_images and any(m.images for m in messages):
        return f"model {model.id} does not accept images (image_url content parts); choose a model that does"
    return None


def check_route(
    catalogue: Catalogue, route: list[ModelEntry], options: ChatOptions | None, messages: Sequence[PromptMessage]
) -> list[ModelEntry]:
    """The route without the fallbacks that cannot serve the request; the asked-for model must, or a 400."""
    problem = refusal(catalogue, route[0], options, messages)
    if problem is not None:
        raise InvalidRequest(problem)
    return [route[0], *(m for m in route[1:] if refusal(catalogue, m, options, messages) is None)]
