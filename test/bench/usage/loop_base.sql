SELECT count(1) FROM generate_series(1, 10000);
