-- Soft input errors (PostgreSQL 16 and later): pg_input_is_valid and pg_input_error_info see the
-- input function's error without raising it.  On 15 these functions do not exist, and
-- expected/permset_soft_1.out records that; the hard errors are tested in permset_io.
SET search_path = billium, public;
SELECT pg_input_is_valid('{invoice:view}', 'billium.billium_permset') AS good,
       pg_input_is_valid('{invoice:fly}', 'billium.billium_permset') AS bad_token,
       pg_input_is_valid('{invoice:view', 'billium.billium_permset') AS unbalanced;
SELECT message, detail, hint, sql_error_code
FROM pg_input_error_info('{invoice:fly}', 'billium.billium_permset');
