"""Skill valory/smpc_mnist_classifier: federated MNIST learning with threshold-CKKS secure aggregation."""

from aea.configurations.base import PublicId

PUBLIC_ID = PublicId.from_str("valory/smpc_mnist_classifier:0.1.0")
