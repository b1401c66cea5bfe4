-- The 20 riskiest accounts on the latest score date: score, tier, action, exposure and the reasons.
SELECT m.account_id, m.account_name, m.segment, m.risk_score, m.risk_tier, m.recommended_action,
       m.open_balance_usd, m.overdue_balance_usd, array_to_string(m.risk_reasons, '; ') AS reasons
FROM gold.customer_payment_metrics AS m
WHERE m.score_date = (SELECT max(score_date) FROM gold.customer_payment_metrics)
ORDER BY m.risk_score DESC, m.open_balance_usd DESC, m.account_id
LIMIT 20;
