"""Reads prices and limits out of the model catalogue: the ledger's only use of it, at admission only.

Settlement prices with the terms recorded on the job at admission, so a catalogue edit (a model repriced,
renamed or removed while its jobs are queued) applies to new jobs only. The catalogue is consulted at
settlement only for a job admitted before terms were recorded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Protocol

from ledger import domain
from schemas.catalogue import Catalogue, ModelEntry


class Version(Protocol):
    """A price-book version (ledger.price_book.PriceVersion) as pricing reads it."""

    @property
    def id(self) -> int: ...
    @property
    def input(self) -> Fraction: ...
    @property
    def output(self) -> Fraction: ...
    @property
    def cached_input(self) -> Fraction: ...


def terms_of(model: ModelEntry) -> domain.Terms:
    # The multipliers are parsed by the cached `fraction_of` (the same value as `model.input_price`): parsing a
    # Fraction from text costs more than pricing the job. The catalogue names no cached-input price, so cache reads
    # cost the input price (as `price_book.catalogue_prices` seeds the book); only a price-book version sets one.
    price_in = domain.fraction_of(model.input_multiplier)
    return domain.Terms(
        price=domain.Price(price_in, domain.fraction_of(model.output_multiplier), price_in),
        context_tokens=model.context_tokens,
        max_output_tokens=model.max_output_tokens,
    )


def route_terms(
    catalogue: Catalogue, route: tuple[str, ...], versions: Mapping[str, Version] | None = None
) -> dict[str, domain.Terms] | None:
    """The terms of every model of a route, by model id; None when the catalogue lacks one of them. A model with a
    price-book version in force (`versions`) is priced by it, and the version is recorded in its terms."""
    terms: dict[str, domain.Terms] = {}
    for model_id in route:
        model = catalogue.resolve(model_id)
        if model is None:
            return None
        # Keyed by the canonical id, which is what a worker reports as the answering model.
        version = (versions or {}).get(model.id)
        if version is None:
            terms[model.id] = terms_of(model)
        else:
            terms[model.id] = domain.Terms(
                price=domain.Price(version.input, version.output, version.cached_input),
                context_tokens=model.context_tokens,
                max_output_tokens=model.max_output_tokens,
                price_version_id=version.id,
            )
    return terms


def catalogue_terms(catalogue: Catalogue) -> dict[str, domain.Terms]:
    """Every model's current terms, by id and alias: the fallback for jobs admitted without recorded terms."""
    return {name: terms_of(model) for model in catalogue.models for name in (model.id, *model.aliases)}


class LazyCatalogueTerms(Mapping[str, domain.Terms]):
    """`catalogue_terms`, built on first use: settlement needs it only for a job admitted without recorded terms,
    and building it prices every model of the catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._terms: dict[str, domain.Terms] | None = None

    def _built(self) -> dict[str, domain.Terms]:
        if self._terms is None:
            self._terms = catalogue_terms(self._catalogue)
        return self._terms

    def __getitem__(self, name: str) -> domain.Terms:
        return self._built()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())
