"""The SMS ledger: clerk.sms_messages, one row per sms.created, never the message's text."""
