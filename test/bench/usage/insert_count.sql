BEGIN;
INSERT INTO api_usage (tenant_id, metric) VALUES (:hot, 'api_calls');
SELECT count(*) FROM api_usage WHERE tenant_id = :hot AND metric = 'api_calls' AND at >= date_trunc('month', now());
END;
