"""Sales intake: the JSON contract, the inbox, and bulk writes into the shards."""
