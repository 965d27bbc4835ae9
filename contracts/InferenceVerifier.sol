// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The EZKL-generated Halo2 verifier (contracts are compiled from its generated source at run time).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// Where the agreed models' weight commitments are settled: the service's ModelRegistry.
interface IWeightCommitments {
    function weightCommitment(uint256 round) external view returns (bytes32[2] memory);
}

/// Accepts a proof of inference only if it was made with the model of a settled round.
/// The generated verifier accepts a valid proof made with ANY weights; an EZKL proof with
/// param_visibility="polycommit" starts with the KZG commitment of its weights (x || y, 64 bytes),
/// so comparing those bytes with the commitment the registry settled for the round binds the proof to
/// that round's model. Nobody owns this contract: the registry (written only by the service Safe) is the
/// one place the commitments live.
contract InferenceVerifier {
    IHalo2Verifier public immutable verifier;
    IWeightCommitments public immutable registry;

    constructor(IHalo2Verifier verifier_, IWeightCommitments registry_) {
        verifier = verifier_;
        registry = registry_;
    }

    /// True iff the proof was made with the weights settled for `round` and verifies; false otherwise
    /// (never reverts for a bad proof or an unknown round: the inner reverts are caught).
    function verifyInference(uint256 round, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bool)
    {
        if (proof.length < 64) return false;
        bytes32[2] memory settled;
        try registry.weightCommitment(round) returns (bytes32[2] memory commitment) {
            settled = commitment;
        } catch {
            return false;
        }
        if (bytes32(proof[0:32]) != settled[0] || bytes32(proof[32:64]) != settled[1]) return false;
        try verifier.verifyProof(proof, instances) returns (bool valid) {
            return valid;
        } catch {
            return false;
        }
    }
}
