"""The ModelRegistry contract: accepted global models and each agent's contribution, written by the Safe."""
