SELECT mt.track('api_calls');
