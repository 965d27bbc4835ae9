// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The EZKL-generated Halo2 verifier (contracts are compiled from its generated source at run time).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// Accepts a proof of inference only if it was made with the agreed model.
/// The generated verifier accepts a valid proof made with ANY weights; an EZKL proof with
/// param_visibility="polycommit" starts with the KZG commitment of its weights (x || y, 64 bytes),
/// so comparing those bytes with the agreed commitment binds the proof to the agreed model.
contract InferenceVerifier {
    IHalo2Verifier public immutable verifier;
    address public owner;
    bytes32 public commitmentX;
    bytes32 public commitmentY;

    event WeightCommitmentSet(bytes32 x, bytes32 y);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error BadCommitmentLength();

    constructor(IHalo2Verifier verifier_, address owner_) {
        verifier = verifier_;
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// The owner (the service Safe in production) settles the agreed model's 64-byte commitment.
    function setWeightCommitment(bytes calldata commitment) external onlyOwner {
        if (commitment.length != 64) revert BadCommitmentLength();
        commitmentX = bytes32(commitment[0:32]);
        commitmentY = bytes32(commitment[32:64]);
        emit WeightCommitmentSet(commitmentX, commitmentY);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// True iff the proof was made with the agreed weights and verifies; false otherwise (never reverts
    /// for a bad proof: the generated verifier's reverts are caught).
    function verifyInference(bytes calldata proof, uint256[] calldata instances) external returns (bool) {
        if (proof.length < 64 || (commitmentX == bytes32(0) && commitmentY == bytes32(0))) return false;
        if (bytes32(proof[0:32]) != commitmentX || bytes32(proof[32:64]) != commitmentY) return false;
        try verifier.verifyProof(proof, instances) returns (bool valid) {
            return valid;
        } catch {
            return false;
        }
    }
}
