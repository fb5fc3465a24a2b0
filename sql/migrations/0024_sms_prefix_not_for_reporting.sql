-- Why: a ledger row's number_prefix (the number without its last four digits) beside its
-- masked form (the country code and the last two digits) left an analyst two digits to
-- guess, a hundred candidates, for every number an SMS went to. clerk_reporting keeps the
-- masked form and the hash of each row; prefixes reach it only counted, through the
-- sms_pumping report and clerk.sms_prefix_days. clerk_pii_reader still reads the column.
REVOKE SELECT (number_prefix) ON clerk.sms_messages FROM clerk_reporting;
