"""Dialogues: this skill keeps the abstract_round_abci dialogue classes for every protocol it speaks."""

from packages.valory.skills.abstract_round_abci import dialogues as base

AbciDialogue = base.AbciDialogue
AbciDialogues = base.AbciDialogues
HttpDialogue = base.HttpDialogue
HttpDialogues = base.HttpDialogues
SigningDialogue = base.SigningDialogue
SigningDialogues = base.SigningDialogues
LedgerApiDialogue = base.LedgerApiDialogue
LedgerApiDialogues = base.LedgerApiDialogues
ContractApiDialogue = base.ContractApiDialogue
ContractApiDialogues = base.ContractApiDialogues
TendermintDialogue = base.TendermintDialogue
TendermintDialogues = base.TendermintDialogues
IpfsDialogue = base.IpfsDialogue
IpfsDialogues = base.IpfsDialogues
