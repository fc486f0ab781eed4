SELECT count(mt.track('api_calls')) FROM generate_series(1, 10000);
