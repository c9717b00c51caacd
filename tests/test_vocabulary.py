"""The shared vocabularies are written once: every registry and model keyed by them covers exactly them."""

from __future__ import annotations

from typing import get_args

import pytest

from harness._vocab import DIALECT_NAMES, ERROR_CLASSES, RUN_CLASSES, DialectName
from harness.behaviour import Persona, SimEndpoint
from harness.config import DIALECT_NAMES as CONFIG_DIALECT_NAMES
from harness.config import Contender, Endpoint
from harness.dialects import DIALECT_NAMES as WIRE_DIALECT_NAMES
from harness.dialects import class_for_status, get_dialect
from harness.dialects._registry import _REGISTRY
from harness.probes._evaluate import _TERMINAL
from harness.record import ERROR_CLASSES as RECORD_ERROR_CLASSES
from harness.sim.handlers import PERSONAS, SIM_DIALECTS, dialect_for


def test_one_list_of_dialect_names() -> None:
    assert (
        DIALECT_NAMES
        == get_args(DialectName)
        == ("openai-chat", "anthropic-messages", "azure-openai", "gemini")
    )
    assert CONFIG_DIALECT_NAMES is DIALECT_NAMES and WIRE_DIALECT_NAMES is DIALECT_NAMES


@pytest.mark.parametrize(
    ("registry", "keys"),
    [
        ("sans-I/O dialects", list(_REGISTRY)),
        ("simulator handlers", list(SIM_DIALECTS)),
        ("probe terminal events", list(_TERMINAL)),
        ("config Endpoint.dialect", list(get_args(Endpoint.model_fields["dialect"].annotation))),
        ("sim SimEndpoint.dialect", list(get_args(SimEndpoint.model_fields["dialect"].annotation))),
    ],
)
def test_each_registry_covers_exactly_the_dialect_names(registry: str, keys: list[str]) -> None:
    assert sorted(keys) == sorted(DIALECT_NAMES), registry
    assert len(keys) == len(set(keys)), registry


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_registered_objects_carry_their_own_name(name: DialectName) -> None:
    assert get_dialect(name).name == name
    assert dialect_for(name).name == name


def test_personas_are_the_persona_names_less_native() -> None:
    assert set(PERSONAS) | {"native"} == set(get_args(Persona))
    assert get_args(SimEndpoint.model_fields["persona"].annotation) == get_args(Persona)


def test_retry_classes_are_the_error_classes_a_retry_can_answer() -> None:
    from harness.config._models import RetryClass

    retryable = set(get_args(RetryClass))
    assert retryable <= set(ERROR_CLASSES)
    assert set(ERROR_CLASSES) - retryable == {"http_4xx", "deadline_exceeded", "client_error"} | RUN_CLASSES
    assert {"run_ended", "not_sent"} == RUN_CLASSES
    assert set(Contender(name="c", primary="p").retry_on) <= retryable


def test_every_status_maps_to_an_error_class() -> None:
    for status in range(100, 600):
        assert class_for_status(status) in ERROR_CLASSES
        assert class_for_status(status, "overloaded_error") in ERROR_CLASSES
    assert ERROR_CLASSES is RECORD_ERROR_CLASSES
