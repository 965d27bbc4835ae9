"""Custom types of the signing protocol stand-in (hand-written; the generator only emits stubs)."""

from enum import Enum
from typing import Any

from aea.helpers.transaction.base import RawMessage as BaseRawMessage
from aea.helpers.transaction.base import RawTransaction as BaseRawTransaction
from aea.helpers.transaction.base import SignedMessage as BaseSignedMessage
from aea.helpers.transaction.base import SignedTransaction as BaseSignedTransaction
from aea.helpers.transaction.base import Terms as BaseTerms


# The aea helper classes already encode/decode themselves into a protobuf object whose single
# bytes field has the same name as in the specification (e.g. `bytes raw_transaction = 1;`).
RawMessage = BaseRawMessage
RawTransaction = BaseRawTransaction
SignedMessage = BaseSignedMessage
SignedTransaction = BaseSignedTransaction
Terms = BaseTerms


class ErrorCode(Enum):
    """Error codes of the signing protocol (values as in the specification's ErrorCodeEnum)."""

    UNSUCCESSFUL_MESSAGE_SIGNING = 0
    UNSUCCESSFUL_TRANSACTION_SIGNING = 1

    @staticmethod
    def encode(error_code_protobuf_object: Any, error_code_object: "ErrorCode") -> None:
        """
        Encode an error code into its protocol buffer object.

        :param error_code_protobuf_object: the protocol buffer object to fill.
        :param error_code_object: the error code to encode.
        """
        error_code_protobuf_object.error_code = error_code_object.value

    @classmethod
    def decode(cls, error_code_protobuf_object: Any) -> "ErrorCode":
        """
        Decode an error code from its protocol buffer object.

        :param error_code_protobuf_object: the protocol buffer object to read.
        :return: the decoded error code.
        """
        return cls(error_code_protobuf_object.error_code)
