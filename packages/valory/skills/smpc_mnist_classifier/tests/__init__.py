"""Tests for the smpc_mnist_classifier skill."""
