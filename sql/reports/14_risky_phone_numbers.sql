-- clerk.report_risky_phone_numbers (view), over
-- clerk.risky_phone_numbers(production) (function)
--
-- Question: Which live numbers, second-factor ones included, are of a type that should not receive codes, or are Clerk test numbers in production?
--
-- Columns:
--   phone_number_id: the phone.
--   user_id: its user.
--   phone_number_masked: the number as analysts see it.
--   phone_number_hash: its keyed hash (NULL without CLERK_MIRROR_PII_KEY).
--   region_code: the number's region.
--   number_type: `premium_rate`, `shared_cost`, `toll_free`, `pager` or `voip`, or
--     another type for a test number.
--   is_test_number: a Clerk test number, +1 XXX 555-0100 to 0199.
--   reserved_for_second_factor: whether the number is a second factor.
--   verification_status: its verification status.
--   risk: why it is listed, in words.
--
-- Empty mirror: no rows.
--
-- Live numbers (`deleted_at IS NULL`), whose type says they cannot be a person's phone or
-- cost the sender per message: premium-rate, shared-cost, toll-free, pager and VoIP
-- numbers (Okta refuses toll-free and premium numbers for MFA outright). Also Clerk's test
-- numbers, which only a development instance accepts: in a production mirror they mean
-- test data leaked in. The view assumes a production mirror; a development one calls
-- `clerk.risky_phone_numbers(production => false)`, which leaves test numbers out. The
-- types come from `phonenumbers`, offline: a number not yet classified (NULL type, see
-- `clerk-mirror classify`) is not listed. Masked and hashed only.

CREATE OR REPLACE FUNCTION clerk.risky_phone_numbers(production boolean DEFAULT true)
RETURNS TABLE (
    phone_number_id            text,
    user_id                    text,
    phone_number_masked        text,
    phone_number_hash          text,
    region_code                text,
    number_type                text,
    is_test_number             boolean,
    reserved_for_second_factor boolean,
    verification_status        text,
    risk                       text
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT p.id, p.user_id, p.phone_number_masked, p.phone_number_hash, p.region_code,
       p.number_type, p.is_test_number, p.reserved_for_second_factor, p.verification_status,
       concat_ws('; ',
                 CASE WHEN p.number_type IN ('premium_rate', 'shared_cost', 'toll_free',
                                             'pager', 'voip')
                      THEN replace(p.number_type, '_', '-') || ' number' END,
                 CASE WHEN risky_phone_numbers.production AND p.is_test_number
                      THEN 'Clerk test number in production' END,
                 CASE WHEN p.reserved_for_second_factor THEN 'a second factor' END)
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
  AND (p.number_type IN ('premium_rate', 'shared_cost', 'toll_free', 'pager', 'voip')
       OR (risky_phone_numbers.production AND p.is_test_number))
ORDER BY p.id
$$;

CREATE OR REPLACE VIEW clerk.report_risky_phone_numbers AS
SELECT * FROM clerk.risky_phone_numbers();

GRANT EXECUTE ON FUNCTION clerk.risky_phone_numbers(boolean) TO clerk_reporting;
GRANT SELECT ON clerk.report_risky_phone_numbers TO clerk_reporting;
COMMENT ON FUNCTION clerk.risky_phone_numbers(boolean) IS
    'report_risky_phone_numbers of a development mirror (production => false) or a production one';
COMMENT ON VIEW clerk.report_risky_phone_numbers IS
    'Which live numbers, second-factor ones included, are of a type that should not receive codes, or are Clerk test numbers in production?';
