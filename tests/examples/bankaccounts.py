"""Bank accounts, in the declarative style of the `eventsourcing` library's example.

An account is opened for a named holder, takes deposits and withdrawals, may be
allowed an overdraft, and can be closed. A withdrawal beyond the balance and the
overdraft limit, and any transaction on a closed account, raise errors of the
domain. A transfer changes two accounts in one atomic save.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from retell import Aggregate, AggregateNotFound, Application, event

# --- domain ------------------------------------------------------------------------------


class TransactionError(Exception):
    """A transaction the account refuses."""


class AccountClosedError(TransactionError):
    """The account is closed: it takes no more transactions."""


class InsufficientFundsError(TransactionError):
    """The withdrawal would take the balance below the overdraft limit."""


class BankAccount(Aggregate):
    @event("Opened")
    def __init__(self, full_name: str, email_address: str) -> None:
        self.full_name = full_name
        self.email_address = email_address
        self.balance = Decimal("0.00")
        self.overdraft_limit = Decimal("0.00")
        self.is_closed = False

    def credit(self, amount: Decimal) -> None:
        self._check_open()
        self._credit(amount)

    @event("Credited")
    def _credit(self, amount: Decimal) -> None:
        self.balance += amount

    def debit(self, amount: Decimal) -> None:
        self._check_open()
        if self.balance - amount < -self.overdraft_limit:
            raise InsufficientFundsError(
                f"account {self.id} holds {self.balance} with an overdraft limit of "
                f"{self.overdraft_limit}: it cannot pay {amount}"
            )
        self._debit(amount)

    @event("Debited")
    def _debit(self, amount: Decimal) -> None:
        self.balance -= amount

    def update_overdraft_limit(self, overdraft_limit: Decimal) -> None:
        self._check_open()
        if overdraft_limit < 0:
            raise ValueError("an overdraft limit cannot be negative")
        self._update_overdraft_limit(overdraft_limit)

    @event("OverdraftLimitUpdated")
    def _update_overdraft_limit(self, overdraft_limit: Decimal) -> None:
        self.overdraft_limit = overdraft_limit

    @event("Closed")
    def close(self) -> None:
        self.is_closed = True

    def _check_open(self) -> None:
        if self.is_closed:
            raise AccountClosedError(f"account {self.id} is closed")


# --- application -------------------------------------------------------------------------


class AccountNotFoundError(Exception):
    """No account has this id."""


class BankAccounts(Application):
    def open_account(self, full_name: str, email_address: str) -> UUID:
        account = BankAccount(full_name, email_address)
        self.save(account)
        return account.id

    def get_account(self, account_id: UUID) -> BankAccount:
        try:
            account: BankAccount = self.repository.get(account_id)
        except AggregateNotFound:
            raise AccountNotFoundError(account_id) from None
        return account

    def get_balance(self, account_id: UUID) -> Decimal:
        return self.get_account(account_id).balance

    def deposit_funds(self, credit_account_id: UUID, amount: Decimal) -> None:
        account = self.get_account(credit_account_id)
        account.credit(amount)
        self.save(account)

    def withdraw_funds(self, debit_account_id: UUID, amount: Decimal) -> None:
        account = self.get_account(debit_account_id)
        account.debit(amount)
        self.save(account)

    def transfer_funds(
        self, debit_account_id: UUID, credit_account_id: UUID, amount: Decimal
    ) -> None:
        debit_account = self.get_account(debit_account_id)
        credit_account = self.get_account(credit_account_id)
        debit_account.debit(amount)
        credit_account.credit(amount)
        self.save(debit_account, credit_account)  # both or neither

    def set_overdraft_limit(self, account_id: UUID, overdraft_limit: Decimal) -> None:
        account = self.get_account(account_id)
        account.update_overdraft_limit(overdraft_limit)
        self.save(account)

    def get_overdraft_limit(self, account_id: UUID) -> Decimal:
        return self.get_account(account_id).overdraft_limit

    def close_account(self, account_id: UUID) -> None:
        account = self.get_account(account_id)
        account.close()
        self.save(account)
