"""Gateway data (API keys, usage records) arrives with the gateway issue."""
