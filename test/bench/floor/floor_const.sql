SELECT left('api_calls', 1);
