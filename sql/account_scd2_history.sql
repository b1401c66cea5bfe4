-- Every version of one account (SCD Type 2): what changed and when, e.g. a credit-limit cut before late payments.
SELECT account_id, record_version, effective_from, effective_to, is_current, credit_limit, payment_terms_days,
       account_status, segment
FROM bronze.accounts
WHERE account_id = 'ACC-000047'
ORDER BY record_version;
