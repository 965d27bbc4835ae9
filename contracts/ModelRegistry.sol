// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title The accepted global models of one SMPC MNIST service, with each agent's contribution.
/// @notice Only the service's Safe writes: a record exists once 3 of 4 agents signed it through the Safe.
/// Digests only: the model stays private to the agents, so no weights or content ids are stored. Each round
/// also keeps the KZG commitment of the model's quantised weights (a BN254 point, x and y), which a proof of
/// inference made with that model starts with: InferenceVerifier.sol checks proofs against it.
contract ModelRegistry {
    /// @dev Why an agent is not among a round's contributors (0 is not a reason).
    uint8 public constant NO_UPDATE = 1; // a key holder that submitted no encrypted update
    uint8 public constant UPDATE_REJECTED = 2; // its update was left out of the agreed average
    uint8 public constant NOT_KEY_HOLDER = 3; // a registered agent outside the round's key epoch
    uint8 public constant MAX_REASON = 3;

    struct RoundRecord {
        uint256 round;
        uint256 period;
        bytes32 modelDigest;
        bytes32 aggregateDigest;
        bytes32 jointKeyDigest;
        bytes32[2] weightCommitment;
        address[] contributors;
        address[] decryptors;
        address[] excluded;
        uint8[] reasons;
    }

    address public immutable safe;
    uint256 public roundCount;
    mapping(uint256 => RoundRecord) private _records;
    mapping(address => uint256) private _roundsIncluded;
    mapping(address => uint256[MAX_REASON]) private _roundsExcluded;

    event RoundRecorded(uint256 indexed round, uint256 period, bytes32 modelDigest);

    error NotSafe(address caller);
    error ZeroAddress();
    error UnexpectedRound(uint256 round, uint256 expected);
    error UnknownRound(uint256 round);
    error EmptyDigest();
    error EmptyCommitment();
    error NoContributors();
    error NoDecryptors();
    error NotAscending(address agent);
    error LengthMismatch();
    error BadReason(address agent, uint8 reason);
    error ContributorExcluded(address agent);

    constructor(address safe_) {
        if (safe_ == address(0)) revert ZeroAddress();
        safe = safe_;
    }

    /// @notice Record the next accepted round; agent lists are strictly ascending (so free of repeats).
    function recordRound(RoundRecord calldata record) external {
        if (msg.sender != safe) revert NotSafe(msg.sender);
        if (record.round != roundCount + 1) revert UnexpectedRound(record.round, roundCount + 1);
        if (record.modelDigest == 0 || record.aggregateDigest == 0 || record.jointKeyDigest == 0) {
            revert EmptyDigest();
        }
        if (record.weightCommitment[0] == 0 && record.weightCommitment[1] == 0) revert EmptyCommitment();
        if (record.contributors.length == 0) revert NoContributors();
        if (record.decryptors.length == 0) revert NoDecryptors();
        if (record.excluded.length != record.reasons.length) revert LengthMismatch();
        _requireAscending(record.contributors);
        _requireAscending(record.decryptors);
        _requireAscending(record.excluded);
        for (uint256 i = 0; i < record.excluded.length; i++) {
            uint8 reason = record.reasons[i];
            if (reason == 0 || reason > MAX_REASON) revert BadReason(record.excluded[i], reason);
            if (_contains(record.contributors, record.excluded[i])) revert ContributorExcluded(record.excluded[i]);
            _roundsExcluded[record.excluded[i]][reason - 1] += 1;
        }
        for (uint256 i = 0; i < record.contributors.length; i++) {
            _roundsIncluded[record.contributors[i]] += 1;
        }
        roundCount = record.round;
        _records[record.round] = record;
        emit RoundRecorded(record.round, record.period, record.modelDigest);
    }

    /// @notice The record of an accepted round (1..roundCount); reverts for any other round.
    function getRound(uint256 round) external view returns (RoundRecord memory) {
        if (round == 0 || round > roundCount) revert UnknownRound(round);
        return _records[round];
    }

    /// @notice The weight commitment (x, y) of an accepted round's model; reverts for any other round.
    function weightCommitment(uint256 round) external view returns (bytes32[2] memory) {
        if (round == 0 || round > roundCount) revert UnknownRound(round);
        return _records[round].weightCommitment;
    }

    /// @notice How many rounds an agent contributed to, and how many it was excluded from, by reason (1..MAX_REASON).
    function contribution(address agent)
        external
        view
        returns (uint256 roundsIncluded, uint256[MAX_REASON] memory roundsExcludedByReason)
    {
        return (_roundsIncluded[agent], _roundsExcluded[agent]);
    }

    function _requireAscending(address[] calldata agents) private pure {
        for (uint256 i = 0; i < agents.length; i++) {
            if (agents[i] == address(0) || (i > 0 && agents[i] <= agents[i - 1])) revert NotAscending(agents[i]);
        }
    }

    function _contains(address[] calldata agents, address agent) private pure returns (bool) {
        for (uint256 i = 0; i < agents.length; i++) {
            if (agents[i] == agent) return true;
        }
        return false;
    }
}
