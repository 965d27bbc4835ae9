"""Custom types of the ledger_api protocol stand-in (hand-written; the generator only emits stubs)."""

import json
from typing import Any, Dict, List

from aea.exceptions import enforce
from aea.helpers.transaction.base import RawTransaction as BaseRawTransaction
from aea.helpers.transaction.base import SignedTransaction as BaseSignedTransaction
from aea.helpers.transaction.base import State as BaseState
from aea.helpers.transaction.base import Terms as BaseTerms
from aea.helpers.transaction.base import TransactionDigest as BaseTransactionDigest
from aea.helpers.transaction.base import TransactionReceipt as BaseTransactionReceipt


# The aea helper classes already encode/decode themselves into a protobuf object whose single
# bytes field has the same name as in the specification (e.g. `bytes raw_transaction = 1;`).
RawTransaction = BaseRawTransaction
SignedTransaction = BaseSignedTransaction
State = BaseState
Terms = BaseTerms
TransactionDigest = BaseTransactionDigest
TransactionReceipt = BaseTransactionReceipt

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


class SignedTransactions:
    """Several signed transactions (their bodies) for one ledger."""

    __slots__ = ("_ledger_id", "_signed_transactions")

    def __init__(self, ledger_id: str, signed_transactions: List[Any]) -> None:
        """Initialise an instance of SignedTransactions."""
        enforce(isinstance(ledger_id, str), "ledger_id must be str")
        enforce(
            isinstance(signed_transactions, list), "signed_transactions must be list"
        )
        self._ledger_id = ledger_id
        self._signed_transactions = signed_transactions

    @property
    def ledger_id(self) -> str:
        """Get the ledger id."""
        return self._ledger_id

    @property
    def signed_transactions(self) -> List[Any]:
        """Get the signed transaction bodies."""
        return self._signed_transactions

    @staticmethod
    def encode(
        signed_transactions_protobuf_object: Any,
        signed_transactions_object: "SignedTransactions",
    ) -> None:
        """
        Encode into the protocol buffer object (`string ledger_id`, `repeated bytes signed_transactions`).

        :param signed_transactions_protobuf_object: the protocol buffer object to fill.
        :param signed_transactions_object: the instance to encode.
        """
        signed_transactions_protobuf_object.ledger_id = (
            signed_transactions_object.ledger_id
        )
        signed_transactions_protobuf_object.signed_transactions.extend(
            encode_json_like(tx)
            for tx in signed_transactions_object.signed_transactions
        )

    @classmethod
    def decode(cls, signed_transactions_protobuf_object: Any) -> "SignedTransactions":
        """
        Decode from the protocol buffer object.

        :param signed_transactions_protobuf_object: the protocol buffer object to read.
        :return: the decoded instance.
        """
        return cls(
            signed_transactions_protobuf_object.ledger_id,
            [
                decode_json_like(tx)
                for tx in signed_transactions_protobuf_object.signed_transactions
            ],
        )

    def __eq__(self, other: Any) -> bool:
        """Check equality."""
        return (
            isinstance(other, SignedTransactions)
            and self.ledger_id == other.ledger_id
            and self.signed_transactions == other.signed_transactions
        )

    def __str__(self) -> str:
        """Get string representation."""
        return f"SignedTransactions: ledger_id={self.ledger_id}, signed_transactions={self.signed_transactions}"


class TransactionDigests:
    """Several transaction digests (hashes) for one ledger."""

    __slots__ = ("_ledger_id", "_transaction_digests")

    def __init__(self, ledger_id: str, transaction_digests: List[str]) -> None:
        """Initialise an instance of TransactionDigests."""
        enforce(isinstance(ledger_id, str), "ledger_id must be str")
        enforce(
            isinstance(transaction_digests, list)
            and all(isinstance(digest, str) for digest in transaction_digests),
            "transaction_digests must be a list of str",
        )
        self._ledger_id = ledger_id
        self._transaction_digests = transaction_digests

    @property
    def ledger_id(self) -> str:
        """Get the ledger id."""
        return self._ledger_id

    @property
    def transaction_digests(self) -> List[str]:
        """Get the transaction digests."""
        return self._transaction_digests

    @staticmethod
    def encode(
        transaction_digests_protobuf_object: Any,
        transaction_digests_object: "TransactionDigests",
    ) -> None:
        """
        Encode into the protocol buffer object (`string ledger_id`, `repeated string transaction_digests`).

        :param transaction_digests_protobuf_object: the protocol buffer object to fill.
        :param transaction_digests_object: the instance to encode.
        """
        transaction_digests_protobuf_object.ledger_id = (
            transaction_digests_object.ledger_id
        )
        transaction_digests_protobuf_object.transaction_digests.extend(
            transaction_digests_object.transaction_digests
        )

    @classmethod
    def decode(cls, transaction_digests_protobuf_object: Any) -> "TransactionDigests":
        """
        Decode from the protocol buffer object.

        :param transaction_digests_protobuf_object: the protocol buffer object to read.
        :return: the decoded instance.
        """
        return cls(
            transaction_digests_protobuf_object.ledger_id,
            list(transaction_digests_protobuf_object.transaction_digests),
        )

    def __eq__(self, other: Any) -> bool:
        """Check equality."""
        return (
            isinstance(other, TransactionDigests)
            and self.ledger_id == other.ledger_id
            and self.transaction_digests == other.transaction_digests
        )

    def __str__(self) -> str:
        """Get string representation."""
        return f"TransactionDigests: ledger_id={self.ledger_id}, transaction_digests={self.transaction_digests}"
