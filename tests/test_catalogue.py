"""The model catalogue: the shipped file is valid and priced, and every broken entry is refused by name."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from runtime.catalogue_file import load_catalogue
from schemas.catalogue import Catalogue, CatalogueError, parse_catalogue

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "models.toml"
SEED_MODELS = ("openai/gpt-4.1-mini", "openai/gpt-5", "gemini/gemini-2.5-flash")


def toml_value(value: Any) -> str:
    # JSON strings, numbers and string arrays are also valid TOML, which is all these catalogues use.
    return json.dumps(value)


def model_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "openai/gpt-4.1-mini",
        "provider": "openai",
        "upstream": "gpt-4.1-mini",
        "pool": "openai",
        "input_multiplier": "1",
        "output_multiplier": "1",
        "max_output_tokens": 32768,
        "default_max_tokens": 1024,
        "context_tokens": 1047576,
    }
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not None}


def catalogue_toml(*models: dict[str, Any], default_model: str = "openai/gpt-4.1-mini") -> str:
    """A catalogue file with an openai and a gemini provider and the given models (one default entry if none)."""
    lines = [
        f"default_model = {toml_value(default_model)}",
        "[providers.openai]",
        'kind = "openai"',
        'base_url = "https://api.openai.com/v1"',
        "[providers.gemini]",
        'kind = "gemini"',
        'base_url = "https://generativelanguage.googleapis.com"',
    ]
    for model in models or (model_entry(),):
        lines.append("[[models]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in model.items())
    return "\n".join(lines) + "\n"


def gemini_entry(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "gemini/gemini-2.5-flash",
        "provider": "gemini",
        "upstream": "gemini-2.5-flash",
        "pool": "gemini",
        "max_output_tokens": 65536,
        "context_tokens": 1048576,
    }
    return model_entry(**{**fields, **overrides})


@pytest.fixture(scope="module")
def shipped() -> Catalogue:
    return load_catalogue(SHIPPED)


def test_the_shipped_catalogue_has_the_seed_models_a_claude_and_a_llama(shipped: Catalogue) -> None:
    ids = {model.id for model in shipped.models}

    assert set(SEED_MODELS) <= ids
    assert any(shipped.providers[m.provider].kind == "anthropic" and "claude" in m.id for m in shipped.models)
    assert any("llama" in m.id.lower() for m in shipped.models)
    assert shipped.default_model == "openai/gpt-4.1-mini"


def test_every_shipped_price_multiplier_is_one(shipped: Catalogue) -> None:
    assert {(m.id, m.input_price, m.output_price) for m in shipped.models} == {
        (m.id, Fraction(1), Fraction(1)) for m in shipped.models
    }


def test_every_shipped_model_resolves_by_id_and_alias(shipped: Catalogue) -> None:
    for model in shipped.models:
        assert shipped.resolve(model.id) is model
        for alias in model.aliases:
            assert shipped.resolve(alias) is model


def test_shipped_aliases_and_fallbacks(shipped: Catalogue) -> None:
    assert shipped.get("gpt-4.1-mini").id == "openai/gpt-4.1-mini"
    assert shipped.get("openai/gpt-4.1-mini").fallbacks == ("gemini/gemini-2.5-flash",)
    assert shipped.get("gpt-5").max_tokens_field == "max_completion_tokens"


@pytest.mark.parametrize("name", ["", "gpt-4", "openai/gpt-4.1-MINI", "openai", "gpt-4.1-mini ", "claude"])
def test_resolving_an_unknown_name_gives_none(shipped: Catalogue, name: str) -> None:
    assert shipped.resolve(name) is None


def test_a_missing_catalogue_file_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read model catalogue"):
        load_catalogue(tmp_path / "models.toml")


def test_a_minimal_catalogue_parses_with_exact_prices() -> None:
    catalogue = parse_catalogue(catalogue_toml(model_entry(input_multiplier="3/2", output_multiplier="0.25")))

    model = catalogue.get("openai/gpt-4.1-mini")
    assert (model.input_price, model.output_price) == (Fraction(3, 2), Fraction(1, 4))


@pytest.mark.parametrize("missing", ["input_multiplier", "output_multiplier"])
def test_a_model_without_a_price_is_refused_by_name(missing: str) -> None:
    text = catalogue_toml(model_entry(), gemini_entry(**{missing: None}))

    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)

    message = str(caught.value)
    assert "gemini/gemini-2.5-flash" in message
    assert "refusing to bill at zero" in message
    assert "openai/gpt-4.1-mini" not in message


@pytest.mark.parametrize("multiplier", ["-1", "-1/2", "-0.01"])
def test_a_negative_multiplier_is_refused(multiplier: str) -> None:
    with pytest.raises(CatalogueError, match="cannot be negative"):
        parse_catalogue(catalogue_toml(model_entry(output_multiplier=multiplier)))


@pytest.mark.parametrize("multiplier", ["", "one", "1/0", "nan", "inf", "1/2/3", "√2", "0x10"])
def test_a_multiplier_that_is_not_an_exact_rational_is_refused(multiplier: str) -> None:
    with pytest.raises(CatalogueError, match="not an exact rational"):
        parse_catalogue(catalogue_toml(model_entry(input_multiplier=multiplier)))


@pytest.mark.parametrize("multiplier", [1, 1.5])
def test_a_multiplier_written_as_a_number_is_refused(multiplier: float) -> None:
    # A float multiplier would not be exact; the file must spell it as a string such as "3/2".
    with pytest.raises(CatalogueError, match="input_multiplier"):
        parse_catalogue(catalogue_toml(model_entry(input_multiplier=multiplier)))


def test_an_unknown_provider_is_refused_by_model_and_provider() -> None:
    with pytest.raises(CatalogueError, match=re.escape("model 'gemini/gemini-2.5-flash': unknown provider 'mistral'")):
        parse_catalogue(catalogue_toml(model_entry(), gemini_entry(provider="mistral")))


def test_an_alias_used_twice_is_refused_by_name() -> None:
    text = catalogue_toml(model_entry(aliases=["fast"]), gemini_entry(aliases=["flash", "fast"]))

    with pytest.raises(CatalogueError, match="model name 'fast' is used twice"):
        parse_catalogue(text)


def test_an_alias_equal_to_another_models_id_is_refused() -> None:
    text = catalogue_toml(model_entry(), gemini_entry(aliases=["openai/gpt-4.1-mini"]))

    with pytest.raises(CatalogueError, match=re.escape("model name 'openai/gpt-4.1-mini' is used twice")):
        parse_catalogue(text)


def test_an_unknown_fallback_is_refused_by_model_and_fallback() -> None:
    text = catalogue_toml(model_entry(fallbacks=["gemini/gemini-9"]), gemini_entry())

    expected = "model 'openai/gpt-4.1-mini': fallback 'gemini/gemini-9' is not in the catalogue"

    with pytest.raises(CatalogueError, match=re.escape(expected)):
        parse_catalogue(text)


def test_a_fallback_may_name_an_alias() -> None:
    catalogue = parse_catalogue(catalogue_toml(model_entry(fallbacks=["flash"]), gemini_entry(aliases=["flash"])))

    assert catalogue.resolve(catalogue.get("openai/gpt-4.1-mini").fallbacks[0]) == catalogue.get("flash")


def test_a_default_model_outside_the_catalogue_is_refused_by_name() -> None:
    with pytest.raises(CatalogueError, match="default_model 'openai/gpt-4o' is not in the catalogue"):
        parse_catalogue(catalogue_toml(default_model="openai/gpt-4o"))


def test_default_max_tokens_above_max_output_tokens_is_refused() -> None:
    text = catalogue_toml(model_entry(), gemini_entry(max_output_tokens=1000, default_max_tokens=1001))

    with pytest.raises(CatalogueError, match="default_max_tokens exceeds max_output_tokens"):
        parse_catalogue(text)


@pytest.mark.parametrize(
    "text",
    ["default_model = ", "[[models]\nid = 'x'", 'default_model = "a"\ndefault_model = "b"', "models = [1, 2"],
)
def test_invalid_toml_is_a_catalogue_error(text: str) -> None:
    with pytest.raises(CatalogueError, match="not valid TOML"):
        parse_catalogue(text)


@pytest.mark.parametrize(
    ("mutation", "named"),
    [
        ({"pool": "Open AI"}, "pool"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"upstream": ""}, "upstream"),
        ({"max_tokens_field": "max_output"}, "max_tokens_field"),
        ({"temperature_max": 2}, "temperature_max"),
    ],
)
def test_a_malformed_field_is_refused_by_field_name(mutation: dict[str, Any], named: str) -> None:
    with pytest.raises(CatalogueError, match=named):
        parse_catalogue(catalogue_toml(model_entry(**mutation)))


def test_a_catalogue_without_models_is_refused() -> None:
    text = 'default_model = "x"\n[providers.openai]\nkind = "openai"\nbase_url = "https://api.openai.com/v1"\n'

    with pytest.raises(CatalogueError, match="models"):
        parse_catalogue(text)


@pytest.mark.parametrize("models", ["models = 3", "models = true", 'models = ["a"]'])
def test_models_that_are_not_tables_are_a_catalogue_error(models: str) -> None:
    with pytest.raises(CatalogueError, match="array of tables"):
        parse_catalogue(f'default_model = "x"\n{models}\n')


def test_an_invalid_model_is_named_in_the_error() -> None:
    text = SHIPPED.read_text().replace(
        "default_max_tokens = 1024\ncontext_tokens = 1048576", "default_max_tokens = 99999999\ncontext_tokens = 1048576"
    )
    with pytest.raises(CatalogueError, match=re.escape("gemini/gemini-2.5-flash")):
        parse_catalogue(text)


@pytest.mark.parametrize(("input_multiplier", "output_multiplier"), [("0", "0"), ("0/7", "0.0")])
def test_a_model_priced_zero_both_ways_is_refused_the_catalogue_never_bills_at_zero(
    input_multiplier: str, output_multiplier: str
) -> None:
    entry = model_entry(input_multiplier=input_multiplier, output_multiplier=output_multiplier)
    with pytest.raises(CatalogueError, match=r"openai/gpt-4\.1-mini.*never bills at zero"):
        parse_catalogue(catalogue_toml(entry))


def test_a_model_free_on_one_side_only_is_accepted() -> None:
    model = parse_catalogue(catalogue_toml(model_entry(input_multiplier="0", output_multiplier="3/2"))).models[0]
    assert (model.input_price, model.output_price) == (0, Fraction(3, 2))


@pytest.mark.parametrize("multiplier", ["1000001", "1e400", "10000000/3"])
def test_a_multiplier_past_the_maximum_is_refused(multiplier: str) -> None:
    with pytest.raises(CatalogueError, match="above the maximum"):
        parse_catalogue(catalogue_toml(model_entry(input_multiplier=multiplier)))


def test_a_model_without_template_overheads_gets_conservative_ones() -> None:
    model = parse_catalogue(catalogue_toml()).models[0]
    assert (model.template_tokens_fixed, model.template_tokens_per_message) == (32, 8)


@pytest.mark.parametrize("field", ["template_tokens_fixed", "template_tokens_per_message"])
def test_a_negative_template_overhead_is_refused(field: str) -> None:
    with pytest.raises(CatalogueError, match=field):
        parse_catalogue(catalogue_toml(model_entry(**{field: -1})))


def test_every_shipped_model_names_its_chat_template_overhead() -> None:
    raw = SHIPPED.read_text()
    models = raw.count("\n[[models]]")
    assert len(re.findall(r"(?m)^template_tokens_fixed = ", raw)) == models
    assert len(re.findall(r"(?m)^template_tokens_per_message = ", raw)) == models
    llama = load_catalogue(SHIPPED).get("meta/llama-3.1-8b-instruct")
    # Llama 3.1's template alone adds about 25 tokens to every prompt.
    assert llama.template_tokens_fixed >= 25
