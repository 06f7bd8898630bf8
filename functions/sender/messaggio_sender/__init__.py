"""The sender: SQS send requests to signed submissions, exactly once."""
