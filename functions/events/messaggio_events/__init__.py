"""The events function: the messages table's stream to EventBridge (status changes, send
states, replies), so a company's systems hear of them without polling."""
