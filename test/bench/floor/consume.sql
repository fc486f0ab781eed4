SELECT mt.consume('api_calls');
