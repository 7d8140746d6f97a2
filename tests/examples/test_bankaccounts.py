"""The bank accounts example on every store."""

from __future__ import annotations

import threading
from decimal import Decimal
from uuid import uuid4

import pytest

from retell import ConcurrencyError
from retell.errors import IntegrityError
from tests.examples.bankaccounts import (
    AccountClosedError,
    AccountNotFoundError,
    BankAccount,
    BankAccounts,
    InsufficientFundsError,
    TransactionError,
)


def test_accounts_deposits_withdrawals_transfers_and_closing(example_env: dict[str, str]) -> None:
    with BankAccounts(env=example_env) as bank:
        alice = bank.open_account("Alice", "alice@example.com")
        bob = bank.open_account("Bob", "bob@example.com")
        assert bank.get_account(alice).full_name == "Alice"
        assert bank.get_account(bob).email_address == "bob@example.com"
        assert bank.get_balance(alice) == Decimal("0.00")

        with pytest.raises(AccountNotFoundError):
            bank.get_balance(uuid4())

        bank.deposit_funds(alice, Decimal("200.00"))
        bank.deposit_funds(alice, Decimal("0.50"))
        bank.withdraw_funds(alice, Decimal("50.25"))
        assert bank.get_balance(alice) == Decimal("150.25")

        with pytest.raises(InsufficientFundsError):
            bank.withdraw_funds(alice, Decimal("150.26"))
        assert bank.get_balance(alice) == Decimal("150.25")  # nothing recorded

        bank.transfer_funds(alice, bob, Decimal("100.00"))
        assert (bank.get_balance(alice), bank.get_balance(bob)) == (
            Decimal("50.25"),
            Decimal("100.00"),
        )
        with pytest.raises(InsufficientFundsError):
            bank.transfer_funds(bob, alice, Decimal("100.01"))
        assert (bank.get_balance(alice), bank.get_balance(bob)) == (
            Decimal("50.25"),
            Decimal("100.00"),
        )

        # An overdraft limit lets the balance go below zero, as far as the limit.
        assert bank.get_overdraft_limit(bob) == Decimal("0.00")
        bank.set_overdraft_limit(bob, Decimal("500.00"))
        assert bank.get_overdraft_limit(bob) == Decimal("500.00")
        bank.withdraw_funds(bob, Decimal("550.00"))
        assert bank.get_balance(bob) == Decimal("-450.00")
        with pytest.raises(InsufficientFundsError):
            bank.withdraw_funds(bob, Decimal("50.01"))
        bank.withdraw_funds(bob, Decimal("50.00"))
        assert bank.get_balance(bob) == Decimal("-500.00")
        with pytest.raises(ValueError, match="negative"):
            bank.set_overdraft_limit(bob, Decimal("-1"))

        # A closed account takes no more transactions, either side of a transfer.
        bank.close_account(alice)
        assert bank.get_account(alice).is_closed
        with pytest.raises(AccountClosedError):
            bank.deposit_funds(alice, Decimal("1.00"))
        with pytest.raises(AccountClosedError):
            bank.withdraw_funds(alice, Decimal("1.00"))
        with pytest.raises(TransactionError):
            bank.transfer_funds(bob, alice, Decimal("1.00"))
        with pytest.raises(AccountClosedError):
            bank.set_overdraft_limit(alice, Decimal("10"))
        assert (bank.get_balance(alice), bank.get_balance(bob)) == (
            Decimal("50.25"),
            Decimal("-500.00"),
        )

        # The history is there to read: the account at an earlier version.
        assert bank.repository.get(alice, version=3).balance == Decimal("200.50")
        topics = [n.topic.rsplit(".", 1)[-1] for n in bank.notification_log.select(1, 100)]
        assert topics[:3] == ["Opened", "Opened", "Credited"]
        assert topics.count("Debited") == 4  # a withdrawal, a transfer, two from bob
        assert topics[-1] == "Closed"


def test_two_withdrawals_racing(example_env: dict[str, str]) -> None:
    with BankAccounts(env=example_env) as bank:
        account_id = bank.open_account("Alice", "alice@example.com")
        bank.deposit_funds(account_id, Decimal("100.00"))

        # Two tellers read the account at the same version, and both withdraw.
        first = bank.get_account(account_id)
        second = bank.get_account(account_id)
        first.debit(Decimal("80.00"))
        second.debit(Decimal("70.00"))  # each alone is covered by the balance
        bank.save(first)
        with pytest.raises(ConcurrencyError) as raised:
            bank.save(second)
        assert isinstance(raised.value, IntegrityError)  # what the reference's users catch
        assert bank.get_balance(account_id) == Decimal("20.00")

        # Retried on the account as it is now, the second one is refused.
        with pytest.raises(InsufficientFundsError):
            bank.withdraw_funds(account_id, Decimal("70.00"))
        assert bank.get_account(account_id).version == 3


def test_two_withdrawals_racing_in_threads(example_env: dict[str, str]) -> None:
    """Both threads read before either saves: exactly one save succeeds."""
    with BankAccounts(env=example_env) as bank:
        account_id = bank.open_account("Alice", "alice@example.com")
        bank.deposit_funds(account_id, Decimal("100.00"))
        both_read = threading.Barrier(2, timeout=10)
        outcomes: list[str] = []

        def withdraw(amount: Decimal) -> None:
            try:
                account = bank.get_account(account_id)
                both_read.wait()
                account.debit(amount)
                bank.save(account)
            except ConcurrencyError:
                outcomes.append("conflict")
            else:
                outcomes.append("saved")
            finally:
                _close_django_connections(example_env)

        threads = [threading.Thread(target=withdraw, args=(Decimal(a),)) for a in ("60", "30")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["conflict", "saved"]
        assert bank.get_balance(account_id) in {Decimal("40.00"), Decimal("70.00")}
        assert bank.get_account(account_id).version == 3
        assert isinstance(bank.get_account(account_id), BankAccount)


def _close_django_connections(env: dict[str, str]) -> None:
    """A thread's Django connection would otherwise outlive it (and hold the test database)."""
    if env["PERSISTENCE_MODULE"] == "retell.django":
        from django.db import connections

        connections.close_all()
