-- Open receivables (USD) by segment and aging bucket on the latest score date.
WITH latest AS (
    SELECT * FROM gold.customer_payment_metrics
    WHERE score_date = (SELECT max(score_date) FROM gold.customer_payment_metrics)
),
buckets AS (
    SELECT segment, unnest(map_keys(ar_by_aging_bucket_usd)) AS bucket,
           unnest(map_values(ar_by_aging_bucket_usd)) AS usd
    FROM latest
)
SELECT segment,
       round(sum(usd) FILTER (WHERE bucket = 'current'), 2) AS current_usd,
       round(sum(usd) FILTER (WHERE bucket = '1-30'), 2) AS days_1_30_usd,
       round(sum(usd) FILTER (WHERE bucket = '31-60'), 2) AS days_31_60_usd,
       round(sum(usd) FILTER (WHERE bucket = '61-90'), 2) AS days_61_90_usd,
       round(sum(usd) FILTER (WHERE bucket = '90+'), 2) AS days_90_plus_usd,
       round(sum(usd), 2) AS total_usd
FROM buckets
GROUP BY segment
ORDER BY total_usd DESC;
