"""Handlers: the abstract_round_abci handlers serve every protocol this skill speaks."""

from packages.valory.skills.abstract_round_abci import handlers as base

ABCIHandler = base.ABCIRoundHandler
HttpHandler = base.HttpHandler
SigningHandler = base.SigningHandler
LedgerApiHandler = base.LedgerApiHandler
ContractApiHandler = base.ContractApiHandler
TendermintHandler = base.TendermintHandler
IpfsHandler = base.IpfsHandler
