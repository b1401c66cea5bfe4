-- Portfolio payment trend per invoice month: volume, on-time rate, days late, collection effectiveness.
SELECT invoice_month, is_partial, invoice_count, round(invoiced_usd, 2) AS invoiced_usd,
       round(collected_usd, 2) AS collected_usd, on_time_rate, avg_days_to_pay, avg_days_late,
       collection_effectiveness
FROM gold.payment_trends_monthly
WHERE grouping = 'all'
ORDER BY invoice_month;
