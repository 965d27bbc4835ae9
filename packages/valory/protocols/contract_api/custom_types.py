"""Custom types of the contract_api protocol stand-in (hand-written; the generator only emits stubs)."""

import json
from typing import Any, Dict

from aea.exceptions import enforce
from aea.helpers.transaction.base import RawMessage as BaseRawMessage
from aea.helpers.transaction.base import RawTransaction as BaseRawTransaction
from aea.helpers.transaction.base import State as BaseState


# The aea helper classes already encode/decode themselves into a protobuf object whose single
# bytes field has the same name as in the specification (e.g. `bytes raw_transaction = 1;`).
RawMessage = BaseRawMessage
RawTransaction = BaseRawTransaction
State = BaseState

_BYTES_TAG = "__bytes__"
_TUPLE_TAG = "__tuple__"


def _to_json(value: Any) -> Any:
    """Turn a kwargs value into JSON-compatible data, tagging bytes and tuples."""
    if isinstance(value, bytes):
        return {_BYTES_TAG: value.hex()}
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_to_json(item) for item in value]}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Kwargs value of type {type(value)} cannot be serialized")


def _from_json_object(obj: Dict[str, Any]) -> Any:
    """Undo the tagging done by _to_json for one JSON object."""
    if len(obj) == 1 and _BYTES_TAG in obj:
        return bytes.fromhex(obj[_BYTES_TAG])
    if len(obj) == 1 and _TUPLE_TAG in obj:
        return tuple(obj[_TUPLE_TAG])
    return obj


def encode_json_like(value: Any) -> bytes:
    """Serialize a JSON-like value (bytes, tuples and big ints preserved) to bytes."""
    return json.dumps(_to_json(value), sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def decode_json_like(data: bytes) -> Any:
    """Deserialize bytes made by encode_json_like."""
    return json.loads(data.decode("utf-8"), object_hook=_from_json_object)


class Kwargs:
    """Keyword arguments of a request: a dict with str keys."""

    __slots__ = ("_body",)

    def __init__(self, body: Dict[str, Any]) -> None:
        """Initialise an instance of Kwargs."""
        self._body = body
        enforce(
            isinstance(body, dict) and all(isinstance(key, str) for key in body),
            "Body must be dict and keys must be str.",
        )

    @property
    def body(self) -> Dict[str, Any]:
        """Get the body."""
        return self._body

    @staticmethod
    def encode(kwargs_protobuf_object: Any, kwargs_object: "Kwargs") -> None:
        """
        Encode the kwargs into their protocol buffer object.

        :param kwargs_protobuf_object: the protocol buffer object to fill.
        :param kwargs_object: the kwargs to encode.
        """
        kwargs_protobuf_object.kwargs = encode_json_like(kwargs_object.body)

    @classmethod
    def decode(cls, kwargs_protobuf_object: Any) -> "Kwargs":
        """
        Decode kwargs from their protocol buffer object.

        :param kwargs_protobuf_object: the protocol buffer object to read.
        :return: the decoded kwargs.
        """
        return cls(decode_json_like(kwargs_protobuf_object.kwargs))

    def __eq__(self, other: Any) -> bool:
        """Check equality."""
        return isinstance(other, Kwargs) and self.body == other.body

    def __str__(self) -> str:
        """Get string representation."""
        return f"Kwargs: body={self.body}"
